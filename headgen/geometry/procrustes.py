"""Weighted similarity Procrustes (Umeyama 1991), batched, for numpy arrays and torch tensors alike."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["umeyama"]


def umeyama(src, dst, weights=None, with_scale: bool = True):
    """Find s, R, t minimising sum_i w_i |s R src_i + t - dst_i|^2 (R a proper rotation, det +1).

    src, dst: (..., N, 3) numpy arrays (computed in float64) or torch tensors (computed in src's dtype
    on its device; differentiable); weights: (N,) or (..., N) >= 0 (None = uniform; zero weights leave
    a point out). ``with_scale=False`` fixes s = 1. Returns s (...), R (..., 3, 3), t (..., 3) of the
    same kind as src."""
    if torch.is_tensor(src):
        xp, clamp = torch, (lambda x, lo: x.clamp_min(lo))
        dst = torch.as_tensor(dst, dtype=src.dtype, device=src.device)
        w = torch.ones(src.shape[-2], dtype=src.dtype, device=src.device) if weights is None else \
            torch.as_tensor(weights, dtype=src.dtype, device=src.device)
    else:
        xp, clamp = np, np.maximum
        src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
        w = np.ones(src.shape[-2]) if weights is None else np.asarray(weights, np.float64)
    w = xp.broadcast_to(w, src.shape[:-1])
    w = w / clamp(w.sum(-1)[..., None], 1e-12)
    mu_s, mu_d = (w[..., None] * src).sum(-2), (w[..., None] * dst).sum(-2)
    xs, xd = src - mu_s[..., None, :], dst - mu_d[..., None, :]
    cov = (xd * w[..., None]).swapaxes(-1, -2) @ xs                           # (..., 3, 3) sum w xd xs^T
    U, S, Vt = xp.linalg.svd(cov)
    d = xp.sign(xp.linalg.det(U @ Vt))
    d = xp.where(d == 0, xp.ones_like(d), d)
    D = xp.stack([xp.ones_like(d), xp.ones_like(d), d], -1)
    R = (U * D[..., None, :]) @ Vt
    if with_scale:
        s = (S * D).sum(-1) / clamp((w * (xs * xs).sum(-1)).sum(-1), 1e-12)
    else:
        s = xp.ones_like(d)
    t = mu_d - s[..., None] * (R @ mu_s[..., None])[..., 0]
    return s, R, t
