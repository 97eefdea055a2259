"""Fill frames where the face was lost by interpolating between the nearest valid frames.

Linear interpolation for vector parameters, spherical (slerp) for rotations; frames before the first
(after the last) valid frame copy it. All vectorised over frames (no per-frame loop).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from headgen.geometry.rotations import matrix_to_quaternion, quaternion_to_matrix


def neighbour_weights(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """valid (T,) bool with at least one True -> (prev (T,), next (T,), alpha (T,)): for each frame the
    nearest valid frame at or before it, at or after it, and the weight of ``next`` (0 at valid frames).
    Before the first valid frame prev = next = first; after the last, both = last."""
    valid = np.asarray(valid, bool)
    T = valid.shape[0]
    if not valid.any():
        raise ValueError("no valid frame to interpolate from")
    idx = np.arange(T)
    prev = np.where(valid, idx, -1)
    prev = np.maximum.accumulate(prev)
    nxt = np.where(valid, idx, T)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    first, last = idx[valid][0], idx[valid][-1]
    prev = np.where(prev < 0, first, prev)
    nxt = np.where(nxt >= T, last, nxt)
    span = (nxt - prev).astype(np.float64)
    alpha = np.where(span > 0, (idx - prev) / np.maximum(span, 1), 0.0)
    return prev, nxt, alpha


def interpolate_linear(x: Tensor, valid: np.ndarray) -> Tensor:
    """x (T, ...) with garbage at invalid frames -> same with invalid frames linearly interpolated."""
    prev, nxt, alpha = neighbour_weights(valid)
    a = torch.as_tensor(alpha, dtype=x.dtype, device=x.device).reshape((-1,) + (1,) * (x.dim() - 1))
    p = torch.as_tensor(prev, device=x.device)
    n = torch.as_tensor(nxt, device=x.device)
    return (1 - a) * x[p] + a * x[n]


def slerp(q0: Tensor, q1: Tensor, t: Tensor) -> Tensor:
    """Quaternion slerp (wxyz): q0, q1 (N,4) unit, t (N,) in [0,1] -> (N,4), shortest path."""
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    s = torch.sin(theta)
    t = t[:, None]
    small = s < 1e-6
    w0 = torch.where(small, 1 - t, torch.sin((1 - t) * theta) / torch.where(small, torch.ones_like(s), s))
    w1 = torch.where(small, t, torch.sin(t * theta) / torch.where(small, torch.ones_like(s), s))
    q = w0 * q0 + w1 * q1
    return q / q.norm(dim=-1, keepdim=True)


def interpolate_rotations(R: Tensor, valid: np.ndarray) -> Tensor:
    """R (T,3,3) rotations (garbage at invalid frames) -> (T,3,3) with invalid frames slerped."""
    prev, nxt, alpha = neighbour_weights(valid)
    q = matrix_to_quaternion(R)
    p = torch.as_tensor(prev, device=R.device)
    n = torch.as_tensor(nxt, device=R.device)
    qi = slerp(q[p], q[n], torch.as_tensor(alpha, dtype=R.dtype, device=R.device))
    return quaternion_to_matrix(qi)


def interpolate_landmarks(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Numpy convenience: x (T, ...) float -> invalid frames linearly interpolated."""
    return interpolate_linear(torch.as_tensor(np.asarray(x, np.float64)), valid).numpy()
