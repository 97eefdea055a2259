"""Speech loudness envelope at video rate: the baseline mouth driver of the preview stage."""
from __future__ import annotations

import numpy as np


def speech_envelope(audio: np.ndarray, sr: int, fps: float, n_frames: int, floor_db: float = -45.0,
                    smooth_frames: float = 1.0) -> np.ndarray:
    """Per-video-frame speech activity in [0, 1].

    audio (N,) float samples in [-1, 1] at ``sr`` Hz -> (n_frames,) float32: RMS over each frame's
    1/fps window, in dB relative to the 95th percentile frame, mapped linearly from ``floor_db``
    (-> 0) to 0 dB (-> 1), then smoothed by a Gaussian of ``smooth_frames`` frames (std).
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = sr / float(fps)
    starts = (np.arange(n_frames) * hop).astype(np.int64)
    stops = np.minimum(((np.arange(n_frames) + 1) * hop).astype(np.int64), audio.size)
    csum = np.concatenate([[0.0], np.cumsum(audio ** 2)])
    count = np.maximum(stops - np.minimum(starts, stops), 1)
    energy = (csum[np.minimum(stops, audio.size)] - csum[np.minimum(starts, audio.size)]) / count
    rms_db = 10.0 * np.log10(energy + 1e-12)
    ref = np.percentile(rms_db, 95) if n_frames else 0.0
    env = np.clip((rms_db - ref - floor_db) / -floor_db, 0.0, 1.0)
    if smooth_frames > 0 and n_frames > 1:
        r = int(np.ceil(3 * smooth_frames))
        k = np.exp(-0.5 * (np.arange(-r, r + 1) / smooth_frames) ** 2)
        env = np.convolve(np.pad(env, r, mode="edge"), k / k.sum(), mode="valid")
    return env.astype(np.float32)
