"""Live Link Face CSV: the layout of the recordings of Epic's Live Link Face app (importable by the tools
that read those).

Header (63 columns)::

    Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
    LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll

* ``Timecode``: ``HH:MM:SS:FF.fff`` (frame within the second with a millisecond-style fraction of a frame);
* ``BlendShapeCount``: 61 (52 ARKit blendshapes + 9 head/eye angles);
* the 52 ARKit weights in [0, 1], PascalCase names in the app's order (``headgen.models.arkit.ARKIT_NAMES``);
* ``HeadYaw,HeadPitch,HeadRoll``: radians, the head rotation of ``animation.npz`` (head-model frame)
  ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)``;
* ``{Left,Right}Eye{Yaw,Pitch,Roll}``: radians, gaze of the subject's left/right eye (roll 0).
"""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.io.atomic import write_text_atomic

ANGLE_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                 "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
BLENDSHAPE_COUNT = 61
_TC = re.compile(r"^(\d+):(\d\d):(\d\d):(\d+(?:\.\d+)?)$")


def pascal_names() -> list[str]:
    """The 52 ARKit names as Live Link Face writes them (``EyeBlinkLeft`` ... ``TongueOut``)."""
    from headgen.models.arkit import ARKIT_NAMES
    return [n[0].upper() + n[1:] for n in ARKIT_NAMES]


def header() -> list[str]:
    """The 63 column names of a Live Link Face CSV."""
    return ["Timecode", "BlendShapeCount", *pascal_names(), *ANGLE_COLUMNS]


def timecode(t: float, fps: float) -> str:
    """Seconds -> ``HH:MM:SS:FF.fff`` at ``fps`` (FF.fff = frame within the second, fractional)."""
    whole = int(math.floor(t + 1e-9))
    frame = (t - whole) * fps
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{frame:06.3f}"


def parse_timecode(tc: str) -> tuple[int, float]:
    """``HH:MM:SS:FF.fff`` -> (whole seconds, frame within the second as float); ValueError if malformed."""
    m = _TC.match(tc.strip())
    if not m:
        raise ValueError(f"bad timecode {tc!r}")
    h, mi, s, f = m.groups()
    return (int(h) * 60 + int(mi)) * 60 + int(s), float(f)


def head_angles(head_rotation) -> np.ndarray:
    """(T,3,3) head rotations -> (T,3) [yaw, pitch, roll] radians with R = Ry(yaw) Rx(pitch) Rz(roll)."""
    import torch
    from headgen.geometry.rotations import matrix_to_euler
    R = torch.as_tensor(np.asarray(head_rotation, np.float64))
    return matrix_to_euler(R, "YXZ").numpy()


def head_rotation_from_angles(angles) -> np.ndarray:
    """(T,3) [yaw, pitch, roll] radians -> (T,3,3), the inverse of :func:`head_angles`."""
    import torch
    from headgen.geometry.rotations import euler_to_matrix
    return euler_to_matrix(torch.as_tensor(np.asarray(angles, np.float64)), "YXZ").numpy()


def write_livelink_csv(path: str | Path, arkit, fps: float, times=None, head_rotation=None, eyes=None,
                       start: float = 0.0) -> Path:
    """Write a Live Link Face CSV atomically -> path.

    arkit (T,52) weights in ARKIT_NAMES order; fps; times (T,) seconds (default t/fps); head_rotation
    (T,3,3) or None (identity); eyes (T,2,2) [left, right] x [pitch, yaw] radians or None (zeros);
    start: seconds added to every timecode.
    """
    W = np.asarray(arkit, np.float64)
    T = W.shape[0]
    if W.ndim != 2 or W.shape[1] != 52:
        raise InputError(f"{path}: arkit must be (T, 52), got {W.shape}")
    times = np.arange(T) / float(fps) if times is None else np.asarray(times, np.float64)
    ang = np.zeros((T, 3)) if head_rotation is None else head_angles(head_rotation)
    ey = np.zeros((T, 2, 2)) if eyes is None else np.asarray(eyes, np.float64)
    buf = io.StringIO()
    buf.write(",".join(header()) + "\n")
    for i in range(T):
        vals = [*W[i], *ang[i], ey[i, 0, 1], ey[i, 0, 0], 0.0, ey[i, 1, 1], ey[i, 1, 0], 0.0]
        buf.write(timecode(start + times[i], fps) + f",{BLENDSHAPE_COUNT}," + ",".join(f"{v:.6f}" for v in vals) + "\n")
    return write_text_atomic(path, buf.getvalue())


@dataclass
class LiveLinkTake:
    """A Live Link Face CSV read back: arkit (T,52), head_rotation (T,3,3), eyes (T,2,2) [pitch, yaw],
    times (T,) seconds from the first row, fps (given or inferred from the timecodes), start (s)."""
    arkit: np.ndarray
    head_rotation: np.ndarray
    eyes: np.ndarray
    times: np.ndarray
    fps: float
    start: float


def _infer_fps(secs: np.ndarray, frames: np.ndarray) -> float:
    """Frame rate from consecutive rows crossing a second boundary: (S2 - S1) * fps + F2 - F1 = 1 frame."""
    for i in range(len(secs) - 1):
        ds = secs[i + 1] - secs[i]
        if ds == 1:
            fps = frames[i] - frames[i + 1] + 1.0
            if fps > 0:
                return float(round(fps * 1000) / 1000)
    return 60.0   # the app's default recording rate


def read_livelink_csv(path: str | Path, fps: float | None = None) -> LiveLinkTake:
    """Read a Live Link Face CSV (columns found by name, any order) -> LiveLinkTake.
    fps None: inferred from the timecodes (60 when the take is shorter than a second boundary).
    Raises InputError naming the file when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such Live Link Face CSV")
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: unreadable CSV ({e})") from None
    if not rows:
        raise InputError(f"{path}: empty CSV")
    head = [h.strip() for h in rows[0]]
    names = pascal_names()
    missing = [c for c in ["Timecode", *names] if c not in head]
    if missing:
        raise InputError(f"{path}: not a Live Link Face CSV (missing columns {', '.join(missing[:5])})")
    body = [r for r in rows[1:] if r]
    try:
        tc = [parse_timecode(r[head.index("Timecode")]) for r in body]
        W = np.array([[float(r[head.index(n)]) for n in names] for r in body], np.float64).reshape(-1, 52)
        A = np.array([[float(r[head.index(c)]) if c in head else 0.0 for c in ANGLE_COLUMNS] for r in body],
                     np.float64).reshape(-1, 9)
    except (ValueError, IndexError) as e:
        raise InputError(f"{path}: malformed row ({e})") from None
    secs = np.array([s for s, _ in tc], np.float64)
    frames = np.array([f for _, f in tc], np.float64)
    rate = float(fps) if fps else _infer_fps(secs, frames)
    abs_t = secs + frames / rate
    start = float(abs_t[0]) if len(abs_t) else 0.0
    eyes = np.stack([np.stack([A[:, 4], A[:, 3]], -1), np.stack([A[:, 7], A[:, 6]], -1)], 1)
    return LiveLinkTake(arkit=W.astype(np.float32), head_rotation=head_rotation_from_angles(A[:, :3]).astype(np.float32),
                        eyes=eyes.astype(np.float32), times=(abs_t - start).astype(np.float32), fps=rate, start=start)
