"""Perspective-correct barycentrics and depth from rasterised triangle ids, in torch (differentiable):
shared by ``headgen.render.raster`` and the rasteriser backends that return only ids."""
from __future__ import annotations

import torch
from torch import Tensor


def _edge(ax, ay, bx, by, px, py):
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def barycentrics_from_ids(verts_screen: Tensor, faces: Tensor, tri_id: Tensor,
                          pix: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Differentiable perspective-correct barycentrics and depth from triangle ids.

    verts_screen (B, V, 3) (x_px, y_px, z), faces (F, 3) long, tri_id (B, H, W) (-1 background)
    -> (bary (B, H, W, 3), depth (B, H, W)), zeros on background. Same formulas as the C++ core
    (cuda_ext/include/raster_common.h), evaluated in the dtype of ``verts_screen`` on the covered
    pixels only (pix: their flat indices, computed when not given).
    """
    B, V, _ = verts_screen.shape
    _, H, W = tri_id.shape
    dev, dt = verts_screen.device, verts_screen.dtype
    faces = faces.to(dev).long()
    if pix is None:
        pix = torch.nonzero(tri_id.reshape(-1) >= 0).squeeze(1)
    b = pix // (H * W)
    rem = pix - b * (H * W)
    py = (rem // W).to(dt)
    px = (rem % W).to(dt)
    vidx = faces[tri_id.reshape(-1)[pix]] + (b * V).unsqueeze(1)  # (N,3)
    tv = verts_screen.reshape(B * V, 3)[vidx]  # (N,3 corners,3)
    x0, y0, x1, y1, x2, y2 = (tv[:, 0, 0], tv[:, 0, 1], tv[:, 1, 0], tv[:, 1, 1], tv[:, 2, 0], tv[:, 2, 1])
    area = _edge(x0, y0, x1, y1, x2, y2)
    area = torch.where(area.abs() > 0, area, torch.ones_like(area))
    inv_area = 1.0 / area
    s0 = _edge(x1, y1, x2, y2, px, py) * inv_area
    s1 = _edge(x2, y2, x0, y0, px, py) * inv_area
    s2 = _edge(x0, y0, x1, y1, px, py) * inv_area
    p = torch.stack([s0, s1, s2], -1) * (1.0 / tv[:, :, 2])
    s = p.sum(-1)
    s = torch.where(s.abs() > 0, s, torch.ones_like(s))
    depth = 1.0 / s
    bary = p * depth.unsqueeze(-1)
    n = B * H * W
    bary_full = torch.zeros(n, 3, dtype=dt, device=dev).index_put((pix,), bary)
    depth_full = torch.zeros(n, dtype=dt, device=dev).index_put((pix,), depth)
    return bary_full.view(B, H, W, 3), depth_full.view(B, H, W)
