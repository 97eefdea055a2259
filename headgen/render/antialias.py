"""Analytic silhouette anti-aliasing, differentiable w.r.t. vertex positions (in the spirit of
nvdiffrast's ``antialias``, simplified).

For every pair of 4-neighbour pixels (p, q) where p is covered by triangle T and q is not covered
by T while T is in front (q is background or farther), T's silhouette crosses the segment from
p's centre (0) to q's centre (1) at t = e_p / (e_p - e_q), e = the edge function of the
silhouette edge of T that q lies outside of (silhouette edges: mesh boundaries and edges between
a front- and a back-facing triangle, found from the topology; pairs separated only by interior
edges are left alone). Treating pixels as unit boxes along that segment, the coverage that
leaks across is blended in: when t < 1/2, p is only partly covered and gets
(1/2 - t) * (c_q - c_p); when t > 1/2, q is partly covered and gets (t - 1/2) * (c_p - c_q).
The blend weights depend on the vertices through t, so silhouettes receive gradients that a
plain rasteriser does not give. Deltas from the (up to four) neighbours are summed.
Limitation: a background pixel whose covered neighbour belongs to a triangle that does not own
the nearby silhouette edge (next to mesh corners) is left unblended.
"""
from __future__ import annotations

import torch
from torch import Tensor

from headgen.render.raster import Raster


def _edges_at(tv: Tensor, px: Tensor, py: Tensor) -> Tensor:
    """Edge functions (N, 3) of triangles tv (N, 3, 3 screen) at points (N,), oriented so that
    the inside is >= 0; edge k is opposite vertex k."""
    x0, y0, x1, y1, x2, y2 = (tv[:, 0, 0], tv[:, 0, 1], tv[:, 1, 0], tv[:, 1, 1], tv[:, 2, 0], tv[:, 2, 1])
    area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
    sgn = torch.where(area < 0, -torch.ones_like(area), torch.ones_like(area))
    e0 = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
    e1 = (x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)
    e2 = (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
    return torch.stack([e0, e1, e2], -1) * sgn.unsqueeze(-1)


_TOPOLOGY_CACHE: dict = {}


def _edge_partners(faces: Tensor, V: int) -> tuple[Tensor, Tensor]:
    """For each edge instance (face f, edge k) -> flat index 3f+k of the other face's instance of
    the same edge (-1 on boundaries) and the number of faces sharing it. Cached by the faces' content."""
    import hashlib

    digest = hashlib.blake2b(faces.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()
    key = (digest, tuple(faces.shape), str(faces.device), V)
    hit = _TOPOLOGY_CACHE.get(key)
    if hit is not None:
        return hit
    F = faces.shape[0]
    dev = faces.device
    a = faces[:, [1, 2, 0]]
    b = faces[:, [2, 0, 1]]
    ek = (torch.minimum(a, b) * V + torch.maximum(a, b)).reshape(-1)  # (3F,)
    order = torch.argsort(ek)
    ks = ek[order]
    i = torch.nonzero(ks[1:] == ks[:-1]).squeeze(1)
    partner = torch.full((3 * F,), -1, dtype=torch.long, device=dev)
    partner[order[i]] = order[i + 1]
    partner[order[i + 1]] = order[i]
    count = torch.ones(3 * F, dtype=torch.long, device=dev)
    count[order[i]] += 1
    count[order[i + 1]] += 1  # >= 3 for non-manifold chains
    if len(_TOPOLOGY_CACHE) > 8:
        _TOPOLOGY_CACHE.clear()
    _TOPOLOGY_CACHE[key] = (partner, count)
    return partner, count


def silhouette_edges(verts_screen: Tensor, faces: Tensor) -> Tensor:
    """(B, F, 3) bool: edge k (opposite vertex k) of each face is a silhouette candidate in screen
    space: a mesh boundary (one face), non-manifold (more than two faces), or shared by two
    faces of opposite screen-space winding (one front-, one back-facing)."""
    B, V, _ = verts_screen.shape
    partner, count = _edge_partners(faces, V)
    tv = verts_screen[:, faces]  # (B,F,3,3)
    area = ((tv[..., 1, 0] - tv[..., 0, 0]) * (tv[..., 2, 1] - tv[..., 0, 1])
            - (tv[..., 1, 1] - tv[..., 0, 1]) * (tv[..., 2, 0] - tv[..., 0, 0]))
    front = (area > 0).repeat_interleave(3, dim=1)  # (B,3F) per edge instance
    other = front[:, partner.clamp_min(0)]
    sil = (partner < 0) | (count > 2)
    return (sil.unsqueeze(0) | (front != other)).view(B, faces.shape[0], 3)


def antialias(color: Tensor, raster: Raster, verts_screen: Tensor, faces: Tensor,
              depth_eps: float = 1e-3) -> Tensor:
    """Anti-alias silhouette edges of a rendered image.

    color (B, H, W, C): the shaded image with the background already composited; raster: its
    Raster; verts_screen (B, V, 3) (x_px, y_px, z) as rasterised (see ``project_to_screen``);
    faces (F, 3). depth_eps: relative depth gap below which two different triangles meeting at
    neighbouring pixels count as one continuous surface (no silhouette between them).
    -> (B, H, W, C), differentiable w.r.t. color and verts_screen.
    """
    B, H, W, C = color.shape
    V = verts_screen.shape[1]
    faces = torch.as_tensor(faces, device=color.device).long()
    tri = raster.tri_id
    depth = raster.depth.detach()
    flat = color.reshape(B * H * W, C)
    vflat = verts_screen.reshape(B * V, 3)
    F = faces.shape[0]
    # Candidate pairs from shifted views (no full-image gathers): right and down neighbours, both ways.
    ps, qs = [], []
    for dy, dx in ((0, 1), (1, 0)):
        ta, tb = tri[:, : H - dy, : W - dx], tri[:, dy:, dx:]
        da, db = depth[:, : H - dy, : W - dx], depth[:, dy:, dx:]
        diff = ta != tb
        a_front = diff & (ta >= 0) & ((tb < 0) | (da < db * (1.0 - depth_eps)))  # p = a, q = b
        b_front = diff & (tb >= 0) & ((ta < 0) | (db < da * (1.0 - depth_eps)))  # p = b, q = a
        for m, a_is_p in ((a_front, True), (b_front, False)):
            bb, yy, xx = torch.nonzero(m, as_tuple=True)
            ia = (bb * H + yy) * W + xx
            ib = (bb * H + yy + dy) * W + xx + dx
            ps.append(ia if a_is_p else ib)
            qs.append(ib if a_is_p else ia)
    p, q = torch.cat(ps), torch.cat(qs)
    if p.numel() == 0:
        return color
    tri_f = tri.reshape(-1)
    sil = silhouette_edges(verts_screen.detach(), faces).reshape(-1, 3)  # (B*F,3)
    bidx = p // (H * W)
    tp = tri_f[p]
    tv = vflat[faces[tp] + (bidx * V).unsqueeze(1)]  # (N,3,3)
    rp, rq = p % (H * W), q % (H * W)
    ep = _edges_at(tv, (rp % W).to(color.dtype), (rp // W).to(color.dtype))
    eq = _edges_at(tv, (rq % W).to(color.dtype), (rq // W).to(color.dtype))
    # the silhouette edge of T that q lies furthest outside of (interior edges never count)
    cand = sil[bidx * F + tp] & (eq < 0)
    k = torch.where(cand, eq, torch.full_like(eq, float("inf"))).argmin(-1, keepdim=True)
    e_p = ep.gather(-1, k).squeeze(-1)
    e_q = eq.gather(-1, k).squeeze(-1)
    ok = cand.any(-1) & (e_q < 0) & (e_p >= 0)
    t = (e_p / torch.where(ok, e_p - e_q, torch.ones_like(e_q))).clamp(0, 1)
    t = torch.where(ok, t, torch.full_like(t, 0.5))
    cp, cq = flat[p], flat[q]
    z = torch.zeros_like(t)
    w_p = torch.where(t < 0.5, 0.5 - t, z).unsqueeze(-1)  # one-sided at t = 1/2: no double gradient
    w_q = torch.where(t >= 0.5, t - 0.5, z).unsqueeze(-1)
    delta = torch.zeros_like(flat).index_add(0, torch.cat([p, q]),
                                             torch.cat([w_p * (cq - cp), w_q * (cp - cq)]))
    return (flat + delta).view(B, H, W, C)
