"""Synthetic FLAME-format model files (random; NOT the real FLAME, which users supply) for tests and
benchmarks of ``headgen.models.flame``."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_random_flame(num_vertices: int | None = None, n_shape: int = 300, n_expression: int = 100,
                      seed: int = 0, subdivisions: int = 3) -> dict[str, np.ndarray]:
    """A random FLAME-format model dict (for tests and benchmarks; NOT the real FLAME).

    The template is an ellipsoid head (half-axes 0.08 x 0.11 x 0.10 m) from an icosphere (``subdivisions``) or,
    when ``num_vertices`` is given, random points on it with random triangles. Keys as in a FLAME pickle:
    v_template (V, 3), shapedirs (V, 3, S+E), posedirs (V, 3, 36), J_regressor (5, V) dense, weights (V, 5),
    kintree_table (2, 5) (root parent 2**32-1 as in FLAME), f (F, 3) int64.
    """
    rng = np.random.default_rng(seed)
    if num_vertices is None:
        import trimesh
        ico = trimesh.creation.icosphere(subdivisions=subdivisions)
        v, f = np.asarray(ico.vertices), np.asarray(ico.faces, np.int64)
    else:
        v = rng.normal(size=(num_vertices, 3))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        f = rng.integers(0, num_vertices, size=(2 * num_vertices - 4, 3))
    V = v.shape[0]
    v = v * np.array([0.08, 0.11, 0.10])
    K = n_shape + n_expression
    shapedirs = rng.normal(scale=2e-3, size=(V, 3, K)) / np.sqrt(1 + np.arange(K))
    posedirs = rng.normal(scale=1e-3, size=(V, 3, 36))
    logits = rng.normal(size=(V, 5)) * 2
    logits[:, 0] += 2
    weights = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    Jr = rng.random((5, V)) ** 8
    Jr /= Jr.sum(1, keepdims=True)
    kintree = np.array([[2 ** 32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)
    return {"v_template": v, "shapedirs": shapedirs, "posedirs": posedirs, "J_regressor": Jr,
            "weights": weights, "kintree_table": kintree, "f": f}


def write_random_flame_folder(folder, seed: int = 0, sparse_regressor: bool = True, **kwargs) -> Path:
    """Write a random FLAME-format model + landmark embeddings into ``folder`` (tests/benchmarks).

    Files: FLAME_NEUTRAL.pkl (smplx's file name; plain numpy arrays, J_regressor as scipy csc when
    ``sparse_regressor``), flame_static_embedding.pkl (51 points), flame_dynamic_embedding.npy (79 x 17),
    mediapipe_landmark_embedding.npz (105 points), FLAME_masks.pkl ('face' = front half, 'scalp' = rest),
    FLAME_texture.npz (random vt/ft).
    Returns the model file path.
    """
    import pickle
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    d = make_random_flame(seed=seed, **kwargs)
    rng = np.random.default_rng(seed + 1)
    if sparse_regressor:
        import scipy.sparse as sp
        d = dict(d, J_regressor=sp.csc_matrix(d["J_regressor"]))
    model = folder / "FLAME_NEUTRAL.pkl"
    with open(model, "wb") as fh:
        pickle.dump(d, fh, protocol=2)
    F = d["f"].shape[0]

    def bary(*shape):
        b = rng.random(shape + (3,)) + 0.05
        return b / b.sum(-1, keepdims=True)
    front = np.nonzero(d["v_template"][d["f"]][:, :, 2].min(1) > 0)[0]
    with open(folder / "flame_static_embedding.pkl", "wb") as fh:
        pickle.dump({"lmk_face_idx": rng.choice(front, 51).astype(np.uint32), "lmk_b_coords": bary(51)}, fh,
                    protocol=2)
    np.save(folder / "flame_dynamic_embedding.npy",
            np.array({"lmk_face_idx": rng.choice(front, (79, 17)).astype(np.int64), "lmk_b_coords": bary(79, 17)},
                     dtype=object), allow_pickle=True)
    np.savez(folder / "mediapipe_landmark_embedding.npz", lmk_face_idx=rng.choice(front, 105).astype(np.int64),
             lmk_b_coords=bary(105), landmark_indices=np.sort(rng.choice(468, 105, replace=False)))
    np.savez(folder / "FLAME_texture.npz", vt=rng.random((F + 7, 2)), ft=rng.integers(0, F + 7, size=(F, 3)))
    vz = d["v_template"][:, 2]
    with open(folder / "FLAME_masks.pkl", "wb") as fh:
        pickle.dump({"face": np.nonzero(vz > 0)[0], "scalp": np.nonzero(vz <= 0)[0]}, fh, protocol=2)
    return model
