"""MediaPipe-468 embedding on ICT-FaceKit: accuracy, validity, symmetry, caching, part selections."""
import numpy as np
import pytest
import torch

from headgen.errors import InputError
from headgen.models import load_head_model
from headgen.models.embedding import (closest_points_on_triangles, compute_mediapipe_embedding,
                                      load_canonical_mesh, load_or_compute_mediapipe_embedding,
                                      mediapipe_embedding_for_model, mirror_pairs, project_to_surface)
from headgen.geometry.procrustes import umeyama


@pytest.fixture(scope="module")
def ict_face():
    return load_head_model("ict", parts="face")


@pytest.fixture(scope="module")
def embedding(ict_face):
    return mediapipe_embedding_for_model(ict_face)


def test_closest_point_matches_brute_force():
    rng = np.random.default_rng(0)
    tri = rng.normal(size=(200, 3, 3))
    p = rng.normal(size=(200, 3)) * 1.5
    q, bary = closest_points_on_triangles(p, tri[:, 0], tri[:, 1], tri[:, 2])
    # dense barycentric sampling of each triangle (includes edges and corners)
    n = 60
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    w = np.stack([i[keep], j[keep], n - i[keep] - j[keep]], 1) / n            # S,3
    samples = np.einsum("sk,tkd->tsd", w, tri)                                 # T,S,3
    brute = np.linalg.norm(samples - p[:, None], axis=-1).min(1)
    exact = np.linalg.norm(q - p, axis=1)
    assert (exact <= brute + 1e-9).all()
    assert np.allclose(exact, brute, atol=0.05 * np.abs(tri).max())
    assert (bary >= 0).all() and np.allclose(bary.sum(1), 1)
    assert np.allclose(np.einsum("tk,tkd->td", bary, tri), q)


def test_umeyama_recovers_similarity():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(30, 3))
    a = rng.normal(size=3)
    th = np.linalg.norm(a)
    k = a / th
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    R = np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * K @ K
    dst = 0.37 * src @ R.T + np.array([1.0, -2.0, 0.5])
    s, R2, t = umeyama(src, dst)
    assert abs(s - 0.37) < 1e-9 and np.allclose(R2, R) and np.allclose(t, [1.0, -2.0, 0.5])


def test_embedding_accuracy_and_validity(ict_face, embedding):
    face_ids, bary, st = embedding
    assert face_ids.shape == (468,) and bary.shape == (468, 3)
    assert face_ids.min() >= 0 and face_ids.max() < ict_face.num_faces
    assert (bary >= -1e-9).all() and (bary <= 1 + 1e-9).all() and np.allclose(bary.sum(1), 1.0)
    # measured on ICT-FaceKit Light: mean 1.3 mm, max 8.2 mm (canonical point -> surface); 0.7 mm mean
    # on the 51 inner iBUG points; canonical -> ICT scale ~0.0099 m per canonical cm
    assert st["mean_mm"] < 2.5 and st["max_mm"] < 15.0
    assert st["ibug_mean_mm"] < 1.5 and st["ibug_max_mm"] < 4.0
    assert st["ibug_mean_mm"] < st["landmark_mean_mm"]          # the non-rigid step helps
    assert 0.008 < st["scale"] < 0.012
    # only face-component triangles are used
    face_v = np.zeros(ict_face.num_vertices, bool)
    face_v[ict_face.regions["face"].numpy()] = True
    assert face_v[ict_face.faces.numpy()[face_ids]].all()


def test_embedding_left_right_consistent(ict_face, embedding):
    face_ids, bary, _ = embedding
    ict_face.set_landmark_embedding("mediapipe", face_ids, bary)
    pts = ict_face.neutral().landmarks468[0].numpy()
    pairs = mirror_pairs(load_canonical_mesh()[0])
    assert len(pairs) > 200
    a, b = pts[pairs[:, 0]], pts[pairs[:, 1]]
    err = np.abs(a * np.array([-1.0, 1.0, 1.0]) - b) * 1000       # mm
    assert err.max() < 2.0, err.max()
    # and the mirrored pairs really are on opposite sides
    assert (np.sign(a[:, 0]) != np.sign(b[:, 0])).all()


def test_cached_and_registered(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADGEN_CACHE", str(tmp_path))
    m = load_head_model("ict", parts="face")
    r1 = load_or_compute_mediapipe_embedding(m)
    assert r1["cache_path"].is_file() and r1["cache_path"].parent == tmp_path / "embeddings"
    assert m.has_landmarks("mediapipe")
    out = m.neutral()
    assert out.landmarks468.shape == (1, 468, 3) and torch.isfinite(out.landmarks468).all()
    # second model: served from the cache (computation disabled)
    import headgen.models.embedding as emb
    monkeypatch.setattr(emb, "compute_mediapipe_embedding", lambda *a, **k: pytest.fail("not cached"))
    m2 = load_head_model("ict", parts="face")
    r2 = load_or_compute_mediapipe_embedding(m2)
    assert np.array_equal(r1["face_ids"], r2["face_ids"]) and np.allclose(r1["bary"], r2["bary"])
    assert r2["stats"]["mean_mm"] == pytest.approx(r1["stats"]["mean_mm"])
    # the loader hook uses it
    m3 = load_head_model("ict", parts="face", mediapipe=True)
    assert m3.has_landmarks("mediapipe")


def test_valid_for_other_part_selections(tmp_path, monkeypatch, ict_face, embedding):
    monkeypatch.setenv("HEADGEN_CACHE", str(tmp_path))
    ict_face.set_landmark_embedding("mediapipe", embedding[0], embedding[1])
    ref = ict_face.neutral().landmarks468[0]
    head = load_head_model("ict", parts="head")
    load_or_compute_mediapipe_embedding(head)
    got = head.neutral().landmarks468[0]
    assert (got - ref).abs().max() < 1e-5      # same 3-D points, face ids relative to the other submesh


def test_bad_inputs(ict_face):
    v = ict_face.template.numpy().astype(np.float64)
    f = ict_face.faces.numpy()
    lm = np.zeros((68, 3))
    bad = v.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        compute_mediapipe_embedding(bad, f, lm)
    with pytest.raises(InputError, match="landmarks68"):
        compute_mediapipe_embedding(v, f, np.zeros((51, 3)))
    with pytest.raises(InputError, match="face_mask"):
        project_to_surface(np.zeros((2, 3)), v, f, face_mask=np.zeros(3, bool))
    with pytest.raises(InputError, match="vertex ids"):
        project_to_surface(np.zeros((2, 3)), v[:10], f)
