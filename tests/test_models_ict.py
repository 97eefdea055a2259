"""ICT-FaceKit head model: parts, units, frame, landmarks, jaw/eyes driving, batching, gradients, errors."""
import sys
import types
import zipfile

import numpy as np
import pytest
import torch

from headgen.errors import InputError
from headgen.geometry.rotations import axis_angle_to_matrix
from headgen.models import HeadModel, load_head_model
from headgen.models.ict import ICTFaceKit, load_ict_arrays

try:
    from headgen.assets import ict_facekit_npz
    ict_facekit_npz()
except Exception:  # noqa: BLE001
    pytest.skip("ICT-FaceKit asset not available", allow_module_level=True)


@pytest.fixture(scope="module")
def face():
    return load_head_model("ict", parts="face")


@pytest.fixture(scope="module")
def full():
    return load_head_model("ict", parts="full")


def test_parts_sizes_and_topology(face, full):
    head = load_head_model("ict", parts="head")
    assert isinstance(face, HeadModel) and face.n_shape == 100 and face.n_expression == 53
    assert face.expression_names[26] == "jawOpen" and "eyeLookOut_L" in face.expression_names
    assert full.num_vertices == 26719 and full.num_faces == 52220 and full.uvs.shape == (28911, 2)
    assert face.num_vertices < head.num_vertices < full.num_vertices
    for m in (face, head, full):
        assert m.faces.dtype == torch.long and m.faces.min() >= 0 and m.faces.max() < m.num_vertices
        assert m.faces_uv.shape == m.faces.shape and m.faces_uv.max() < m.uvs.shape[0]
        assert len(torch.unique(m.faces)) == m.num_vertices  # no unreferenced vertices
    assert "eyeball_left" not in face.regions and "eyeball_left" in full.regions
    for m in (face, head):  # closed surfaces apart from one outline (face) / the neck cut (head)
        f = m.faces.numpy()
        e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), 1)
        u, c = np.unique(e, axis=0, return_counts=True)
        b = u[c == 1]
        import scipy.sparse as sp
        from scipy.sparse.csgraph import connected_components
        g = sp.coo_matrix((np.ones(len(b)), (b[:, 0], b[:, 1])), shape=(m.num_vertices,) * 2)
        lab = connected_components(g, directed=False)[1]
        assert len(np.unique(lab[np.unique(b)])) == 1
    assert {"face", "mouth_socket", "eye_socket_left", "full_face_area"} <= set(face.regions)
    # sub-meshes are exact restrictions of the full model (same frame / origin)
    g = torch.Generator().manual_seed(0)
    p = dict(shape=torch.randn(2, 100, generator=g), expression=torch.rand(2, 53, generator=g))
    assert torch.allclose(full(**p).vertices[:, face.vertex_ids_full], face(**p).vertices, atol=1e-6)
    assert torch.equal(full.faces[face.face_ids_full], face.vertex_ids_full[face.faces])


def test_units_frame_and_landmarks(full, face):
    v = full.neutral().vertices[0]
    width = float(v[:, 0].max() - v[:, 0].min())
    assert 0.15 < width < 0.30  # metres (npz is in cm)
    hn = v[full.regions["head_and_neck"]]
    assert 0.15 < float(hn[:, 0].max() - hn[:, 0].min()) < 0.25
    lm = face.neutral().landmarks68[0]
    assert torch.allclose(lm, face.neutral().vertices[0, face.landmarks68_ids])  # on the mesh
    assert int(lm[:, 2].argmax()) == 30  # nose tip is the most forward landmark (+z out of the face)
    assert lm[36:48, 1].min() > lm[48:68, 1].max()  # eyes above the mouth (+y up)
    assert lm[42:48, 0].min() > 0 > lm[36:42, 0].max()  # subject's left eye at +x
    # origin near the head centre: inside the head, close to the symmetry plane, at eye height
    assert abs(float(v[:, 0].mean())) < 1e-3
    assert float(hn[:, 2].min()) < 0 < float(v[:, 2].max())
    eyes_y = lm[36:48, 1].mean()
    assert abs(float(eyes_y)) < 0.02


def test_rigid_transform_batch_and_broadcast(face):
    g = torch.Generator().manual_seed(1)
    B = 4
    shape = torch.randn(1, 100, generator=g)
    expr = torch.rand(B, 53, generator=g) * 0.5
    aa = torch.randn(B, 3, generator=g) * 0.4
    t = torch.randn(B, 3, generator=g) * 0.1
    out = face(shape=shape, expression=expr, rotation=aa, translation=t)
    assert out.vertices.shape == (B, face.num_vertices, 3) and out.landmarks68.shape == (B, 68, 3)
    R = axis_angle_to_matrix(aa)
    base = face(shape=shape.expand(B, -1), expression=expr).vertices
    assert torch.allclose(out.vertices, base @ R.transpose(1, 2) + t[:, None], atol=1e-6)
    assert torch.allclose(out.vertices, face(shape=shape, expression=expr, rotation=R, translation=t).vertices,
                          atol=1e-6)
    assert torch.allclose(out.vertices_model, base)
    for i in range(B):  # batching = independent frames
        one = face(shape=shape, expression=expr[i], rotation=aa[i], translation=t[i])
        assert torch.allclose(one.vertices[0], out.vertices[i], atol=1e-6)
    # float64 models keep float64 end to end
    m64 = ICTFaceKit("face", dtype=torch.float64)
    o64 = m64(shape=shape, expression=expr, rotation=aa, translation=t)
    assert o64.vertices.dtype == torch.float64 and torch.allclose(o64.vertices.float(), out.vertices, atol=1e-5)
    # first K coefficients only
    part = face(shape=shape[:, :10])
    assert torch.allclose(part.vertices, face(shape=torch.nn.functional.pad(shape[:, :10], (0, 90))).vertices)


def test_gradients_are_exact_linear(face):
    shape = torch.zeros(2, 100, requires_grad=True)
    expr = torch.zeros(2, 53, requires_grad=True)
    out = face(shape=shape, expression=expr)
    out.landmarks68[:, 8, 1].sum().backward()  # chin height
    a = load_ict_arrays()
    chin_full = int(a["landmarks_multipie68"][8])
    assert torch.allclose(expr.grad[0, 26], torch.tensor(float(a["expression_deltas"][26, chin_full, 1]) * 0.01))
    assert torch.allclose(shape.grad[1, 5], torch.tensor(float(a["identity_deltas"][5, chin_full, 1]) * 0.01))


def test_jaw_and_eyes_drive_blendshapes(full):
    assert 0.2 < full.jaw_open_angle < 0.8
    jaw = torch.tensor([[0.15, 0.0, 0.0]])
    ex = torch.zeros(1, 53)
    ex[0, 26] = 0.15 / full.jaw_open_angle
    a, b = full(jaw=jaw), full(expression=ex)
    assert torch.allclose(a.vertices, b.vertices, atol=1e-7)
    assert float(a.landmarks68[0, 8, 1] - full.neutral().landmarks68[0, 8, 1]) < -0.005  # chin drops > 5 mm
    # eyes: yaw toward +x rotates the left eyeball rigidly about its centre and moves the iris to +x
    eyes = torch.zeros(1, 2, 3)
    eyes[0, 0, 1] = 0.3
    o = full(eyes=eyes)
    n = full.neutral()
    ids = full.regions["eyeball_left"]
    c = n.vertices[0, ids].mean(0) + full.eye_centre_offset[0]
    r0, r1 = (n.vertices[0, ids] - c).norm(dim=-1), (o.vertices[0, ids] - c).norm(dim=-1)
    assert torch.allclose(r0, r1, atol=1e-6)  # rigid rotation about the eyeball centre
    assert 0.012 < float(r0.median()) < 0.018  # eyeball radius ~1.5 cm
    front = ids[n.vertices[0, ids, 2].argmax()]  # pupil pole
    assert float(o.vertices[0, front, 0] - n.vertices[0, front, 0]) > 0.002
    assert torch.allclose(o.vertices[0, full.regions["eyeball_right"]], n.vertices[0, full.regions["eyeball_right"]],
                          atol=1e-7)
    w = o.vertices - n.vertices  # eyelid shape eyeLookOut_L was driven too
    assert float(w[0, full.regions["eyelashes_left"]].abs().max()) > 1e-4
    with pytest.raises(InputError, match="neck"):
        full(neck=torch.ones(1, 3) * 0.1)


def test_bad_inputs(face, tmp_path):
    with pytest.raises(InputError, match=r"expression.*\(B, K\) with K <= 53.*\(2, 54\)"):
        face(expression=torch.zeros(2, 54))
    with pytest.raises(InputError, match="translation"):
        face(translation=torch.zeros(2, 2))
    with pytest.raises(InputError, match="NaN"):
        face(shape=torch.tensor([[float("nan")] * 3]))
    with pytest.raises(InputError, match="batch size"):
        face(shape=torch.zeros(2, 3), expression=torch.zeros(3, 3))
    with pytest.raises(InputError, match="parts"):
        ICTFaceKit(parts="torso")
    bad = tmp_path / "ict_truncated.npz"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(InputError, match="ict_truncated.npz"):
        load_head_model("ict", path=bad)
    missing = tmp_path / "ict_missing_key.npz"
    np.savez(missing, neutral_vertices=np.zeros((3, 3), np.float32))
    with pytest.raises(InputError, match="missing key 'faces'"):
        load_head_model("ict", path=missing)
    assert zipfile.is_zipfile(missing)
    with pytest.raises(InputError, match="unknown head model"):
        load_head_model("smpl")


def test_cache_and_mediapipe_hook(face, monkeypatch):
    assert load_ict_arrays() is load_ict_arrays()  # one load per process
    calls = []

    def fake(model):
        calls.append(model)
        f = torch.arange(468) % model.num_faces
        return {"face_ids": f, "bary": torch.full((468, 3), 1 / 3)}
    mod = types.ModuleType("headgen.models.embedding")
    mod.load_or_compute_mediapipe_embedding = fake
    monkeypatch.setitem(sys.modules, "headgen.models.embedding", mod)
    m = load_head_model("ict", parts="face", mediapipe=True)
    assert calls == [m]
    out = m(expression=torch.zeros(3, 53))
    assert out.landmarks468.shape == (3, 468, 3) and torch.isfinite(out.landmarks468).all()
    tri = out.vertices[0, m.faces[:3]]
    assert torch.allclose(out.landmarks468[0, :3], tri.mean(1), atol=1e-7)
