"""Batched, differentiable rotation conversions (torch), in the style of pytorch3d.

Every function takes tensors with arbitrary leading batch dims ``(...,)`` and keeps the
caller's device and dtype. Angles are radians. Quaternions are (w, x, y, z), unit norm.
Rotation matrices act on column vectors: ``x' = R @ x``.

Euler angles use a named convention: ``convention`` is a 3-letter string of axes
("XYZ", "ZYX", ...) and the angles are *intrinsic* rotations applied in that order,
i.e. ``R = R_a0(angles[...,0]) @ R_a1(angles[...,1]) @ R_a2(angles[...,2])``.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "axis_angle_to_matrix", "matrix_to_axis_angle", "quaternion_to_matrix",
    "matrix_to_quaternion", "axis_angle_to_quaternion", "quaternion_to_axis_angle",
    "rotation_6d_to_matrix", "matrix_to_rotation_6d", "euler_to_matrix", "matrix_to_euler",
    "axis_rotation",
]


def _check_last(x: Tensor, dims: tuple[int, ...], name: str) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if tuple(x.shape[-len(dims):]) != dims:
        raise ValueError(f"{name}: expected shape (..., {', '.join(map(str, dims))}), got {tuple(x.shape)}")


def axis_angle_to_quaternion(axis_angle: Tensor) -> Tensor:
    """(..., 3) axis-angle (direction = axis, norm = angle in rad) -> (..., 4) quaternion wxyz."""
    _check_last(axis_angle, (3,), "axis_angle")
    angle = torch.linalg.norm(axis_angle, dim=-1, keepdim=True)
    half = 0.5 * angle
    small = angle.abs() < 1e-6
    # sin(half)/angle with a Taylor series near zero so gradients stay finite.
    safe = torch.where(small, torch.ones_like(angle), angle)
    s = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / safe)
    return torch.cat([torch.cos(half), axis_angle * s], dim=-1)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """(..., 4) quaternion wxyz -> (..., 3) axis-angle with angle in [0, pi]."""
    _check_last(quaternion, (4,), "quaternion")
    q = quaternion / torch.linalg.norm(quaternion, dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)
    norm_v = torch.linalg.norm(q[..., 1:], dim=-1, keepdim=True)
    half = torch.atan2(norm_v, q[..., :1])
    angle = 2.0 * half
    small = norm_v < 1e-6
    safe = torch.where(small, torch.ones_like(norm_v), norm_v)
    scale = torch.where(small, 2.0 / q[..., :1].clamp_min(1e-12), angle / safe)
    return q[..., 1:] * scale


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """(..., 4) quaternion wxyz (normalised here; a zero quaternion gives the identity) -> (..., 3, 3)
    rotation matrix."""
    _check_last(quaternion, (4,), "quaternion")
    q = torch.nn.functional.normalize(quaternion, p=2, dim=-1)
    w, x, y, z = q.unbind(-1)
    m = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrix -> (..., 4) unit quaternion wxyz with w >= 0."""
    _check_last(matrix, (3, 3), "matrix")
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Four candidate solutions; pick per element the best conditioned one.
    cands = torch.stack([
        torch.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], 1 - m00 + m11 - m22, m[..., 2, 1] + m[..., 1, 2]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2], 1 - m00 - m11 + m22], -1),
    ], dim=-2)  # (..., 4, 4); row k has 4*q_k*q as entries
    diag = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = diag.argmax(dim=-1, keepdim=True)
    row = torch.gather(cands, -2, best.unsqueeze(-1).expand(best.shape[:-1] + (1, 4))).squeeze(-2)
    q = row / torch.linalg.norm(row, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """(..., 3) axis-angle (radians) -> (..., 3, 3) rotation matrix (Rodrigues)."""
    return quaternion_to_matrix(axis_angle_to_quaternion(axis_angle))


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrix -> (..., 3) axis-angle, angle in [0, pi]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rotation_6d_to_matrix(d6: Tensor) -> Tensor:
    """(..., 6) continuous 6D representation (Zhou et al. 2019; first two matrix rows)
    -> (..., 3, 3) rotation matrix via Gram-Schmidt."""
    _check_last(d6, (6,), "d6")
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = torch.nn.functional.normalize(b2, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-2)


def matrix_to_rotation_6d(matrix: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrix -> (..., 6): its first two rows, concatenated."""
    _check_last(matrix, (3, 3), "matrix")
    return matrix[..., :2, :].reshape(matrix.shape[:-2] + (6,))


def axis_rotation(axis: str, angle: Tensor) -> Tensor:
    """Rotation by ``angle`` (..., radians) about the named axis "X", "Y" or "Z" -> (..., 3, 3)."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "X":
        flat = (one, zero, zero, zero, c, -s, zero, s, c)
    elif axis == "Y":
        flat = (c, zero, s, zero, one, zero, -s, zero, c)
    elif axis == "Z":
        flat = (c, -s, zero, s, c, zero, zero, zero, one)
    else:
        raise ValueError(f"axis must be 'X', 'Y' or 'Z', got {axis!r}")
    return torch.stack(flat, -1).reshape(angle.shape + (3, 3))


def _check_convention(convention: str) -> str:
    conv = convention.upper()
    if len(conv) != 3 or set(conv) - set("XYZ") or conv[0] == conv[1] or conv[1] == conv[2]:
        raise ValueError(f"Euler convention must be 3 axes from XYZ with no repeated neighbour, got {convention!r}")
    if len(set(conv)) != 3:
        raise ValueError(f"only Tait-Bryan conventions (3 distinct axes) are supported, got {convention!r}")
    return conv


def euler_to_matrix(angles: Tensor, convention: str = "XYZ") -> Tensor:
    """(..., 3) intrinsic Euler angles (radians) -> (..., 3, 3):
    ``R = R_c0(a0) @ R_c1(a1) @ R_c2(a2)`` for ``convention = c0 c1 c2``."""
    _check_last(angles, (3,), "angles")
    conv = _check_convention(convention)
    mats = [axis_rotation(a, angles[..., i]) for i, a in enumerate(conv)]
    return mats[0] @ mats[1] @ mats[2]


def matrix_to_euler(matrix: Tensor, convention: str = "XYZ") -> Tensor:
    """(..., 3, 3) rotation -> (..., 3) intrinsic Euler angles (radians) such that
    ``euler_to_matrix(result, convention)`` gives the matrix back. The middle angle lies in
    [-pi/2, pi/2]; at gimbal lock (|middle| = pi/2) the last angle is set to 0."""
    _check_last(matrix, (3, 3), "matrix")
    conv = _check_convention(convention)
    i, j, k = ("XYZ".index(a) for a in conv)
    # Sign of the permutation (i, j, k): +1 for cyclic orders (XYZ, YZX, ZXY).
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    m = matrix
    mid = torch.asin((sign * m[..., i, k]).clamp(-1.0, 1.0))
    first = torch.atan2(-sign * m[..., j, k], m[..., k, k])
    last = torch.atan2(-sign * m[..., i, j], m[..., i, i])
    locked = (sign * m[..., i, k]).abs() > 1 - 1e-7
    if locked.any():
        first_locked = torch.atan2(sign * m[..., k, j], m[..., j, j])
        first = torch.where(locked, first_locked, first)
        last = torch.where(locked, torch.zeros_like(last), last)
    return torch.stack([first, mid, last], dim=-1)
