"""Shading: face/vertex normals (batched), Lambert lighting, UV texture sampling, and
``render_mesh`` (rasterise + interpolate + shade, optional supersampling anti-aliasing)."""
from __future__ import annotations

import torch
import torch.nn.functional as Fnn
from torch import Tensor

from headgen.render.raster import Raster, interpolate, rasterize

#: Default light: a headlight at the camera (OpenCV frame, unit vector from surface to light).
DEFAULT_LIGHT_DIR = (0.0, 0.0, -1.0)


def face_normals(verts: Tensor, faces: Tensor, normalize: bool = True) -> Tensor:
    """verts (B, V, 3) or (V, 3), faces (F, 3) -> face normals (B, F, 3) ((F, 3) for unbatched),
    n = (v1 - v0) x (v2 - v0) (length = 2 * area unless normalized)."""
    squeeze = verts.dim() == 2
    v = verts.unsqueeze(0) if squeeze else verts
    faces = torch.as_tensor(faces, device=v.device).long()
    tv = v[:, faces]  # (B,F,3,3)
    n = torch.cross(tv[:, :, 1] - tv[:, :, 0], tv[:, :, 2] - tv[:, :, 0], dim=-1)
    if normalize:
        n = Fnn.normalize(n, dim=-1, eps=1e-12)
    return n[0] if squeeze else n


def vertex_normals(verts: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted unit vertex normals: verts (B, V, 3) or (V, 3), faces (F, 3) -> same shape as
    verts. Orientation follows the winding (counter-clockwise seen from outside = outward for a
    right-handed frame). Vertices used by no face get a zero normal."""
    squeeze = verts.dim() == 2
    v = verts.unsqueeze(0) if squeeze else verts
    faces = torch.as_tensor(faces, device=v.device).long()
    B, V, _ = v.shape
    fn = face_normals(v, faces, normalize=False).reshape(-1, 3)  # (B*F,3)
    off = (torch.arange(B, device=v.device) * V).unsqueeze(1)
    n = torch.zeros(B * V, 3, dtype=v.dtype, device=v.device)
    for k in range(3):  # three scatters over the triangle corners (no loop over vertices)
        n = n.index_add(0, (faces[:, k].unsqueeze(0) + off).reshape(-1), fn)
    n = Fnn.normalize(n.view(B, V, 3), dim=-1, eps=1e-12)
    return n[0] if squeeze else n


def lambert(normals: Tensor, light_dir=DEFAULT_LIGHT_DIR, ambient: float = 0.3, diffuse: float = 0.7,
            two_sided: bool = True) -> Tensor:
    """Lambert intensity: normals (..., 3) (unit, same frame as light_dir), light_dir (3,) or
    (B, 3) pointing from the surface to the light -> (..., 1) = ambient + diffuse * max(n.l, 0)
    (|n.l| when two_sided, so inconsistent winding still shades)."""
    l = torch.as_tensor(light_dir, dtype=normals.dtype, device=normals.device)
    l = Fnn.normalize(l, dim=-1)
    if l.dim() == 2:  # (B,3) against (B,...,3)
        l = l.view(l.shape[0], *([1] * (normals.dim() - 2)), 3)
    ndl = (normals * l).sum(-1, keepdim=True)
    ndl = ndl.abs() if two_sided else ndl.clamp_min(0)
    return ambient + diffuse * ndl


def sample_texture(texture: Tensor, uv: Tensor, mode: str = "bilinear") -> Tensor:
    """Sample a texture at UV coordinates.

    texture (Ht, Wt, C) or (B, Ht, Wt, C) float; uv (B, H, W, 2) in [0, 1] with the OBJ
    convention (u right, v up: v = 0 is the bottom row of the image) -> (B, H, W, C).
    Bilinear, border clamped, align_corners=False. Differentiable w.r.t. texture and uv.
    """
    B = uv.shape[0]
    tex = texture.unsqueeze(0) if texture.dim() == 3 else texture
    tex = tex.to(uv.dtype).permute(0, 3, 1, 2)
    if tex.shape[0] == 1 and B > 1:
        tex = tex.expand(B, -1, -1, -1)
    grid = torch.stack([uv[..., 0] * 2 - 1, 1 - uv[..., 1] * 2], -1)
    out = Fnn.grid_sample(tex, grid, mode=mode, padding_mode="border", align_corners=False)
    return out.permute(0, 2, 3, 1)


def _as_batch(x: Tensor | None, B: int) -> Tensor | None:
    if x is None:
        return None
    x = torch.as_tensor(x)
    if x.dim() == 2:
        x = x.unsqueeze(0)
    return x.expand(B, *x.shape[1:]) if x.shape[0] == 1 else x


def shade(raster: Raster, verts_cam: Tensor, faces: Tensor, colors: Tensor | None = None,
          shading: str = "lambert", light_dir=DEFAULT_LIGHT_DIR, texture: Tensor | None = None,
          uvs: Tensor | None = None, faces_uv: Tensor | None = None, ambient: float = 0.3,
          diffuse: float = 0.7) -> Tensor:
    """Colour rasterised pixels -> (B, H, W, 3) float (background 0).

    Albedo: texture sampled at interpolated uvs (needs uvs (T, 2) and faces_uv (F, 3), or uvs per
    vertex (V, 2) with faces) > vertex colours (B, V, 3) / (V, 3) in [0, 1] > light grey.
    shading: "lambert" (vertex-normal Lambert, headlight default), "flat" (face-normal
    Lambert), "normals" (camera-frame normals mapped to [0, 1]), "none" (albedo only).
    """
    B, H, W = raster.tri_id.shape
    dt = verts_cam.dtype
    if verts_cam.dim() == 2:
        verts_cam = verts_cam.unsqueeze(0)
    verts_cam = _as_batch(verts_cam, B)
    faces = torch.as_tensor(faces, device=verts_cam.device).long()
    if texture is not None:
        if uvs is None:
            raise ValueError("texture given without uvs")
        uv = interpolate(torch.as_tensor(uvs, dtype=dt, device=verts_cam.device),
                         raster, faces if faces_uv is None else faces_uv)
        albedo = sample_texture(torch.as_tensor(texture, device=verts_cam.device), uv)[..., :3]
    elif colors is not None:
        albedo = interpolate(_as_batch(torch.as_tensor(colors, dtype=dt, device=verts_cam.device), B), raster, faces)
    else:
        albedo = torch.full((B, H, W, 3), 0.78, dtype=dt, device=verts_cam.device)
    if shading == "none":
        img = albedo
    elif shading in ("lambert", "normals"):
        n = Fnn.normalize(interpolate(vertex_normals(verts_cam, faces), raster, faces), dim=-1, eps=1e-12)
        img = (n * 0.5 + 0.5) if shading == "normals" else albedo * lambert(n, light_dir, ambient, diffuse)
    elif shading == "flat":
        fn = face_normals(verts_cam, faces)  # (B,F,3)
        ids = raster.tri_id.clamp_min(0)
        n = torch.gather(fn, 1, ids.reshape(B, -1, 1).expand(-1, -1, 3)).reshape(B, H, W, 3)
        img = albedo * lambert(n, light_dir, ambient, diffuse)
    else:
        raise ValueError(f"unknown shading {shading!r}: use lambert, flat, normals or none")
    return img * raster.mask.unsqueeze(-1).to(img.dtype)


def render_mesh(verts_cam: Tensor, faces: Tensor, K: Tensor, height: int, width: int,
                colors: Tensor | None = None, shading: str = "lambert", background=None,
                backend: str = "auto", ssaa: int = 1, antialias: bool = False, return_alpha: bool = False,
                **shade_kwargs):
    """Render a mesh seen by a pinhole camera -> image (B, H, W, 3) float in [0, 1].

    verts_cam (B, V, 3) / (V, 3) OpenCV camera frame metres; faces (F, 3); K (B, 3, 3) / (3, 3).
    colors: None (grey) or vertex colours (B|1, V, 3) in [0, 1]; shading: see :func:`shade`
    (texture/uvs/faces_uv/light_dir/ambient/diffuse go through ``shade_kwargs``).
    background: None (black), an RGB triple, or images (B, H, W, 3) float in [0, 1] to composite on.
    ssaa: supersampling factor (renders at ssaa x resolution and box-filters: simple
    anti-aliasing; K is scaled accordingly). antialias: analytic silhouette anti-aliasing
    (``headgen.render.antialias``), which also gives silhouettes gradients w.r.t. the vertices.
    return_alpha: also return coverage (B, H, W) in [0, 1].
    """
    if verts_cam.dim() == 2:
        verts_cam = verts_cam.unsqueeze(0)
    B = verts_cam.shape[0]
    K = torch.as_tensor(K, dtype=verts_cam.dtype, device=verts_cam.device)
    K = (K.unsqueeze(0) if K.dim() == 2 else K).expand(B, 3, 3)
    s = int(ssaa)
    if s > 1:
        S = torch.tensor([[s, 0, (s - 1) / 2.0], [0, s, (s - 1) / 2.0], [0, 0, 1]], dtype=K.dtype, device=K.device)
        K = S @ K  # pixel centre j of the big image <-> (j - (s-1)/2) / s of the small one
    r = rasterize(verts_cam, faces, K, height * s, width * s, backend=backend)
    img = shade(r, verts_cam, faces, colors=colors, shading=shading, **shade_kwargs)
    alpha = r.mask.to(img.dtype)
    if s > 1:
        img = Fnn.avg_pool2d(img.permute(0, 3, 1, 2), s).permute(0, 2, 3, 1)
        alpha = Fnn.avg_pool2d(alpha.unsqueeze(1), s)[:, 0]
    bg = None
    if background is not None:
        bg = torch.as_tensor(background, device=img.device)
        if bg.dim() == 1:
            bg = bg.view(1, 1, 1, 3)
        elif bg.dim() == 3:
            bg = bg.unsqueeze(0)
        bg = bg.to(img.dtype) / 255.0 if (bg.dtype == torch.uint8 or bg.max() > 1.0) else bg.to(img.dtype)
        img = img + (1 - alpha.unsqueeze(-1)) * bg
    if antialias:
        from headgen.render.antialias import antialias as _aa
        from headgen.render.raster import project_to_screen

        vs = project_to_screen(verts_cam, K)
        rgba = torch.cat([img, alpha.unsqueeze(-1)], -1)
        out = _aa(rgba, r, vs, faces) if s == 1 else None
        if out is None:
            raise ValueError("antialias=True needs ssaa=1")
        img, alpha = out[..., :3], out[..., 3]
    img = img.clamp(0, 1)
    return (img, alpha) if return_alpha else img
