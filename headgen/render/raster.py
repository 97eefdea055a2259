"""Mesh rasterisation primitives (the nvdiffrast set): rasterize -> per-pixel triangle id,
perspective-correct barycentrics and depth; interpolate vertex attributes differentiably.

Conventions: vertices in the OpenCV camera frame (metres, +z forward), intrinsics K in pixels,
pixel (i, j) centred at (x = j, y = i). A pixel is covered when its centre lies inside or on a
triangle (both windings; no backface culling); the nearest triangle wins, depth ties go to the
smaller triangle id. Triangles with a vertex at or behind ``znear`` are dropped (no clipping).

Differentiability: backends return triangle ids (and non-differentiable barycentrics); when the
vertices or K require grad, barycentrics and depth are recomputed in torch from the ids
(:func:`barycentrics_from_ids`), so :func:`interpolate` is differentiable w.r.t. the attributes
and, through the barycentrics, w.r.t. vertex positions (inside triangles; silhouette/visibility
changes are not differentiable - use SSAA in ``render_mesh`` for smooth edges).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from headgen.render.barycentric import barycentrics_from_ids

DEFAULT_ZNEAR = 1e-3  # metres


@dataclass
class Raster:
    """Rasterisation result. tri_id (B, H, W) long, -1 for background; bary (B, H, W, 3)
    perspective-correct barycentrics (zeros on background); depth (B, H, W) camera z in the
    vertices' units (0 on background)."""
    tri_id: Tensor
    bary: Tensor
    depth: Tensor
    _pix: Tensor | None = field(default=None, repr=False, compare=False)

    @property
    def mask(self) -> Tensor:
        """(B, H, W) bool, True where a triangle covers the pixel."""
        return self.tri_id >= 0

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.tri_id.shape)

    @property
    def pix(self) -> Tensor:
        """(N,) long flat indices into B*H*W of the covered pixels (cached)."""
        if self._pix is None:
            self._pix = torch.nonzero(self.tri_id.reshape(-1) >= 0).squeeze(1)
        return self._pix


def _batch_k(K: Tensor, B: int, like: Tensor) -> Tensor:
    K = torch.as_tensor(K, dtype=like.dtype, device=like.device)
    if K.dim() == 2:
        K = K.unsqueeze(0)
    return K.expand(B, 3, 3)


def project_to_screen(verts_cam: Tensor, K: Tensor) -> Tensor:
    """Camera-frame vertices (B, V, 3) and K (B, 3, 3) or (3, 3) -> screen vertices (B, V, 3):
    (x_px, y_px, z) with z the camera depth (unchanged). Depth is clamped to 1e-9 in the divide
    only (triangles behind the camera are culled by znear anyway)."""
    if verts_cam.dim() == 2:
        verts_cam = verts_cam.unsqueeze(0)
    K = torch.as_tensor(K, dtype=verts_cam.dtype, device=verts_cam.device)
    if K.dim() == 3 and K.shape[0] > 1 and verts_cam.shape[0] == 1:
        verts_cam = verts_cam.expand(K.shape[0], -1, -1)
    B = verts_cam.shape[0]
    Kb = _batch_k(K, B, verts_cam)
    z = verts_cam[..., 2:3]
    zs = torch.where(z.abs() < 1e-9, torch.full_like(z, 1e-9), z)
    xy1 = torch.cat([verts_cam[..., :2] / zs, torch.ones_like(z)], -1)
    uv = xy1 @ Kb.transpose(-1, -2)
    return torch.cat([uv[..., :2], z], -1)


def rasterize_screen(verts_screen: Tensor, faces: Tensor, height: int, width: int, backend: str = "auto",
                     znear: float = DEFAULT_ZNEAR, differentiable: bool | None = None) -> Raster:
    """Rasterise screen-space vertices (B, V, 3) = (x_px, y_px, depth) with faces (F, 3) into an
    image of ``height`` x ``width`` -> Raster. ``backend``: "auto", "builtin" (C++/OpenMP CPU
    or CUDA extension), "torch" (pure-torch reference, small images), "pytorch3d", "nvdiffrast".
    differentiable: recompute barycentrics/depth in torch from ids (default: when
    ``verts_screen`` requires grad and grad mode is on)."""
    from headgen.render.backends import get_backend

    if verts_screen.dim() == 2:
        verts_screen = verts_screen.unsqueeze(0)
    faces = torch.as_tensor(faces, device=verts_screen.device).long()
    fn = get_backend(backend, verts_screen.device)
    with torch.no_grad():
        tri_id, depth, bary = fn(verts_screen.detach(), faces, int(height), int(width), float(znear))
    tri_id = tri_id.long()
    if differentiable is None:
        differentiable = torch.is_grad_enabled() and verts_screen.requires_grad
    pix = torch.nonzero(tri_id.reshape(-1) >= 0).squeeze(1)
    if differentiable:
        bary, depth = barycentrics_from_ids(verts_screen, faces, tri_id, pix)
    else:
        bary, depth = bary.to(verts_screen.dtype), depth.to(verts_screen.dtype)
    return Raster(tri_id=tri_id, bary=bary, depth=depth, _pix=pix)


def rasterize(verts_cam: Tensor, faces: Tensor, K: Tensor, height: int, width: int, backend: str = "auto",
              znear: float = DEFAULT_ZNEAR) -> Raster:
    """Rasterise a mesh seen by a pinhole camera.

    verts_cam (B, V, 3) or (V, 3): OpenCV camera frame, metres. faces (F, 3) int. K (B, 3, 3) or
    (3, 3) pixels. -> Raster(tri_id (B, H, W) long (-1 background), bary (B, H, W, 3)
    perspective-correct, depth (B, H, W) metres (0 background)). Differentiable w.r.t. verts_cam
    and K through the barycentrics/depth (see module docstring).
    """
    if verts_cam.dim() == 2:
        verts_cam = verts_cam.unsqueeze(0)
    vs = project_to_screen(verts_cam, K)
    return rasterize_screen(vs, faces, height, width, backend=backend, znear=znear,
                            differentiable=torch.is_grad_enabled() and vs.requires_grad)


def interpolate(attr: Tensor, raster: Raster, faces: Tensor) -> Tensor:
    """Interpolate per-vertex attributes over the rasterised pixels.

    attr (B, V, C) or (V, C) (for UVs with their own topology pass uvs (T, 2) and faces_uv);
    faces (F, 3) indexing attr's second-to-last dim -> (B, H, W, C), zeros on background.
    Differentiable w.r.t. attr and raster.bary. Work is done on covered pixels only.
    """
    tri_id = raster.tri_id
    B, H, W = tri_id.shape
    if attr.dim() == 2:
        attr = attr.unsqueeze(0)
    if attr.shape[0] == 1 and B > 1:
        attr = attr.expand(B, -1, -1)
    V, C = attr.shape[1], attr.shape[2]
    faces = torch.as_tensor(faces, device=attr.device).long()
    pix = raster.pix
    b = pix // (H * W)
    vidx = faces[tri_id.reshape(-1)[pix]] + (b * V).unsqueeze(1)  # (N,3)
    corners = attr.reshape(B * V, C)[vidx]  # (N,3,C)
    w = raster.bary.reshape(-1, 3)[pix].to(attr.dtype)
    vals = (corners * w.unsqueeze(-1)).sum(1)
    out = torch.zeros(B * H * W, C, dtype=vals.dtype, device=vals.device).index_put((pix,), vals)
    return out.view(B, H, W, C)
