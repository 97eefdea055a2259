"""Calibrated cameras as numpy objects: :class:`Camera`, a default pinhole for monocular input, and
multi-view rigs from JSON.

Multi-view camera JSON schema (OpenCV conventions, see ``headgen.geometry.conventions``)::

    {
      "cameras": [
        {
          "name": "cam0",                       # optional; default "cam<i>"
          "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],   # 3x3 intrinsics, pixels
          "R": [[...], [...], [...]],           # 3x3 world-to-camera rotation
          "t": [tx, ty, tz],                    # world-to-camera translation, metres (X_cam = R X + t)
          "dist": [k1, k2, p1, p2, k3],         # optional OpenCV distortion (4, 5, 8, 12 or 14 values); default none
          "image_size": [width, height]         # pixels
        },
        ...
      ]
    }

A top-level list of camera objects (without the ``"cameras"`` key) is accepted too. ``R`` may be given
as a Rodrigues vector ``"rvec": [3 values]`` instead. The world frame is arbitrary (e.g. the first
camera's frame); the fitted head pose is expressed in it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.geometry.camera import default_focal
from headgen.geometry.conventions import DEFAULT_FOV_DEG
from headgen.io.atomic import write_json_atomic


@dataclass
class Camera:
    """One calibrated pinhole camera. K (3,3) px; R (3,3), t (3,) world-to-camera (metres);
    dist (N,) OpenCV distortion coefficients (empty = none); image_size (width, height) px."""

    K: np.ndarray
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    t: np.ndarray = field(default_factory=lambda: np.zeros(3))
    dist: np.ndarray = field(default_factory=lambda: np.zeros(0))
    image_size: tuple[int, int] = (0, 0)
    name: str = "cam0"

    @property
    def focal(self) -> float:
        """Mean focal length (fx + fy) / 2, pixels."""
        return float(0.5 * (self.K[0, 0] + self.K[1, 1]))

    def undistort_points(self, pts: np.ndarray) -> np.ndarray:
        """Pixel points (..., 2) observed in the distorted image -> ideal pinhole pixels (..., 2)
        (same K). NaNs are kept. No-op when the camera has no distortion."""
        if self.dist.size == 0 or not np.any(self.dist):
            return pts
        import cv2
        shape = pts.shape
        flat = pts.reshape(-1, 1, 2).astype(np.float64)
        ok = np.isfinite(flat).all(-1)[:, 0]
        out = np.full_like(flat, np.nan)
        if ok.any():
            out[ok] = cv2.undistortPoints(flat[ok], self.K, self.dist, P=self.K)
        return out.reshape(shape).astype(pts.dtype)


def default_camera(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG, focal: float | None = None) -> Camera:
    """Monocular default: identity extrinsics, principal point at the image centre and ``focal``
    pixels (or the focal giving ``fov_deg`` across the larger side)."""
    f = float(focal) if focal else default_focal(width, height, fov_deg)
    K = np.array([[f, 0, (width - 1) / 2.0], [0, f, (height - 1) / 2.0], [0, 0, 1]], dtype=np.float64)
    return Camera(K=K, image_size=(int(width), int(height)))


def _matrix(value, shape, what: str, path: Path) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {what} is not numeric") from None
    if arr.shape != shape:
        raise InputError(f"{path}: {what} has shape {arr.shape}, expected {shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{path}: {what} has non-finite values")
    return arr


def parse_cameras(data, path: Path | str = "<cameras>") -> list[Camera]:
    """Parse the camera JSON object (schema in the module docstring) -> list of Camera."""
    path = Path(path)
    items = data.get("cameras") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise InputError(f"{path}: expected a non-empty list of cameras (or {{\"cameras\": [...]}})")
    cams = []
    for i, c in enumerate(items):
        if not isinstance(c, dict):
            raise InputError(f"{path}: camera {i} is not an object")
        if "K" not in c:
            raise InputError(f"{path}: camera {i} has no 'K' (3x3 intrinsics)")
        K = _matrix(c["K"], (3, 3), f"camera {i} K", path)
        if "R" in c:
            R = _matrix(c["R"], (3, 3), f"camera {i} R", path)
            if abs(np.linalg.det(R) - 1.0) > 1e-3 or np.abs(R @ R.T - np.eye(3)).max() > 1e-3:
                raise InputError(f"{path}: camera {i} R is not a rotation matrix")
        elif "rvec" in c:
            import cv2
            R = cv2.Rodrigues(_matrix(c["rvec"], (3,), f"camera {i} rvec", path))[0]
        else:
            R = np.eye(3)
        t = _matrix(c.get("t", [0, 0, 0]), (3,), f"camera {i} t", path)
        dist = np.asarray(c.get("dist", c.get("distortion", [])) or [], dtype=np.float64).ravel()
        if dist.size not in (0, 4, 5, 8, 12, 14):
            raise InputError(f"{path}: camera {i} dist has {dist.size} values (OpenCV takes 4, 5, 8, 12 or 14)")
        size = c.get("image_size", c.get("size"))
        if size is None or len(size) != 2 or min(size) <= 0:
            raise InputError(f"{path}: camera {i} needs image_size [width, height]")
        cams.append(Camera(K=K, R=R, t=t, dist=dist, image_size=(int(size[0]), int(size[1])),
                           name=str(c.get("name", f"cam{i}"))))
    return cams


def load_cameras(path: str | Path) -> list[Camera]:
    """Read a multi-view camera JSON file (schema in the module docstring) -> list of Camera.
    Raises InputError naming the file on a missing/unreadable file or a bad field."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: camera file not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    return parse_cameras(data, path)


def save_cameras(cams: list[Camera], path: str | Path) -> None:
    """Write cameras in the JSON schema of this module (atomically)."""
    out = {"cameras": [{"name": c.name, "K": c.K.tolist(), "R": np.asarray(c.R).tolist(),
                        "t": np.asarray(c.t).tolist(), "dist": np.asarray(c.dist).tolist(),
                        "image_size": list(c.image_size)} for c in cams]}
    write_json_atomic(path, out, indent=2)
