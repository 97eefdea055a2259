"""MediaPipe's canonical face mesh (468 vertices == face-mesh landmarks) and its Procrustes weights.

``load_canonical_face()`` -> :class:`CanonicalFace` with vertices in metres in the head-model frame
(+x subject's left, +y up, +z out of the face; the OBJ is in centimetres with the same axes), the
triangles, and per-landmark weights (468,) that are non-zero only on the 33 stable landmarks
MediaPipe's face-geometry pipeline uses for its Procrustes pose solve
(``geometry_pipeline_metadata_landmarks.pbtxt``). Files come from ``headgen.assets.mediapipe_file``.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from headgen.assets import mediapipe_file
from headgen.geometry.conventions import METRES_PER_CENTIMETRE
from headgen.io.mesh import read_obj_triangles

__all__ = ["CanonicalFace", "load_canonical_face", "mirror_pairs"]


@dataclass(frozen=True)
class CanonicalFace:
    """vertices (468, 3) metres, head frame; faces (F, 3) int64; procrustes_weights (468,) sum 1;
    procrustes_ids (33,) landmark indices with non-zero weight."""
    vertices: np.ndarray
    faces: np.ndarray
    procrustes_weights: np.ndarray
    procrustes_ids: np.ndarray


def _read_weights(path, n: int) -> np.ndarray:
    text = open(path, encoding="utf-8").read()
    pairs = re.findall(r"landmark_id:\s*(\d+)\s+weight:\s*([0-9.eE+-]+)", text)
    if not pairs:
        raise ValueError(f"{path}: no procrustes_landmark_basis entries found")
    w = np.zeros(n)
    for i, v in pairs:
        w[int(i)] = float(v)
    return w / w.sum()


@functools.lru_cache(maxsize=1)
def load_canonical_face() -> CanonicalFace:
    """Load (once, cached) the canonical face mesh and Procrustes weights; see module doc."""
    v_cm, faces = read_obj_triangles(mediapipe_file("canonical_face_model.obj"))
    if v_cm.shape != (468, 3):
        raise ValueError(f"canonical_face_model.obj: expected 468 vertices, got {v_cm.shape[0]}")
    w = _read_weights(mediapipe_file("geometry_pipeline_metadata_landmarks.pbtxt"), len(v_cm))
    verts = v_cm * METRES_PER_CENTIMETRE
    for a in (verts, faces, w):
        a.setflags(write=False)
    ids = np.flatnonzero(w)
    ids.setflags(write=False)
    return CanonicalFace(vertices=verts, faces=faces, procrustes_weights=w, procrustes_ids=ids)


def mirror_pairs(vertices, ids=None, tol: float = 1e-4) -> np.ndarray:
    """Left/right mirror pairs among canonical vertices: (M, 2) indices (into ``ids`` when given,
    else into ``vertices``) of points i (x > 0) and j with ``(x_j, y_j, z_j) = (-x_i, y_i, z_i)``
    within ``tol`` (same units as vertices). Points on the mid-plane are left out."""
    V = np.asarray(vertices, np.float64)
    idx = np.arange(len(V)) if ids is None else np.asarray(ids, np.int64)
    P = V[idx]
    mirrored = P * np.array([-1.0, 1.0, 1.0])
    d = np.linalg.norm(P[:, None, :] - mirrored[None, :, :], axis=-1)   # d[a, b] = |P_a - mirror(P_b)|
    pairs = [(a, int(np.argmin(d[:, a]))) for a in range(len(P))
             if P[a, 0] > tol and d[:, a].min() <= tol]
    return np.asarray(pairs, np.int64).reshape(-1, 2)
