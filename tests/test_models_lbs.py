"""Pure LBS functions against smplx.lbs on random data (float64)."""
import pytest
import torch

from headgen.geometry.rotations import axis_angle_to_matrix
from headgen.models import lbs as L

smplx_lbs = pytest.importorskip("smplx.lbs")

V, K, J, B = 200, 12, 5, 4
PARENTS = torch.tensor([-1, 0, 1, 1, 1])


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    d = dict(v_template=torch.randn(V, 3, generator=g, dtype=torch.float64) * 0.1,
             shapedirs=torch.randn(V, 3, K, generator=g, dtype=torch.float64) * 1e-2,
             posedirs=torch.randn(9 * (J - 1), V * 3, generator=g, dtype=torch.float64) * 1e-3,
             J_regressor=torch.rand(J, V, generator=g, dtype=torch.float64),
             lbs_weights=torch.softmax(torch.randn(V, J, generator=g, dtype=torch.float64) * 3, 1),
             betas=torch.randn(B, K, generator=g, dtype=torch.float64),
             pose=torch.randn(B, J * 3, generator=g, dtype=torch.float64) * 0.5)
    d["J_regressor"] /= d["J_regressor"].sum(1, keepdim=True)
    return d


def test_blend_shapes_layouts(data):
    ref = smplx_lbs.blend_shapes(data["betas"], data["shapedirs"])
    flat = L.flatten_basis(data["shapedirs"])
    assert flat.shape == (K, V * 3)
    assert torch.allclose(L.blend_shapes(data["betas"], flat), ref)
    assert torch.allclose(L.blend_shapes(data["betas"], data["shapedirs"]), ref)
    assert torch.allclose(L.blend_shapes(data["betas"], flat.view(K, V, 3)), ref)
    # fewer coefficients than basis vectors use the first ones
    assert torch.allclose(L.blend_shapes(data["betas"][:, :5], flat),
                          smplx_lbs.blend_shapes(data["betas"][:, :5], data["shapedirs"][..., :5]))


def test_rodrigues_and_joints(data):
    aa = data["pose"].view(-1, 3)
    assert torch.allclose(L.batch_rodrigues(aa), axis_angle_to_matrix(aa), atol=1e-7)
    assert torch.allclose(L.batch_rodrigues(aa), smplx_lbs.batch_rodrigues(aa))
    vs = data["v_template"].expand(B, -1, -1)
    assert torch.allclose(L.vertices2joints(data["J_regressor"], vs),
                          smplx_lbs.vertices2joints(data["J_regressor"], vs))
    # zero pose -> identity relative transforms, joints unchanged
    rot = torch.eye(3, dtype=torch.float64).expand(B, J, 3, 3)
    jts = torch.randn(B, J, 3, dtype=torch.float64)
    pj, A = L.batch_rigid_transform(rot, jts, PARENTS)
    assert torch.allclose(pj, jts) and torch.allclose(A, torch.eye(4, dtype=torch.float64).expand(B, J, 4, 4))
    assert L.kinematic_chain(3, PARENTS) == [3, 1, 0]


@pytest.mark.parametrize("precomputed", [False, True])
def test_lbs_matches_smplx(data, precomputed):
    d = data
    ref_v, ref_j = smplx_lbs.lbs(d["betas"], d["pose"], d["v_template"], d["shapedirs"], d["posedirs"],
                                 d["J_regressor"], PARENTS, d["lbs_weights"])
    kw = {}
    if precomputed:
        kw = dict(J_template=d["J_regressor"] @ d["v_template"],
                  J_shapedirs=torch.einsum("jv,vdk->kjd", d["J_regressor"], d["shapedirs"]).reshape(K, -1))
    v, j = L.lbs(d["betas"], d["pose"], d["v_template"], L.flatten_basis(d["shapedirs"]), d["posedirs"],
                 d["J_regressor"], PARENTS, d["lbs_weights"], **kw)
    assert torch.allclose(v, ref_v, atol=1e-12) and torch.allclose(j, ref_j, atol=1e-12)
    # matrices instead of axis-angle
    mats = L.batch_rodrigues(d["pose"].view(-1, 3)).view(B, J, 3, 3)
    v2, _ = L.lbs(d["betas"], mats, d["v_template"], d["shapedirs"], d["posedirs"], d["J_regressor"], PARENTS,
                  d["lbs_weights"], pose2rot=False)
    assert torch.allclose(v2, ref_v, atol=1e-12)


def test_soa_skinning_matches(data):
    g = torch.Generator().manual_seed(2)
    rot = L.batch_rodrigues(torch.randn(B * J, 3, generator=g, dtype=torch.float64)).view(B, J, 3, 3)
    _, A = L.batch_rigid_transform(rot, torch.randn(B, J, 3, generator=g, dtype=torch.float64), PARENTS)
    vp = torch.randn(B, V, 3, generator=g, dtype=torch.float64)
    ref = torch.einsum("vj,bjrc,bvc->bvr", data["lbs_weights"], A[:, :, :3, :3], vp) + \
        torch.einsum("vj,bjr->bvr", data["lbs_weights"], A[:, :, :3, 3])
    assert torch.allclose(L.skin_vertices(vp, data["lbs_weights"], A), ref)
    soa = L.skin_vertices_soa(vp.transpose(1, 2).contiguous(), data["lbs_weights"].t().contiguous(), A)
    assert torch.allclose(soa.transpose(1, 2), ref)
    flat = L.flatten_basis(data["shapedirs"])
    s = L.to_soa_basis(flat)
    assert torch.equal(s.view(K, 3, V).transpose(1, 2).reshape(K, -1), flat)


def test_landmarks_from_barycentric():
    verts = torch.randn(2, 10, 3, dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    f = torch.tensor([1, 2])
    bary = torch.tensor([[1.0, 0, 0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    out = L.landmarks_from_barycentric(verts, faces, f, bary)
    assert torch.allclose(out[:, 0], verts[:, 3])
    assert torch.allclose(out[:, 1], 0.2 * verts[:, 6] + 0.3 * verts[:, 7] + 0.5 * verts[:, 8])
    ref = smplx_lbs.vertices2landmarks(verts, faces, f.expand(2, -1).contiguous(), bary.expand(2, -1, -1))
    assert torch.allclose(out, ref)
    # per-frame face ids / bary
    fb = torch.tensor([[0, 1], [2, 0]])
    bb = torch.rand(2, 2, 3, dtype=torch.float64)
    assert torch.allclose(L.landmarks_from_barycentric(verts, faces, fb, bb),
                          smplx_lbs.vertices2landmarks(verts, faces, fb, bb))


def test_dynamic_contour_lookup_matches_smplx():
    g = torch.Generator().manual_seed(1)
    faces = torch.randint(0, 100, (79, 17), generator=g)
    bary = torch.rand(79, 17, 3, generator=g, dtype=torch.float64)
    yaw = torch.tensor([0.0, 0.3, -0.3, 1.2, -1.2, 0.1], dtype=torch.float64)
    pose = torch.zeros(6, 15, dtype=torch.float64)
    pose[:, 1] = yaw
    pose[:, 0] = 0.1
    ref_f, ref_b = smplx_lbs.find_dynamic_lmk_idx_and_bcoords(
        torch.zeros(6, 1, 3, dtype=torch.float64), pose, faces, bary, torch.tensor([0]))
    rot = L.batch_rodrigues(pose[:, :3]).view(6, 1, 3, 3)
    f, b = L.find_dynamic_lmk_idx_and_bcoords(rot, faces, bary)
    assert torch.equal(f, ref_f) and torch.allclose(b, ref_b)
    assert len({tuple(r.tolist()) for r in f}) == 6  # every yaw picked a different bin
