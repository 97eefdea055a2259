"""Texture projection: bake a photo onto a fitted mesh's UV layout.

Each texel is located on the mesh by rasterising the mesh in UV space (the builtin rasteriser on
(u, v) coordinates at constant depth), lifted to its 3D point, projected into the photo and
sampled bilinearly. It is marked visible when that point is the nearest surface at its pixel
(depth test against a rasterised depth map of the photo's view), faces the camera and lands
inside the image.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as Fnn
from torch import Tensor

from headgen.render.raster import interpolate, project_to_screen, rasterize, rasterize_screen
from headgen.render.shading import face_normals


def uv_raster(uvs: Tensor, faces_uv: Tensor, tex_size: int, face_mask: Tensor | None = None,
              backend: str = "auto"):
    """Rasterise the UV layout: uvs (T, 2) in [0, 1] (v up), faces_uv (F, 3) -> Raster of size
    (1, tex_size, tex_size) whose tri_id is the face covering each texel (texel row 0 = v 1).
    Where UV islands overlap, the face with the smaller id wins (each face gets its own constant
    depth 1 + 1e-6 * id, so ties are exact). face_mask (F,) bool: only rasterise these faces."""
    uvs = torch.as_tensor(uvs, dtype=torch.float32)
    faces_uv = torch.as_tensor(faces_uv).long()
    F = faces_uv.shape[0]
    corner = uvs[faces_uv.reshape(-1)]  # (3F,2): one vertex per face corner
    x = corner[:, 0] * tex_size - 0.5
    y = (1.0 - corner[:, 1]) * tex_size - 0.5
    z = 1.0 + 1e-6 * torch.arange(F, dtype=torch.float32).repeat_interleave(3)
    if face_mask is not None:
        z = torch.where(torch.as_tensor(face_mask).bool().repeat_interleave(3), z, torch.full_like(z, -1.0))
    vs = torch.stack([x, y, z], -1).unsqueeze(0)
    tri = torch.arange(3 * F).view(F, 3)
    return rasterize_screen(vs, tri, tex_size, tex_size, backend=backend, differentiable=False)


def project_texture(image, verts_cam: Tensor, faces: Tensor, uvs: Tensor, faces_uv: Tensor, K: Tensor,
                    tex_size: int = 1024, depth_eps: float = 3e-3, min_facing: float = 0.05,
                    face_mask: Tensor | None = None, backend: str = "auto") -> tuple[Tensor, Tensor]:
    """Project a photo onto a mesh's UV texture.

    image (H, W, 3) uint8 or float [0, 1] (numpy or torch); verts_cam (V, 3) mesh in the photo's
    OpenCV camera frame (metres); faces (F, 3); uvs (T, 2) [0, 1] (v up) and faces_uv (F, 3);
    K (3, 3). face_mask (F,) bool: bake only these faces (e.g. ICT's face + back-head materials;
    UV islands that overlap others, such as eyeballs, should be left out). UVs outside [0, 1]
    (other UDIM tiles) fall outside the texture: shift them to bake another tile. depth_eps: metres of tolerance of the visibility depth test; min_facing: minimum
    cos between the face normal and the direction to the camera.
    -> (texture (tex_size, tex_size, 3) float [0, 1] (row 0 = v 1; black where not visible),
        visible (tex_size, tex_size) bool).
    """
    img = torch.as_tensor(np.asarray(image)) if not isinstance(image, Tensor) else image
    img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
    H, W = img.shape[:2]
    verts_cam = torch.as_tensor(verts_cam, dtype=torch.float32)
    if verts_cam.dim() == 3:
        verts_cam = verts_cam[0]
    K = torch.as_tensor(K, dtype=torch.float32)
    K = K[0] if K.dim() == 3 else K
    faces = torch.as_tensor(faces).long()
    faces_uv = torch.as_tensor(faces_uv).long()
    with torch.no_grad():
        ur = uv_raster(uvs, faces_uv, tex_size, face_mask=face_mask, backend=backend)
        covered = ur.mask[0]
        # 3D point of each texel: same face, barycentrics are affine in UV space.
        pts = interpolate(verts_cam.unsqueeze(0), ur, faces)[0]  # (S,S,3)
        pix = project_to_screen(pts.reshape(1, -1, 3), K)[0]  # (S*S,3)
        # Photo-view depth map for the occlusion test.
        view = rasterize(verts_cam.unsqueeze(0), faces, K, H, W, backend=backend)
        # 3x3 max of the depth map (background 0): texels at silhouettes whose rounded pixel
        # misses the coverage by sub-pixel amounts stay visible; occluders still hide them.
        depth = Fnn.max_pool2d(view.depth, 3, stride=1, padding=1)[0]
        xi = pix[:, 0].round().long()
        yi = pix[:, 1].round().long()
        inside = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H) & (pix[:, 2] > 0)
        dmap = depth[yi.clamp(0, H - 1), xi.clamp(0, W - 1)]
        vis_depth = inside & (dmap > 0) & (pix[:, 2] <= dmap + depth_eps)
        fn = face_normals(verts_cam, faces)  # (F,3)
        fid = ur.tri_id[0].clamp_min(0).reshape(-1)
        to_cam = -Fnn.normalize(pts.reshape(-1, 3), dim=-1)
        facing = (fn[fid] * to_cam).sum(-1)
        visible = covered.reshape(-1) & vis_depth & (facing > min_facing)
        grid = torch.stack([(pix[:, 0] + 0.5) / W * 2 - 1, (pix[:, 1] + 0.5) / H * 2 - 1], -1)
        colors = Fnn.grid_sample(img.permute(2, 0, 1)[None], grid.view(1, 1, -1, 2), mode="bilinear",
                                 padding_mode="border", align_corners=False)[0, :, 0].T  # (S*S,3)
        colors = colors * visible.unsqueeze(-1)
    return colors.reshape(tex_size, tex_size, 3), visible.reshape(tex_size, tex_size)


def fill_texture(texture: Tensor, mask: Tensor, iterations: int = 16) -> Tensor:
    """Dilate texture colours into invisible texels (pull-push-free approximation: repeated 3x3
    mean of known neighbours), hiding seams. texture (S, S, 3), mask (S, S) bool -> (S, S, 3)."""
    t = (texture * mask.unsqueeze(-1)).permute(2, 0, 1)[None]
    m = mask.float()[None, None]
    k = torch.ones(1, 1, 3, 3, dtype=t.dtype)
    for _ in range(iterations):
        s = Fnn.conv2d(t, k.expand(3, 1, 3, 3), padding=1, groups=3)
        c = Fnn.conv2d(m, k, padding=1)
        new = (c > 0) & (m == 0)
        t = torch.where(new, s / c.clamp_min(1), t)
        m = torch.where(new, torch.ones_like(m), m)
    return t[0].permute(1, 2, 0)


def vertex_colors(frames: Tensor, vertices_for, faces: Tensor, K: Tensor, weights=None, chunk: int = 16) -> Tensor:
    """Per-vertex colours (V, 3) in [0, 1] baked from frames: for each vertex the mean over frames of the
    bilinear image colour under its projection, weighted by how much it faces the camera (back-facing ->
    0) times the per-frame ``weights`` (N,) (default 1; 0 leaves a frame out). Lighting is baked in.

    frames (N, H, W, 3) uint8 or float [0, 1]; vertices_for(a, b) -> camera-frame vertices (b - a, V, 3)
    of frames a..b-1 (posed on demand, ``chunk`` frames at a time to bound memory); faces (F, 3);
    K (3, 3) pixels. Runs on the frames' device."""
    from headgen.render.shading import vertex_normals

    N, H, W, _ = frames.shape
    K = torch.as_tensor(K).float().to(frames.device)
    w_frame = torch.ones(N, device=frames.device) if weights is None else \
        torch.as_tensor(np.asarray(weights) if not torch.is_tensor(weights) else weights, device=frames.device)
    acc = wsum = None
    for a in range(0, N, chunk):   # chunks bound memory; each chunk is batched
        b = min(N, a + chunk)
        fr = frames[a:b].float() / 255.0 if frames.dtype == torch.uint8 else frames[a:b]
        v = vertices_for(a, b).to(fr)
        if acc is None:
            acc = torch.zeros(v.shape[1], 3, device=frames.device)
            wsum = torch.zeros(v.shape[1], 1, device=frames.device)
        n = vertex_normals(v, faces)
        view = Fnn.normalize(-v, dim=-1)
        w = (n * view).sum(-1).clamp_min(0) * w_frame[a:b, None].to(fr)
        uv = v[..., :2] / v[..., 2:3].clamp_min(1e-6) * torch.stack([K[0, 0], K[1, 1]]) + torch.stack([K[0, 2], K[1, 2]])
        grid = torch.stack([2 * uv[..., 0] / (W - 1) - 1, 2 * uv[..., 1] / (H - 1) - 1], -1)[:, None]
        col = Fnn.grid_sample(fr.permute(0, 3, 1, 2), grid, align_corners=True)[:, :, 0]
        col = col.permute(0, 2, 1)                                                 # (B,V,3)
        acc += (w[..., None] * col).sum(0)
        wsum += w.sum(0)[:, None]
    return (acc / wsum.clamp_min(1e-6)).clamp(0, 1)
