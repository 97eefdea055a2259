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


#: Hamilton product as one bilinear map: out_k = sum_ij _HAMILTON[i, j, k] a_i b_j (wxyz)
_HAMILTON_TERMS = {0: ((0, 0, 1), (1, 1, -1), (2, 2, -1), (3, 3, -1)),
                   1: ((0, 1, 1), (1, 0, 1), (2, 3, 1), (3, 2, -1)),
                   2: ((0, 2, 1), (1, 3, -1), (2, 0, 1), (3, 1, 1)),
                   3: ((0, 3, 1), (1, 2, 1), (2, 1, -1), (3, 0, 1))}
#: Shepperd's four candidates (row k = 4 q_k q) as constants + signed sums of the matrix entries m_ij
_SHEPPERD_TERMS = (
    ((1, ((1, 0, 0), (1, 1, 1), (1, 2, 2))), (0, ((1, 2, 1), (-1, 1, 2))), (0, ((1, 0, 2), (-1, 2, 0))),
     (0, ((1, 1, 0), (-1, 0, 1)))),
    ((0, ((1, 2, 1), (-1, 1, 2))), (1, ((1, 0, 0), (-1, 1, 1), (-1, 2, 2))), (0, ((1, 1, 0), (1, 0, 1))),
     (0, ((1, 0, 2), (1, 2, 0)))),
    ((0, ((1, 0, 2), (-1, 2, 0))), (0, ((1, 1, 0), (1, 0, 1))), (1, ((-1, 0, 0), (1, 1, 1), (-1, 2, 2))),
     (0, ((1, 2, 1), (1, 1, 2)))),
    ((0, ((1, 1, 0), (-1, 0, 1))), (0, ((1, 0, 2), (1, 2, 0))), (0, ((1, 2, 1), (1, 1, 2))),
     (1, ((-1, 0, 0), (-1, 1, 1), (1, 2, 2)))),
)
_CONSTANTS: dict = {}


def _constants(dtype, device) -> tuple[Tensor, Tensor, Tensor]:
    """(Hamilton (16, 4), Shepperd linear part (9, 16), Shepperd constants (16,)) for this dtype/device."""
    key = (dtype, str(device))
    if key not in _CONSTANTS:
        H = torch.zeros(4, 4, 4, dtype=torch.float64)
        for k, terms in _HAMILTON_TERMS.items():
            for i, j, s in terms:
                H[i, j, k] = s
        A = torch.zeros(3, 3, 4, 4, dtype=torch.float64)
        c = torch.zeros(4, 4, dtype=torch.float64)
        for r, row in enumerate(_SHEPPERD_TERMS):
            for col, (const, terms) in enumerate(row):
                c[r, col] = const
                for s, i, j in terms:
                    A[i, j, r, col] += s
        _CONSTANTS[key] = (H.reshape(16, 4).to(dtype=dtype, device=device),
                           A.reshape(9, 16).to(dtype=dtype, device=device), c.reshape(16).to(dtype=dtype, device=device))
    return _CONSTANTS[key]


def quat_multiply(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product of wxyz quaternions (..., 4) x (..., 4) (broadcast) -> (..., 4) (rotation a after b).
    One outer product and one matrix product (a few large ops instead of ~30 small ones: the per-Gaussian
    deformation of every rendered frame runs it)."""
    H = _constants(a.dtype, a.device)[0]
    a, b = torch.broadcast_tensors(a, b)
    return (a[..., :, None] * b[..., None, :]).reshape(*a.shape[:-1], 16) @ H


def frame_quaternions(R: Tensor) -> Tensor:
    """Rotation matrices (..., 3, 3) -> unit quaternions wxyz (..., 4) (Shepperd's method, w >= 0; the same
    as ``geometry.rotations.matrix_to_quaternion``, with the four candidates built by one matrix product)."""
    _, A, c = _constants(R.dtype, R.device)
    m = R.reshape(*R.shape[:-2], 9)
    cands = (m @ A + c).unflatten(-1, (4, 4))                               # row k = 4 q_k q
    best = (m @ A[:, ::5] + c[::5]).argmax(-1, keepdim=True)               # the diagonal, contiguous
    row = torch.gather(cands, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)
    q = row / torch.linalg.norm(row, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def to_local(points: Tensor, centroids: Tensor, R: Tensor, sizes: Tensor) -> Tensor:
    """World points (..., N, 3) of Gaussians bound to frames (centroids (..., N, 3), R (..., N, 3, 3),
    sizes (..., N)) -> local offsets (..., N, 3) (inverse of ``centroid + size * R @ offset``)."""
    d = points - centroids
    return torch.einsum("...ji,...j->...i", R, d) / (sizes[..., None] + EPS)
