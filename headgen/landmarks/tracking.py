"""Associate face detections across video frames and give each face a stable track id.

Cost between a track (its last box and landmarks) and a detection: ``1 - IoU`` plus the mean
landmark distance normalised by the track's box diagonal; pairs with IoU below ``min_iou`` and a
normalised landmark distance above ``max_landmark_dist`` are not allowed. The assignment is
optimal per frame (Hungarian, ``scipy.optimize.linear_sum_assignment``). A track survives
``max_missed`` frames without a match (a blink of detection) before its id is retired; ids are
never reused within one :class:`FaceTracker`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from headgen.landmarks.mediapipe_backend import box_iou

__all__ = ["FaceTracker", "Track", "association_cost"]

_BIG = 1e6


@dataclass
class Track:
    """A face followed through time: id, last bbox (4,), last landmarks (N, 2) px, frames since seen."""
    track_id: int
    bbox: np.ndarray
    landmarks: np.ndarray | None
    missed: int = 0
    hits: int = 1
    state: dict = field(default_factory=dict)   # per-track extras (e.g. smoothing filters)


def association_cost(track_boxes, track_landmarks, boxes, landmarks, min_iou: float = 0.1,
                     max_landmark_dist: float = 0.5) -> np.ndarray:
    """Cost matrix (T, D) between T tracks and D detections (see module doc); forbidden pairs
    get a large cost. boxes (., 4) px; landmarks (., N, 2) px or None (IoU only)."""
    tb = np.asarray(track_boxes, np.float64).reshape(-1, 4)
    db = np.asarray(boxes, np.float64).reshape(-1, 4)
    iou = box_iou(tb, db)
    cost = 1.0 - iou
    allowed = iou >= min_iou
    if track_landmarks is not None and landmarks is not None and len(tb) and len(db):
        tl = np.asarray(track_landmarks, np.float64)[..., :2]
        dl = np.asarray(landmarks, np.float64)[..., :2]
        diag = np.hypot(tb[:, 2] - tb[:, 0], tb[:, 3] - tb[:, 1])[:, None]
        dist = np.linalg.norm(tl[:, None] - dl[None, :], axis=-1).mean(-1) / np.maximum(diag, 1e-6)
        cost = cost + dist
        allowed |= dist <= max_landmark_dist
    return np.where(allowed, cost, _BIG)


class FaceTracker:
    """Stable ids for faces in consecutive frames.

    ``update(boxes (D, 4), landmarks (D, N, 2) or None) -> ids (D,)``: one id per detection, in
    detection order; new faces get new ids. ``tracks`` holds the live tracks (id -> Track).
    """

    def __init__(self, max_missed: int = 5, min_iou: float = 0.1, max_landmark_dist: float = 0.5):
        self.max_missed = int(max_missed)
        self.min_iou = float(min_iou)
        self.max_landmark_dist = float(max_landmark_dist)
        self.tracks: dict[int, Track] = {}
        self._next_id = 0

    def reset(self) -> None:
        """Drop all tracks (ids keep increasing)."""
        self.tracks.clear()

    def update(self, boxes, landmarks=None) -> list[int]:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        lms = None if landmarks is None else np.asarray(landmarks, np.float64)
        ids = list(self.tracks)
        assigned: dict[int, int] = {}
        if ids and len(boxes):
            tl = None
            if lms is not None and all(self.tracks[i].landmarks is not None for i in ids):
                tl = np.stack([self.tracks[i].landmarks for i in ids])
            cost = association_cost(np.stack([self.tracks[i].bbox for i in ids]), tl, boxes,
                                    lms if tl is not None else None, self.min_iou, self.max_landmark_dist)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < _BIG:
                    assigned[int(c)] = ids[r]
        out = []
        seen = set()
        for d in range(len(boxes)):
            tid = assigned.get(d)
            lm = None if lms is None else lms[d, :, :2].copy()
            if tid is None:
                tid = self._next_id
                self._next_id += 1
                self.tracks[tid] = Track(tid, boxes[d].copy(), lm)
            else:
                tr = self.tracks[tid]
                tr.bbox, tr.landmarks, tr.missed = boxes[d].copy(), lm, 0
                tr.hits += 1
            seen.add(tid)
            out.append(tid)
        for tid in list(self.tracks):
            if tid not in seen:
                self.tracks[tid].missed += 1
                if self.tracks[tid].missed > self.max_missed:
                    del self.tracks[tid]
        return out
