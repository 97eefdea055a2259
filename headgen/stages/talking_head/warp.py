"""Mesh-driven warp of the still: the fitted head mesh, posed per frame, carries the still's pixels with it.

Every vertex of the still's fitted mesh (rest pose) projects to a point of the output view; rasterising the
posed mesh of a frame gives, for every pixel it covers, the triangle and perspective-correct barycentrics,
hence the point of the still that the same surface point showed at rest. Sampling the still (or any image
registered with it, e.g. a residual) there moves the photo's own face with the mesh: lips part with
``jawOpen``, the head turns with the mesh. Triangles the still cannot show (the mouth interior: socket, gums
and tongue, teeth) get flat colours instead.

This is the renderer of the mesh mode and the detail transfer of the avatar mode (``headgen.stages.
talking_head.heads``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

#: ICT components of the warp mesh: the face skin, the mouth interior and the eyes.
WARP_PARTS = ("face", "mouth_socket", "gums_and_tongue", "teeth", "eye_socket_left", "eye_socket_right",
              "eyeball_left", "eyeball_right")
#: flat RGB [0,1] colours of the parts the still does not show
INTERIOR_COLOURS = {"mouth_socket": (0.16, 0.05, 0.05), "gums_and_tongue": (0.45, 0.18, 0.18),
                    "teeth": (0.80, 0.76, 0.68)}


def triangle_components(model) -> np.ndarray:
    """(F,) component name of each triangle of an ICT model ("" when unknown), from its first vertex."""
    comp = np.full(model.num_vertices, "", dtype=object)
    for c in getattr(model, "components", []):
        if c in model.regions:
            comp[model.regions[c].cpu().numpy()] = c
    return comp[model.faces[:, 0].cpu().numpy()]


def project(vertices: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-frame points (...,3) metres -> pixels (...,2) with intrinsics K (3,3)."""
    p = vertices @ K.T
    return p[..., :2] / p[..., 2:3].clamp_min(1e-6)


class PhotoWarp:
    """The still's fitted mesh as a warp field.

    model: ICT head model with :data:`WARP_PARTS`; rest: model inputs of the still (batch 1, camera frame);
    K (3,3) output intrinsics; size (w, h) output px. ``rasterize(inputs)`` -> per-frame raster data;
    ``sample(image, r)`` the image (H,W,C) float carried by the mesh; ``interior(r)`` the flat colours.
    """

    def __init__(self, model, rest: dict, K, size):
        self.model = model
        self.dev = model.device
        self.W, self.H = int(size[0]), int(size[1])
        self.K = torch.as_tensor(np.asarray(K), dtype=torch.float32, device=self.dev)
        self.faces = model.faces.long().to(self.dev)
        comp = triangle_components(model)
        self.is_interior = torch.as_tensor(np.isin(comp, list(INTERIOR_COLOURS)), device=self.dev)
        self.is_face = torch.as_tensor(comp == "face", device=self.dev)
        col = np.zeros((len(comp), 3), np.float32)
        for c, rgb in INTERIOR_COLOURS.items():
            col[comp == c] = rgb
        self.tri_colour = torch.as_tensor(col, device=self.dev)
        with torch.no_grad():
            self.rest_vertices = model(**rest).vertices[0]
        self.uv = project(self.rest_vertices, self.K)      # (V,2) output px of every vertex at rest
        self.rest = self.rasterize_vertices(self.rest_vertices[None])

    def rasterize_vertices(self, verts: torch.Tensor) -> dict:
        """Posed vertices (B,V,3) camera frame -> dict(tri (B,H,W) long (-1 none), src (B,H,W,2) still
        position (output px) of each pixel's surface point at rest, cover (B,H,W) bool (any part),
        face (B,H,W) bool (warped parts: skin and eyes), interior (B,H,W) bool (mouth interior))."""
        from headgen.render.raster import interpolate, rasterize

        with torch.no_grad():
            r = rasterize(verts, self.faces, self.K, self.H, self.W)
            src = interpolate(self.uv, r, self.faces)
        tri = r.tri_id
        cover = tri >= 0
        t = tri.clamp_min(0)
        interior = cover & self.is_interior[t]
        return dict(tri=tri, src=src, cover=cover, face=cover & ~interior, interior=interior,
                    skin=cover & self.is_face[t])

    def rasterize(self, inputs: dict) -> dict:
        """Model inputs of B frames -> :meth:`rasterize_vertices` of the posed mesh."""
        with torch.no_grad():
            verts = self.model(**inputs).vertices
        return self.rasterize_vertices(verts)

    def sample(self, image: torch.Tensor, r: dict) -> torch.Tensor:
        """image (H,W,C) float registered with the output view -> (B,H,W,C): the image carried by the mesh
        (bilinear), zeros where no triangle covers the pixel."""
        B = r["src"].shape[0]
        g = r["src"].clone()
        g[..., 0] = g[..., 0] / max(self.W - 1, 1) * 2 - 1
        g[..., 1] = g[..., 1] / max(self.H - 1, 1) * 2 - 1
        img = image.permute(2, 0, 1)[None].expand(B, -1, -1, -1)
        out = F.grid_sample(img, g, mode="bilinear", padding_mode="border", align_corners=True)
        return out.permute(0, 2, 3, 1) * r["cover"][..., None]

    def interior(self, r: dict) -> torch.Tensor:
        """(B,H,W,3) flat colours of the mouth-interior triangles (zeros elsewhere)."""
        return self.tri_colour[r["tri"].clamp_min(0)] * r["interior"][..., None]
