"""One-shot avatars: the person just outside the head mesh (hair beyond the skull's outline, strands beside the jaw,
ears, the cheek and jaw outline where the fitted mesh is a little narrower than the face), rigged to the head.

The head mesh of a one-shot avatar covers only what the model models; the rest of the person stays in the static
background and so stays put while the driven head moves. Here every pixel of the training frame that MediaPipe's
selfie segmentation calls the person, that lies outside the mesh's silhouette but within ``reach_px`` of it, and
above the chin (the neck, shoulders and torso do not rotate with the head) gets one Gaussian: on the camera ray
through the pixel at the depth of the nearest silhouette point (plus ``depth_offset`` behind it), bound
GaussianAvatars-style to the silhouette triangle there (a triangle of the skin: ``face`` / ``head_and_neck``), with
the pixel's colour. The same pixels (dilated) are then inpainted in the static background, so the moved head does
not leave a copy of them behind. Off by default (``headgen.stages.avatar.run.ONE_SHOT_FRINGE``): on the validation
frames it did not raise the face box (bench/results/avatar_oneshot_validation.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: parts whose silhouette triangles may carry fringe Gaussians (the skin of the skull and face)
FRINGE_PARTS = ("face", "head_and_neck")


@dataclass
class Fringe:
    """Seeds of the fringe of one frame: binding (N,) triangle ids, offsets (N,3) local means, log_scales (N,3),
    colors (N,3) RGB [0,1], opacity (N,) in (0,1); pixels (N,2) int (x, y) of the frame; mask (H,W) bool: the
    seeded pixels."""
    binding: torch.Tensor
    offsets: torch.Tensor
    log_scales: torch.Tensor
    colors: torch.Tensor
    opacity: torch.Tensor
    pixels: np.ndarray
    mask: np.ndarray

    @property
    def n(self) -> int:
        return int(self.binding.shape[0])


def chin_point(model, verts: torch.Tensor) -> torch.Tensor | None:
    """The chin (iBUG-68 point 8) on the posed mesh verts (V,3) -> (3,) in the same frame (None without landmarks)."""
    faces = getattr(model, "lmk_ibug68_faces", None)
    bary = getattr(model, "lmk_ibug68_bary", None)
    if faces is None or bary is None:
        return None
    tri = model.faces[faces[8]].long().to(verts.device)
    return (verts[tri] * bary[8].to(verts)[:, None]).sum(0)


def fringe_seeds(model, verts_cam: torch.Tensor, rotation: torch.Tensor, image: np.ndarray, person: np.ndarray,
                 K: torch.Tensor, reach: float = 0.1, depth_offset: float = 0.0, threshold: float = 0.5,
                 scale: float = 0.7, opacity: float = 0.95, chin_margin: float = 0.0, chin_test: str = "head",
                 max_pixels_across: int = 200) -> Fringe:
    """Fringe Gaussians of one frame (see the module docstring).

    verts_cam (V,3) metres: the posed mesh in the OpenCV camera frame; rotation (3,3): the head's rotation (model
    -> camera; its second column is the head's up axis); image (H,W,3) uint8; person (H,W) float foreground
    probability; K (3,3). reach: how far outside the silhouette, as a fraction of the head's size (the square
    root of the silhouette's area in px); depth_offset (m): how far behind the nearest silhouette point;
    threshold: person probability; scale: isotropic std-dev of each Gaussian in units of the seed spacing, at its
    depth; chin_test, chin_margin: what lies below the chin is left out (the neck, the torso): "head": seeds whose 3D
    point lies below the chin along the head's up axis, raised by chin_margin x the mesh's height; "image": pixels
    below the image line through the projected chin across the head's projected up axis, raised by chin_margin x
    the head's size (on lbbc2a's hair strands between the jaw's corner and the chin, which "image" keeps and "head"
    mostly leaves out, "image" scored lower on frames 5-30: hanging hair does not turn rigidly with the head);
    max_pixels_across: seeds lie on a grid of ``step`` px, step = ceil(head size / this) (one per pixel for heads up
    to that size). -> :class:`Fringe` (tensors on the device of verts_cam; N may be 0; ``mask``
    marks the seeds' pixels, each step x step cell)."""
    from scipy import ndimage

    from headgen.avatar.binding import to_local, triangle_frames
    from headgen.render.raster import rasterize
    from headgen.stages.avatar.colors import triangle_parts

    dev = verts_cam.device
    H, W = image.shape[:2]
    faces = model.faces.long().to(dev)
    with torch.no_grad():
        r = rasterize(verts_cam[None].float(), faces, K.float(), H, W)
    tid = r.tri_id[0].cpu().numpy()
    depth = r.depth[0].cpu().numpy()
    sil = tid >= 0
    skin = np.isin(triangle_parts(model), list(FRINGE_PARTS))
    # silhouette pixels of the skin with a pixel outside the silhouette among their 4 neighbours
    inner = ndimage.binary_erosion(sil, structure=ndimage.generate_binary_structure(2, 1), border_value=0)
    edge = sil & ~inner
    edge &= np.where(sil, skin[np.clip(tid, 0, None)], False)
    empty = Fringe(torch.zeros(0, dtype=torch.long, device=dev), torch.zeros(0, 3, device=dev),
                   torch.zeros(0, 3, device=dev), torch.zeros(0, 3, device=dev), torch.zeros(0, device=dev),
                   np.zeros((0, 2), np.int64), np.zeros((H, W), bool))
    if not edge.any() or reach <= 0:
        return empty
    size = float(np.sqrt(sil.sum()))
    step = max(1, int(np.ceil(size / max_pixels_across)))
    dist, (iy, ix) = ndimage.distance_transform_edt(~edge, return_indices=True)
    cand = (np.asarray(person) > threshold) & ~sil & (dist <= reach * size)
    grid = np.zeros_like(cand)
    grid[step // 2::step, step // 2::step] = True
    ys, xs = np.nonzero(cand & grid)
    if len(ys) == 0:
        return empty
    by, bx = iy[ys, xs], ix[ys, xs]
    tri = torch.as_tensor(tid[by, bx], dtype=torch.long, device=dev)
    z = torch.as_tensor(depth[by, bx] + depth_offset, dtype=torch.float32, device=dev)
    Kf = K.float().to(dev)
    u = torch.as_tensor(xs + 0.5, dtype=torch.float32, device=dev)
    v = torch.as_tensor(ys + 0.5, dtype=torch.float32, device=dev)
    pts = torch.stack([(u - Kf[0, 2]) / Kf[0, 0] * z, (v - Kf[1, 2]) / Kf[1, 1] * z, z], -1)
    keep = torch.ones(len(ys), dtype=torch.bool, device=dev)
    chin = chin_point(model, verts_cam.float())
    if chin is not None:
        up = rotation.float().to(dev)[:, 1]
        if chin_test == "image":   # the side of the image line through the chin across the head's projected up axis
            from headgen.geometry.camera import project_points
            c2 = project_points(torch.stack([chin, chin + 0.01 * up]), Kf)
            up2 = torch.nn.functional.normalize(c2[1] - c2[0], dim=0)
            keep &= ((torch.stack([u, v], -1) - c2[0]) @ up2) >= chin_margin * size
        else:                      # the seed's 3D point against the chin along the head's up axis
            keep &= ((pts - chin) @ up) >= chin_margin * float((verts_cam.amax(0) - verts_cam.amin(0))[1])
    if not bool(keep.any()):
        return empty
    pts, tri, z = pts[keep], tri[keep], z[keep]
    kn = keep.cpu().numpy()
    ys, xs = ys[kn], xs[kn]
    cen, R, k = triangle_frames(verts_cam.float(), faces[tri])
    offsets = to_local(pts, cen, R, k)
    sigma = scale * step * z / Kf[0, 0]
    log_scales = torch.log((sigma / k.clamp_min(1e-9)).clamp_min(1e-6))[:, None].expand(-1, 3).contiguous()
    colors = torch.as_tensor(image[ys, xs], dtype=torch.float32, device=dev) / 255.0
    mask = np.zeros((H, W), bool)
    for dy in range(step):
        for dx in range(step):
            mask[np.clip(ys - step // 2 + dy, 0, H - 1), np.clip(xs - step // 2 + dx, 0, W - 1)] = True
    return Fringe(binding=tri, offsets=offsets, log_scales=log_scales, colors=colors,
                  opacity=torch.full((len(ys),), float(opacity), device=dev), pixels=np.stack([xs, ys], -1),
                  mask=mask)


def fringe_avatar(base, fringe: Fringe):
    """The avatar ``base`` (:class:`headgen.avatar.Avatar`) with the fringe's Gaussians appended (identity local
    rotations, degree-0 colours; the same SH degree as ``base``)."""
    from headgen.avatar.avatar import concat, rgb_to_sh0

    if fringe.n == 0:
        return base
    dev = base.offsets.device
    N = fringe.n
    rot = torch.zeros(N, 4, device=dev)
    rot[:, 0] = 1
    sh = torch.zeros(N, base.sh.shape[1], 3, device=dev)
    sh[:, 0] = rgb_to_sh0(fringe.colors.to(dev))
    o = fringe.opacity.to(dev).clamp(1e-4, 1 - 1e-4)
    extra = base.subset(torch.zeros(0, dtype=torch.long, device=dev))
    extra.binding, extra.offsets, extra.rotations = fringe.binding.to(dev), fringe.offsets.to(dev), rot
    extra.log_scales, extra.sh, extra.opacity_logits = fringe.log_scales.to(dev), sh, torch.log(o / (1 - o))
    return concat([base, extra])
