"""Dense landmark embedding: MediaPipe's 468 canonical face-mesh points as (face id, barycentric) on a head mesh.

Method (computed by project code, no external embedding file):

1. correspondences: the model's 68 iBUG landmarks (its ``"ibug68"`` embedding on the neutral mesh) and the
   same 68 points on MediaPipe's canonical mesh (``headgen.landmarks.ibug68.MEDIAPIPE_TO_IBUG68``); only
   the 51 inner points (brows, nose, eyes, lips) are used, the jaw contour mapping is approximate;
2. similarity alignment of the canonical mesh onto the model (Umeyama, with scale);
3. optional non-rigid refinement: a smoothed thin-plate-spline displacement field fitted to the 51
   landmark residuals, applied to all 468 points;
4. closest-surface projection onto the model's face triangles (vectorised point-triangle distance over
   the k nearest candidate triangles per point).

Results are cached under ``headgen.assets.cache_dir()/embeddings/<digest>.npz`` keyed by a digest of every
input (mesh, landmark positions, canonical mesh, parameters).
"""
from __future__ import annotations

import hashlib

import numpy as np

from headgen.errors import InputError
from headgen.geometry.procrustes import umeyama
from headgen.io.atomic import write_npz_atomic

__all__ = [
    "EMBEDDING_VERSION", "INNER_IBUG_IDS", "load_canonical_mesh", "closest_points_on_triangles",
    "project_to_surface", "compute_mediapipe_embedding", "mediapipe_embedding_for_model",
    "load_or_compute_mediapipe_embedding", "mirror_pairs",
]

EMBEDDING_VERSION = "1"
#: iBUG-68 indices used for alignment: everything but the jaw contour (0..16)
INNER_IBUG_IDS = np.arange(17, 68)


# ----------------------------------------------------------------------------------------------------------
# inputs
def load_canonical_mesh(path=None) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe canonical face model -> (vertices (468,3) float64 centimetres, +y up, +z out of the face;
    faces (F,3) int64). path: the OBJ (default: ``headgen.assets.mediapipe_file("canonical_face_model.obj")``)."""
    if path is None:
        from headgen.assets import mediapipe_file
        path = mediapipe_file("canonical_face_model.obj")
    from headgen.io.mesh import read_obj_triangles
    try:
        v, fc = read_obj_triangles(path)
    except (OSError, ValueError, IndexError) as e:
        raise InputError(f"{path}: cannot read the MediaPipe canonical mesh ({e})") from e
    if v.shape != (468, 3) or fc.ndim != 2 or fc.shape[1:] != (3,):
        raise InputError(f"{path}: expected 468 vertices and triangles, got {v.shape} / {fc.shape}")
    return v, fc


def _as_array(x, name: str, shape: tuple, dtype=np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=dtype)
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise InputError(f"{name}: expected shape {want}, got {a.shape}")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return a


# ----------------------------------------------------------------------------------------------------------
# geometry helpers
def closest_points_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray]:
    """Closest point to ``p`` on triangles (a, b, c), vectorised (Ericson, Real-Time Collision Detection 5.1.5).

    All inputs broadcast to (..., 3). Returns (closest points (..., 3), barycentric weights (..., 3) of
    the closest point w.r.t. (a, b, c); non-negative, rows sum to 1).
    """
    p, a, b, c = np.broadcast_arrays(*(np.asarray(x, np.float64) for x in (p, a, b, c)))
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    eps = 1e-30
    # interior (default)
    denom = va + vb + vc
    denom = np.where(np.abs(denom) < eps, eps, denom)
    v = vb / denom
    w = vc / denom
    bary = np.stack([1 - v - w, v, w], -1)
    done = np.zeros(p.shape[:-1], bool)

    def assign(mask, u_, v_, w_):
        nonlocal done
        m = mask & ~done
        bary[m] = np.stack([u_, v_, w_], -1)[m]
        done |= m

    one, zero = np.ones_like(d1), np.zeros_like(d1)
    assign((d1 <= 0) & (d2 <= 0), one, zero, zero)                       # vertex a
    assign((d3 >= 0) & (d4 <= d3), zero, one, zero)                      # vertex b
    assign((d6 >= 0) & (d5 <= d6), zero, zero, one)                      # vertex c
    t_ab = d1 / np.where(np.abs(d1 - d3) < eps, eps, d1 - d3)
    assign((vc <= 0) & (d1 >= 0) & (d3 <= 0), 1 - t_ab, t_ab, zero)      # edge ab
    t_ac = d2 / np.where(np.abs(d2 - d6) < eps, eps, d2 - d6)
    assign((vb <= 0) & (d2 >= 0) & (d6 <= 0), 1 - t_ac, zero, t_ac)      # edge ac
    den_bc = (d4 - d3) + (d5 - d6)
    t_bc = (d4 - d3) / np.where(np.abs(den_bc) < eps, eps, den_bc)
    assign((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), zero, 1 - t_bc, t_bc)   # edge bc
    bary = np.clip(bary, 0.0, 1.0)
    bary /= bary.sum(-1, keepdims=True)
    q = bary[..., :1] * a + bary[..., 1:2] * b + bary[..., 2:] * c
    return q, bary


def project_to_surface(points, vertices, faces, face_mask=None, k: int = 48
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest point on a triangle mesh for each query point.

    points (N,3), vertices (V,3), faces (F,3) ints, face_mask (F,) bool (allowed faces; None = all).
    Candidates are the k triangles with the nearest centroids (KD-tree); the exact point-triangle distance
    picks the best. Returns (face_ids (N,) int64 into ``faces``, bary (N,3), distance (N,)), units of input.
    """
    from scipy.spatial import cKDTree

    points = _as_array(points, "points", (None, 3))
    vertices = _as_array(vertices, "vertices", (None, 3))
    faces = _as_array(faces, "faces", (None, 3), dtype=np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[0]):
        raise InputError(f"faces: vertex ids must be in [0, {vertices.shape[0]})")
    allowed = np.arange(faces.shape[0]) if face_mask is None else np.nonzero(
        _as_array(face_mask, "face_mask", (faces.shape[0],), dtype=bool))[0]
    if allowed.size == 0:
        raise InputError("project_to_surface: no faces to project onto (empty face_mask)")
    tri = vertices[faces[allowed]]                                   # F',3,3
    tree = cKDTree(tri.mean(1))
    k = int(min(k, allowed.size))
    _, cand = tree.query(points, k=k)
    cand = cand.reshape(points.shape[0], k)
    t = tri[cand]                                                   # N,k,3,3
    q, bary = closest_points_on_triangles(points[:, None], t[..., 0, :], t[..., 1, :], t[..., 2, :])
    dist = np.linalg.norm(q - points[:, None], axis=-1)             # N,k
    best = dist.argmin(1)
    rows = np.arange(points.shape[0])
    return allowed[cand[rows, best]], bary[rows, best], dist[rows, best]


def mirror_pairs(vertices: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """(P,2) index pairs (i, j) with vertex j the x-mirror of vertex i (within ``tol``), i < j, of a
    left-right symmetric point set (N,3); points on the symmetry plane are not listed."""
    from scipy.spatial import cKDTree

    v = _as_array(vertices, "vertices", (None, 3))
    d, j = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
    i = np.arange(v.shape[0])
    keep = (d < tol) & (j > i)
    return np.stack([i[keep], j[keep]], 1)


# ----------------------------------------------------------------------------------------------------------
# the embedding
def compute_mediapipe_embedding(vertices, faces, landmarks68, face_mask=None, *, nonrigid: bool = True,
                                smoothing: float = 1e-3, k: int = 48, units_to_mm: float = 1000.0,
                                canonical=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Barycentric embedding of MediaPipe's 468 canonical landmarks on a head mesh.

    vertices (V,3) neutral mesh (model frame: +y up, +z out of the face; metres by default), faces (F,3),
    landmarks68 (68,3) the iBUG-68 landmark positions on that mesh, face_mask (F,) bool: faces of the face
    region (None = all). nonrigid: refine the similarity alignment with a thin-plate-spline warp fitted to
    the 51 inner landmarks (``smoothing`` relative to the squared landmark scale). units_to_mm: factor from
    mesh units to millimetres (1000 for metres). canonical: optional (468,3) canonical vertices (default:
    the shipped MediaPipe OBJ).
    Returns (face_ids (468,) int64 into ``faces``, bary (468,3) float64, stats) with stats keys
    ``mean_mm``/``max_mm`` (aligned canonical point -> its projection, final), ``rigid_mean_mm``/
    ``rigid_max_mm`` (same after the similarity only), ``landmark_mean_mm`` (51-point alignment residual
    after similarity), ``ibug_mean_mm``/``ibug_max_mm`` (the embedded MediaPipe points standing for the 51
    inner iBUG landmarks vs the model's own landmarks, final), ``scale`` (canonical units -> mesh units).
    """
    vertices = _as_array(vertices, "vertices", (None, 3))
    faces = _as_array(faces, "faces", (None, 3), dtype=np.int64)
    landmarks68 = _as_array(landmarks68, "landmarks68", (68, 3))
    canon = load_canonical_mesh()[0] if canonical is None else _as_array(canonical, "canonical", (468, 3))
    from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68

    src = canon[MEDIAPIPE_TO_IBUG68[INNER_IBUG_IDS]]
    dst = landmarks68[INNER_IBUG_IDS]
    s, R, t = umeyama(src, dst)
    aligned = canon @ (s * R).T + t
    lm_res = np.linalg.norm(aligned[MEDIAPIPE_TO_IBUG68[INNER_IBUG_IDS]] - dst, axis=1)
    _, _, d_rigid = project_to_surface(aligned, vertices, faces, face_mask, k)
    pts = aligned
    if nonrigid:
        from scipy.interpolate import RBFInterpolator

        ctrl = aligned[MEDIAPIPE_TO_IBUG68[INNER_IBUG_IDS]]
        scale = float(np.sqrt(((ctrl - ctrl.mean(0)) ** 2).sum(1).mean()))
        # normalised coordinates so that `smoothing` does not depend on the mesh units
        rbf = RBFInterpolator(ctrl / scale, (dst - ctrl) / scale, kernel="thin_plate_spline",
                              smoothing=smoothing * len(ctrl), degree=1)
        pts = aligned + rbf(aligned / scale) * scale
    face_ids, bary, dist = project_to_surface(pts, vertices, faces, face_mask, k)
    on_surf = (bary[:, :, None] * vertices[faces[face_ids]]).sum(1)
    ib = np.linalg.norm(on_surf[MEDIAPIPE_TO_IBUG68[INNER_IBUG_IDS]] - dst, axis=1)
    stats = {
        "mean_mm": float(dist.mean() * units_to_mm), "max_mm": float(dist.max() * units_to_mm),
        "rigid_mean_mm": float(d_rigid.mean() * units_to_mm), "rigid_max_mm": float(d_rigid.max() * units_to_mm),
        "landmark_mean_mm": float(lm_res.mean() * units_to_mm),
        "ibug_mean_mm": float(ib.mean() * units_to_mm), "ibug_max_mm": float(ib.max() * units_to_mm),
        "scale": float(s),
    }
    return face_ids.astype(np.int64), bary, stats


def _model_mesh(model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(vertices (V,3) m, faces (F,3), landmarks68 (68,3) m, face_mask (F,) or None) of a head model's
    neutral mean-shape mesh in the model frame."""
    import torch

    if not model.has_landmarks("ibug68"):
        raise InputError(f"{getattr(model, 'model_name', 'head model')}: needs an 'ibug68' landmark embedding "
                         f"to compute the MediaPipe embedding")
    with torch.no_grad():
        out = model.neutral()
    verts = out.vertices_model[0].double().cpu().numpy()
    # landmarks are in the output frame, which for neutral() (no rotation/translation) is the model frame
    lm = out.landmarks68[0].double().cpu().numpy()
    faces = model.faces.cpu().numpy()
    mask = None
    regions = model.regions
    if "face" in regions:
        inside = np.zeros(verts.shape[0], bool)
        inside[regions["face"].cpu().numpy()] = True
        mask = inside[faces].all(1)
        if not mask.any():
            mask = None
    return verts, faces, lm, mask


def mediapipe_embedding_for_model(model, **kwargs) -> tuple[np.ndarray, np.ndarray, dict]:
    """:func:`compute_mediapipe_embedding` on a head model's neutral mesh (face ids into ``model.faces``),
    restricted to its "face" region when it has one. kwargs go to compute_mediapipe_embedding."""
    verts, faces, lm, mask = _model_mesh(model)
    return compute_mediapipe_embedding(verts, faces, lm, mask, **kwargs)


def _digest(*arrays, extra: str = "") -> str:
    h = hashlib.sha256(f"mediapipe-embedding v{EMBEDDING_VERSION} {extra}".encode())
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        if np.issubdtype(a.dtype, np.floating):
            a = np.round(a.astype(np.float64), 7)       # stable across float32/64 round trips
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:32]


def load_or_compute_mediapipe_embedding(model, *, cache: bool = True, register: bool = True, **kwargs) -> dict:
    """MediaPipe-468 embedding of ``model`` (e.g. ICT-FaceKit), computed once and cached.

    If the model already has a ``"mediapipe"`` embedding (e.g. FLAME's file) that one is returned.
    Otherwise it is computed on the model's neutral mesh (:func:`mediapipe_embedding_for_model`), cached
    under ``cache_dir()/embeddings/<digest>.npz`` and, with ``register``, set on the model with
    ``model.set_landmark_embedding("mediapipe", face_ids, bary)`` (ids into this model's faces, so valid
    for its part selection). Returns ``{"face_ids": (468,), "bary": (468,3), "stats": dict,
    "cache_path": Path | None}``.
    """
    if model.has_landmarks("mediapipe"):
        f, b = model.landmark_embedding("mediapipe")
        return {"face_ids": f.cpu().numpy(), "bary": b.cpu().numpy(), "stats": {}, "cache_path": None}
    verts, faces, lm, mask = _model_mesh(model)
    canon = load_canonical_mesh()[0]
    params = {k: kwargs[k] for k in sorted(kwargs)}
    key = _digest(verts, faces, lm, mask, canon, extra=repr(params))
    path = None
    result = None
    if cache:
        from headgen.assets import cache_dir
        path = cache_dir() / "embeddings" / f"{key}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    f_ids, bary = z["face_ids"].astype(np.int64), z["bary"].astype(np.float64)
                    stats = {k[6:]: float(z[k]) for k in z.files if k.startswith("stats_")}
                if f_ids.shape == (468,) and bary.shape == (468, 3) and f_ids.max() < faces.shape[0]:
                    result = (f_ids, bary, stats)
            except (OSError, ValueError, KeyError):
                result = None  # unreadable cache entry: recompute and overwrite
    if result is None:
        result = compute_mediapipe_embedding(verts, faces, lm, mask, canonical=canon, **kwargs)
        if cache:
            write_npz_atomic(path, dict(face_ids=result[0], bary=result[1],
                                        **{f"stats_{k}": np.float64(v) for k, v in result[2].items()}))
    f_ids, bary, stats = result
    if register:
        model.set_landmark_embedding("mediapipe", f_ids, bary)
    return {"face_ids": f_ids, "bary": bary, "stats": stats, "cache_path": path}
