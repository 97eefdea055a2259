"""Tile binning and per-tile depth sort in plain torch ops: the readable reference of the extensions' ``bin_tiles``
(runs on any device).

Produces exactly what the CPU and CUDA extensions' ``bin_tiles`` produce: for each (camera, tile) the run of
intersecting Gaussians ordered front to back (ties: lower Gaussian index first).
"""
from __future__ import annotations

import math

import torch


@torch.no_grad()
def bin_tiles(means2d: torch.Tensor, radii: torch.Tensor, depths: torch.Tensor, tile_size: int,
              tiles_w: int, tiles_h: int) -> tuple[torch.Tensor, torch.Tensor]:
    """means2d (C,N,2) px, radii (C,N,2) int, depths (C,N) -> (tile_offsets (C*tiles_h*tiles_w+1,) int32,
    flatten_ids (n_isects,) int32 with values c*N + g). Tile t of camera c owns
    flatten_ids[tile_offsets[c*T + t] : tile_offsets[c*T + t + 1]], T = tiles_w*tiles_h, t = ty*tiles_w + tx."""
    C, N = depths.shape
    dev = means2d.device
    T = tiles_w * tiles_h
    m = means2d.detach().to(torch.float32).reshape(-1, 2)
    r = radii.reshape(-1, 2).to(torch.float32)
    visible = (radii.reshape(-1, 2) > 0).all(-1)
    ts = float(tile_size)
    x0 = torch.floor(m[:, 0] / ts - r[:, 0] / ts).clamp(0, tiles_w).to(torch.int64)
    y0 = torch.floor(m[:, 1] / ts - r[:, 1] / ts).clamp(0, tiles_h).to(torch.int64)
    x1 = torch.ceil(m[:, 0] / ts + r[:, 0] / ts).clamp(0, tiles_w).to(torch.int64)
    y1 = torch.ceil(m[:, 1] / ts + r[:, 1] / ts).clamp(0, tiles_h).to(torch.int64)
    wx = (x1 - x0).clamp_min(0)
    n_per = wx * (y1 - y0).clamp_min(0) * visible
    total = int(n_per.sum().item())
    if total == 0:
        return torch.zeros(C * T + 1, dtype=torch.int32, device=dev), torch.zeros(0, dtype=torch.int32, device=dev)
    gidx = torch.repeat_interleave(torch.arange(C * N, device=dev), n_per)
    first = torch.cumsum(n_per, 0) - n_per
    local = torch.arange(total, device=dev) - torch.repeat_interleave(first, n_per)
    w = wx[gidx]
    tx = x0[gidx] + local % w
    ty = y0[gidx] + local // w
    tile = (gidx // N) * T + ty * tiles_w + tx
    # lexicographic (tile, depth, gaussian index) via two stable sorts
    o1 = torch.sort(depths.detach().reshape(-1).float()[gidx], stable=True).indices  # float32 keys as the C++ binning
    o2 = torch.sort(tile[o1], stable=True).indices
    order = o1[o2]
    ids = gidx[order].to(torch.int32)
    counts = torch.bincount(tile, minlength=C * T)
    offsets = torch.zeros(C * T + 1, dtype=torch.int64, device=dev)
    offsets[1:] = torch.cumsum(counts, 0)
    return offsets.to(torch.int32), ids


def tile_grid(width: int, height: int, tile_size: int) -> tuple[int, int]:
    """Number of tiles (tiles_w, tiles_h) covering a width x height image."""
    return math.ceil(width / tile_size), math.ceil(height / tile_size)
