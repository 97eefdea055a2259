"""Measurements of a talking-head video against its inputs (issue 16's quality criteria), shared by the
tests and ``bench/talking_head.py``:

- identity: SFace cosine (``headgen.metrics.FaceIdentity``) between the photo and each output frame;
- lip sync: MediaPipe's mouth opening (gap between inner-lip landmarks 13 and 14, over the face height
  10-152) on the output frames, correlated with the animation's ``jawOpen``; and the opening in the
  speech's silences against the photo's own;
- stability: mean absolute gray-level difference between output frames and the still's view outside the
  head (where the blend mask of ``talking_head_mask.png`` is 0, eroded by a margin).
"""
from __future__ import annotations

import numpy as np

from headgen.metrics.series import pearson  # noqa: F401  (used here and by the bench)

UPPER_LIP, LOWER_LIP, FOREHEAD, CHIN = 13, 14, 10, 152


def face_landmarks(frames) -> np.ndarray:
    """(T,468,2) MediaPipe 468 landmarks (px) of the largest face in each frame (T,H,W,3) uint8 (or an
    iterable of frames); NaN where no face is found."""
    from headgen.landmarks.mediapipe_backend import FaceLandmarker

    out = []
    with FaceLandmarker(max_faces=1, video=False, crop_refine=True) as lm:
        for f in frames:
            faces = lm.detect(np.ascontiguousarray(f))
            out.append(faces[0].landmarks_468[:, :2] if faces else np.full((468, 2), np.nan))
    return np.asarray(out, np.float64).reshape(-1, 468, 2)


def opening_of(landmarks: np.ndarray) -> np.ndarray:
    """(T,468,2) landmarks -> (T,) inner-lip gap (13-14) over the face height (10-152)."""
    p = np.asarray(landmarks, np.float64)
    h = np.linalg.norm(p[:, FOREHEAD] - p[:, CHIN], axis=-1)
    return np.linalg.norm(p[:, UPPER_LIP] - p[:, LOWER_LIP], axis=-1) / np.maximum(h, 1e-6)


def mouth_opening(frames) -> np.ndarray:
    """(T,) inner-lip gap / face height (MediaPipe 468 landmarks 13-14 over 10-152) of the largest face in
    each frame (T,H,W,3) uint8 (or an iterable of frames); NaN where no face is found."""
    return opening_of(face_landmarks(frames))


def lip_offsets(landmarks: np.ndarray, mesh_landmarks: np.ndarray) -> np.ndarray:
    """Where MediaPipe puts the inner lips against where the driven mesh puts them: (T,2) vertical offsets
    (down positive) of landmarks 13 (upper) and 14 (lower) over the mesh's face height; both (T,468,2) px in
    the same view. A diagnostic of the lip-sync measure, not part of it."""
    p, m = np.asarray(landmarks, np.float64), np.asarray(mesh_landmarks, np.float64)
    h = np.linalg.norm(m[:, FOREHEAD] - m[:, CHIN], axis=-1)
    return np.stack([(p[:, UPPER_LIP, 1] - m[:, UPPER_LIP, 1]) / h, (p[:, LOWER_LIP, 1] - m[:, LOWER_LIP, 1]) / h], 1)


def silence_frames(phones, n_frames: int, fps: float, margin_s: float = 0.08) -> np.ndarray:
    """(n_frames,) bool: frames whose whole span lies inside a silence segment (label "SIL", or "pau"/"sil"
    spellings) shrunk by ``margin_s`` at both ends (coarticulation reaches into pauses)."""
    t0 = np.arange(n_frames) / fps
    t1 = t0 + 1.0 / fps
    sil = np.zeros(n_frames, bool)
    for s in phones:
        if str(s.label).upper() in ("SIL", "PAU", "SP", "H#"):
            sil |= (t0 >= s.start + margin_s) & (t1 <= s.end - margin_s)
    return sil


def identity_scores(photo: np.ndarray, frames, every: int = 1) -> np.ndarray:
    """(T',) SFace cosines between the photo's face and the face of every ``every``-th frame (NaN where
    the frame has no detected face)."""
    from headgen.metrics import FaceIdentity

    fi = FaceIdentity()
    ref = fi.embed(photo)
    if ref is None:
        return np.full(len(frames[::every]), np.nan)
    emb = fi.embed_many(list(frames[::every]))
    return np.asarray(fi.similarity(emb, ref[None]), np.float64).reshape(-1)


def stability(frames: np.ndarray, still_view: np.ndarray, head_mask: np.ndarray, margin_px: int = 4) -> float:
    """Mean |gray(frame) - gray(still_view)| (0-255) over all frames (T,H,W,3) uint8 and the pixels where
    ``head_mask`` (H,W) is 0 after growing the mask by ``margin_px`` (H.264 ringing at the edge)."""
    import cv2

    m = (np.asarray(head_mask) > 0).astype(np.uint8)
    if margin_px > 0:
        m = cv2.dilate(m, np.ones((2 * margin_px + 1,) * 2, np.uint8))
    out = m == 0
    w = np.array([0.299, 0.587, 0.114], np.float32)
    g0 = still_view.astype(np.float32) @ w
    d = [np.abs(f.astype(np.float32) @ w - g0)[out].mean() for f in frames]
    return float(np.mean(d)) if d else float("nan")
