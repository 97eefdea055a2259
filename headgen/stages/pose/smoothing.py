"""Temporal smoothing of one tracked head: the rigid motion and the face's shape, filtered apart.

Per frame, the landmarks L (N, 3) px (z: MediaPipe's relative depth) are split into

* a rigid similarity ``L ~ s R P + t`` fitted to MediaPipe's canonical face with its Procrustes weights
  (the 33 landmarks that expressions hardly move; Umeyama's method) less the four of them that lie in
  the mouth region (two on the jaw line move with the jaw: with them the fitted head bobs with speech),
  and
* the landmarks in the head's frame, ``P = R^T (L - t) / s`` (canonical face units, metres).

The similarity (rotation through quaternions, log-scale, translation) is One-Euro filtered: that removes
the head's frame-to-frame wobble from every landmark. The head-frame landmarks are filtered per region:
the *upper face* (brows, forehead, nose, cheekbones, contour above the mouth) with a One-Euro filter
that smooths a still face hard, while the *mouth and jaw* (canonical points below the nostrils: lips,
chin, lower cheeks and jaw line) and the *eyes* (the lids and the skin around them) pass through
unfiltered by default, so speech (4-6 Hz lip motion) and blinks (100-150 ms) keep their timing exactly:
a causal low-pass always delays what it smooths, and one frame (40 ms at 25 fps) is the whole lip-sync
tolerance (issue 18: the former filter on all 468 landmarks delayed the mouth by one frame on GRID).
The output is ``s' R' P' + t'`` with the filtered parts.

The pose outputs (rotation head -> camera, translation metres) are filtered as before. Defaults are
tuned on the GRID clips (25 fps) and on synthetic ramps so that a still head's jitter drops several-fold
while a head turning at 30 deg/s or more lags by at most about one frame (``tests/test_pose_smoothing.py``
checks both, and that a mouth opening at 4-6 Hz comes out with zero lag). Landmark parameters are
relative to the face size, so they work at any resolution. ``bench/pose_smoothing.py`` measures jitter,
lip-gap jitter in silence and the jawOpen / lip-gap correlation per GRID clip.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from headgen.landmarks.canonical import CanonicalFace, load_canonical_face
from headgen.landmarks.filters import OneEuroFilter, RotationFilter

try:    # the similarity Procrustes moved from geometry.headpose to geometry.procrustes
    from headgen.geometry.procrustes import umeyama as _umeyama
except ImportError:  # pragma: no cover
    from headgen.geometry.headpose import weighted_umeyama as _umeyama

__all__ = ["SmoothingParams", "HeadSmoother", "face_regions", "REGIONS"]

#: Region names of :func:`face_regions`, in order.
REGIONS = ("upper", "mouth", "eyes")

# region geometry on the canonical face (metres, head frame: +x subject's left, +y up)
_MOUTH_BELOW_Y = -0.023                 # below the nostrils (subnasale 2 at y = -2.09 cm, lip top 0 at -3.41)
_EYE_CENTRE = (0.0318, 0.0262)          # |x|, y of the eye centres (lids 159/145 at x = 3.18 cm)
_EYE_HALF_AXES = (0.019, 0.011)         # ellipse around each eye: contour (x 1.86-4.45 cm) plus one ring


def face_regions(face: CanonicalFace | None = None, n: int = 468) -> np.ndarray:
    """(n,) int region label per landmark, indices into :data:`REGIONS`: 1 "mouth" (canonical y below
    the nostrils: lips, chin, jaw line, lower cheeks; 164 points), 2 "eyes" (an ellipse around each eye:
    lids, eye contour and the ring around it; 70 points), 0 "upper" (the rest). Landmarks past 468
    (the attention mesh's iris points) are "eyes"."""
    face = face or load_canonical_face()
    v = face.vertices
    lab = np.zeros(max(n, 468), np.int64)
    lab[:468][v[:, 1] < _MOUTH_BELOW_Y] = 1
    ex = (np.abs(v[:, 0]) - _EYE_CENTRE[0]) / _EYE_HALF_AXES[0]
    ey = (v[:, 1] - _EYE_CENTRE[1]) / _EYE_HALF_AXES[1]
    lab[:468][ex ** 2 + ey ** 2 <= 1.0] = 2
    lab[468:] = 2
    return lab[:n]


@dataclass(frozen=True)
class SmoothingParams:
    """One-Euro parameters: (min_cutoff Hz, beta, d_cutoff Hz) per quantity; None = not filtered.

    rotation: beta per unit quaternion speed (about half the angular speed in rad/s); used for the pose's
    rotation and the landmarks' rigid rotation. translation: beta per m/s (the pose's translation).
    head: the landmarks' rigid translation and log-scale, beta per (face diagonals)/s.
    upper / mouth / eyes: the head-frame landmarks of each region (:func:`face_regions`), beta per
    (face diagonals)/s, speed measured over the region. mouth and eyes default to None: they follow
    the rigidly smoothed head with their own, unfiltered shape (no lag for speech and blinks).
    """
    rotation: tuple[float, float, float] = (1.0, 30.0, 1.0)
    translation: tuple[float, float, float] = (1.0, 60.0, 3.0)
    head: tuple[float, float, float] = (1.5, 6.0, 3.0)
    upper: tuple[float, float, float] | None = (1.5, 6.0, 3.0)
    mouth: tuple[float, float, float] | None = None
    eyes: tuple[float, float, float] | None = None


class HeadSmoother:
    """Filters for one track (module doc). ``__call__(t s, landmarks (N, 2|3) px, R (3, 3), trans (3,))``
    -> smoothed (landmarks (N, 2|3) px, R (3, 3), trans (3,)). ``face_size``: box diagonal in px at the
    track's start (kept for the interface; the landmark filters use the head's fitted scale, so they work
    at any resolution and distance). 2-D landmarks are smoothed with a 2-D similarity instead."""

    def __init__(self, face_size: float, params: SmoothingParams = SmoothingParams(),
                 face: CanonicalFace | None = None):
        self.params = params
        self.face = face or load_canonical_face()
        self.face_size = max(float(face_size), 1.0)
        v = self.face.vertices
        diag = float(np.linalg.norm(v[:, :2].max(0) - v[:, :2].min(0)))     # canonical face diagonal, m
        self._diag = diag
        self.rotation = RotationFilter(*params.rotation)
        self.translation = OneEuroFilter(*params.translation, speed_axes=(0,))
        mc, b, dc = params.head
        # rigid part of the landmarks: rotation, log-scale (relative units), translation in face diagonals
        self._lm_rot = RotationFilter(*params.rotation)
        self._lm_log_s = OneEuroFilter(mc, b, dc, speed_axes=(0,))
        self._lm_t = OneEuroFilter(mc, b, dc, speed_axes=(0,))
        self._regions: dict[str, OneEuroFilter | None] = {}
        for name in REGIONS:
            p = getattr(params, name)
            self._regions[name] = None if p is None else OneEuroFilter(p[0], p[1] / diag, p[2], speed_axes=(0, 1))
        self._labels = None
        self._unit = None
        w = np.where(face_regions(self.face) == REGIONS.index("mouth"), 0.0, self.face.procrustes_weights)
        self._rigid_ids = np.flatnonzero(w > 0)
        self._weights = w[self._rigid_ids] / w.sum()

    def _similarity(self, L: np.ndarray):
        """(N, 3) px -> s, R (3, 3), t (3,) with L[:468] ~ s R X + t (X the canonical face; weights: the
        Procrustes landmarks off the mouth)."""
        ids = self._rigid_ids
        return _umeyama(self.face.vertices[ids], L[ids], self._weights)

    def smooth_landmarks(self, t: float, landmarks) -> np.ndarray:
        """Landmarks (N >= 468, 2 or 3) px at time t s -> smoothed landmarks, same shape (module doc)."""
        L = np.asarray(landmarks, np.float64)
        if L.ndim != 2 or L.shape[0] < 468 or L.shape[1] not in (2, 3):
            raise ValueError(f"landmarks: expected (N >= 468, 2 | 3), got {L.shape}")
        d = L.shape[1]
        L3 = L if d == 3 else np.concatenate([L, np.zeros((L.shape[0], 1))], 1)
        if self._labels is None or len(self._labels) != L.shape[0]:
            self._labels = face_regions(self.face, L.shape[0])
        if d == 3:
            s, R, tr = self._similarity(L3)
        else:   # 2-D: in-plane similarity of the canonical face's x, y (y up -> image y down)
            X = self.face.vertices * [1.0, -1.0, 0.0]
            s, R, tr = _umeyama(X[self._rigid_ids], L3[self._rigid_ids], self._weights)
        s = max(float(s), 1e-9)
        P = (L3 - tr) @ R / s                                       # head frame, canonical units
        # filtered rigid part
        R_f = self._lm_rot(R, t)
        if self._unit is None:
            self._unit = s * self._diag                              # px per face diagonal at the start
        unit = self._unit
        log_s = self._lm_log_s(np.array([math.log(s)]), t)[0]
        t_f = self._lm_t(tr / unit, t) * unit
        s_f = math.exp(log_s)
        # filtered shape, per region
        P_f = P.copy()
        for k, name in enumerate(REGIONS):
            f = self._regions[name]
            if f is not None:
                m = self._labels == k
                if m.any():
                    P_f[m] = f(P[m], t)
        out = s_f * P_f @ R_f.T + t_f
        return out[:, :d]

    def __call__(self, t: float, landmarks, R, trans):
        lm = self.smooth_landmarks(t, landmarks)
        return lm, self.rotation(R, t), self.translation(np.asarray(trans, np.float64), t)
