"""Still images: read any format OpenCV or Pillow decodes as RGB uint8; write PNG/JPEG atomically."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.io.atomic import write_bytes_atomic


def read_image(path: str | Path) -> np.ndarray:
    """Read an image -> (H, W, 3) uint8 RGB (alpha dropped, grey expanded, 16-bit scaled to 8).

    Tries OpenCV first, then Pillow (GIF, some TIFF/WebP variants). Raises InputError naming the
    file if it is missing or neither library can decode it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: image file not found")
    img = None
    try:
        import cv2

        data = np.fromfile(str(path), dtype=np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if img is not None:
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
            elif img.shape[2] == 4:
                img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
            else:
                img = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)
    except Exception:
        img = None
    if img is None:
        try:
            from PIL import Image

            with Image.open(path) as im:
                img = np.asarray(im.convert("RGB"))
        except Exception as e:
            raise InputError(f"{path}: cannot read image ({type(e).__name__}: {e})") from e
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        f = img.astype(np.float32)
        img = (np.clip(f / max(1.0, float(f.max())), 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img)


def write_image(path: str | Path, image, quality: int = 95) -> Path:
    """Write an image (H, W, 3|4) or (H, W), uint8 or float in [0, 1], numpy or torch (RGB order).

    The format follows the suffix (.png, .jpg, ...). Written atomically (temp file then rename);
    parent folders are created. Returns the path.
    """
    import cv2

    path = Path(path)
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = (np.clip(img.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    ext = path.suffix.lower() or ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise InputError(f"{path}: cannot encode an image with suffix {ext!r}")
    return write_bytes_atomic(path, buf.tobytes())
