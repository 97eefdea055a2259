"""Temporal smoothing of one tracked head: One-Euro filters on landmarks, rotation and translation.

Defaults are tuned on the GRID clips (25 fps) and on synthetic ramps so that a still head's jitter
drops several-fold while a head turning at 30 deg/s or more lags by at most about one frame
(``tests/test_pose_smoothing.py`` checks both). Landmark parameters are relative to the face size
(the box diagonal when the track starts), so they work at any resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headgen.landmarks.filters import OneEuroFilter, RotationFilter

__all__ = ["SmoothingParams", "HeadSmoother"]


@dataclass(frozen=True)
class SmoothingParams:
    """One-Euro parameters: (min_cutoff Hz, beta, d_cutoff Hz) per quantity.

    rotation: beta per unit quaternion speed (about half the angular speed in rad/s).
    translation: beta per m/s. landmarks: beta per (face diagonals)/s.
    """
    rotation: tuple[float, float, float] = (1.0, 30.0, 1.0)
    translation: tuple[float, float, float] = (1.0, 60.0, 3.0)
    landmarks: tuple[float, float, float] = (1.5, 6.0, 3.0)


class HeadSmoother:
    """Filters for one track. ``__call__(t, landmarks (N, D) px, R (3, 3), trans (3,))`` ->
    smoothed (landmarks, R, trans). ``face_size``: box diagonal in px at the track's start."""

    def __init__(self, face_size: float, params: SmoothingParams = SmoothingParams()):
        mc, b, dc = params.landmarks
        size = max(float(face_size), 1.0)
        self.landmarks = OneEuroFilter(mc, b / size, dc, speed_axes=(0, 1))
        self.rotation = RotationFilter(*params.rotation)
        self.translation = OneEuroFilter(*params.translation, speed_axes=(0,))

    def __call__(self, t: float, landmarks, R, trans):
        lm = self.landmarks(np.asarray(landmarks, np.float64), t)
        return lm, self.rotation(R, t), self.translation(np.asarray(trans, np.float64), t)
