"""Pure, batched, differentiable tensor functions for linear head models (smplx ``lbs.py`` style).

Everything here is a plain function of tensors: no state, no Python loops over vertices, works on any
device/dtype the caller uses. Conventions:

* ``B`` batch (frames), ``V`` vertices, ``K`` blend-shape coefficients, ``J`` joints, ``F`` faces.
* Blend-shape bases are stored flat as ``(K, V*3)`` so a batch of blend shapes is ONE matmul
  ``(B, K) @ (K, V*3)``; :func:`flatten_basis` converts the smplx/FLAME layout ``(V, 3, K)``.
* Pose correctives (``posedirs``) are ``(P, V*3)`` with ``P = 9 * (J - 1)`` (smplx layout after its
  reshape/transpose; :func:`flatten_posedirs` converts FLAME's ``(V, 3, P)``).
* Rotations act on column vectors; axis-angle vectors are radians.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "flatten_basis", "flatten_posedirs", "blend_shapes", "vertices2joints", "batch_rodrigues",
    "batch_rigid_transform", "skin_vertices", "skin_vertices_soa", "to_soa_basis", "lbs",
    "landmarks_from_barycentric", "rot_mat_to_euler_y", "find_dynamic_lmk_idx_and_bcoords", "kinematic_chain",
]


def flatten_basis(dirs: Tensor) -> Tensor:
    """(V, 3, K) basis (smplx/FLAME ``shapedirs`` layout) -> (K, V*3) contiguous flat basis."""
    v, three, k = dirs.shape
    return dirs.permute(2, 0, 1).reshape(k, v * three).contiguous()


def flatten_posedirs(posedirs: Tensor) -> Tensor:
    """(V, 3, P) pose-corrective basis (FLAME pickle layout) -> (P, V*3) (smplx buffer layout)."""
    return flatten_basis(posedirs)


def blend_shapes(coeffs: Tensor, basis: Tensor) -> Tensor:
    """Linear blend-shape offsets.

    coeffs: (B, K). basis: (K, V*3) flat, (K, V, 3), or (V, 3, K) (smplx layout, detected by shape).
    Only the first ``coeffs.shape[1]`` basis vectors are used when the basis has more.
    Returns offsets (B, V, 3) in the basis' units.
    """
    b, k = coeffs.shape
    if basis.dim() == 3 and basis.shape[1] == 3 and basis.shape[2] != 3:
        # smplx layout (V, 3, K) (a (K, V, 3) basis always ends in 3; pass flat bases to be explicit)
        return torch.einsum("bk,vdk->bvd", coeffs, basis[:, :, :k])
    flat = basis.reshape(basis.shape[0], -1)[:k]
    return (coeffs @ flat).view(b, -1, 3)


def vertices2joints(J_regressor: Tensor, vertices: Tensor) -> Tensor:
    """Joint locations from vertices: J_regressor (J, V) dense, vertices (B, V, 3) -> (B, J, 3)."""
    return torch.einsum("bvd,jv->bjd", vertices, J_regressor)


def batch_rodrigues(rot_vecs: Tensor, epsilon: float = 1e-8) -> Tensor:
    """Axis-angle (N, 3) radians -> rotation matrices (N, 3, 3) (Rodrigues; same formula as smplx)."""
    angle = torch.norm(rot_vecs + epsilon, dim=1, keepdim=True)
    rot_dir = rot_vecs / angle
    cos = torch.unsqueeze(torch.cos(angle), dim=1)
    sin = torch.unsqueeze(torch.sin(angle), dim=1)
    rx, ry, rz = torch.split(rot_dir, 1, dim=1)
    zeros = torch.zeros_like(rx)
    K = torch.cat([zeros, -rz, ry, rz, zeros, -rx, -ry, rx, zeros], dim=1).view(-1, 3, 3)
    ident = torch.eye(3, dtype=rot_vecs.dtype, device=rot_vecs.device).unsqueeze(0)
    return ident + sin * K + (1 - cos) * torch.bmm(K, K)


def kinematic_chain(joint: int, parents: list[int] | Tensor) -> list[int]:
    """Joint ids from ``joint`` up to the root (inclusive), following ``parents`` (root parent = -1)."""
    parents = [int(p) for p in (parents.tolist() if torch.is_tensor(parents) else parents)]
    chain, j = [], int(joint)
    while j != -1:
        chain.append(j)
        j = parents[j]
    return chain


def batch_rigid_transform(rot_mats: Tensor, joints: Tensor, parents: Tensor) -> tuple[Tensor, Tensor]:
    """Forward kinematics.

    rot_mats: (B, J, 3, 3) local joint rotations; joints: (B, J, 3) rest joint locations;
    parents: (J,) long, parents[0] = -1 and parents[j] < j.
    Returns posed joints (B, J, 3) and relative transforms (B, J, 4, 4) that map rest-pose points to
    posed points (the rest joint location already removed, as in smplx).
    """
    B, J = joints.shape[:2]
    joints_ = joints.unsqueeze(-1)  # (B, J, 3, 1)
    rel_joints = joints_.clone()
    rel_joints[:, 1:] = rel_joints[:, 1:] - joints_[:, parents[1:]]
    bottom = joints.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(B, J, 1, 4)
    tmats = torch.cat([torch.cat([rot_mats, rel_joints], dim=-1), bottom], dim=-2)  # (B, J, 4, 4)
    par = [int(p) for p in parents.tolist()]
    chain = [tmats[:, 0]]
    for i in range(1, J):  # loop over joints (a handful), never over vertices
        chain.append(torch.matmul(chain[par[i]], tmats[:, i]))
    transforms = torch.stack(chain, dim=1)
    posed_joints = transforms[:, :, :3, 3]
    joints_homogen = torch.nn.functional.pad(joints_, [0, 0, 0, 1])
    rel_transforms = transforms - torch.nn.functional.pad(torch.matmul(transforms, joints_homogen),
                                                          [3, 0, 0, 0, 0, 0, 0, 0])
    return posed_joints, rel_transforms


def skin_vertices(v_posed: Tensor, lbs_weights: Tensor, rel_transforms: Tensor) -> Tensor:
    """Linear blend skinning: v_posed (B, V, 3), weights (V, J), transforms (B, J, 4, 4) -> (B, V, 3)."""
    B, J = rel_transforms.shape[:2]
    V = lbs_weights.shape[0]
    # blended top 3 rows of the 4x4 per vertex with ONE (V, J) @ (J, B*12) matmul (a broadcast batched matmul
    # is pathologically slow on CPU), then three fused multiply-adds.
    A = rel_transforms[:, :, :3, :].reshape(B, J, 12).permute(1, 0, 2).reshape(J, B * 12)
    T = torch.mm(lbs_weights, A).view(V, B, 3, 4).permute(1, 0, 2, 3)  # (B, V, 3, 4) view
    x, y, z = v_posed[..., 0:1], v_posed[..., 1:2], v_posed[..., 2:3]
    return torch.addcmul(torch.addcmul(torch.addcmul(T[..., 3], T[..., 0], x), T[..., 1], y), T[..., 2], z)


def skin_vertices_soa(v_posed: Tensor, lbs_weights_t: Tensor, rel_transforms: Tensor) -> Tensor:
    """LBS in (B, 3, V) layout: v_posed (B, 3, V), weights transposed (J, V), transforms (B, J, 4, 4) -> (B, 3, V).

    Same result as :func:`skin_vertices`, computed as sum_j w_j * (R_j v + t_j): one (B, 3, 3) @ (B, 3, V) bmm
    and one fused multiply-add per joint over contiguous rows (fastest on CPU; the loop is over the few joints).
    """
    J = rel_transforms.shape[1]
    R, t = rel_transforms[:, :, :3, :3], rel_transforms[:, :, :3, 3:]
    out = None
    for j in range(J):
        pj = torch.baddbmm(t[:, j], R[:, j], v_posed)
        out = pj * lbs_weights_t[j] if out is None else out.addcmul_(pj, lbs_weights_t[j])
    return out


def to_soa_basis(basis: Tensor) -> Tensor:
    """(K, V*3) interleaved (xyzxyz...) flat basis -> (K, 3*V) "structure of arrays" (all x, all y, all z)."""
    k = basis.shape[0]
    return basis.view(k, -1, 3).transpose(1, 2).reshape(k, -1).contiguous()


def lbs(coeffs: Tensor, pose: Tensor, v_template: Tensor, shapedirs: Tensor, posedirs: Tensor,
        J_regressor: Tensor | None, parents: Tensor, lbs_weights: Tensor, pose2rot: bool = True,
        J_template: Tensor | None = None, J_shapedirs: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Blend shapes + pose correctives + linear blend skinning (smplx ``lbs`` semantics).

    coeffs: (B, K) shape(+expression) coefficients; pose: (B, J*3) axis-angle or (B, J, 3, 3) matrices
    (``pose2rot=False``); v_template: (V, 3); shapedirs: (K', V*3) flat or (V, 3, K') with K' >= K;
    posedirs: (9*(J-1), V*3); J_regressor: (J, V) dense, used when ``J_template``/``J_shapedirs`` are not
    given; J_template (J, 3) and J_shapedirs (K', J*3) are the regressor pre-applied to the template and
    basis (same result, no (J, V) product per call); parents: (J,); lbs_weights: (V, J).
    Returns vertices (B, V, 3) and posed joints (B, J, 3).
    """
    B = coeffs.shape[0]
    v_shaped = v_template + blend_shapes(coeffs, shapedirs)
    if J_template is not None and J_shapedirs is not None:
        J = J_template + (coeffs @ J_shapedirs[: coeffs.shape[1]]).view(B, -1, 3)
    else:
        J = vertices2joints(J_regressor, v_shaped)
    nj = J.shape[1]
    if pose2rot:
        rot_mats = batch_rodrigues(pose.reshape(-1, 3)).view(B, nj, 3, 3)
    else:
        rot_mats = pose.view(B, nj, 3, 3)
    ident = torch.eye(3, dtype=v_template.dtype, device=v_template.device)
    pose_feature = (rot_mats[:, 1:] - ident).reshape(B, -1)
    v_posed = v_shaped + (pose_feature @ posedirs).view(B, -1, 3)
    J_transformed, A = batch_rigid_transform(rot_mats, J, parents)
    verts = skin_vertices(v_posed, lbs_weights, A)
    return verts, J_transformed


def landmarks_from_barycentric(vertices: Tensor, faces: Tensor, face_ids: Tensor, bary: Tensor) -> Tensor:
    """Points on the mesh from (face id, barycentric) pairs.

    vertices (B, V, 3); faces (F, 3) long; face_ids (K,) or (B, K) long; bary (K, 3) or (B, K, 3).
    Returns (B, K, 3) = sum_i bary[..., i] * vertices[faces[face_ids, i]].
    """
    B = vertices.shape[0]
    tri = faces[face_ids]  # (K, 3) or (B, K, 3)
    if tri.dim() == 2:
        pts = vertices[:, tri]  # (B, K, 3, 3)
    else:
        bidx = torch.arange(B, device=vertices.device).view(B, 1, 1)
        pts = vertices[bidx, tri]
    return torch.einsum("bkij,bki->bkj", pts, bary.expand(B, -1, -1) if bary.dim() == 2 else bary)


def rot_mat_to_euler_y(rot_mats: Tensor) -> Tensor:
    """Rotation about y (radians) of (B, 3, 3) matrices, as in smplx ``rot_mat_to_euler``."""
    sy = torch.sqrt(rot_mats[:, 0, 0] ** 2 + rot_mats[:, 1, 0] ** 2)
    return torch.atan2(-rot_mats[:, 2, 0], sy)


def find_dynamic_lmk_idx_and_bcoords(chain_rot_mats: Tensor, dynamic_faces: Tensor,
                                     dynamic_bary: Tensor) -> tuple[Tensor, Tensor]:
    """FLAME dynamic-contour lookup (DECA/smplx): pick the 17 contour embeddings for the head's yaw.

    chain_rot_mats: (B, C, 3, 3) rotations of the neck kinematic chain, child first (e.g. neck, global);
    dynamic_faces: (79, L) long and dynamic_bary (79, L, 3): the look-up table over yaw in degrees
    (0..39 -> rows 0..39, -1..-39 -> rows 40..78). Returns faces (B, L) and bary (B, L, 3).
    """
    rel = chain_rot_mats[:, 0]
    for i in range(1, chain_rot_mats.shape[1]):
        rel = torch.bmm(chain_rot_mats[:, i], rel)
    y = torch.round(torch.clamp(-rot_mat_to_euler_y(rel) * 180.0 / torch.pi, max=39)).to(torch.long)
    neg = y.lt(0).to(torch.long)
    mask = y.lt(-39).to(torch.long)
    neg_vals = mask * 78 + (1 - mask) * (39 - y)
    y = neg * neg_vals + (1 - neg) * y
    return dynamic_faces[y], dynamic_bary[y]
