"""Gaussians in display form (:class:`Splats`: activated scales, opacities, DC colours) and the standard 3D
Gaussian splatting PLY (read/written through :mod:`headgen.artifacts.avatar`, the avatar folder's format).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headgen.errors import InputError

__all__ = ["Splats", "read_gaussian_ply", "write_gaussian_ply", "splats_from_ply", "SH_C0"]

SH_C0 = 0.28209479177387814   # degree-0 spherical harmonic: colour = 0.5 + SH_C0 * f_dc


@dataclass
class Splats:
    """N Gaussians: means (N, 3) metres, quats (N, 4) unit wxyz, scales (N, 3) metres (activated),
    rgb (N, 3) in [0, 1] (view-independent DC colour), opacity (N,) in [0, 1]; sh_rest (N, M, 3) or None."""
    means: np.ndarray
    quats: np.ndarray
    scales: np.ndarray
    rgb: np.ndarray
    opacity: np.ndarray
    sh_rest: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.means.shape[0])

    def covariances(self, quats=None, scales=None) -> np.ndarray:
        """(N, 3, 3) covariances R diag(s^2) R^T (optionally for other quats / scales of the same N)."""
        q = np.asarray(self.quats if quats is None else quats, np.float64)
        s = np.asarray(self.scales if scales is None else scales, np.float64)
        q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
        w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
        R = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                      2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                      2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1).reshape(q.shape[:-1] + (3, 3))
        M = R * s[..., None, :]
        return (M @ np.swapaxes(M, -1, -2)).astype(np.float32)


def splats_from_ply(ply: dict) -> Splats:
    """The dict of :func:`headgen.artifacts.avatar.read_ply` (means, sh (N,16,3), opacity_logits,
    log_scales, quats) -> :class:`Splats` (activated: unit quats, scales, DC colour, opacity)."""
    q = np.asarray(ply["quats"], np.float64)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    sh = np.asarray(ply["sh"], np.float32)
    return Splats(means=np.asarray(ply["means"], np.float32), quats=q.astype(np.float32),
                  scales=np.exp(np.asarray(ply["log_scales"], np.float64)).astype(np.float32),
                  rgb=np.clip(0.5 + SH_C0 * sh[:, 0].astype(np.float64), 0, 1).astype(np.float32),
                  opacity=(1 / (1 + np.exp(-np.asarray(ply["opacity_logits"], np.float64)))).astype(np.float32),
                  sh_rest=sh[:, 1:] if sh.shape[1] > 1 else None)


def read_gaussian_ply(path) -> Splats:
    """Read a standard 3DGS ``.ply`` (through :func:`headgen.artifacts.avatar.read_ply`) -> :class:`Splats`.
    Raises InputError naming the file when it is missing or not a 3DGS PLY."""
    from headgen.artifacts.avatar import read_ply
    s = splats_from_ply(read_ply(path))
    if not np.isfinite(s.means).all():
        raise InputError(f"{path}: Gaussian positions contain NaN/inf")
    return s


def write_gaussian_ply(path, splats: Splats) -> Path:
    """Write :class:`Splats` as a standard 3DGS PLY (:func:`headgen.artifacts.avatar.write_ply`, atomic)
    -> path. Colours go to the DC term (``f_dc = (rgb - 0.5) / SH_C0``), ``sh_rest`` to ``f_rest_*``."""
    from headgen.artifacts.avatar import write_ply
    n = len(splats)
    dc = (np.asarray(splats.rgb, np.float64) - 0.5) / SH_C0
    sh = dc[:, None] if splats.sh_rest is None else np.concatenate([dc[:, None], splats.sh_rest], 1)
    op = np.clip(np.asarray(splats.opacity, np.float64), 1e-6, 1 - 1e-6)
    return write_ply(path, splats.means, sh.reshape(n, -1, 3), np.log(op / (1 - op)),
                     np.log(np.maximum(np.asarray(splats.scales, np.float64), 1e-12)), splats.quats)
