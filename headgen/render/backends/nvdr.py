"""nvdiffrast backend (optional, CUDA; imported lazily). Our screen space maps to clip space
with w = z, so nvdiffrast's perspective-correct interpolation matches the builtin."""
from __future__ import annotations

import torch

from headgen.errors import MissingDependencyError

_ctx = {}


def screen_to_clip(verts_screen: torch.Tensor, height: int, width: int, znear: float, zfar: float = 1e3):
    """(x_px, y_px, z) -> clip (B, V, 4): ndc x = (2x + 1)/W - 1, ndc y = (2y + 1)/H - 1 (row 0 of
    nvdiffrast's output is ndc y = -1, i.e. image row 0), w = z, OpenGL depth range [znear, zfar]."""
    x, y, z = verts_screen.unbind(-1)
    a = (zfar + znear) / (zfar - znear)
    b = -2.0 * zfar * znear / (zfar - znear)
    return torch.stack([((2 * x + 1) / width - 1) * z, ((2 * y + 1) / height - 1) * z, a * z + b, z], -1)


def raster(verts_screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, znear: float):
    """Backend function (see headgen.render.backends)."""
    try:
        import nvdiffrast.torch as dr
    except ImportError as e:
        raise MissingDependencyError(f"the nvdiffrast rasteriser backend needs nvdiffrast (pip install git+https://github.com/NVlabs/nvdiffrast; CUDA): {e}") from e
    from headgen.render.barycentric import barycentrics_from_ids

    dev = verts_screen.device
    if dev not in _ctx:
        _ctx[dev] = dr.RasterizeCudaContext(device=dev) if dev.type == "cuda" else dr.RasterizeGLContext()
    clip = screen_to_clip(verts_screen.float(), height, width, znear).contiguous()
    rast, _ = dr.rasterize(_ctx[dev], clip, faces.int().contiguous(), resolution=[height, width])
    tri_id = rast[..., 3].long() - 1
    bary, depth = barycentrics_from_ids(verts_screen.float(), faces, tri_id)
    return tri_id, depth, bary
