"""Person (foreground) masks with MediaPipe 0.10.21's bundled selfie segmentation (offline, CPU).

    from headgen.landmarks.segmentation import person_masks
    masks = person_masks(frames)      # frames (T,H,W,3) uint8 RGB -> (T,H,W) float32 in [0,1], 1 = person

``mp.solutions.selfie_segmentation`` ships two models: 0 "general" (256x256 input, for portrait/square images)
and 1 "landscape" (144x256, for wide frames). ``model_selection="auto"`` picks the landscape model when the
frames are at least 1.5x wider than tall, otherwise the general one. The mask is MediaPipe's own per-pixel
confidence at the input size (it upsamples internally).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from headgen.errors import InputError, require

__all__ = ["person_masks", "PersonSegmenter", "choose_model"]


def choose_model(width: int, height: int) -> int:
    """MediaPipe selfie-segmentation model for a frame size: 1 (landscape) when w >= 1.5 h, else 0 (general)."""
    return 1 if width >= 1.5 * height else 0


class PersonSegmenter:
    """Reusable MediaPipe selfie segmenter; ``segment(frame) -> (H,W) float32``. Use as a context manager."""

    def __init__(self, model_selection: int = 0):
        if model_selection not in (0, 1):
            raise InputError(f"person_masks: model_selection must be 0, 1 or 'auto', got {model_selection!r}")
        mp = require("mediapipe", "pose", "person segmentation")
        from headgen.landmarks.mediapipe_backend import _quiet_native_stderr
        with _quiet_native_stderr():
            self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=model_selection)
        self.model_selection = model_selection
        self._first = True

    def segment(self, frame: np.ndarray) -> np.ndarray:
        """One (H,W,3) uint8 RGB frame -> (H,W) float32 person probability in [0,1]."""
        f = _as_rgb_u8(frame)
        if self._first:
            from headgen.landmarks.mediapipe_backend import _quiet_native_stderr
            with _quiet_native_stderr():
                res = self._seg.process(f)
            self._first = False
        else:
            res = self._seg.process(f)
        m = res.segmentation_mask
        if m is None:
            return np.zeros(f.shape[:2], np.float32)
        return np.clip(np.asarray(m, np.float32), 0.0, 1.0)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._seg.close()

    def __enter__(self) -> "PersonSegmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _as_rgb_u8(frame) -> np.ndarray:
    if hasattr(frame, "detach"):
        frame = frame.detach().cpu().numpy()
    a = np.asarray(frame)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise InputError(f"person_masks: expected (H,W,3) RGB frames, got shape {a.shape}")
    a = a[..., :3]
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            a = np.clip(np.round(a * 255.0), 0, 255)
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def person_masks(frames: np.ndarray | Iterable[np.ndarray], model_selection: int | str = "auto") -> np.ndarray:
    """Foreground (person) probability of every frame.

    frames: (T,H,W,3) uint8 RGB array (float in [0,1] accepted) or an iterable of (H,W,3) frames of one size;
    a single (H,W,3) frame is treated as T=1. model_selection: 0 (general), 1 (landscape) or "auto"
    (:func:`choose_model` on the frame size). Returns (T,H,W) float32 in [0,1], 1 = person (head, hair,
    body). Raises InputError for malformed frames or mixed sizes, MissingDependencyError without mediapipe.
    """
    if isinstance(frames, np.ndarray) and frames.ndim == 3 and frames.shape[-1] in (3, 4):
        frames = frames[None]
    it = iter(frames)
    try:
        first = _as_rgb_u8(next(it))
    except StopIteration:
        raise InputError("person_masks: no frames given") from None
    h, w = first.shape[:2]
    sel = choose_model(w, h) if model_selection == "auto" else model_selection
    out = [None]
    with PersonSegmenter(sel) as seg:
        out[0] = seg.segment(first)
        for fr in it:
            f = _as_rgb_u8(fr)
            if f.shape[:2] != (h, w):
                raise InputError(f"person_masks: frame of size {f.shape[1]}x{f.shape[0]} among {w}x{h} frames")
            out.append(seg.segment(f))
    return np.stack(out).astype(np.float32, copy=False)
