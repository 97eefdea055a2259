"""Per-frame head pose estimation: landmarks -> track ids -> pose -> temporal smoothing.

``HeadPoseEstimator(width, height, K, video=...)`` processes the frames of one source (an image or
one clip) and returns, per frame, a list of :class:`HeadEstimate` (one per face). In video mode
faces are associated across frames (stable ``track_id``) and, with ``smooth=True``, their
landmarks, rotation and translation are One-Euro filtered per track.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from headgen.geometry.headpose import rotation_to_ypr, view_relative_rotation
from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68
from headgen.landmarks.mediapipe_backend import FaceLandmarker
from headgen.landmarks.tracking import FaceTracker
from headgen.stages.pose.smoothing import HeadSmoother, SmoothingParams
from headgen.stages.pose.solver import HeadPoseSolver

__all__ = ["HeadEstimate", "HeadPoseEstimator"]


@dataclass
class HeadEstimate:
    """One head in one frame. bbox (4,) px; score; rotation (3, 3) head -> OpenCV camera;
    translation (3,) m; ypr (3,) deg [yaw, pitch, roll]; landmarks_468 (468, 3) px (z relative);
    landmarks_68 (68, 2) px."""
    track_id: int
    bbox: np.ndarray
    score: float
    rotation: np.ndarray
    translation: np.ndarray
    ypr: np.ndarray
    landmarks_468: np.ndarray
    landmarks_68: np.ndarray


class HeadPoseEstimator:
    """Head poses for the frames of one source.

    K: (3, 3) intrinsics in px. video: consecutive frames of one clip (tracking + smoothing).
    max_faces, refine_landmarks, min_detection_confidence: passed to :class:`FaceLandmarker`.
    smooth: One-Euro smoothing in video mode. landmarker: reuse an open FaceLandmarker (its
    ``video`` flag must match; it is reset, not closed, by this object).
    ``timings`` (seconds, accumulated): detect, landmarks, pose, smoothing.
    """

    def __init__(self, K, video: bool = False, max_faces: int = 4, refine_landmarks: bool = False,
                 smooth: bool = True, min_detection_confidence: float = 0.5,
                 smoothing: SmoothingParams = SmoothingParams(), landmarker: FaceLandmarker | None = None):
        self.video = bool(video)
        self.smooth = bool(smooth) and self.video
        self.smoothing = smoothing
        self.solver = HeadPoseSolver(K)
        self._own = landmarker is None
        if landmarker is None:
            landmarker = FaceLandmarker(max_faces=max_faces, video=self.video, refine_landmarks=refine_landmarks,
                                        min_detection_confidence=min_detection_confidence)
        elif landmarker.video != self.video:
            raise ValueError("HeadPoseEstimator: the landmarker's video flag does not match")
        else:
            landmarker.reset()
        self.landmarker = landmarker
        self.tracker = FaceTracker()
        self.timings = {"detect": 0.0, "landmarks": 0.0, "pose": 0.0, "smoothing": 0.0}
        self._lm_t0 = dict(landmarker.timings)

    def close(self) -> None:
        """Close the landmarker if this object created it."""
        if self._own:
            self.landmarker.close()

    def __enter__(self) -> "HeadPoseEstimator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def process(self, frame, t: float = 0.0) -> list[HeadEstimate]:
        """One RGB uint8 frame (H, W, 3) at time t seconds -> heads (largest first for images,
        detection order for video)."""
        faces = self.landmarker.detect(frame)
        for k in ("detect", "landmarks"):
            self.timings[k] += self.landmarker.timings[k] - self._lm_t0[k]
        self._lm_t0 = dict(self.landmarker.timings)
        if self.video:
            ids = self.tracker.update([f.bbox for f in faces],
                                      np.stack([f.landmarks_468[:, :2] for f in faces]) if faces else None)
        else:
            ids = list(range(len(faces)))
        heads = []
        for f, tid in zip(faces, ids):
            t0 = time.perf_counter()
            pose = self.solver.solve(f.landmarks_468)
            t1 = time.perf_counter()
            self.timings["pose"] += t1 - t0
            lm, R, trans = f.landmarks_468, pose.rotation, pose.translation
            if self.smooth:
                track = self.tracker.tracks[tid]
                sm = track.state.get("smoother")
                if sm is None:
                    b = f.bbox
                    sm = track.state["smoother"] = HeadSmoother(float(np.hypot(b[2] - b[0], b[3] - b[1])),
                                                                self.smoothing)
                lm, R, trans = sm(t, lm, R, trans)
                self.timings["smoothing"] += time.perf_counter() - t1
            ypr = pose.ypr if not self.smooth else rotation_to_ypr(view_relative_rotation(R, trans))
            bbox = np.concatenate([lm[:, :2].min(0), lm[:, :2].max(0)])
            heads.append(HeadEstimate(track_id=int(tid), bbox=bbox, score=float(f.score), rotation=R,
                                      translation=trans, ypr=ypr, landmarks_468=lm,
                                      landmarks_68=lm[MEDIAPIPE_TO_IBUG68, :2]))
        return heads
