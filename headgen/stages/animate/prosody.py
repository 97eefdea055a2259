"""Prosody -> loudness gain for the mouth, eyebrow raises and head nods (all per video frame).

Inputs are the per-frame features of ``headgen.audio.features.prosody``: ``energy_db`` (T,), ``f0_hz`` (T,)
(NaN unvoiced), ``voiced`` (T,). Nothing here is learned: loudness relative to the utterance's loud frames
scales the jaw/lip opening (0.3x quiet .. 1.3x loud); pitch accents (f0 above the speaker's median by more
than ~2 semitones) raise the brows; energy onsets give small downward nods; a seeded slow drift keeps the
head alive. Rotations are in the head-model frame (+x subject's left, +y up, +z out of the face):
positive pitch (about +x) nods down.
"""
from __future__ import annotations

import numpy as np

from headgen.models.arkit import ARKIT_NAMES


def smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing of (T,) or (T,C) along time (edge-padded); sigma in frames (<= 0: copy)."""
    x = np.asarray(x, np.float64)
    if sigma_frames <= 0 or x.shape[0] < 2:
        return x.copy()
    r = int(np.ceil(3 * sigma_frames))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_frames) ** 2)
    k /= k.sum()
    x2 = x.reshape(x.shape[0], -1)
    p = np.pad(x2, ((r, r), (0, 0)), mode="edge")
    out = np.stack([np.convolve(p[:, c], k, mode="valid") for c in range(x2.shape[1])], 1)
    return out.reshape(x.shape)


def speech_level(energy_db: np.ndarray, floor_db: float = 35.0) -> np.ndarray:
    """(T,) energy in dB -> (T,) level in [0, 1]: 1 at the 95th-percentile frame, 0 at ``floor_db`` below it."""
    e = np.asarray(energy_db, np.float64)
    if e.size == 0:
        return e
    ref = np.percentile(e, 95)
    return np.clip((e - ref + floor_db) / floor_db, 0.0, 1.0)


#: range of the loudness gain on the mouth opening (quietest .. loudest frames); chosen by nested
#: leave-one-clip-out on the GRID clips (with the breath viseme) over 0.55-1.15 (the former default) and 0.3-1.3:
#: every fold picked 0.3-1.3 (bench/results/animate_variants.md)
LOUDNESS_GAIN = (0.3, 1.3)


def loudness_gain(energy_db: np.ndarray, fps: float, lo: float = LOUDNESS_GAIN[0],
                  hi: float = LOUDNESS_GAIN[1]) -> np.ndarray:
    """(T,) energy dB -> (T,) gain in [lo, hi] for the mouth opening (smoothed over ~40 ms)."""
    lvl = smooth(speech_level(energy_db), 0.04 * fps)
    return lo + (hi - lo) * lvl


#: exponent of the first-formant jaw factor (chosen leave-one-clip-out on the GRID clips from 0.5 / 1 / 1.5:
#: bench/results/animate_variants.md)
F1_JAW_EXPONENT = 1.0


def jaw_formant_factor(f1_hz: np.ndarray | None, exponent: float = F1_JAW_EXPONENT, lo: float = 0.5,
                       hi: float = 2.0) -> np.ndarray | None:
    """(T,) first formant in Hz (NaN where none) -> (T,) factor on the jaw opening: (F1 / median F1) ** exponent,
    clipped to [lo, hi], 1 where F1 is unknown, smoothed over one frame. F1 rises with the jaw opening of a vowel
    (open vowels, an open jaw: high F1), so the factor corrects the viseme table's fixed jaw per vowel towards
    what the speaker does. None (no F1, or fewer than 3 frames with one) -> None (no correction)."""
    if f1_hz is None or exponent == 0:
        return None
    f1 = np.asarray(f1_hz, np.float64)
    ok = np.isfinite(f1) & (f1 > 0)
    if ok.sum() < 3:
        return None
    f = np.ones(f1.size)
    f[ok] = np.clip((f1[ok] / np.median(f1[ok])) ** exponent, lo, hi)
    return smooth(f, 1.0)


def semitones_above_median(f0_hz: np.ndarray) -> np.ndarray:
    """(T,) f0 in Hz (NaN unvoiced) -> (T,) semitones relative to the median voiced f0 (0 where unvoiced)."""
    f0 = np.asarray(f0_hz, np.float64)
    ok = np.isfinite(f0) & (f0 > 0)
    out = np.zeros_like(f0)
    if ok.sum() >= 3:
        out[ok] = 12.0 * np.log2(f0[ok] / np.median(f0[ok]))
    return out


def brow_curves(f0_hz: np.ndarray, energy_db: np.ndarray, fps: float) -> np.ndarray:
    """(T,52) ARKit weights with browInnerUp / browOuterUp{Left,Right} raised on pitch accents (up to 0.35)."""
    st = semitones_above_median(f0_hz)
    lvl = speech_level(energy_db)
    raise_ = np.clip((st - 2.0) / 6.0, 0.0, 1.0) * np.clip(lvl * 1.5, 0.0, 1.0)
    raise_ = smooth(raise_, 0.08 * fps)
    out = np.zeros((len(st), 52), np.float32)
    out[:, ARKIT_NAMES.index("browInnerUp")] = 0.35 * raise_
    out[:, ARKIT_NAMES.index("browOuterUpLeft")] = 0.25 * raise_
    out[:, ARKIT_NAMES.index("browOuterUpRight")] = 0.25 * raise_
    return out


def head_angles(energy_db: np.ndarray, f0_hz: np.ndarray, fps: float, seed: int = 0,
                nod_deg: float = 2.5, drift_deg=(2.0, 1.0, 0.7)) -> np.ndarray:
    """(T,3) head [pitch, yaw, roll] radians: nods on energy onsets + f0-coupled lift + seeded slow drift."""
    T = len(energy_db)
    lvl = smooth(speech_level(energy_db), 0.05 * fps)
    onset = np.clip(np.diff(lvl, prepend=lvl[:1] if T else lvl), 0.0, None)
    nod = smooth(onset, 0.12 * fps)
    if T and nod.max() > 0:
        nod = nod / max(np.percentile(nod, 99), 1e-6)
    nod = np.clip(nod, 0.0, 1.5)
    lift = smooth(np.clip(semitones_above_median(f0_hz), -6, 6) / 6.0, 0.15 * fps)
    rng = np.random.default_rng(seed)
    t = np.arange(T) / fps
    drift = np.zeros((T, 3))
    for axis in range(3):
        for _ in range(3):
            f = rng.uniform(0.05, 0.35)
            drift[:, axis] += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) / 3.0
        drift[:, axis] *= drift_deg[axis]
    pitch = nod_deg * nod - 1.0 * lift + drift[:, 0]
    return np.deg2rad(np.stack([pitch, drift[:, 1], drift[:, 2]], -1))


def angles_to_rotation(angles: np.ndarray) -> np.ndarray:
    """(T,3) [pitch, yaw, roll] radians -> (T,3,3) ``Ry(yaw) @ Rx(pitch) @ Rz(roll)`` (head-model frame)."""
    p, y, r = (np.asarray(angles, np.float64)[:, i] for i in range(3))
    cp, sp, cy, sy, cr, sr = np.cos(p), np.sin(p), np.cos(y), np.sin(y), np.cos(r), np.sin(r)
    o, z = np.ones_like(p), np.zeros_like(p)
    Rx = np.stack([o, z, z, z, cp, -sp, z, sp, cp], -1).reshape(-1, 3, 3)
    Ry = np.stack([cy, z, sy, z, o, z, -sy, z, cy], -1).reshape(-1, 3, 3)
    Rz = np.stack([cr, -sr, z, sr, cr, z, z, z, o], -1).reshape(-1, 3, 3)
    return Ry @ Rx @ Rz
