"""pytorch3d backend (optional; imported lazily): ``pytorch3d.renderer.mesh.rasterize_meshes``
on NDC vertices converted from our screen space, one face per pixel, perspective-correct."""
from __future__ import annotations

import torch

from headgen.errors import MissingDependencyError


def _require():
    try:
        import pytorch3d  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(f"the pytorch3d rasteriser backend needs pytorch3d (see https://github.com/facebookresearch/pytorch3d/blob/main/INSTALL.md): {e}") from e


def screen_to_ndc(verts_screen: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(x_px, y_px, z) -> pytorch3d NDC (+x left, +y up; the shorter image side spans [-1, 1],
    pixel centres at (2i+1)/S - 1 from the edge), z unchanged."""
    s = float(min(height, width))
    x = (width - 2.0 * verts_screen[..., 0] - 1.0) / s
    y = (height - 2.0 * verts_screen[..., 1] - 1.0) / s
    return torch.stack([x, y, verts_screen[..., 2]], -1)


def raster(verts_screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, znear: float):
    """Backend function (see headgen.render.backends)."""
    _require()
    from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    from pytorch3d.structures import Meshes

    from headgen.render.barycentric import barycentrics_from_ids

    B = verts_screen.shape[0]
    ndc = screen_to_ndc(verts_screen.float(), height, width)
    # Drop triangles at/behind znear, as the builtin does (pytorch3d would clip or keep them).
    fz = verts_screen[:, faces, 2]  # (B,F,3)
    meshes = Meshes(verts=list(ndc), faces=[faces[(fz[b] > znear).all(-1)] for b in range(B)])
    keep = [torch.nonzero((fz[b] > znear).all(-1)).squeeze(1) for b in range(B)]
    pix_to_face, zbuf, bary, _ = rasterize_meshes(
        meshes, image_size=(height, width), blur_radius=0.0, faces_per_pixel=1, perspective_correct=True,
        cull_backfaces=False, bin_size=0)
    p2f = pix_to_face[..., 0]
    first = meshes.mesh_to_faces_packed_first_idx().view(B, 1, 1)
    local = p2f - first
    tri_id = torch.full_like(p2f, -1)
    for b in range(B):
        m = p2f[b] >= 0
        tri_id[b][m] = keep[b][local[b][m]]
    bary_t, depth = barycentrics_from_ids(verts_screen.float(), faces, tri_id)
    return tri_id, depth, bary_t
