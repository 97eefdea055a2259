"""Rigid head pose from landmarks: weighted Procrustes (Umeyama), PnP refinement, and Euler angles
in the convention of the 300W-LP / AFLW2000 head-pose benchmarks.

Frames (see ``conventions``): a head pose is ``R_cv`` (3, 3), ``t`` (3,) metres with
``X_cam = R_cv @ X_head + t``; ``X_head`` in the head-model frame (+x subject's left, +y up, +z out
of the face), ``X_cam`` in the OpenCV camera frame (+x right, +y down, +z forward). A head looking
straight into the camera has ``R_cv = HEAD_TO_OPENCV = diag(1, -1, -1)``.

Euler angles (degrees), the 300W-LP / AFLW2000 ``Pose_Para`` convention (the 3DDFA fitting code
that made those labels, and the axis drawing of HopeNet / 6DRepNet): with ``R_view = F @ R_cv``,
``F = diag(1, -1, -1)`` (a y-up view frame: +x image right, +y image up, +z towards the viewer),

    R_view = Rx(pitch) @ Ry(yaw) @ Rz(roll)      with the benchmark's matrices
    Rx(a) = [[1, 0, 0], [0, cos a, sin a], [0, -sin a, cos a]]   (and likewise Ry, Rz: each the
    transpose of the right-handed rotation, i.e. Rx(a) = rot_x(-a) in ``rotations.axis_rotation``)

so ``R_view = rot_x(-pitch) @ rot_y(-yaw) @ rot_z(-roll)``. Meaning, for a face near frontal:
yaw > 0 the nose points to the image left (subject turns to their right), pitch > 0 the face
looks up, roll > 0 the head is turned clockwise in the image. Mirroring the image negates yaw and
roll and keeps pitch.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "VIEW_FROM_OPENCV", "rotation_to_ypr", "ypr_to_rotation", "rot_x", "rot_y",
    "rot_z", "pnp_refine", "project", "orthonormalize", "ray_rotation", "view_relative_rotation",
    "refine_pose_with_depth",
]

#: F: OpenCV camera frame -> the y-up "view" frame in which the benchmark angles are defined.
VIEW_FROM_OPENCV = np.diag([1.0, -1.0, -1.0])


def rot_x(a) -> np.ndarray:
    """Right-handed rotation by a (radians, (...)) about x -> (..., 3, 3)."""
    a = np.asarray(a, dtype=np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(a.shape + (3, 3))


def rot_y(a) -> np.ndarray:
    """Right-handed rotation by a (radians, (...)) about y -> (..., 3, 3)."""
    a = np.asarray(a, dtype=np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(a.shape + (3, 3))


def rot_z(a) -> np.ndarray:
    """Right-handed rotation by a (radians, (...)) about z -> (..., 3, 3)."""
    a = np.asarray(a, dtype=np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(a.shape + (3, 3))


def ypr_to_rotation(yaw, pitch, roll) -> np.ndarray:
    """Benchmark angles in degrees ((...) each) -> head-to-OpenCV-camera rotation R_cv (..., 3, 3)."""
    p, y, r = (np.radians(np.asarray(v, dtype=np.float64)) for v in (pitch, yaw, roll))
    view = rot_x(-p) @ rot_y(-y) @ rot_z(-r)
    return VIEW_FROM_OPENCV @ view


def rotation_to_ypr(R_cv) -> np.ndarray:
    """Head-to-OpenCV-camera rotation (..., 3, 3) -> (..., 3) [yaw, pitch, roll] degrees in the
    300W-LP / AFLW2000 convention (module doc). |yaw| <= 90; pitch and roll in (-180, 180]."""
    V = VIEW_FROM_OPENCV @ np.asarray(R_cv, dtype=np.float64)
    # V = rot_x(a) rot_y(b) rot_z(c) with a = -pitch, b = -yaw, c = -roll.
    b = np.arcsin(np.clip(V[..., 0, 2], -1.0, 1.0))
    a = np.arctan2(-V[..., 1, 2], V[..., 2, 2])
    c = np.arctan2(-V[..., 0, 1], V[..., 0, 0])
    locked = np.abs(V[..., 0, 2]) > 1 - 1e-9
    if np.any(locked):
        a = np.where(locked, np.arctan2(V[..., 2, 1], V[..., 1, 1]), a)
        c = np.where(locked, 0.0, c)
    return -np.degrees(np.stack([b, a, c], -1))


def orthonormalize(M) -> np.ndarray:
    """Nearest rotation (det +1) to each (..., 3, 3) matrix, via SVD."""
    U, _, Vt = np.linalg.svd(np.asarray(M, dtype=np.float64))
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.ones(U.shape[:-1])
    D[..., -1] = d
    return (U * D[..., None, :]) @ Vt


def project(points, R, t, K) -> np.ndarray:
    """Head-frame points (N, 3) m, pose R (3, 3), t (3,) m, intrinsics K (3, 3) -> pixels (N, 2)."""
    X = np.asarray(points, np.float64) @ np.asarray(R, np.float64).T + np.asarray(t, np.float64)
    uv = X[:, :2] / np.maximum(X[:, 2:3], 1e-9)
    K = np.asarray(K, np.float64)
    return uv * np.array([K[0, 0], K[1, 1]]) + np.array([K[0, 2], K[1, 2]])


def pnp_refine(object_points, image_points, K, R0, t0):
    """Refine a pose by minimising reprojection error (cv2.solvePnP, SOLVEPNP_ITERATIVE, started at
    the given pose, no distortion).

    object_points (N, 3) metres in the head frame, image_points (N, 2) pixels, K (3, 3),
    R0 (3, 3) / t0 (3,) initial head-to-camera pose. Returns (R (3, 3), t (3,)); the initial pose
    when OpenCV fails or the result lands behind the camera.
    """
    import cv2

    obj = np.ascontiguousarray(object_points, dtype=np.float64).reshape(-1, 1, 3)
    img = np.ascontiguousarray(image_points, dtype=np.float64).reshape(-1, 1, 2)
    rvec0, _ = cv2.Rodrigues(np.asarray(R0, np.float64))
    tvec0 = np.asarray(t0, np.float64).reshape(3, 1).copy()
    try:
        ok, rvec, tvec = cv2.solvePnP(obj, img, np.asarray(K, np.float64), None, rvec0.copy(), tvec0.copy(),
                                      useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    except cv2.error:
        ok = False
    if not ok or not np.all(np.isfinite(tvec)) or tvec[2, 0] <= 0:
        return np.asarray(R0, np.float64), np.asarray(t0, np.float64).reshape(3)
    R, _ = cv2.Rodrigues(rvec)
    return R, tvec.reshape(3)


def ray_rotation(t) -> np.ndarray:
    """Smallest rotation (..., 3, 3) taking the camera's optical axis (0, 0, 1) onto the line of
    sight to the point t (..., 3) (OpenCV frame). Identity for a point on the optical axis."""
    t = np.asarray(t, dtype=np.float64)
    d = t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-12)
    z = np.zeros_like(d)
    z[..., 2] = 1.0
    v = np.cross(z, d)                      # axis * sin(angle)
    c = d[..., 2]                           # cos(angle)
    vx = np.zeros(d.shape[:-1] + (3, 3))
    vx[..., 0, 1], vx[..., 0, 2], vx[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    vx[..., 1, 0], vx[..., 2, 0], vx[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    k = 1.0 / np.maximum(1.0 + c, 1e-12)
    return np.eye(3) + vx + (vx @ vx) * k[..., None, None]


def view_relative_rotation(R_cv, t) -> np.ndarray:
    """Head rotation relative to the line of sight: ``ray_rotation(t).T @ R_cv`` (..., 3, 3).

    This is what the image shows (and what weak-perspective benchmark labels such as 300W-LP's
    measure): a head away from the image centre that faces the camera's axis is seen from the
    side, so it looks turned; after this correction a head that faces the camera looks frontal.
    Equals ``R_cv`` for a head on the optical axis.
    """
    return np.swapaxes(ray_rotation(t), -1, -2) @ np.asarray(R_cv, dtype=np.float64)


def _rodrigues(w: np.ndarray) -> np.ndarray:
    th = float(np.linalg.norm(w))
    if th < 1e-12:
        return np.eye(3)
    k = w / th
    Kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(th) * Kx + (1.0 - np.cos(th)) * (Kx @ Kx)


def refine_pose_with_depth(object_points, image_points, rel_depth, K, R0, t0, depth_weight: float = 3.0,
                           iters: int = 3, depth_pairs=None, depth_points=None, depth_contrast=None,
                           point_weights=None):
    """Levenberg-Marquardt refinement of a pose on reprojection error plus a relative-depth prior.

    Minimises ``sum |proj(R X_i + t) - u_i|^2 + depth_weight^2 * sum (d_i(R, t) - z_i)^2`` where
    ``d_i = f * (Z_i - mean Z) / t_z`` is the predicted depth of point i relative to the mean, in
    pixel units, and ``z_i`` the observed relative depth (e.g. MediaPipe's landmark z, which uses
    the x scale), centred here. The depth term keeps the yaw of strongly turned heads, which 2D
    landmarks alone underestimate.

    ``depth_pairs`` (M, 2) index pairs into ``depth_points`` (default: the object points) switch the
    depth term to differences within each pair, ``(d_i - d_j) - (z_i - z_j)``: with left/right
    mirror pairs it constrains yaw only, leaving pitch to the 2D landmarks (MediaPipe's depth is
    least reliable along the face's vertical profile). ``depth_contrast`` (M, D) gives the linear
    combinations of depths to compare directly (rows should sum to 0); it overrides both.

    object_points (N, 3) m head frame, image_points (N, 2) px, K (3, 3), R0 (3, 3), t0 (3,) initial
    pose; rel_depth (N,) px, or (D,) when ``depth_points`` (D, 3) are given; point_weights (N,) optional
    non-negative weights of the reprojection residuals (e.g. visibility) -> (R (3, 3), t (3,)).
    """
    P = np.asarray(object_points, np.float64)
    uv = np.asarray(image_points, np.float64)
    Q = P if depth_points is None else np.asarray(depth_points, np.float64)
    zq = np.asarray(rel_depth, np.float64)
    if depth_contrast is not None:
        C = np.asarray(depth_contrast, np.float64).reshape(-1, len(Q))
    elif depth_pairs is None:
        C = np.eye(len(Q)) - 1.0 / len(Q)
    else:
        pr = np.asarray(depth_pairs, np.int64).reshape(-1, 2)
        C = np.zeros((len(pr), len(Q)))
        C[np.arange(len(pr)), pr[:, 0]] = 1.0
        C[np.arange(len(pr)), pr[:, 1]] = -1.0
    zo = C @ zq
    m = len(zo)
    K = np.asarray(K, np.float64)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    f = 0.5 * (fx + fy)
    lam = float(depth_weight)
    R, t = np.asarray(R0, np.float64).copy(), np.asarray(t0, np.float64).reshape(3).copy()
    n = len(P)
    sw = np.ones(n) if point_weights is None else np.sqrt(np.clip(np.asarray(point_weights, np.float64), 0, None))

    def residuals(R, t):
        RP = P @ R.T
        X = RP + t
        RQ = RP if depth_points is None else Q @ R.T
        dzc = C @ RQ[:, 2]
        r = np.empty(2 * n + m)
        r[0:2 * n:2] = sw * (fx * X[:, 0] / X[:, 2] + cx - uv[:, 0])
        r[1:2 * n:2] = sw * (fy * X[:, 1] / X[:, 2] + cy - uv[:, 1])
        r[2 * n:] = lam * (dzc * f / t[2] - zo)
        return r, RP, X, (RQ, dzc)

    r, RP, X, dzc = residuals(R, t)
    cost = r @ r
    mu = 1e-3
    J = np.zeros((2 * n + m, 6))
    for _ in range(iters):
        Z = X[:, 2]
        ju = np.zeros((n, 3))
        ju[:, 0], ju[:, 2] = sw * fx / Z, -sw * fx * X[:, 0] / Z ** 2
        jv = np.zeros((n, 3))
        jv[:, 1], jv[:, 2] = sw * fy / Z, -sw * fy * X[:, 1] / Z ** 2
        # left perturbation dX = w x RP: d(row . X)/dw = RP x row
        J[0:2 * n:2, :3], J[0:2 * n:2, 3:] = np.cross(RP, ju), ju
        J[1:2 * n:2, :3], J[1:2 * n:2, 3:] = np.cross(RP, jv), jv
        RQ, dz = dzc
        dz_dw = np.stack([RQ[:, 1], -RQ[:, 0], np.zeros(len(RQ))], -1)
        J[2 * n:, :3] = lam * (C @ dz_dw) * f / t[2]
        J[2 * n:, 3:5] = 0.0
        J[2 * n:, 5] = -lam * dz * f / t[2] ** 2
        H = J.T @ J
        g = J.T @ r
        improved = False
        for _ in range(5):
            step = -np.linalg.solve(H + mu * np.diag(np.diag(H) + 1e-9), g)
            R_new, t_new = _rodrigues(step[:3]) @ R, t + step[3:]
            if t_new[2] > 1e-6:
                r_new, RP_new, X_new, dzc_new = residuals(R_new, t_new)
                c_new = r_new @ r_new
                if c_new < cost:
                    R, t, r, RP, X, dzc, cost = R_new, t_new, r_new, RP_new, X_new, dzc_new, c_new
                    mu = max(mu * 0.1, 1e-9)
                    improved = True
                    break
            mu *= 10.0
        if not improved or np.abs(step).max() < 1e-9:
            break
    return orthonormalize(R), t
