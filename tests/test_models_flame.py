"""FLAME loader + LBS against smplx.FLAME on random FLAME-format files written to a temp folder."""
import pickle

import numpy as np
import pytest
import torch

from headgen.errors import InputError
from headgen.models import load_head_model
from headgen.models.flame import FLAME
from headgen.testing.flame import write_random_flame_folder

smplx = pytest.importorskip("smplx")

B = 3


@pytest.fixture(scope="module")
def flame_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("flame")
    write_random_flame_folder(d, seed=3)
    return d


@pytest.fixture(scope="module")
def models(flame_dir):
    ours = load_head_model("flame", path=flame_dir, dtype=torch.float64, mediapipe=True)
    ref = smplx.FLAME(model_path=str(flame_dir), gender="neutral", num_betas=300, num_expression_coeffs=100,
                      batch_size=B, dtype=torch.float64, use_face_contour=True)
    return ours, ref


def _params(seed=0, yaw=None):
    g = torch.Generator().manual_seed(seed)
    p = dict(shape=torch.randn(B, 300, generator=g, dtype=torch.float64),
             expression=torch.randn(B, 100, generator=g, dtype=torch.float64),
             rotation=0.4 * torch.randn(B, 3, generator=g, dtype=torch.float64),
             translation=0.1 * torch.randn(B, 3, generator=g, dtype=torch.float64),
             jaw=0.2 * torch.randn(B, 3, generator=g, dtype=torch.float64),
             neck=0.2 * torch.randn(B, 3, generator=g, dtype=torch.float64),
             eyes=0.2 * torch.randn(B, 2, 3, generator=g, dtype=torch.float64))
    if yaw is not None:
        p["rotation"] = torch.tensor([[0.0, y, 0.0] for y in yaw], dtype=torch.float64)
    return p


def _ref_forward(ours, ref, p):
    """smplx with the same pose: its global_orient rotates about the root joint J0 -> adjust transl."""
    R = ours(rotation=p["rotation"]).rotation
    J0 = ours.root_joint(p["shape"], p["expression"])
    t_ref = p["translation"] + torch.einsum("bij,bj->bi", R, J0) - J0
    return ref(betas=p["shape"], expression=p["expression"], global_orient=p["rotation"], transl=t_ref,
               jaw_pose=p["jaw"], neck_pose=p["neck"], leye_pose=p["eyes"][:, 0], reye_pose=p["eyes"][:, 1])


def test_vertices_and_joints_match_smplx(models):
    ours, ref = models
    p = _params(0)
    out = ours(**p)
    r = _ref_forward(ours, ref, p)
    assert out.vertices.shape == (B, ours.num_vertices, 3)
    assert (out.vertices - r.vertices).abs().max() < 1e-7  # smplx adds 1e-8 inside its Rodrigues norm
    assert (out.joints - r.joints[:, :5]).abs().max() < 1e-7  # smplx adds 1e-8 inside its Rodrigues norm
    # gradients w.r.t. shape / expression / pose agree
    names = ("shape", "expression", "jaw", "neck", "rotation")
    w = torch.randn(out.vertices.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    a = {k: v.clone().requires_grad_(k in names) for k, v in p.items()}
    (ours(**a).vertices * w).sum().backward()
    b = {k: v.clone().requires_grad_(k in names) for k, v in p.items()}
    (_ref_forward(ours, ref, b).vertices * w).sum().backward()
    for name in names:
        scale = float(b[name].grad.abs().max())
        assert scale > 0 and float((a[name].grad - b[name].grad).abs().max()) < 1e-6 * scale, name


def test_landmarks_match_smplx_static_and_dynamic(models):
    ours, ref = models
    p = _params(1, yaw=[0.0, 0.5, -0.6])  # different contour bins
    p["neck"].zero_()  # smplx picks the contour from the global rotation only (DECA also uses the neck)
    out = ours(**p)
    r = _ref_forward(ours, ref, p)
    lm_ref = r.joints[:, 5:]  # smplx: 51 static then 17 dynamic
    assert out.landmarks68.shape == (B, 68, 3)
    assert (out.landmarks68[:, 17:] - lm_ref[:, :51]).abs().max() < 1e-7  # smplx adds 1e-8 inside its Rodrigues norm
    assert (out.landmarks68[:, :17] - lm_ref[:, 51:]).abs().max() < 1e-7  # smplx adds 1e-8 inside its Rodrigues norm
    # yaw 0 uses the rest contour (row 0), other yaws pick other rows
    ours.dynamic_contour = False
    try:
        rest = ours(**p).landmarks68
    finally:
        ours.dynamic_contour = True
    assert torch.allclose(rest[0], out.landmarks68[0])
    assert (rest[1:, :17] - out.landmarks68[1:, :17]).abs().amax(dim=(1, 2)).min() > 1e-4


def test_mediapipe_partial_embedding_and_regions(models, flame_dir):
    ours, _ = models
    out = ours(**_params(2))
    valid = ours.landmark_valid("mediapipe")
    assert out.landmarks468.shape == (B, 468, 3)
    assert int(valid.sum()) == 105
    assert torch.isfinite(out.landmarks468[:, valid]).all() and torch.isnan(out.landmarks468[:, ~valid]).all()
    # embedding points sit on their triangles: inside the bounding box of their face's vertices
    z = np.load(flame_dir / "mediapipe_landmark_embedding.npz")
    tri = out.vertices[:, ours.faces[torch.as_tensor(z["lmk_face_idx"])]]  # (B, K, 3, 3)
    pts = out.landmarks468[:, torch.as_tensor(z["landmark_indices"])]
    assert (pts >= tri.min(2).values - 1e-12).all() and (pts <= tri.max(2).values + 1e-12).all()
    assert set(ours.regions) == {"face", "scalp"}


def test_deca_landmark_embedding_file(models, flame_dir, tmp_path):
    """DECA's landmark_embedding.npy (dict with torch tensors) gives the same landmarks as the smplx files."""
    import shutil
    ours, _ = models
    shutil.copy(flame_dir / "FLAME_NEUTRAL.pkl", tmp_path / "generic_model.pkl")
    st = pickle.load(open(flame_dir / "flame_static_embedding.pkl", "rb"), encoding="latin1")
    dy = np.load(flame_dir / "flame_dynamic_embedding.npy", allow_pickle=True)[()]
    deca = {"static_lmk_faces_idx": st["lmk_face_idx"].astype(np.int64), "static_lmk_bary_coords": st["lmk_b_coords"],
            "dynamic_lmk_faces_idx": torch.as_tensor(dy["lmk_face_idx"]),
            "dynamic_lmk_bary_coords": torch.as_tensor(dy["lmk_b_coords"])}
    np.save(tmp_path / "landmark_embedding.npy", np.array(deca, dtype=object), allow_pickle=True)
    m = FLAME(tmp_path, dtype=torch.float64)
    assert m.landmark_names == ["ibug68"] and not m.has_landmarks("mediapipe")
    p = _params(5, yaw=[0.0, 0.3, -0.5])
    assert torch.allclose(m(**p).landmarks68, ours(**p).landmarks68, atol=1e-12)


def test_face_part_submesh_matches_full(flame_dir):
    full = FLAME(flame_dir, dtype=torch.float64)
    face = FLAME(flame_dir, parts="face", dtype=torch.float64)
    assert face.num_vertices < full.num_vertices
    p = _params(4)
    a, b = full(**p), face(**p)
    assert torch.allclose(a.vertices[:, face.vertex_ids_full], b.vertices, atol=1e-12)
    assert torch.allclose(a.landmarks68, b.landmarks68, atol=1e-12)
    assert (face.faces.max() < face.num_vertices) and face.faces.min() >= 0
    # texture space follows the face selection
    t = np.load(flame_dir / "FLAME_texture.npz")
    assert torch.equal(full.faces_uv, torch.as_tensor(t["ft"])) and full.uvs.shape == t["vt"].shape
    assert torch.equal(face.faces_uv, full.faces_uv[face.full_face_to_model >= 0])


def test_partial_coefficients_and_broadcast(models):
    ours, _ = models
    s = torch.randn(1, 50, dtype=torch.float64)
    e = torch.randn(B, 20, dtype=torch.float64)
    a = ours(shape=s, expression=e)
    b = ours(shape=torch.nn.functional.pad(s, (0, 250)).expand(B, -1), expression=torch.nn.functional.pad(e, (0, 80)))
    assert torch.allclose(a.vertices, b.vertices)


def test_bad_inputs(models, flame_dir, tmp_path):
    ours, _ = models
    with pytest.raises(InputError, match=r"expression.*\(B, K\) with K <= 100"):
        ours(expression=torch.zeros(2, 101))
    with pytest.raises(InputError, match="jaw"):
        ours(jaw=torch.zeros(2, 4))
    with pytest.raises(InputError, match="NaN"):
        ours(shape=torch.full((1, 10), float("nan")))
    with pytest.raises(InputError, match="batch size"):
        ours(shape=torch.zeros(2, 10), expression=torch.zeros(3, 10))
    # truncated pickle
    bad = tmp_path / "generic_model.pkl"
    bad.write_bytes((flame_dir / "FLAME_NEUTRAL.pkl").read_bytes()[:1000])
    with pytest.raises(InputError, match="generic_model.pkl"):
        FLAME(bad)
    # wrong layout: shapedirs with the wrong vertex count
    d = pickle.load(open(flame_dir / "FLAME_NEUTRAL.pkl", "rb"), encoding="latin1")
    d["shapedirs"] = d["shapedirs"][:10]
    bad2 = tmp_path / "wrong.pkl"
    pickle.dump(d, open(bad2, "wb"))
    with pytest.raises(InputError, match=r"shapedirs.*expected shapes"):
        FLAME(bad2)
    with pytest.raises(InputError, match="not shipped"):
        load_head_model("flame")
    with pytest.raises(InputError, match="does not exist"):
        load_head_model("flame", path=tmp_path / "nope.pkl")
