"""Triangle frames for binding Gaussians to a mesh (GaussianAvatars-style rigging), and quaternion helpers.

Every Gaussian lives in the local frame of one triangle: origin at the triangle's centroid, axes
x = unit(v1 - v0), z = unit((v1 - v0) x (v2 - v0)) (the face normal), y = z x x, and a size
k = (|v1 - v0| + height of v2 over that edge) / 2. World mean = centroid + k R offset, world rotation =
R * local rotation, world std-devs = k * exp(local log-scales). A rigid motion of the mesh moves every
Gaussian rigidly with it; a uniform scaling of the mesh scales the Gaussians with it.
"""
from __future__ import annotations

import torch
from torch import Tensor

from headgen.geometry.rotations import matrix_to_quaternion


EPS = 1e-12


def triangle_frames(vertices: Tensor, faces: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """vertices (..., V, 3), faces (F, 3) long -> (centroids (..., F, 3), rotations (..., F, 3, 3) whose
    columns are the frame axes x, y, z in the vertices' frame, sizes (..., F)). Differentiable; degenerate
    triangles get finite (arbitrary) frames and size ~0."""
    v0 = vertices[..., faces[:, 0], :]
    v1 = vertices[..., faces[:, 1], :]
    v2 = vertices[..., faces[:, 2], :]
    e1, e2 = v1 - v0, v2 - v0
    l1 = torch.linalg.norm(e1, dim=-1)
    x = e1 / (l1[..., None] + EPS)
    n = torch.cross(e1, e2, dim=-1)
    z = n / (torch.linalg.norm(n, dim=-1, keepdim=True) + EPS)
    y = torch.cross(z, x, dim=-1)
    height = (e2 * y).sum(-1).abs()
    R = torch.stack([x, y, z], -1)
    return (v0 + v1 + v2) / 3.0, R, 0.5 * (l1 + height)


def quat_multiply(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product of wxyz quaternions (..., 4) x (..., 4) -> (..., 4) (rotation a after b)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz,
                        aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw], -1)


def frame_quaternions(R: Tensor) -> Tensor:
    """Rotation matrices (..., 3, 3) -> unit quaternions wxyz (..., 4) (Shepperd's method, w >= 0)."""
    return matrix_to_quaternion(R)


def to_local(points: Tensor, centroids: Tensor, R: Tensor, sizes: Tensor) -> Tensor:
    """World points (..., N, 3) of Gaussians bound to frames (centroids (..., N, 3), R (..., N, 3, 3),
    sizes (..., N)) -> local offsets (..., N, 3) (inverse of ``centroid + size * R @ offset``)."""
    d = points - centroids
    return torch.einsum("...ji,...j->...i", R, d) / (sizes[..., None] + EPS)
