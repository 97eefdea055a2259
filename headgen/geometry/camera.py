"""Pinhole cameras in the OpenCV convention (see ``conventions``), batched torch ops.

Intrinsics ``K``: (..., 3, 3) ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels.
Extrinsics: world-to-camera ``R`` (..., 3, 3), ``t`` (..., 3) metres, ``X_cam = R X + t``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from headgen.geometry.conventions import DEFAULT_FOV_DEG


def intrinsics_matrix(fx: Tensor | float, fy: Tensor | float, cx: Tensor | float, cy: Tensor | float,
                      *, dtype=torch.float32, device=None) -> Tensor:
    """Focal lengths and principal point (pixels; scalars or (...) tensors) -> K (..., 3, 3)."""
    vals = [torch.as_tensor(v, dtype=dtype, device=device) for v in (fx, fy, cx, cy)]
    fx, fy, cx, cy = torch.broadcast_tensors(*vals)
    zero, one = torch.zeros_like(fx), torch.ones_like(fx)
    return torch.stack([fx, zero, cx, zero, fy, cy, zero, zero, one], -1).reshape(fx.shape + (3, 3))


def focal_from_fov(size_px: float, fov_deg: float = DEFAULT_FOV_DEG) -> float:
    """Focal length in pixels giving ``fov_deg`` across ``size_px`` pixels."""
    return 0.5 * size_px / math.tan(math.radians(fov_deg) / 2.0)


def default_focal(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> float:
    """The assumed focal length in pixels of an uncalibrated ``width`` x ``height`` image: ``fov_deg``
    across its longer side (every default camera in headgen comes from here)."""
    return focal_from_fov(max(width, height), fov_deg)


def default_intrinsics(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG,
                       *, dtype=torch.float32, device=None) -> Tensor:
    """Assumed intrinsics for an image of ``width`` x ``height`` px: square pixels, principal
    point at the image centre, :func:`default_focal` -> K (3, 3)."""
    f = default_focal(width, height, fov_deg)
    return intrinsics_matrix(f, f, (width - 1) / 2.0, (height - 1) / 2.0, dtype=dtype, device=device)


def transform_points(points: Tensor, R: Tensor, t: Tensor) -> Tensor:
    """Rigid transform: points (..., N, 3), R (..., 3, 3), t (..., 3) -> R @ p + t, (..., N, 3)."""
    return points @ R.transpose(-1, -2) + t.unsqueeze(-2)


def project_points(points_cam: Tensor, K: Tensor, eps: float = 1e-8) -> Tensor:
    """Perspective projection of camera-frame points (..., N, 3) with K (..., 3, 3) -> pixels (..., N, 2).
    Depth is clamped to ``eps`` so points at or behind the camera do not produce inf/NaN."""
    z = points_cam[..., 2:3].clamp_min(eps)
    xy = points_cam[..., :2] / z
    fx, fy = K[..., 0, 0].unsqueeze(-1), K[..., 1, 1].unsqueeze(-1)
    cx, cy = K[..., 0, 2].unsqueeze(-1), K[..., 1, 2].unsqueeze(-1)
    return torch.stack([xy[..., 0] * fx + cx, xy[..., 1] * fy + cy], dim=-1)


def unproject_points(pixels: Tensor, depth: Tensor, K: Tensor) -> Tensor:
    """Pixels (..., N, 2) and depth z (..., N) metres with K (..., 3, 3) -> camera points (..., N, 3)."""
    fx, fy = K[..., 0, 0].unsqueeze(-1), K[..., 1, 1].unsqueeze(-1)
    cx, cy = K[..., 0, 2].unsqueeze(-1), K[..., 1, 2].unsqueeze(-1)
    x = (pixels[..., 0] - cx) / fx * depth
    y = (pixels[..., 1] - cy) / fy * depth
    return torch.stack([x, y, depth], dim=-1)


def look_at(eye: Tensor, target: Tensor, up: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """World-to-camera (R (..., 3, 3), t (..., 3)) for an OpenCV camera at ``eye`` (..., 3) looking at
    ``target`` (..., 3); ``up`` is the world's up direction (default +y), which maps to image -y."""
    if up is None:
        up = torch.tensor([0.0, 1.0, 0.0], dtype=eye.dtype, device=eye.device).expand_as(eye)
    z = torch.nn.functional.normalize(target - eye, dim=-1)
    x = torch.nn.functional.normalize(torch.cross(z, up, dim=-1), dim=-1)
    y = torch.cross(z, x, dim=-1)
    R = torch.stack([x, y, z], dim=-2)
    t = -(R @ eye.unsqueeze(-1)).squeeze(-1)
    return R, t
