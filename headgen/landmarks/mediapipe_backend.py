"""Face detection + 468-point face mesh with MediaPipe 0.10.21's bundled solutions (offline, CPU).

Usage::

    with FaceLandmarker(max_faces=4, video=False) as lm:
        faces = lm.detect(frame_rgb_uint8)      # list[FaceObservation], largest face first

``video=True`` uses the face mesh's own tracking (``static_image_mode=False``): landmarks of frame
t seed the region of interest of frame t+1, so the face detector only runs when a face is lost
(MediaPipe re-detects inside the graph while fewer than ``max_faces`` faces are tracked). Call
:meth:`FaceLandmarker.reset` between clips. ``video=False`` treats every frame independently.

A face's first frame in video mode (the clip's first frame, or a face that appears or is found again)
gets its landmarks from a region derived from the face detector's box, every later frame from the
region of the previous frame's landmarks, and the two do not agree: on the GRID clips the first frame's
landmarks sat 0.4-1.6 px (mean over the 468) away from where the tracked pass puts them on the same
image, a jump from frame 0 to 1 that the image does not show. With ``prime_new_faces`` (default) such a
frame is run through the mesh a second time, seeded by its own first landmarks, and the tracked second
result is returned, so every frame's landmarks come from the tracked pass.

Coordinates: pixels of the input frame, x right, y down, centre of the top-left pixel at (0, 0)
(MediaPipe's normalised [0, 1] coordinates times width / height). ``z`` is MediaPipe's relative
depth (smaller = closer to the camera, origin near the head centre) scaled by the image width, so
it is in the same pixel units as x.

``score`` is the confidence of MediaPipe's face detector (BlazeFace short range) for the detection
matched to the mesh by box overlap; in video mode a tracked face keeps the score of the detection
that started (or last refreshed) its track. ``bbox`` is the tight box around the 468 landmarks.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from headgen.errors import require
from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68

os.environ.setdefault("GLOG_minloglevel", "2")       # silence MediaPipe's C++ info/warning logs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send file descriptor 2 to /dev/null while MediaPipe builds a graph or runs it the first time
    (its absl C++ logging ignores GLOG_minloglevel and prints warnings that mean nothing to users).
    Set HEADGEN_MEDIAPIPE_LOGS=1 to see them. Serialised by a lock so threads cannot lose stderr."""
    if os.environ.get("HEADGEN_MEDIAPIPE_LOGS"):
        yield
        return
    with _STDERR_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)

__all__ = ["FaceLandmarker", "FaceObservation", "box_iou"]

#: Score given to a mesh no detection overlaps (the mesh's own detector fired, ours did not).
UNMATCHED_SCORE = 0.5
#: Side of the crop-refinement square relative to the landmark box.
CROP_MARGIN = 2.2


@dataclass
class FaceObservation:
    """One face in one frame.

    bbox: (4,) float x0, y0, x1, y1 pixels (tight box of the 468 landmarks).
    score: detector confidence in [0, 1].
    landmarks_468: (468, 3) float x, y pixels, z MediaPipe relative depth in pixel units.
    landmarks_68: (68, 2) float pixels, iBUG order (``MEDIAPIPE_TO_IBUG68``).
    iris: (10, 3) float or None: landmarks 468..477 when ``refine_landmarks=True``.
    """
    bbox: np.ndarray
    score: float
    landmarks_468: np.ndarray
    landmarks_68: np.ndarray
    iris: np.ndarray | None = field(default=None, repr=False)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (N, 4) and b (M, 4), x0 y0 x1 y1 -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _as_rgb_uint8(frame) -> np.ndarray:
    """HxW, HxWx3 or HxWx4 uint8 -> contiguous HxWx3 uint8 RGB (alpha dropped, gray repeated)."""
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise ValueError(f"FaceLandmarker.detect: expected a uint8 image, got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"FaceLandmarker.detect: expected an HxWx3 RGB image, got shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"FaceLandmarker.detect: image too small, shape {a.shape}")
    return np.ascontiguousarray(a[:, :, :3])


class FaceLandmarker:
    """MediaPipe face detection + face mesh, one instance per stream of frames (not thread-safe).

    max_faces: most faces returned per frame. video: track across consecutive frames (see module
    doc). refine_landmarks: run the attention mesh (better eyes/lips, adds 10 iris points).
    min_detection_confidence / min_tracking_confidence: MediaPipe's thresholds.
    redetect_every: in video mode, also run the score detector every this many frames (0 = only
    when the number of tracked faces changes).
    crop_refine: image mode: re-run the mesh on a square crop around each face, resampled to
    ``crop_size`` px, and keep those landmarks (MediaPipe's short-range detector gives poor
    regions for faces that are small in a large image; the crop pass removes that dependence).
    prime_new_faces: video mode: a frame in which a face was not tracked from the previous frame
    (first frame, new or re-found face) is run twice and the second, tracked result is kept (module doc).

    ``timings`` accumulates seconds spent in ``"detect"`` (score detector) and ``"landmarks"``
    (face mesh graph, which includes MediaPipe's own detection when it has to re-detect);
    ``frames`` counts calls, ``detector_calls`` the score-detector runs and ``primed_frames`` the
    frames run twice, for benchmarks.
    """

    def __init__(self, max_faces: int = 4, video: bool = False, refine_landmarks: bool = False,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 redetect_every: int = 0, crop_refine: bool = True, crop_size: int = 256,
                 prime_new_faces: bool = True):
        if max_faces < 1:
            raise ValueError(f"max_faces must be >= 1, got {max_faces}")
        mp = require("mediapipe", "pose", "face landmarks")
        self.max_faces = int(max_faces)
        self.video = bool(video)
        self.refine_landmarks = bool(refine_landmarks)
        self.redetect_every = int(redetect_every)
        self.prime_new_faces = bool(prime_new_faces)
        with _quiet_native_stderr():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=not self.video, max_num_faces=self.max_faces,
                refine_landmarks=self.refine_landmarks,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence)
            self._detector = mp.solutions.face_detection.FaceDetection(
                min_detection_confidence=min(0.3, min_detection_confidence), model_selection=0)
            self._crop_mesh = None
            if crop_refine and not self.video:
                self._crop_mesh = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=True, max_num_faces=1, refine_landmarks=self.refine_landmarks,
                    min_detection_confidence=min_detection_confidence)
        self.crop_size = int(crop_size)
        self._warm: set[int] = set()     # graphs that have run once (their first run logs warnings)
        self.timings = {"detect": 0.0, "landmarks": 0.0}
        self.frames = 0
        self.detector_calls = 0
        self.primed_frames = 0
        self._prev: list[FaceObservation] = []
        self._since_detect = 0

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> "FaceLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free the MediaPipe graphs (idempotent)."""
        for g in (getattr(self, "_mesh", None), getattr(self, "_detector", None), getattr(self, "_crop_mesh", None)):
            if g is not None:
                try:
                    g.close()
                except (ValueError, RuntimeError):   # already closed
                    pass
        self._mesh = self._detector = self._crop_mesh = None

    def reset(self) -> None:
        """Forget tracking state (call between unrelated clips in video mode)."""
        if self.video and self._mesh is not None:
            self._mesh.reset()
        self._prev = []
        self._since_detect = 0

    # -- detection -------------------------------------------------------------------------
    def _process(self, graph, image: np.ndarray):
        """graph.process(image), with MediaPipe's first-run log lines silenced."""
        if id(graph) in self._warm:
            return graph.process(image)
        with _quiet_native_stderr():
            res = graph.process(image)
        self._warm.add(id(graph))
        return res

    def _run_detector(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> boxes (N, 4) px and scores (N,) from BlazeFace."""
        h, w = frame.shape[:2]
        t0 = time.perf_counter()
        self.detector_calls += 1
        res = self._process(self._detector, frame)
        self.timings["detect"] += time.perf_counter() - t0
        boxes, scores = [], []
        for d in res.detections or []:
            r = d.location_data.relative_bounding_box
            boxes.append([r.xmin * w, r.ymin * h, (r.xmin + r.width) * w, (r.ymin + r.height) * h])
            scores.append(float(d.score[0]) if len(d.score) else UNMATCHED_SCORE)
        return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64)

    def detect(self, frame) -> list[FaceObservation]:
        """Faces in one RGB uint8 frame (H, W, 3) -> list of :class:`FaceObservation` (maybe empty).

        Image mode: largest face first. Video mode: frames must be consecutive frames of one clip.
        """
        if self._mesh is None:
            raise RuntimeError("FaceLandmarker is closed")
        frame = _as_rgb_uint8(frame)
        self.frames += 1
        faces = self._run_mesh(frame)
        if self.video and self.prime_new_faces and self._has_untracked(faces):
            # a face came from a detector region: run the frame again, now seeded by its own landmarks
            self.primed_frames += 1
            faces = self._run_mesh(frame)
        if self._crop_mesh is not None:
            for f in faces:
                self._refine_in_crop(frame, f)
        if faces:
            self._assign_scores(frame, faces)
        if not self.video:
            faces.sort(key=lambda f: -(f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
        self._prev = faces
        return faces

    def _run_mesh(self, frame: np.ndarray) -> list[FaceObservation]:
        """One pass of the face mesh graph -> faces (score not yet assigned), pixel coordinates."""
        h, w = frame.shape[:2]
        t0 = time.perf_counter()
        res = self._process(self._mesh, frame)
        self.timings["landmarks"] += time.perf_counter() - t0
        faces = []
        scale = np.array([w, h, w], dtype=np.float64)
        for fl in res.multi_face_landmarks or []:
            pts = np.array([(p.x, p.y, p.z) for p in fl.landmark], dtype=np.float64) * scale
            lm468 = pts[:468]
            iris = pts[468:478] if pts.shape[0] >= 478 else None
            bbox = np.concatenate([lm468[:, :2].min(0), lm468[:, :2].max(0)])
            faces.append(FaceObservation(bbox=bbox, score=UNMATCHED_SCORE, landmarks_468=lm468,
                                         landmarks_68=lm468[MEDIAPIPE_TO_IBUG68, :2].copy(), iris=iris))
        return faces

    def _has_untracked(self, faces: list[FaceObservation]) -> bool:
        """Video mode: whether a face has no counterpart among the previous frame's faces (box IoU
        below 0.3), i.e. its landmarks came from a detector region, not from tracking."""
        if not faces:
            return False
        if not self._prev:
            return True
        iou = box_iou(np.stack([f.bbox for f in faces]), np.stack([p.bbox for p in self._prev]))
        return bool((iou.max(1) < 0.3).any())

    def _refine_in_crop(self, frame: np.ndarray, face: FaceObservation) -> None:
        """Replace ``face``'s landmarks by the mesh run on a square crop around it (in place)."""
        import cv2

        x0, y0, x1, y1 = face.bbox
        side = CROP_MARGIN * max(x1 - x0, y1 - y0, 4.0)
        scale = self.crop_size / side
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        # crop pixel = scale * (image pixel - corner)
        M = np.array([[scale, 0.0, -scale * (cx - side / 2)], [0.0, scale, -scale * (cy - side / 2)]])
        crop = cv2.warpAffine(frame, M, (self.crop_size, self.crop_size), flags=cv2.INTER_AREA if scale < 1 else
                              cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        t0 = time.perf_counter()
        res = self._process(self._crop_mesh, crop)
        self.timings["landmarks"] += time.perf_counter() - t0
        if not res.multi_face_landmarks:
            return
        pts = np.array([(p.x, p.y, p.z) for p in res.multi_face_landmarks[0].landmark], np.float64)
        pts = pts * self.crop_size / scale
        pts[:, 0] += cx - side / 2
        pts[:, 1] += cy - side / 2
        lm468 = pts[:468]
        bbox = np.concatenate([lm468[:, :2].min(0), lm468[:, :2].max(0)])
        if box_iou(bbox[None], face.bbox[None])[0, 0] < 0.5:   # the crop found another face
            return
        face.landmarks_468, face.bbox = lm468, bbox
        face.landmarks_68 = lm468[MEDIAPIPE_TO_IBUG68, :2].copy()
        face.iris = pts[468:478] if pts.shape[0] >= 478 else None

    def _assign_scores(self, frame: np.ndarray, faces: list[FaceObservation]) -> None:
        """Fill ``score``: from the detector (image mode, or when the tracked set changed in video
        mode), else inherited from the previous frame's face with the largest box overlap."""
        boxes = np.stack([f.bbox for f in faces])
        run = not self.video or len(faces) != len(self._prev) or not self._prev
        if self.video and self.redetect_every > 0 and self._since_detect >= self.redetect_every:
            run = True
        if not run:
            iou = box_iou(boxes, np.stack([p.bbox for p in self._prev]))
            if (iou.max(1) > 0.3).all():
                for f, j in zip(faces, iou.argmax(1)):
                    f.score = self._prev[j].score
                self._since_detect += 1
                return
        self._since_detect = 0
        det_boxes, det_scores = self._run_detector(frame)
        if len(det_boxes) == 0:
            return
        iou = box_iou(boxes, det_boxes)
        for i, f in enumerate(faces):
            j = int(iou[i].argmax())
            if iou[i, j] > 0.2:
                f.score = float(det_scores[j])
