"""What ``headgen view`` and ``headgen export`` read: a fit, an animation, an avatar or a pipeline output,
as one :class:`HeadClip` (per-frame head-model weights and rigid pose in one display frame).

Display frame (= glTF's): metres, +y up, the viewer/camera looks down -z. For a fit it is the video
camera's frame turned to OpenGL axes (camera at the origin; ``R_display = OPENGL_TO_OPENCV @ R_fit``); for an
animation or an avatar it is the head-model frame (the head at the origin facing +z).

Kinds of PATH (:func:`load_clip`):

* ``fit.npz`` (or a folder holding one): identity, per-frame ICT expression, rotation, translation, camera K,
  fitted 2-D landmarks; the source video for the backdrop is the pipeline manifest's ``media`` input when
  there is one, else ``fit_overlay.mp4`` beside the fit;
* ``animation.npz`` (or a folder holding one): ARKit weights and head rotation (mean identity), audio from
  the artifact's ``audio_path`` when present;
* an avatar folder (``avatar.ply`` [+ ``avatar_rig.npz``], :mod:`headgen.artifacts.avatar`): the Gaussians
  (one rest frame) and, with the rig, the mesh they are bound to (its identity and parts); a fit or an
  animation can drive an avatar (``avatar=``);
* a pipeline output folder (``manifest.json``): its viewable node outputs (:func:`pipeline_nodes`), the
  last one by default or ``node=``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from headgen.errors import InputError

__all__ = ["HeadClip", "load_clip", "attach_avatar", "pipeline_nodes", "clip_rig", "clip_weights", "GL_FROM_CV"]

#: OpenCV camera axes -> OpenGL/glTF camera axes (the same flip both ways)
GL_FROM_CV = np.diag([1.0, -1.0, -1.0])


@dataclass
class HeadClip:
    """One viewable/exportable result. kind: "fit" | "animation" | "avatar"; path: the file or folder read.

    T frames: times (T,) s, fps; rotation (T, 3, 3) head-model frame -> display frame; translation (T, 3)
    metres (display frame). Weights: ``expression`` (T, E) model expression (fit, names ``expression_names``)
    or ``arkit`` (T, 52) ARKit weights (animation); both None for an avatar at rest. shape (S,) identity
    (empty = mean shape). Fit only: K (3, 3), image_size (w, h), landmarks468_2d (T, 468, 2) px or None,
    valid (T,), media (video for the backdrop) or None. audio: a speech file or None. avatar_dir / splats /
    avatar: an avatar folder, its Gaussians at rest (:class:`headgen.export.splats.Splats`, model frame) and
    its rig (:class:`headgen.avatar.Avatar`, None without ``avatar_rig.npz``); parts: the mesh part list to
    use (the avatar's; None = the caller's default).
    """
    kind: str
    path: Path
    times: np.ndarray
    fps: float
    rotation: np.ndarray
    translation: np.ndarray
    model: str = "ict"
    shape: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    expression: np.ndarray | None = None
    expression_names: list[str] | None = None
    arkit: np.ndarray | None = None
    eyes: np.ndarray | None = None
    K: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    landmarks468_2d: np.ndarray | None = None
    valid: np.ndarray | None = None
    media: Path | None = None
    audio: Path | None = None
    avatar_dir: Path | None = None
    splats: object | None = None
    avatar: object | None = None
    parts: list | None = None

    @property
    def n_frames(self) -> int:
        """T, the number of frames."""
        return int(self.times.shape[0])


def _npz_keys(path: Path) -> set[str]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return set(z.files)
    except Exception as e:  # noqa: BLE001 - zip/np errors vary with the corruption
        raise InputError(f"{path}: not a readable .npz ({type(e).__name__}: {e})") from None


def pipeline_nodes(folder) -> list[tuple[str, Path]]:
    """Viewable outputs of a pipeline output folder: [(label "node/output", path)] in manifest order for
    every done/cached node output that is a fit.npz, an animation.npz or an avatar folder. Raises
    InputError when ``folder/manifest.json`` is missing or unreadable."""
    folder = Path(folder)
    mpath = folder / "manifest.json"
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{mpath}: not a readable pipeline manifest ({e})") from None
    found = []
    for node, entry in (manifest.get("nodes") or {}).items():
        if entry.get("status") not in ("done", "cached"):
            continue
        for name, rel in (entry.get("outputs") or {}).items():
            p = (folder / rel)
            if _kind_of(p, quiet=True):
                found.append((f"{node}/{name}", p))
    return found


def _kind_of(p: Path, quiet: bool = False) -> str | None:
    if p.is_dir():
        if (p / "manifest.json").is_file():
            return "pipeline"
        if (p / "avatar.ply").is_file():
            return "avatar"
        for name, kind in (("animation.npz", "animation"), ("fit.npz", "fit")):
            if (p / name).is_file():
                return kind
        if quiet:
            return None
        raise InputError(f"{p}: no avatar.ply, animation.npz, fit.npz or manifest.json in this folder")
    if p.suffix.lower() == ".ply" and p.is_file():
        return "avatar"
    if p.suffix.lower() == ".glb" and p.is_file():
        return "glb"
    if p.suffix.lower() == ".npz" and p.is_file():
        keys = _npz_keys(p)
        if "arkit" in keys:
            return "animation"
        if {"expression", "rotation", "translation"} <= keys:
            return "fit"
        if quiet:
            return None
        raise InputError(f"{p}: neither an animation.npz (arkit, head_rotation, ...) nor a fit.npz")
    if quiet:
        return None
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    raise InputError(f"{p}: not a fit.npz, animation.npz, avatar folder/.ply or pipeline output folder")


def _manifest_media(p: Path) -> Path | None:
    """The ``media`` input of the pipeline manifest above a node output (None when there is none)."""
    for d in list(p.parents)[:4]:
        m = d / "manifest.json"
        if m.is_file():
            try:
                media = json.loads(m.read_text()).get("inputs", {}).get("media")
            except (OSError, ValueError):
                return None
            if isinstance(media, str) and Path(media).is_file():
                return Path(media)
            return None
    return None


def _load_fit(p: Path, media) -> HeadClip:
    from headgen.artifacts.fit import read_fit
    fit = read_fit(p)
    folder = p if p.is_dir() else p.parent
    if media is None:
        media = _manifest_media(folder)
    if media is None and (folder / "fit_overlay.mp4").is_file():
        media = folder / "fit_overlay.mp4"
    T = fit.n_frames
    R = np.einsum("ij,tjk->tik", GL_FROM_CV, fit.rotation.astype(np.float64))
    t = fit.translation.astype(np.float64) @ GL_FROM_CV.T
    eyes = fit.eyes if fit.eyes is not None else None
    return HeadClip(kind="fit", path=p, times=np.asarray(fit.times, np.float64),
                    fps=float(fit.fps) if fit.fps > 0 else 25.0, rotation=R, translation=t, model=fit.model,
                    shape=np.asarray(fit.shape, np.float32), expression=np.asarray(fit.expression, np.float32),
                    expression_names=list(fit.expression_names), eyes=eyes, K=np.asarray(fit.K, np.float64),
                    image_size=tuple(fit.image_size), landmarks468_2d=fit.landmarks468_2d_fit,
                    valid=np.asarray(fit.valid, bool) if fit.valid is not None else np.ones(T, bool),
                    media=Path(media) if media else None)


def _load_animation(p: Path, audio) -> HeadClip:
    from headgen.artifacts.animation import read_animation
    from headgen.models.arkit import ARKIT_NAMES, normalize_arkit_name
    a = read_animation(p)
    names = [normalize_arkit_name(n) for n in a.arkit_names]
    if None in names or sorted(names) != sorted(ARKIT_NAMES):
        raise InputError(f"{p}: arkit_names must be the 52 ARKit names")
    order = [names.index(n) for n in ARKIT_NAMES]
    if audio is None and "audio_path" in a.extra:
        cand = Path(str(a.extra["audio_path"]))
        audio = cand if cand.is_file() else None
    T = a.n_frames
    return HeadClip(kind="animation", path=p, times=np.asarray(a.times, np.float64), fps=float(a.fps),
                    rotation=np.asarray(a.head_rotation, np.float64), translation=np.zeros((T, 3)),
                    arkit=np.asarray(a.arkit, np.float32)[:, order], eyes=np.asarray(a.eyes, np.float32),
                    audio=Path(audio) if audio else None)


def attach_avatar(clip: HeadClip, folder) -> HeadClip:
    """Put the avatar of ``folder`` (``avatar.ply`` and/or ``avatar_rig.npz``) on ``clip``: its Gaussians,
    its rig (when present: identity, model and parts then come from the rig) -> the same clip."""
    from headgen.export.splats import Splats, read_gaussian_ply, splats_from_ply
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    ply, rig = folder / "avatar.ply", folder / "avatar_rig.npz"
    if not ply.is_file() and not rig.is_file():
        raise InputError(f"{folder}: no avatar.ply or avatar_rig.npz")
    clip.avatar_dir = folder
    if rig.is_file():
        from headgen.avatar import load_avatar, neutral_gaussians
        av = load_avatar(folder)
        clip.avatar = av
        clip.model = av.model
        clip.parts = list(av.parts)
        clip.shape = np.zeros(0, np.float32) if av.shape is None else av.shape.cpu().numpy().astype(np.float32)
        clip.splats = read_gaussian_ply(ply) if ply.is_file() else splats_from_ply(neutral_gaussians(av))
    else:
        clip.splats = read_gaussian_ply(ply)
    assert isinstance(clip.splats, Splats)
    return clip


def _load_avatar(p: Path) -> HeadClip:
    clip = HeadClip(kind="avatar", path=p, times=np.zeros(1), fps=25.0, rotation=np.eye(3)[None],
                    translation=np.zeros((1, 3)))
    return attach_avatar(clip, p)


def load_clip(path, node: str | None = None, media=None, audio=None, avatar=None) -> HeadClip:
    """Read PATH (fit.npz, animation.npz, avatar folder or .ply, pipeline output folder; see the module
    docstring; also a .glb export, kind "glb", which only the viewer shows) -> :class:`HeadClip`. node: for a
    pipeline folder, the "node/output" label (or node name) to
    show (default: the last viewable one); media: video for a fit's backdrop; audio: speech to play;
    avatar: an avatar folder to drive with a fit/animation (a pipeline folder's avatar node is used by
    default). Raises InputError (one line naming the path) for a missing or unreadable input."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    kind = _kind_of(p)
    if kind == "pipeline":
        nodes = pipeline_nodes(p)
        avatars = [q for _, q in nodes if _kind_of(q) == "avatar"]
        if avatar is None and avatars:
            avatar = avatars[-1]
        if not nodes:
            raise InputError(f"{p}/manifest.json: no finished fit, animation or avatar output to show")
        if node is None:
            p = nodes[-1][1]
        else:
            hits = [q for label, q in nodes if label == node or label.split("/")[0] == node]
            if not hits:
                raise InputError(f"{p}: no viewable node '{node}' (have {', '.join(n for n, _ in nodes)})")
            p = hits[0]
        kind = _kind_of(p)
    if kind == "avatar":
        return _load_avatar(p)
    if kind == "glb":   # an export, shown as it is (three.js draws and plays it in the viewer)
        return HeadClip(kind="glb", path=p, times=np.zeros(1), fps=25.0, rotation=np.eye(3)[None],
                        translation=np.zeros((1, 3)), model="glb")
    clip = _load_fit(p, media) if kind == "fit" else _load_animation(p, audio)
    if avatar is not None:
        attach_avatar(clip, avatar)
    return clip


_RIGS: dict = {}


def clip_rig(clip: HeadClip, parts: str = "head"):
    """The :class:`~headgen.export.morph.MorphRig` of the clip's identity (ICT ``parts``), cached per
    (shape, parts). InputError for a FLAME fit (its expressions are not ARKit shapes)."""
    from headgen.export.morph import build_morph_rig
    from headgen.models import load_head_model
    if clip.model != "ict":
        raise InputError(f"{clip.path}: a {clip.model} head has no ARKit blendshapes; this needs an ICT fit/avatar")
    parts = clip.parts or parts
    key = (tuple(parts) if isinstance(parts, (list, tuple)) else parts, clip.shape.tobytes())
    if key not in _RIGS:
        _RIGS.clear()
        model = load_head_model("ict", parts=list(parts) if isinstance(parts, (list, tuple)) else parts)
        try:
            _RIGS[key] = build_morph_rig(model, clip.shape if clip.shape.size else None)
        except InputError as e:   # e.g. more identity coefficients than the model has: name the file
            raise InputError(f"{clip.path}: {e}") from e
    return _RIGS[key]


def clip_weights(clip: HeadClip, rig) -> np.ndarray:
    """Per-frame morph weights (T, K) of the clip on ``rig`` (zeros for an avatar at rest)."""
    if clip.expression is not None:
        names = clip.expression_names or []
        if names != rig.expression_names:
            idx = [names.index(n) if n in names else -1 for n in rig.expression_names]
            e = np.zeros((clip.n_frames, len(idx)), np.float32)
            for j, i in enumerate(idx):
                if i >= 0:
                    e[:, j] = clip.expression[:, i]
            return rig.weights_from_expression(e)
        return rig.weights_from_expression(clip.expression)
    if clip.arkit is not None:
        return rig.weights_from_arkit(clip.arkit)
    return np.zeros((clip.n_frames, rig.n_targets))
