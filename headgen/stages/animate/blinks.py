"""Natural eye blinks and small gaze saccades, seeded and deterministic.

Blinks: intervals drawn uniformly in [2, 6] s, durations in [100, 150] ms, a fast close (40 %) and a slower
open (60 %) with raised-cosine ramps; each frame takes the peak of the blink over its own 1/fps interval, so
a 100 ms blink still closes the lids fully in at least one 25-fps frame. Gaze: fixations of 0.6-3 s with
small offsets (yaw ~N(0, 3 deg) clipped to 8 deg, pitch ~N(0, 1.5 deg) clipped to 5 deg); a saccade moves to
the next fixation within one frame. Gaze drives the eyeLook* blendshapes at 30 deg per unit weight
(``headgen.models.ict.EYE_LOOK_ANGLE``).
"""
from __future__ import annotations

import numpy as np

from headgen.models.arkit import ARKIT_NAMES

EYE_LOOK_RAD = float(np.deg2rad(30.0))


def blink_events(duration_s: float, seed: int = 0, interval=(2.0, 6.0), length=(0.10, 0.15)) -> np.ndarray:
    """(K,2) blink [start, length] in seconds covering [0, duration_s)."""
    rng = np.random.default_rng([seed, 1])
    ev = []
    t = rng.uniform(0.5, interval[1])
    while t < duration_s:
        ev.append((t, rng.uniform(*length)))
        t += rng.uniform(*interval)
    return np.array(ev, np.float64).reshape(-1, 2)


def blink_curve(times: np.ndarray, fps: float, events: np.ndarray, sub: int = 8) -> np.ndarray:
    """(T,) lid closure in [0, 1] at frame times (peak over each frame's interval [t, t + 1/fps))."""
    times = np.asarray(times, np.float64)
    out = np.zeros(times.size)
    if events.size == 0 or times.size == 0:
        return out
    ts = times[:, None] + np.arange(sub)[None] / (sub * fps)              # (T,sub)
    for s, L in events:
        a, b = np.searchsorted(times, s - 1.0 / fps), np.searchsorted(times, s + L + 1.0 / fps)
        if b <= a:
            continue
        u = (ts[a:b] - s) / L
        close = np.where((u >= 0) & (u < 0.4), 0.5 - 0.5 * np.cos(np.pi * u / 0.4), 0.0)
        open_ = np.where((u >= 0.4) & (u <= 1.0), 0.5 + 0.5 * np.cos(np.pi * (u - 0.4) / 0.6), 0.0)
        out[a:b] = np.maximum(out[a:b], np.maximum(close, open_).max(1))
    return out


def gaze_track(times: np.ndarray, seed: int = 0, fixation=(0.6, 3.0), yaw_deg=3.0, pitch_deg=1.5) -> np.ndarray:
    """(T,2,2) gaze per eye [left, right] x [pitch, yaw] radians: piecewise-constant fixations, both eyes
    together (conjugate saccades)."""
    times = np.asarray(times, np.float64)
    rng = np.random.default_rng([seed, 2])
    dur = times[-1] + 1.0 if times.size else 0.0
    starts, vals, t = [], [], 0.0
    while t <= dur:
        starts.append(t)
        vals.append((np.clip(rng.normal(0, pitch_deg), -5, 5), np.clip(rng.normal(0, yaw_deg), -8, 8)))
        t += rng.uniform(*fixation)
    idx = np.clip(np.searchsorted(np.array(starts), times, side="right") - 1, 0, len(starts) - 1)
    g = np.deg2rad(np.array(vals))[idx]                                   # (T,2)
    return np.repeat(g[:, None, :], 2, axis=1).astype(np.float32)


def eye_curves(blink: np.ndarray, gaze: np.ndarray) -> np.ndarray:
    """(T,52) ARKit weights: eyeBlink{Left,Right} = blink, eyeLook{Up,Down,In,Out}{Left,Right} from gaze.
    Gaze yaw > 0 turns towards the subject's left: out for the left eye, in for the right eye."""
    T = len(blink)
    out = np.zeros((T, 52), np.float32)
    for side, e in (("Left", 0), ("Right", 1)):
        out[:, ARKIT_NAMES.index("eyeBlink" + side)] = blink
        pitch, yaw = gaze[:, e, 0] / EYE_LOOK_RAD, gaze[:, e, 1] / EYE_LOOK_RAD
        out[:, ARKIT_NAMES.index("eyeLookDown" + side)] = np.clip(pitch, 0, 1)
        out[:, ARKIT_NAMES.index("eyeLookUp" + side)] = np.clip(-pitch, 0, 1)
        toward_left = np.clip(yaw, 0, 1)
        toward_right = np.clip(-yaw, 0, 1)
        out[:, ARKIT_NAMES.index("eyeLookOut" + side)] = toward_left if side == "Left" else toward_right
        out[:, ARKIT_NAMES.index("eyeLookIn" + side)] = toward_right if side == "Left" else toward_left
    return out
