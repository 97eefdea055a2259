"""Seed colours of an avatar's triangles from one photo: what the photo sees, then the mirror image of what
it sees (faces are nearly symmetric), defaults for the mouth interior and the eyes, then neighbour diffusion
and the median skin colour for what is still unknown."""
from __future__ import annotations

import numpy as np
import torch

#: colours (RGB [0,1]) of the model's inner parts where the photo does not show them
PART_DEFAULTS = {
    "teeth": (0.86, 0.82, 0.74),
    "gums_and_tongue": (0.62, 0.28, 0.28),
    "mouth_socket": (0.22, 0.07, 0.07),     # dark cavity
    "eyeball_left": (0.85, 0.82, 0.78),
    "eyeball_right": (0.85, 0.82, 0.78),
    "iris_left": (0.20, 0.14, 0.10),
    "iris_right": (0.20, 0.14, 0.10),
}


def triangle_parts(model) -> np.ndarray:
    """(F,) object array: the component (ICT part, or "iris_*") each triangle belongs to ("" unknown)."""
    faces = model.faces.cpu().numpy()
    comp = np.full(model.num_vertices, "", dtype=object)
    names = list(getattr(model, "components", [])) + ["iris_left", "iris_right"]
    for c in names:
        if c in model.regions:
            comp[model.regions[c].cpu().numpy()] = c
    return comp[faces[:, 0]]


def mirror_triangles(model) -> np.ndarray:
    """(F,) id of the triangle nearest to each triangle's mirror image (x -> -x) on the neutral mesh."""
    from scipy.spatial import cKDTree

    with torch.no_grad():
        v = model.neutral().vertices[0].cpu().numpy()
    c = v[model.faces.cpu().numpy()].mean(1)
    m = c * np.array([-1.0, 1.0, 1.0])
    return cKDTree(c).query(m)[1]


#: the mouth's cavity (socket, gums and tongue): a photo's lip gap shows teeth or shadow, but the fitted mesh often
#: puts its tongue and socket there (a smile fitted as an opened jaw); seeded from the photo, the tongue would carry
#: the teeth down when the jaw opens. One-shot avatars keep their default colours (and do not train them).
MOUTH_CAVITY_PARTS = ("mouth_socket", "gums_and_tongue")

#: the parts of each eye: the eyeball surface (its front, the cornea, is what a photo sees) and the iris behind it
EYE_GROUPS = (("eyeball_left", "iris_left"), ("eyeball_right", "iris_right"))


def _fill_eyes(model, parts: np.ndarray, col: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Colour the hidden triangles of each eye (in place in ``col`` (F,3)) with the colour of the nearest
    (neutral-mesh centroid distance) triangle of the same eye that the photo shows -> (F,) bool: filled.

    ICT's eyeball is an opaque surface whose front (the cornea) the rasteriser sees, with the iris mesh behind
    it; the sclera under the lids is hidden. Default colours there (white sclera, dark iris) bleed through the
    semi-transparent lid and cornea Gaussians of the splat render (a pale or dark blob in the eye); the nearest
    seen colour of the same eye is what a slightly turned eye or a Gaussian's tail should show."""
    from scipy.spatial import cKDTree

    filled = torch.zeros(len(parts), dtype=torch.bool)
    with torch.no_grad():
        v = model.neutral().vertices[0].cpu().numpy()
    cen = v[model.faces.cpu().numpy()].mean(1)
    seen_np = seen.cpu().numpy()
    for group in EYE_GROUPS:
        in_eye = np.isin(parts, group)
        src = np.nonzero(in_eye & seen_np)[0]
        dst = np.nonzero(in_eye & ~seen_np)[0]
        if len(src) == 0 or len(dst) == 0:
            continue
        near = src[cKDTree(cen[src]).query(cen[dst])[1]]
        col[torch.as_tensor(dst)] = col[torch.as_tensor(near)]
        filled[torch.as_tensor(dst)] = True
    return filled


def seed_triangle_colors(model, verts_cam: torch.Tensor, image: np.ndarray, K: torch.Tensor,
                         diffuse_iters: int = 30, min_facing: float | None = None,
                         eye_fill: bool = True, keep_defaults: tuple = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-triangle colours from one view: verts_cam (V,3) camera frame, image (H,W,3) uint8, K (3,3)
    -> (colors (F,3) float [0,1], seen (F,) bool: triangles the photo shows). min_facing: triangles seen
    more obliquely than this cosine (normal vs direction to the camera) count as unseen (their pixels mix
    the silhouette with what lies behind it). eye_fill: hidden triangles of an eye (the sclera under the
    lids, the iris behind the cornea) take the colour of the nearest triangle of that eye the photo shows
    (see :func:`_fill_eyes`), not the default sclera / iris colours. keep_defaults: parts that take their
    :data:`PART_DEFAULTS` colour even where the photo sees them (one-shot: :data:`MOUTH_CAVITY_PARTS`)."""
    from headgen.render.raster import rasterize

    H, W = image.shape[:2]
    faces = model.faces.long().cpu()
    F = faces.shape[0]
    with torch.no_grad():
        r = rasterize(verts_cam[None].float().cpu(), faces, K.float().cpu(), H, W)
    tid = r.tri_id[0].reshape(-1)
    img = torch.as_tensor(image, dtype=torch.float32).reshape(-1, 3) / 255.0
    sel = tid >= 0
    s = torch.zeros(F, 3).index_add_(0, tid[sel], img[sel])
    n = torch.zeros(F).index_add_(0, tid[sel], torch.ones(int(sel.sum())))
    col = s / n.clamp_min(1)[:, None]
    seen = n > 0
    if min_facing is not None:
        from headgen.render.shading import face_normals

        v = verts_cam.float().cpu()
        fn = face_normals(v, faces)
        to_cam = -torch.nn.functional.normalize(v[faces].mean(1), dim=-1)
        seen &= (fn * to_cam).sum(-1) > min_facing
    known = seen.clone()
    parts = triangle_parts(model)
    if eye_fill:
        known |= _fill_eyes(model, parts, col, seen)
    for p, rgb in PART_DEFAULTS.items():
        m = torch.as_tensor(parts == p) & (~known | torch.as_tensor(p in keep_defaults))
        col[m] = torch.tensor(rgb)
        known |= m
    mir = torch.as_tensor(mirror_triangles(model))
    use = ~known & known[mir]
    col[use] = col[mir[use]]
    known |= use
    # diffusion over shared vertices for the remaining (e.g. the back of the head)
    V = model.num_vertices
    fl = faces.reshape(-1)
    for _ in range(diffuse_iters):
        if bool(known.all()):
            break
        kf = known.float().repeat_interleave(3)
        vs = torch.zeros(V, 3).index_add_(0, fl, col.repeat_interleave(3, 0) * kf[:, None])
        vn = torch.zeros(V).index_add_(0, fl, kf)
        vk = vn > 0
        vc = vs / vn.clamp_min(1)[:, None]
        fk = vk[faces].float()
        cnt = fk.sum(1)
        new = ~known & (cnt > 0)
        col[new] = (vc[faces] * fk[..., None]).sum(1)[new] / cnt[new][:, None]
        known |= new
    skin = torch.as_tensor(parts == "face") & seen
    if not bool(skin.any()):   # a model without named parts (FLAME): every seen triangle
        skin = seen
    fallback = col[skin].median(0).values if bool(skin.any()) else torch.tensor([0.7, 0.55, 0.45])
    col[~known] = fallback
    return col.clamp(0, 1), seen
