"""Running one node: the unit of work every executor ships (locally in a thread, or as a Ray task).

``execute_node`` never raises for a stage failure: it returns a NodeResult with a one-line error and the
traceback, so every executor reports failures the same way.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from headgen.pipeline.stage import Stage, StageContext
from headgen.pipeline.store import Store, digest_path

log = logging.getLogger("headgen.pipeline")


@dataclass
class NodeTask:
    """Everything needed to compute one node's artifact (picklable; stage_cls by reference or value)."""

    item: str
    node: str
    stage_cls: type[Stage]
    params: dict[str, Any]
    inputs: dict[str, Any]            # input name -> str path, or list[str] for "paths"
    input_digests: dict[str, Any]
    key: str
    store_root: str
    log_level: int = logging.WARNING


@dataclass
class NodeResult:
    """Outcome of execute_node: ``meta`` of the committed artifact when ``ok``; else ``error`` (one line)."""

    ok: bool
    seconds: float
    meta: dict | None = None
    error: str | None = None
    traceback: str | None = None
    won: bool = True
    extra: dict = field(default_factory=dict)


def one_line(e: BaseException) -> str:
    """'Type: first line of message' for an exception."""
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0]}" if msg else type(e).__name__


def execute_node(task: NodeTask, progress_cb: Callable | None = None) -> NodeResult:
    """Run ``task.stage_cls`` into a private temp dir of the store and commit it atomically under
    ``task.key``. Outputs are checked (every declared output must exist) and digested here, so the
    driver never rehashes artifacts."""
    t0 = time.perf_counter()
    store = Store(task.store_root)
    existing = store.lookup(task.key)   # another run may have finished it meanwhile
    if existing is not None:
        return NodeResult(True, 0.0, existing, won=False)
    tmp = store.new_tmp(task.key)
    try:
        cls = task.stage_cls
        params = cls.Params(**task.params)
        inputs: dict[str, Any] = {k: ([Path(x) for x in v] if isinstance(v, list) else Path(v))
                                  for k, v in task.inputs.items()}
        ctx = StageContext(task.node, cls.name, task.item, progress_cb)
        out_dir = tmp / "out"
        cls().run(inputs, params, out_dir, ctx)
        seconds = time.perf_counter() - t0
        outputs: dict[str, dict] = {}
        for name, rel in cls.outputs.items():
            p = out_dir / rel
            if not p.exists():
                raise RuntimeError(f"stage '{cls.name}' did not write its declared output '{name}' ({rel})")
            outputs[name] = {"path": rel, "digest": digest_path(p)}
        meta = {"key": task.key, "stage": cls.name, "version": cls.version, "params": task.params,
                "inputs": task.input_digests, "outputs": outputs, "seconds": round(seconds, 6),
                "created": time.time()}
        meta, won = store.commit(tmp, task.key, meta)
        return NodeResult(True, seconds, meta, won=won)
    except BaseException as e:  # noqa: BLE001 - report every failure as a node failure
        store.discard(tmp)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return NodeResult(False, time.perf_counter() - t0, error=one_line(e), traceback=traceback.format_exc())
