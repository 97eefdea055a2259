"""Mesh-driven warp of the still: the fitted head mesh, posed per frame, carries the still's pixels with it.

Every vertex of the still's fitted mesh (rest pose) projects to a point of the output view; rasterising the
posed mesh of a frame gives, for every pixel it covers, the triangle and perspective-correct barycentrics,
hence the point of the still that the same surface point showed at rest. Sampling the still (or any image
registered with it, e.g. a residual) there moves the photo's own face with the mesh: lips part with
``jawOpen``, the head turns with the mesh.

The mouth gap is different: what the still shows between the lips (teeth, on a smile) belongs to no triangle
of the fitted mesh - its inner lips and tongue cover it, and carried by them the teeth would travel down with
the jaw and fill the opening. So every surface point that showed the gap at rest (inside the fitted inner-lip
contour, ``gap``) shows instead what the still shows at the same point of the rigid head (the gap's content
stays with the skull, like the upper teeth) while that point is inside the gap, and the mouth's cavity colour
where the jaw has opened beyond it; interior triangles the still did not show get the cavity too
(``PhotoWarp.mouth``). Only the gap down to the teeth's lower edge is held (:func:`teeth_held`): below
them, within a photo pixel of the contour's lower edge, the gap is the lower lip the fit took in, and moves
with the jaw. At rest every pixel is the still's own.

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
#: RGB [0,1] colours of the parts the still does not show, as lit at the lips' depth; deeper in the mouth
#: they darken (:data:`CAVITY_DEPTH_M`)
INTERIOR_COLOURS = {"mouth_socket": (0.12, 0.04, 0.04), "gums_and_tongue": (0.50, 0.20, 0.18),
                    "teeth": (0.85, 0.80, 0.72)}
#: light falls off into the open mouth as exp(-depth / CAVITY_DEPTH_M), depth (metres) behind the fitted
#: inner lips: the tongue's tip and the front teeth are dim, the back of the mouth dark
CAVITY_DEPTH_M = 0.04


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

    model: ICT head model with :data:`WARP_PARTS` (and the MediaPipe embedding, for the mouth gap: without it
    the gap is empty and the still's mouth is carried by the mesh like the skin); rest: model inputs of the
    still (batch 1, camera frame); K (3,3) output intrinsics; size (w, h) output px; margin: the window around the head at rest, as a share
    of the head's height on every side (plus ``margin`` more below, where the chin goes when the jaw opens);
    photo_px: output px per still px (the view's enlargement; how far the fitted inner-lip contour may be off).
    ``window`` (x0, y0, x1, y1): the output pixels that can change; every per-frame map is window-sized.
    ``rasterize(inputs)`` -> per-frame raster data; ``sample(image, r)`` an image registered with the
    whole output view, carried by the mesh; ``interior(r)`` the flat mouth-interior colours; ``mouth(...)`` a
    head's colours with the still's mouth gap held to the skull and the opened cavity filled.
    """

    def __init__(self, model, rest: dict, K, size, margin: float = 0.15, photo_px: float = 1.0):
        from headgen.render.raster import rasterize

        self.model = model
        self.photo_px = float(photo_px)
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
        cav = col.copy()
        cav[~np.isin(comp, list(INTERIOR_COLOURS))] = INTERIOR_COLOURS["mouth_socket"]
        self.tri_cavity = torch.as_tensor(cav, device=self.dev)
        self.rest_R = _matrix(rest["rotation"]).to(self.dev)[0]
        self.rest_t = torch.as_tensor(rest["translation"], dtype=torch.float32, device=self.dev).reshape(3)
        with torch.no_grad():
            out = model(**rest)
        self.rest_vertices = out.vertices[0]
        #: (H,W) float: the still's mouth gap (the fitted inner-lip contour), whole output view
        self.gap = torch.zeros(self.H, self.W, device=self.dev)
        #: (V,) metres each vertex lies behind the inner lips at rest (0 in front; camera depth)
        self.depth = torch.zeros(len(self.rest_vertices), device=self.dev)
        if getattr(out, "landmarks468", None) is not None:
            inner = out.landmarks468[0, list(INNER_LIP)]
            lips = project(inner, self.K).cpu().numpy()
            self.gap = torch.as_tensor(polygon_mask(lips, (self.W, self.H), grow=GAP_GROW_PX), device=self.dev)
            self.depth = (self.rest_vertices[:, 2] - inner[:, 2].mean()).clamp_min(0)
        with torch.no_grad():
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

    def _tri_src(self, verts: torch.Tensor):
        """Posed vertices (B,V,3) -> window-sized (tri (B,h,w) long, -1 none; src (B,h,w,2) rest view px;
        depth (B,h,w) metres behind the inner lips at rest, ``self.depth`` interpolated)."""
        from headgen.render.raster import interpolate, rasterize

        w, h = self.win_size
        with torch.no_grad():
            r = rasterize(verts, self.faces, self.K_win, h, w)
            a = interpolate(torch.cat([self.uv, self.depth[:, None]], 1), r, self.faces)
        return r.tri_id, a[..., :2], a[..., 2]

    def rasterize_vertices(self, verts: torch.Tensor) -> dict:
        """Posed vertices (B,V,3) camera frame -> window-sized maps: dict(tri (B,h,w) long (-1 none), src
        (B,h,w,2) whole-view position (px) of each pixel's surface point at rest, cover (B,h,w) bool (any
        part), face (B,h,w) bool (warped parts: skin and eyes), skin (B,h,w) bool (the face skin), interior
        (B,h,w) bool (mouth interior), depth (B,h,w) metres behind the inner lips at rest (interpolated from
        the vertices' rest depths), held (B,h,w,2) whole-view px where the rest view showed the point of the
        *rigid* head (the still's expression) that each pixel shows, held_ok (B,h,w) bool where that is
        known: here the vertices are taken as rigidly posed (``held = src``); :meth:`rasterize` sets both
        from the frames' head poses)."""
        tri, src, depth = self._tri_src(verts)
        cover = tri >= 0
        t = tri.clamp_min(0)
        interior = cover & self.is_interior[t]
        return dict(tri=tri, src=src, cover=cover, face=cover & ~interior, interior=interior, depth=depth,
                    skin=cover & self.is_face[t], held=src, held_ok=cover)

    def rasterize(self, inputs: dict) -> dict:
        """Model inputs of B frames -> :meth:`rasterize_vertices` of the posed mesh, with ``held`` /
        ``held_ok`` from the still's mesh moved rigidly by each frame's head pose (rasterised as well)."""
        with torch.no_grad():
            verts = self.model(**inputs).vertices
        r = self.rasterize_vertices(verts)
        R = _matrix(inputs["rotation"]).to(self.dev)
        t = torch.as_tensor(inputs["translation"], dtype=torch.float32, device=self.dev).reshape(-1, 3)
        m = (self.rest_vertices - self.rest_t) @ self.rest_R               # model frame (rows: R0^T (v - t0))
        tri, held, _ = self._tri_src(m[None] @ R.transpose(1, 2) + t[:, None])
        r["held"], r["held_ok"] = held, tri >= 0
        return r

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

    def shade(self, r: dict) -> torch.Tensor:
        """(B,h,w,1) share of the light that reaches each pixel's surface point in the mouth:
        exp(-depth / :data:`CAVITY_DEPTH_M`) (1 at the lips and in front of them)."""
        return torch.exp(-r["depth"] / CAVITY_DEPTH_M)[..., None]

    def interior(self, r: dict) -> torch.Tensor:
        """(B,h,w,3) colours of the mouth-interior triangles (:data:`INTERIOR_COLOURS` shaded by depth,
        :meth:`shade`; zeros elsewhere)."""
        return self.tri_colour[r["tri"].clamp_min(0)] * self.shade(r) * r["interior"][..., None]

    def mouth(self, carried: torch.Tensor, image: torch.Tensor, r: dict,
              cavity: torch.Tensor | None = None) -> torch.Tensor:
        """The head's colours of B frames with the mouth handled (B,h,w,3), zeros where no triangle covers.

        carried (B,h,w,3): the head's colours of every covered pixel as if every surface point kept the colour
        the still showed there at rest (the still carried by the mesh, or an avatar plus the carried
        residual); image (H,W,3): the still in the whole output view; cavity (B,h,w,3): the colour of the open
        mouth (default: :data:`INTERIOR_COLOURS`, the socket's on skin triangles, darker the deeper the point
        lies behind the lips, :meth:`shade`).

        A surface point the still showed inside the mouth gap (``self.gap`` at its rest position), and an
        interior triangle the rest view did not show, are the mouth, not a surface that carries a colour: a
        mouth pixel shows the still's gap content held to the skull (``r["held"]``: where the same point of
        the rigid head was at rest) where that point lies inside the gap, and the cavity where the gap has
        opened beyond it. Every other pixel (skin, lips, and interior triangles the still showed outside the
        gap) is ``carried``. At rest every pixel is ``carried``.
        """
        q = r["held"]                                                 # rest view px of the rigid head point
        cover = r["cover"][..., None].float()
        gap = self.held_gap(image)[..., None]
        g_src = self.sample(gap, r)                                    # (B,h,w,1) the point showed the gap
        g_q = _sample_at(gap, q, self.W, self.H) * r["held_ok"][..., None]  # the rigid point is in the gap
        still_q = _sample_at(image, q, self.W, self.H)
        rest_inner = torch.zeros(self.H, self.W, 1, device=self.dev)
        self.crop(rest_inner)[...] = self.rest["interior"][0][..., None].float()
        hidden = r["interior"][..., None].float() * (1 - self.sample(rest_inner, r))
        cav = self.tri_cavity[r["tri"].clamp_min(0)] * self.shade(r) * cover if cavity is None else cavity
        mouth = g_src + (1 - g_src) * hidden                          # the pixel shows the mouth, not a lip
        held = torch.minimum(mouth, g_q)
        # the gap below the held teeth moves with the jaw showing the still's own pixels (a one-shot
        # avatar's interior took the teeth, so its own render there would show teeth sliding down)
        band = (self.sample(self.gap[..., None], r) - g_src).clamp_min(0)
        carried = carried + band * (self.sample(image, r) - carried)
        out = (1 - mouth) * carried + held * still_q + (mouth - held) * cav
        return out * cover


    def held_gap(self, image: torch.Tensor) -> torch.Tensor:
        """(H,W) float: the part of the still's mouth gap that stays with the skull - the gap down to the
        lower edge of the teeth it shows (:func:`teeth_held`); the whole gap when it shows no teeth.
        image (H,W,3) float [0,1]: the still in the whole output view (cached per image)."""
        key = (image.data_ptr(), tuple(image.shape))
        if getattr(self, "_held_key", None) != key:
            held = teeth_held(self.gap.cpu().numpy(), image.detach().cpu().numpy(), self.photo_px)
            self._held_gap, self._held_key = torch.as_tensor(held, device=self.dev), key
        return self._held_gap


def _sample_at(image: torch.Tensor, xy: torch.Tensor, W: int, H: int) -> torch.Tensor:
    """image (H,W,C) float sampled (bilinear, zeros outside) at whole-view px ``xy`` (B,h,w,2) -> (B,h,w,C)."""
    g = xy.clone()
    g[..., 0] = xy[..., 0] / max(W - 1, 1) * 2 - 1
    g[..., 1] = xy[..., 1] / max(H - 1, 1) * 2 - 1
    img = image.permute(2, 0, 1)[None].expand(xy.shape[0], -1, -1, -1)
    return F.grid_sample(img, g, mode="bilinear", padding_mode="zeros", align_corners=True).permute(0, 2, 3, 1)


#: the mouth gap reaches this far (output px) beyond the fitted inner-lip contour (its edge pixels mix lip
#: and teeth)
GAP_GROW_PX = 1.0
#: MediaPipe-468 inner-lip contour (closed polygon)
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)


#: the lips' colour: the ring this many output px wide around the gap
HELD_RING_PX = 3
#: teeth: the gap's 90th-percentile luma is lighter than the lips around it by at least this (0-1) ...
TEETH_MIN_CONTRAST = 0.08
#: ... and a pixel is teeth where it is above this share of the way from the lips' luma to that
TEETH_LEVEL = 0.5


def teeth_held(gap: np.ndarray, image: np.ndarray, band_px: float = 1.0, ring_px: int = HELD_RING_PX) -> np.ndarray:
    """The part of the mouth gap that the skull holds: (H,W) float in [0,1].

    gap (H,W) float: the fitted inner-lip contour's coverage; image (H,W,3) float [0,1]: the still (px);
    band_px: how far (px) the contour's lower edge may lie inside the lower lip - about one photo pixel, so
    the view's enlargement. The fitted contour is good to about a photo pixel: on a small, enlarged photo its
    lower edge takes in a band of the lower lip (codait_bryan, 115 px: ~5 of the gap's 14 rows at 512),
    and held to the skull with the teeth that band stays while the real lip moves down, so the opening shows
    as a dark line inside the lip. Here the lowest ``band_px`` rows of every column of the gap, where they
    lie below the teeth, move with the jaw (the mesh carries them like the lips); the rest is held. Teeth
    pixels: luma above :data:`TEETH_LEVEL` of the way from the lips' median luma (a ``ring_px`` ring around
    the gap) to the gap's 90th percentile. Columns without teeth (the mouth's corners) are held whole, and
    so is the whole gap when it shows nothing lighter than the lips by :data:`TEETH_MIN_CONTRAST` (a closed
    mouth, a dark opening).
    """
    import cv2

    g = np.asarray(gap, np.float32)
    inside = g > 0.5
    if int(inside.sum()) < 4:
        return g
    luma = np.asarray(image, np.float32)[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    k = 2 * int(ring_px) + 1
    ring = (cv2.dilate((g > 0).astype(np.uint8), np.ones((k, k), np.uint8)) > 0) & ~(g > 0)
    if int(ring.sum()) < 4:
        return g
    lip = float(np.median(luma[ring]))
    top = float(np.percentile(luma[inside], 90))
    if top - lip < TEETH_MIN_CONTRAST:
        return g
    teeth = inside & (luma > lip + TEETH_LEVEL * (top - lip))
    H, W = g.shape
    rows = np.arange(H, dtype=np.float32)[:, None]
    low = np.where(teeth, rows, -1.0).max(0)                            # (W,) lowest teeth row, -1: none
    last = np.where(inside, rows, -1.0).max(0)                          # the gap's lowest row
    cut = np.maximum(low + 1.0, last + 1.0 - float(band_px))            # rows above ``cut`` are held
    cut[low < 0] = H + 1.0                                              # no teeth in the column: all held
    return (g * np.clip(cut[None, :] - rows, 0.0, 1.0)).astype(np.float32)


def polygon_mask(points: np.ndarray, size, grow: float = 0.0, supersample: int = 4) -> np.ndarray:
    """(H,W) float32 coverage in [0,1] of the polygon ``points`` (N,2) px (pixel centres at integers) grown by
    ``grow`` px, anti-aliased by ``supersample`` x ``supersample`` sub-pixels; zeros for a degenerate
    polygon."""
    import cv2

    W, H = int(size[0]), int(size[1])
    s = int(supersample)
    p = np.asarray(points, np.float64)
    if len(p) < 3 or not np.isfinite(p).all():
        return np.zeros((H, W), np.float32)
    big = np.zeros((H * s, W * s), np.uint8)
    cv2.fillPoly(big, [np.round((p * s + (s - 1) / 2) * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    g = int(round(grow * s))
    if g > 0:
        big = cv2.dilate(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1, 2 * g + 1)))
    return cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _matrix(rotation) -> torch.Tensor:
    """(B,3,3) rotation matrices from (B,3,3) matrices or (B,3) axis-angle vectors."""
    R = torch.as_tensor(rotation, dtype=torch.float32)
    if R.shape[-2:] == (3, 3):
        return R.reshape(-1, 3, 3)
    from headgen.geometry.rotations import axis_angle_to_matrix
    return axis_angle_to_matrix(R.reshape(-1, 3))


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
