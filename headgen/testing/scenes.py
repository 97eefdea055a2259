"""Synthetic Gaussian scenes (random, head-sized) for tests and benchmarks."""
from __future__ import annotations

import math

import torch

from headgen.geometry.camera import default_focal


def random_scene(n: int, n_cameras: int = 1, width: int = 64, height: int = 48, seed: int = 0,
                 sh_degree: int | None = None, feature_dim: int = 3, dtype=torch.float32, device="cpu",
                 head_radius: float = 0.12, distance: float = 0.5, fov_deg: float = 35.0,
                 scale_range: tuple[float, float] = (0.004, 0.03)) -> dict:
    """N Gaussians filling a head-sized ellipsoid (metres) seen by C cameras on an arc at ``distance``.

    Returns a dict of rasterize() keyword arguments: means (N,3), quats (N,4) wxyz, scales (N,3),
    opacities (N,), colors (N,D) features or (N,K,3) SH coefficients (with sh_degree), viewmats (C,4,4)
    world->camera OpenCV, Ks (C,3,3) (``fov_deg`` across the longer side), width, height (and sh_degree
    when given).
    """
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, 3, generator=g)
    u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-9) * torch.rand(n, 1, generator=g) ** (1 / 3)
    means = u * torch.tensor([0.8, 1.0, 0.9]) * head_radius
    quats = torch.randn(n, 4, generator=g)
    lo, hi = scale_range
    scales = torch.exp(torch.rand(n, 3, generator=g) * (math.log(hi) - math.log(lo)) + math.log(lo))
    opacities = torch.rand(n, generator=g) * 0.95 + 0.04
    if sh_degree is None:
        colors = torch.rand(n, feature_dim, generator=g)
    else:
        colors = torch.randn(n, (sh_degree + 1) ** 2, 3, generator=g) * 0.25
        colors[:, 0] += 0.5
    viewmats = torch.zeros(n_cameras, 4, 4)
    for c in range(n_cameras):
        yaw = (c - (n_cameras - 1) / 2) * 0.35
        # camera looks at the origin from +z rotated by yaw about y; OpenCV world->camera
        cy, sy = math.cos(yaw), math.sin(yaw)
        R = torch.tensor([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])
        viewmats[c, :3, :3] = R
        viewmats[c, :3, 3] = torch.tensor([0.0, 0.0, distance])
        viewmats[c, 3, 3] = 1.0
    f = default_focal(width, height, fov_deg)
    Ks = torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]]).repeat(n_cameras, 1, 1)
    out = dict(means=means, quats=quats, scales=scales, opacities=opacities, colors_or_sh=colors, viewmats=viewmats, Ks=Ks)
    out = {k: v.to(dtype=dtype, device=device) for k, v in out.items()}
    out.update(width=width, height=height)
    if sh_degree is not None:
        out["sh_degree"] = sh_degree
    return out
