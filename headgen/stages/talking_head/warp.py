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
    """The still's fitted mesh as a warp field, evaluated in a window of the output view around the head.

    model: ICT head model with :data:`WARP_PARTS`; rest: model inputs of the still (batch 1, camera frame);
    K (3,3) output intrinsics; size (w, h) output px; margin: the window around the head at rest, as a share
    of the head's height on every side (plus ``margin`` more below, where the chin goes when the jaw opens).
    ``window`` (x0, y0, x1, y1): the output pixels that can change; every per-frame map is window-sized.
    ``rasterize(inputs)`` -> per-frame raster data; ``sample(image, r)`` an image registered with the
    whole output view, carried by the mesh; ``interior(r)`` the flat mouth-interior colours.
    """

    def __init__(self, model, rest: dict, K, size, margin: float = 0.15):
        from headgen.render.raster import rasterize

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
            full = rasterize(self.rest_vertices[None], self.faces, self.K, self.H, self.W).tri_id[0] >= 0
        self.uv = project(self.rest_vertices, self.K)      # (V,2) output px of every vertex at rest
        self.window = head_window(full, margin)
        x0, y0, _, _ = self.window
        self.K_win = self.K.clone()
        self.K_win[0, 2] -= x0
        self.K_win[1, 2] -= y0
        self.rest = self.rasterize_vertices(self.rest_vertices[None])

    @property
    def win_size(self) -> tuple[int, int]:
        """(w, h) of the window."""
        x0, y0, x1, y1 = self.window
        return x1 - x0, y1 - y0

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """(..., H, W, C) whole-view image -> its window (..., h, w, C)."""
        x0, y0, x1, y1 = self.window
        return image[..., y0:y1, x0:x1, :]

    def rasterize_vertices(self, verts: torch.Tensor) -> dict:
        """Posed vertices (B,V,3) camera frame -> window-sized maps: dict(tri (B,h,w) long (-1 none), src
        (B,h,w,2) whole-view position (px) of each pixel's surface point at rest, cover (B,h,w) bool (any
        part), face (B,h,w) bool (warped parts: skin and eyes), skin (B,h,w) bool (the face skin), interior
        (B,h,w) bool (mouth interior))."""
        from headgen.render.raster import interpolate, rasterize

        w, h = self.win_size
        with torch.no_grad():
            r = rasterize(verts, self.faces, self.K_win, h, w)
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
        """image (H,W,C) float registered with the whole output view -> (B,h,w,C): the image carried by the
        mesh (bilinear), zeros where no triangle covers the pixel."""
        B = r["src"].shape[0]
        g = r["src"].clone()
        g[..., 0] = g[..., 0] / max(self.W - 1, 1) * 2 - 1
        g[..., 1] = g[..., 1] / max(self.H - 1, 1) * 2 - 1
        img = image.permute(2, 0, 1)[None].expand(B, -1, -1, -1)
        out = F.grid_sample(img, g, mode="bilinear", padding_mode="border", align_corners=True)
        return out.permute(0, 2, 3, 1) * r["cover"][..., None]

    def interior(self, r: dict) -> torch.Tensor:
        """(B,h,w,3) flat colours of the mouth-interior triangles (zeros elsewhere)."""
        return self.tri_colour[r["tri"].clamp_min(0)] * r["interior"][..., None]


def head_window(cover: torch.Tensor, margin: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) (x1, y1 exclusive) of the (H,W) bool ``cover``'s bounding box grown by ``margin`` x its
    height on every side and twice that below, clipped to the image (the whole image when cover is empty)."""
    H, W = cover.shape
    rows = torch.nonzero(cover.any(1)).flatten()
    cols = torch.nonzero(cover.any(0)).flatten()
    if rows.numel() == 0:
        return 0, 0, W, H
    y0, y1, x0, x1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    m = int(np.ceil(margin * (y1 - y0))) + 2
    return max(0, x0 - m), max(0, y0 - m), min(W, x1 + m), min(H, y1 + 2 * m)
