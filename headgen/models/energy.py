"""Energy terms for fitting head-model parameters to observations over a sequence, all batched over
frames (and views): robust kernels, the 2D landmark term, temporal smoothness, Gaussian priors. Shared
by every optimisation over model parameters (the fit stage's landmark fit and gaze, later ones).

Landmark residuals are measured in percent of the face's inter-ocular distance (IOD) so that the
weights do not depend on image resolution or face size: a residual of 1.0 = 1% IOD.
"""
from __future__ import annotations

import torch
from torch import Tensor


def geman_mcclure(r2: Tensor, sigma: float) -> Tensor:
    """Geman-McClure robust penalty of squared residuals r2 (any shape): sigma^2 r2 / (sigma^2 + r2).
    ~ r2 for small residuals, saturates at sigma^2 for outliers."""
    s2 = sigma * sigma
    return s2 * r2 / (s2 + r2)


def huber(r2: Tensor, delta: float) -> Tensor:
    """Huber penalty of squared residuals r2: r2 for |r| <= delta, 2 delta |r| - delta^2 beyond."""
    r = torch.sqrt(r2 + 1e-12)
    return torch.where(r <= delta, r2, 2 * delta * r - delta * delta)


def robust(r2: Tensor, kind: str, scale: float) -> Tensor:
    """Dispatch: kind in {"l2", "gm" (Geman-McClure), "huber"}; scale = sigma or delta (residual units)."""
    if kind == "l2" or scale <= 0:
        return r2
    if kind == "gm":
        return geman_mcclure(r2, scale)
    if kind == "huber":
        return huber(r2, scale)
    raise ValueError(f"unknown robust loss {kind!r}")


def landmark_term(pred_px: Tensor, target_px: Tensor, weight: Tensor, norm_px: Tensor,
                  kind: str = "gm", scale: float = 5.0) -> Tensor:
    """Weighted robust 2D landmark energy.

    pred_px, target_px: (..., N, 2) pixels; weight: (..., N) >= 0 (confidence x per-landmark weight x
    frame validity; NaN targets or predictions (partial embeddings) are ignored); norm_px: (...) per-frame IOD in
    pixels. Returns a scalar: sum of w * rho(|r| / (0.01 IOD)) / sum of w (mean per weighted landmark).
    """
    diff = (torch.nan_to_num(pred_px) - torch.nan_to_num(target_px)) / (0.01 * norm_px.clamp_min(1e-6))[..., None, None]
    r2 = (diff * diff).sum(-1)
    w = weight * (torch.isfinite(target_px).all(-1) & torch.isfinite(pred_px.detach()).all(-1))
    return (w * robust(r2, kind, scale)).sum() / w.sum().clamp_min(1e-8)


def second_difference(x: Tensor, dim: int = 0) -> Tensor:
    """x[t+1] - 2 x[t] + x[t-1] along ``dim`` -> length T-2 (empty when T < 3)."""
    n = x.shape[dim]
    if n < 3:
        return x.narrow(dim, 0, 0)
    return x.narrow(dim, 2, n - 2) - 2 * x.narrow(dim, 1, n - 2) + x.narrow(dim, 0, n - 2)


def first_difference(x: Tensor, dim: int = 0) -> Tensor:
    """x[t+1] - x[t] along ``dim`` -> length T-1."""
    n = x.shape[dim]
    if n < 2:
        return x.narrow(dim, 0, 0)
    return x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)


def smoothness(x: Tensor, w_first: float = 0.0, w_second: float = 1.0) -> Tensor:
    """Temporal smoothness of a per-frame parameter x (T, ...): mean over frames of
    w_first ||dx||^2 + w_second ||d2x||^2 (sums over the trailing dims). 0 for a single frame."""
    out = x.new_zeros(())
    if w_second:
        d2 = second_difference(x)
        if d2.numel():
            out = out + w_second * d2.pow(2).reshape(d2.shape[0], -1).sum(-1).mean()
    if w_first:
        d1 = first_difference(x)
        if d1.numel():
            out = out + w_first * d1.pow(2).reshape(d1.shape[0], -1).sum(-1).mean()
    return out


def l2_prior(x: Tensor, weights: Tensor | float = 1.0) -> Tensor:
    """Gaussian prior: sum over the last dim of weights * x^2, mean over leading dims (scalar)."""
    v = (weights * x * x)
    return v.reshape(-1, x.shape[-1]).sum(-1).mean() if x.dim() > 1 else v.sum()
