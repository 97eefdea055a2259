"""``animation.npz``: the animate stage's per-frame face animation curves (numpy arrays, no pickles).

Schema::

    arkit          float32 (T,52)   ARKit blendshape weights in [0, 1], columns in ``arkit_names`` order
    arkit_names    str (52,)        the 52 ARKit names, camelCase (``headgen.models.arkit.ARKIT_NAMES``)
    head_rotation  float32 (T,3,3)  head rotation in the head-model frame (+x subject's left, +y up, +z out of
                                    the face), applied before the camera's ``HEAD_TO_OPENCV``; identity = rest
    eyes           float32 (T,2,2)  gaze per eye [subject's left, right] x [pitch, yaw] radians
                                    (pitch > 0 looks down, yaw about +y)
    fps            float32 ()       frame rate
    times          float32 (T,)     seconds from the start of the audio (frame t covers [t/fps, (t+1)/fps))
    FLAME targets only:
    expression     float32 (T,E)    FLAME expression coefficients (``headgen.models.arkit`` transfer)
    jaw            float32 (T,3)    FLAME jaw axis-angle (radians)

Writers may add arrays (``extra``), e.g. ``audio_path`` str () and ``model`` str ().
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.io.atomic import write_npz_atomic

REQUIRED = ("arkit", "arkit_names", "head_rotation", "eyes", "fps", "times")


@dataclass
class AnimationArtifact:
    """All arrays of an ``animation.npz`` (shapes in the module docstring; T frames)."""
    arkit: np.ndarray
    arkit_names: list[str]
    head_rotation: np.ndarray
    eyes: np.ndarray
    fps: float
    times: np.ndarray
    expression: np.ndarray | None = None
    jaw: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        """T, the number of frames."""
        return int(self.arkit.shape[0])

    def column(self, name: str) -> np.ndarray:
        """(T,) the ARKit curve called ``name`` (any spelling ``headgen.models.arkit`` accepts)."""
        from headgen.models.arkit import arkit_index
        return self.arkit[:, arkit_index(name)]


def _check(a: AnimationArtifact, where: str) -> None:
    T = a.arkit.shape[0] if a.arkit.ndim == 2 else -1
    if T < 0 or a.arkit.shape[1] != 52 or len(a.arkit_names) != 52:
        raise InputError(f"{where}: arkit must be (T, 52) with 52 names, got {a.arkit.shape}, {len(a.arkit_names)}")
    if a.head_rotation.shape != (T, 3, 3) or a.eyes.shape != (T, 2, 2) or a.times.shape != (T,):
        raise InputError(f"{where}: inconsistent shapes (arkit {a.arkit.shape}, head_rotation {a.head_rotation.shape}, "
                         f"eyes {a.eyes.shape}, times {a.times.shape})")
    if not np.isfinite(a.arkit).all() or a.arkit.min(initial=0) < 0 or a.arkit.max(initial=0) > 1:
        raise InputError(f"{where}: arkit weights must be finite and in [0, 1]")
    if not a.fps > 0:
        raise InputError(f"{where}: fps must be > 0, got {a.fps}")


def write_animation(path: str | Path, arkit, head_rotation, eyes, fps: float, times=None, expression=None,
                    jaw=None, arkit_names=None, extra: dict | None = None) -> Path:
    """Write ``animation.npz`` atomically -> path.

    arkit (T,52) [0,1]; head_rotation (T,3,3); eyes (T,2,2) pitch/yaw rad; fps; times (T,) seconds
    (default t/fps); expression (T,E) / jaw (T,3) for FLAME targets; arkit_names default ARKIT_NAMES.
    Raises InputError on inconsistent shapes or weights outside [0, 1].
    """
    from headgen.models.arkit import ARKIT_NAMES

    arkit = np.asarray(arkit, np.float32)
    T = arkit.shape[0]
    a = AnimationArtifact(arkit=arkit, arkit_names=list(arkit_names or ARKIT_NAMES),
                          head_rotation=np.asarray(head_rotation, np.float32), eyes=np.asarray(eyes, np.float32),
                          fps=float(fps), times=(np.arange(T) / float(fps) if times is None else
                                                 np.asarray(times)).astype(np.float32),
                          expression=None if expression is None else np.asarray(expression, np.float32),
                          jaw=None if jaw is None else np.asarray(jaw, np.float32), extra=dict(extra or {}))
    _check(a, str(path))
    arrays = {"arkit": a.arkit, "arkit_names": np.array(a.arkit_names, dtype=str), "head_rotation": a.head_rotation,
              "eyes": a.eyes, "fps": np.float32(a.fps), "times": a.times}
    if a.expression is not None:
        arrays["expression"] = a.expression
    if a.jaw is not None:
        arrays["jaw"] = a.jaw
    for k, v in a.extra.items():
        arrays[k] = np.asarray(v)
    return write_npz_atomic(path, arrays)


def read_animation(path: str | Path) -> AnimationArtifact:
    """Read an ``animation.npz`` (or a folder holding one) -> AnimationArtifact with every frame.
    Raises InputError naming the file when it is missing, unreadable or malformed."""
    path = Path(path)
    if path.is_dir():
        path = path / "animation.npz"
    if not path.is_file():
        raise InputError(f"{path}: no such animation file")
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except Exception as e:
        raise InputError(f"{path}: not a readable animation.npz ({type(e).__name__}: {e})") from None
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise InputError(f"{path}: not an animation.npz (missing {', '.join(missing)})")
    known = set(REQUIRED) | {"expression", "jaw"}
    a = AnimationArtifact(arkit=d["arkit"], arkit_names=[str(n) for n in d["arkit_names"]],
                          head_rotation=d["head_rotation"], eyes=d["eyes"], fps=float(d["fps"]), times=d["times"],
                          expression=d.get("expression"), jaw=d.get("jaw"),
                          extra={k: v for k, v in d.items() if k not in known})
    _check(a, str(path))
    return a
