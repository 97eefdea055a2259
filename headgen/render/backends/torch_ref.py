"""Pure-torch reference rasteriser (vectorised; memory grows with the summed triangle bounding
boxes, so meant for small images and tests). Same coverage/depth/tie rules and float32 formulas
as the C++ core in cuda_ext/include/raster_common.h."""
from __future__ import annotations

import torch


def _edge(ax, ay, bx, by, px, py):
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def raster(verts_screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, znear: float,
           chunk: int = 1 << 22):
    """Backend function (see headgen.render.backends)."""
    from headgen.render.barycentric import barycentrics_from_ids

    vs = verts_screen.float()
    B, V, _ = vs.shape
    H, W = int(height), int(width)
    dev = vs.device
    faces = faces.long().to(dev)
    F = faces.shape[0]
    tv = vs[:, faces]  # (B,F,3,3)
    x0, y0, z0 = tv[..., 0, 0], tv[..., 0, 1], tv[..., 0, 2]
    x1, y1, z1 = tv[..., 1, 0], tv[..., 1, 1], tv[..., 1, 2]
    x2, y2, z2 = tv[..., 2, 0], tv[..., 2, 1], tv[..., 2, 2]
    area = _edge(x0, y0, x1, y1, x2, y2)
    mnx = torch.minimum(x0, torch.minimum(x1, x2)); mxx = torch.maximum(x0, torch.maximum(x1, x2))
    mny = torch.minimum(y0, torch.minimum(y1, y2)); mxy = torch.maximum(y0, torch.maximum(y1, y2))
    ok = (z0 > znear) & (z1 > znear) & (z2 > znear) & (area.abs() > 1e-12)
    ok &= (mxx >= 0) & (mxy >= 0) & (mnx <= W - 1) & (mny <= H - 1)
    xmin = torch.ceil(mnx.clamp_min(0)); xmax = torch.floor(mxx.clamp_max(W - 1))
    ymin = torch.ceil(mny.clamp_min(0)); ymax = torch.floor(mxy.clamp_max(H - 1))
    nx = (xmax - xmin + 1).clamp_min(0).long(); ny = (ymax - ymin + 1).clamp_min(0).long()
    count = torch.where(ok, nx * ny, torch.zeros_like(nx)).reshape(-1)  # (B*F,)
    inv_area = 1.0 / torch.where(ok, area, torch.ones_like(area))
    zbuf = torch.zeros((B * H * W,), device=dev)  # s = 1 / depth, 0 = empty (as in the C++ core)
    idbuf = torch.full((B * H * W,), torch.iinfo(torch.int64).max, device=dev, dtype=torch.long)
    flat = lambda a: a.reshape(-1)  # noqa: E731
    X0, Y0, X1, Y1, X2, Y2 = map(flat, (x0, y0, x1, y1, x2, y2))
    IZ0, IZ1, IZ2 = 1.0 / flat(z0), 1.0 / flat(z1), 1.0 / flat(z2)
    IA, XMIN, YMIN, NX = flat(inv_area), flat(xmin).long(), flat(ymin).long(), nx.reshape(-1)
    tri_all = torch.arange(B * F, device=dev).repeat_interleave(count)
    offs = torch.cumsum(count, 0) - count
    cands = []
    for start in range(0, tri_all.numel(), chunk):  # bounded memory
        t = tri_all[start:start + chunk]
        local = torch.arange(start, start + t.numel(), device=dev) - offs[t]
        px = (XMIN[t] + local % NX[t]).float(); py = (YMIN[t] + local // NX[t]).float()
        s0 = _edge(X1[t], Y1[t], X2[t], Y2[t], px, py) * IA[t]
        s1 = _edge(X2[t], Y2[t], X0[t], Y0[t], px, py) * IA[t]
        s2 = _edge(X0[t], Y0[t], X1[t], Y1[t], px, py) * IA[t]
        inside = (s0 >= 0) & (s1 >= 0) & (s2 >= 0)
        s = s0 * IZ0[t] + s1 * IZ1[t] + s2 * IZ2[t]
        t, s = t[inside], s[inside]
        key = (t // F) * (H * W) + py[inside].long() * W + px[inside].long()
        zbuf.scatter_reduce_(0, key, s, "amax")
        cands.append((key, s, t % F))
    for key, s, tid in cands:
        win = s == zbuf[key]
        idbuf.scatter_reduce_(0, key[win], tid[win], "amin")
    tri_id = torch.where(idbuf == torch.iinfo(torch.int64).max, torch.full_like(idbuf, -1), idbuf)
    tri_id = tri_id.reshape(B, H, W)
    bary, _ = barycentrics_from_ids(vs, faces, tri_id)
    depth = torch.where(tri_id.reshape(-1) >= 0, 1.0 / zbuf, torch.zeros_like(zbuf)).reshape(B, H, W)
    return tri_id, depth, bary
