"""Fit-quality metrics: normalised mean error (NME) of 68 landmarks, correlations."""
from __future__ import annotations

import numpy as np

from headgen.landmarks.ibug68 import inter_ocular_distance
from headgen.metrics.series import pearson  # noqa: F401  (the fit metrics' correlation)


def nme_per_frame(pred68: np.ndarray, target68: np.ndarray) -> np.ndarray:
    """pred68, target68 (T,68,2) pixels -> (T,) mean point-to-point error divided by the
    inter-ocular distance (outer eye corners 36/45) of the TARGET. NaN where the target is missing."""
    pred68, target68 = np.asarray(pred68, np.float64), np.asarray(target68, np.float64)
    err = np.linalg.norm(pred68 - target68, axis=-1).mean(-1)
    iod = inter_ocular_distance(target68)
    with np.errstate(invalid="ignore", divide="ignore"):
        return err / iod


def nme_mean(per_frame: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean of per-frame NME over valid, finite frames (NaN if none)."""
    v = np.isfinite(per_frame)
    if valid is not None:
        v &= np.asarray(valid, bool)
    return float(per_frame[v].mean()) if v.any() else float("nan")


def inner_lip_distance(landmarks_468: np.ndarray) -> np.ndarray:
    """(T,468,2|3) MediaPipe landmarks -> (T,) distance between inner-lip midpoints 13 (upper) and 14
    (lower), normalised by the outer eye-corner distance (33-263) so it is scale free."""
    lm = np.asarray(landmarks_468, np.float64)[..., :2]
    d = np.linalg.norm(lm[:, 13] - lm[:, 14], axis=-1)
    iod = np.linalg.norm(lm[:, 33] - lm[:, 263], axis=-1)
    return d / iod
