"""The Stage API and the stage registry.

A stage is a class with a unique ``name``, a ``version`` (bump it when its outputs change, which
invalidates cached results), declared ``inputs`` (name -> kind) and ``outputs`` (name -> relative path
written inside ``out_dir``), ``resources`` (``num_cpus``, ``num_gpus``; used by the Ray executor; a stage
whose request depends on its parameters overrides ``resources_for(params)``),
a pydantic ``Params`` model and a ``run`` method::

    class PoseStage(Stage):
        name = "pose"
        version = "1"
        inputs = {"media": "path"}                  # "path": one file/dir; "paths": a list (fan-in)
        outputs = {"pose": "pose.json", "viz": "viz"}
        resources = {"num_cpus": 1, "num_gpus": 0}

        class Params(pydantic.BaseModel):
            model_config = pydantic.ConfigDict(extra="forbid")
            smooth: bool = True

        def run(self, inputs, params, out_dir, ctx):
            ...   # write every declared output under out_dir; ctx.progress(done, total); ctx.log(msg)

Input kinds: ``"path"`` (required single path), ``"paths"`` (list of paths, fan-in), and either with a
trailing ``"?"`` (``"path?"``, ``"paths?"``) for an optional input (absent -> key missing from ``inputs``).

Stages are found through the entry-point group ``headgen.stages`` (loaded lazily: only the stages a
pipeline names are imported) and through :func:`register_stage` (tests, benchmarks, scripts).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import pydantic

from headgen.errors import HeadgenError

ENTRY_POINT_GROUP = "headgen.stages"
INPUT_KINDS = ("path", "paths")


class StageError(HeadgenError):
    """A stage is unknown, cannot be loaded or is malformed (exit code 2: found before anything runs)."""

    exit_code = 2


class _NoParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class StageContext:
    """What a running stage may use besides its inputs: progress reporting and logging.

    ``node``: the pipeline node name; ``item``: the fan-out item name ("" when the run is not fanned out).
    ``progress(done, total=None, desc=None)`` drives the node's progress bar (no-op when quiet / remote).
    ``log(msg, level=logging.INFO)`` logs through the ``headgen.stage.<stage>`` logger, prefixed by the node.
    """

    def __init__(self, node: str, stage: str, item: str = "",
                 progress_cb: Callable[[float, float | None, str | None], None] | None = None):
        self.node = node
        self.stage = stage
        self.item = item
        self._progress_cb = progress_cb
        self.logger = logging.getLogger(f"headgen.stage.{stage}")

    def progress(self, done: float, total: float | None = None, desc: str | None = None) -> None:
        """Report ``done`` of ``total`` units of work (any unit; frames, iterations)."""
        if self._progress_cb is not None:
            try:
                self._progress_cb(done, total, desc)
            except Exception:  # progress must never break a stage
                pass

    def log(self, msg: str, level: int = logging.INFO) -> None:
        """Log one message, prefixed with ``[item/node]``."""
        where = f"{self.item}/{self.node}" if self.item else self.node
        self.logger.log(level, "[%s] %s", where, msg)


class Stage:
    """Base class of pipeline stages; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    inputs: ClassVar[dict[str, str]] = {}
    outputs: ClassVar[dict[str, str]] = {}
    resources: ClassVar[dict[str, float]] = {"num_cpus": 1, "num_gpus": 0}
    Params: ClassVar[type[pydantic.BaseModel]] = _NoParams

    @classmethod
    def resources_for(cls, params: dict[str, Any]) -> dict[str, float]:
        """Resource request of one node given its validated parameters (dict); default ``resources``.
        Override when the request depends on parameters (e.g. ``num_gpus`` 1 only for ``device: cuda``)."""
        return dict(cls.resources or {})

    def run(self, inputs: dict[str, Any], params: pydantic.BaseModel, out_dir: Path,
            ctx: StageContext) -> None:
        """Compute the outputs: ``inputs`` name -> Path (or list[Path] for "paths"); write every
        declared output under ``out_dir``."""
        raise NotImplementedError


@dataclass
class _Registry:
    classes: dict[str, type[Stage]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_REGISTRY = _Registry()


def _check_stage_class(cls: type, origin: str) -> None:
    """Raise StageError if ``cls`` does not follow the Stage contract."""
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise StageError(f"{origin}: {cls!r} is not a headgen.pipeline.stage.Stage subclass")
    if not isinstance(cls.name, str) or not cls.name:
        raise StageError(f"{origin}: stage class {cls.__qualname__} has no 'name'")
    if not isinstance(cls.version, str):
        raise StageError(f"{origin}: stage '{cls.name}': 'version' must be a string")
    for k, kind in dict(cls.inputs).items():
        if kind.rstrip("?") not in INPUT_KINDS:
            raise StageError(f"{origin}: stage '{cls.name}': input '{k}' has unknown kind '{kind}' "
                             f"(use {', '.join(INPUT_KINDS)}, optionally with a trailing '?')")
    for k, rel in dict(cls.outputs).items():
        p = Path(rel)
        if not rel or p.is_absolute() or ".." in p.parts:
            raise StageError(f"{origin}: stage '{cls.name}': output '{k}' must be a relative path "
                             f"inside out_dir, got {rel!r}")
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, pydantic.BaseModel)):
        raise StageError(f"{origin}: stage '{cls.name}': Params must be a pydantic.BaseModel subclass")


def register_stage(cls: type[Stage], replace: bool = False) -> type[Stage]:
    """Register a Stage subclass under ``cls.name`` (usable as a class decorator); returns ``cls``.

    Registering a different class under a taken name raises StageError unless ``replace`` is true
    (a class re-created by re-importing the same module replaces the old one silently).
    """
    _check_stage_class(cls, "register_stage")
    with _REGISTRY.lock:
        old = _REGISTRY.classes.get(cls.name)
        same_origin = old is not None and (old.__module__, old.__qualname__) == (cls.__module__, cls.__qualname__)
        if old is not None and old is not cls and not replace and not same_origin:
            raise StageError(f"stage name '{cls.name}' is already registered by "
                             f"{old.__module__}.{old.__qualname__}")
        _REGISTRY.classes[cls.name] = cls
    return cls


def unregister_stage(name: str) -> None:
    """Remove a stage registered with register_stage (no-op if absent)."""
    with _REGISTRY.lock:
        _REGISTRY.classes.pop(name, None)


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_stages() -> list[str]:
    """Names of every known stage (registered + entry points) without importing any of them."""
    names = set(_REGISTRY.classes)
    try:
        names |= set(_entry_points())
    except Exception:  # pragma: no cover - broken metadata
        pass
    return sorted(names)


def get_stage(name: str) -> type[Stage]:
    """The Stage class called ``name``: registered classes first, then the entry point (imported now).

    Raises StageError for an unknown name or a plugin that fails to import / is not a Stage.
    """
    with _REGISTRY.lock:
        cls = _REGISTRY.classes.get(name)
    if cls is not None:
        return cls
    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:
        raise StageError(f"unknown stage '{name}' (available: {', '.join(available_stages()) or 'none'})")
    try:
        cls = ep.load()
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else ""
        raise StageError(f"stage '{name}' could not be loaded from entry point "
                         f"'{ep.value}' ({ENTRY_POINT_GROUP}): {type(e).__name__}: {msg}") from e
    _check_stage_class(cls, f"entry point '{ep.value}'")
    if cls.name != name:
        raise StageError(f"entry point '{name}' ({ep.value}) names a stage called '{cls.name}'")
    with _REGISTRY.lock:
        _REGISTRY.classes.setdefault(name, cls)
    return cls


def is_registered_inline(cls: type[Stage]) -> bool:
    """True when ``cls`` did not come from an entry point (so remote workers may not import it)."""
    try:
        ep = _entry_points().get(cls.name)
    except Exception:  # pragma: no cover
        return True
    return ep is None or ep.value.replace(":", ".") != f"{cls.__module__}.{cls.__qualname__}"
