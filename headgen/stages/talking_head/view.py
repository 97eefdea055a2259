"""The still the talking head lives in and the output camera: which photo (or video frame), which fit row,
and the crop of it that becomes the video frame (a square portrait crop at ``size`` px, or the whole photo at
its own size).

Frames: pixel coordinates with (0, 0) the centre of the top-left pixel (the project's convention); the output
intrinsics ``K`` are the fit's camera mapped into the crop and scaled to the output size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.io.media import media_kind


def read_still(path: str | Path, frame: int = 0) -> np.ndarray:
    """A photo, or frame ``frame`` of a video -> (H,W,3) uint8 RGB. InputError naming the file when it is
    missing, unreadable, or the video is shorter than ``frame + 1`` frames."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if media_kind(path) == "video":
        from headgen.io.video import VideoReader
        with VideoReader(path, max_frames=frame + 1) as r:
            last = None
            for i, f in enumerate(r):
                last = f
                if i == frame:
                    return np.ascontiguousarray(f)
        raise InputError(f"{path}: frame {frame} requested but the video has "
                         f"{0 if last is None else i + 1} frame(s)")
    if frame != 0:
        raise InputError(f"{path}: frame {frame} requested but the input is a still image")
    from headgen.io.images import read_image
    return read_image(path)


def fit_row(fit, frame: int, where: str = "fit") -> int:
    """Row of a FitArtifact holding input frame ``frame`` (its ``frame_index``); InputError when the fit
    has no such frame or the frame's fit is not valid (no face found there)."""
    idx = np.asarray(fit.frame_index if fit.frame_index is not None else np.arange(fit.n_frames))
    rows = np.flatnonzero(idx == frame)
    if rows.size == 0:
        raise InputError(f"{where}: no fitted frame {frame} (the fit covers frames "
                         f"{int(idx.min()) if idx.size else 0}..{int(idx.max()) if idx.size else -1})")
    r = int(rows[0])
    if fit.valid is not None and not bool(np.asarray(fit.valid)[r]):
        raise InputError(f"{where}: no face was found in frame {frame} (the fit marks it invalid)")
    return r


@dataclass
class OutputView:
    """The output frame as a crop of the still: ``box`` (x0, y0, side_w, side_h) in still pixels (may be the
    whole still), ``size`` (w, h) of the output, ``K`` (3,3) float64 output-pixel intrinsics of the fit's
    camera, ``background`` (h, w, 3) uint8 the still's crop at the output size (what the video shows where
    nothing moves)."""
    box: tuple[float, float, float, float]
    size: tuple[int, int]
    K: np.ndarray
    background: np.ndarray

    @property
    def scale(self) -> float:
        """Output pixels per still pixel."""
        return self.size[0] / self.box[2]


def crop_box(points: np.ndarray, image_size: tuple[int, int], margin: float = 1.9,
             shift_down: float = 0.12) -> tuple[float, float, float]:
    """Square portrait crop around the projected head points (N,2) px: side = ``margin`` x the points' box
    height (the face, forehead to chin), centred on the box and moved down by ``shift_down`` x side (room
    for the neck and shoulders), shrunk and moved to lie inside the image -> (x0, y0, side)."""
    w, h = image_size
    p = points[np.isfinite(points).all(1)]
    x0, y0 = p.min(0)
    x1, y1 = p.max(0)
    side = float(min(margin * max(y1 - y0, x1 - x0), w, h))
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1) + shift_down * side
    ox = float(np.clip(cx - side / 2, -0.5, w - 0.5 - side))
    oy = float(np.clip(cy - side / 2, -0.5, h - 0.5 - side))
    return ox, oy, side


def upscale(still: np.ndarray, M: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The still (H,W,3) uint8 warped by the affine ``M`` (2,3) (still px -> output px, enlarging) into a
    ``size`` (w, h) image: bicubic, edge-replicated borders, nothing added. An unsharp mask on top (tried
    at 3e3d3ee: strength (scale - 1) / 3, up to 1) puts edges into the enlarged crop that the photo does not
    have; a face detector or landmarker reading the video resamples the face again and aliases them: on
    codait_bryan (115 px, enlarged 4.5x; mesh mode) moving the output by whole pixels moved the lip-sync r
    of MediaPipe's mouth opening between 0.74 and 0.85 with the mask, 0.79-0.81 without."""
    import cv2

    return cv2.warpAffine(still, M, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def make_view(still: np.ndarray, K_still: np.ndarray, head_points: np.ndarray | None, size) -> OutputView:
    """The output view of ``still`` (H,W,3) uint8 seen by ``K_still`` (3,3): size "native" (or 0) = the
    whole still at its own size; an int = a size x size portrait crop around ``head_points`` (N,2) px."""
    import cv2

    H, W = still.shape[:2]
    K_still = np.asarray(K_still, np.float64)
    if size in ("native", 0, "0", None):
        return OutputView(box=(-0.5, -0.5, float(W), float(H)), size=(W, H), K=K_still.copy(),
                          background=np.ascontiguousarray(still))
    n = int(size)
    if n < 16:
        raise InputError(f"size {size!r}: use 'native' or at least 16 px")
    ox, oy, side = crop_box(head_points, (W, H))
    s = n / side
    # still pixel centre x -> output pixel centre (x - ox) * s - 0.5 (ox is the crop's left edge)
    A = np.array([[s, 0, -ox * s - 0.5], [0, s, -oy * s - 0.5], [0, 0, 1.0]])
    K = A @ K_still
    M = A[:2]
    if s > 1:
        bg = upscale(still, M, (n, n))
    else:
        bg = cv2.warpAffine(still, M, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if s < 0.7:   # downscaling: area-average first so the crop does not alias
        x0, y0 = int(np.floor(ox + 0.5)), int(np.floor(oy + 0.5))
        x1, y1 = min(W, int(np.ceil(ox + 0.5 + side))), min(H, int(np.ceil(oy + 0.5 + side)))
        sub = still[max(0, y0):y1, max(0, x0):x1]
        if sub.size:
            bg = cv2.resize(sub, (n, n), interpolation=cv2.INTER_AREA)
            K = np.array([[n / sub.shape[1], 0, -0.5 + 0.5 * n / sub.shape[1] - max(0, x0) * n / sub.shape[1]],
                          [0, n / sub.shape[0], -0.5 + 0.5 * n / sub.shape[0] - max(0, y0) * n / sub.shape[0]],
                          [0, 0, 1.0]]) @ K_still
    return OutputView(box=(ox, oy, side, side), size=(n, n), K=K, background=np.ascontiguousarray(bg))
