"""Temporal smoothing: the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012), vectorised.

A first-order low-pass whose cutoff rises with the signal's speed: ``fc = min_cutoff + beta *
|dx/dt|`` (Hz). Slow signals (a still head) are smoothed hard (removes landmark jitter); fast
ones get a high cutoff, so a moving head is followed with little lag. ``speed`` is measured per
``group`` (e.g. the whole landmark set moves together, so one speed per face avoids per-point
noise deciding the cutoff).

``OneEuroFilter`` smooths arrays of any fixed shape; ``RotationFilter`` smooths rotation matrices
through unit quaternions (hemisphere-aligned with the previous sample, renormalised).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["OneEuroFilter", "RotationFilter", "smoothing_factor"]


def smoothing_factor(dt: float, cutoff) -> np.ndarray:
    """Exponential smoothing weight of a first-order low-pass with ``cutoff`` Hz over ``dt`` s."""
    r = 2.0 * math.pi * np.asarray(cutoff, np.float64) * dt
    return r / (r + 1.0)


class OneEuroFilter:
    """One-Euro filter over arrays of a fixed shape.

    min_cutoff (Hz): cutoff when still (lower = smoother). beta (1 / signal unit): how fast the
    cutoff rises with speed (higher = less lag). d_cutoff (Hz): low-pass on the speed estimate.
    speed_axes: axes of the sample over which the speed is taken as an RMS norm (None = per
    element). ``__call__(x, t)`` with x an array (or scalar) and t seconds -> filtered x (float64).
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0,
                 speed_axes: tuple[int, ...] | None = None):
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.speed_axes = speed_axes
        self.reset()

    def reset(self) -> None:
        """Forget the history (next sample passes through unchanged)."""
        self._x = self._dx = self._t = None

    def __call__(self, x, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or t <= self._t:
            if self._x is not None and t <= self._t and x.shape == self._x.shape:
                t = self._t + 1e-3   # repeated / out-of-order time stamp: treat as a tiny step
            else:
                self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
                return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + smoothing_factor(dt, self.d_cutoff) * (dx - self._dx)
        if self.speed_axes is None:
            speed = np.abs(self._dx)
        else:
            speed = np.sqrt(np.mean(self._dx ** 2, axis=self.speed_axes, keepdims=True))
        a = smoothing_factor(dt, self.min_cutoff + self.beta * speed)
        self._x = self._x + a * (x - self._x)
        self._t = float(t)
        return self._x.copy()


def _matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> (4,) unit quaternion wxyz."""
    m = R
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    cands = np.array([
        [1 + tr, m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]],
        [m[2, 1] - m[1, 2], 1 + m[0, 0] - m[1, 1] - m[2, 2], m[1, 0] + m[0, 1], m[0, 2] + m[2, 0]],
        [m[0, 2] - m[2, 0], m[1, 0] + m[0, 1], 1 - m[0, 0] + m[1, 1] - m[2, 2], m[2, 1] + m[1, 2]],
        [m[1, 0] - m[0, 1], m[0, 2] + m[2, 0], m[2, 1] + m[1, 2], 1 - m[0, 0] - m[1, 1] + m[2, 2]],
    ])
    q = cands[int(np.argmax(np.diag(cands)))]
    return q / np.linalg.norm(q)


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


class RotationFilter:
    """One-Euro smoothing of a stream of (3, 3) rotations via unit quaternions.

    Parameters as :class:`OneEuroFilter`, with speed the quaternion-space speed (about half the
    angular speed in rad/s). ``__call__(R, t)`` -> smoothed (3, 3) rotation.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        self._f = OneEuroFilter(min_cutoff, beta, d_cutoff, speed_axes=(0,))
        self._q = None

    def reset(self) -> None:
        """Forget the history."""
        self._f.reset()
        self._q = None

    def __call__(self, R, t: float) -> np.ndarray:
        q = _matrix_to_quat(np.asarray(R, np.float64))
        if self._q is not None and float(q @ self._q) < 0:
            q = -q   # same rotation, nearest hemisphere: keeps the stream continuous
        self._q = q
        return _quat_to_matrix(self._f(q, t))
