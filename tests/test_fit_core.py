"""Fit core on a synthetic linear head model: energies, rigid init, batched optimisation, lost frames,
multi-view cameras, metrics. Fast (no assets, no MediaPipe)."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from headgen.geometry.conventions import HEAD_TO_OPENCV
from headgen.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68
from headgen.models import energy
from headgen.stages.fit.basis import LinearLandmarks, landmark_function
from headgen.geometry.procrustes import umeyama
from headgen.geometry.rig import Camera, default_camera, load_cameras, parse_cameras, save_cameras
from headgen.stages.fit.interpolate import interpolate_linear, interpolate_rotations, neighbour_weights
from headgen.stages.fit.metrics import inner_lip_distance, nme_mean, nme_per_frame, pearson
from headgen.stages.fit.optimize import FitConfig, Observations, fit_landmarks
from headgen.errors import InputError

S, E = 6, 5


class ToyHead(torch.nn.Module):
    """A random linear 'head model' following the head-model API: 468 points on a face-like cap
    (metres, +y up, +z out of the face), 68 = the MediaPipe subset, linear shape/expression."""

    model_name = "toy"

    def __init__(self, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        u = torch.rand(468, generator=g) * 2 - 1
        v = torch.rand(468, generator=g) * 2 - 1
        x, y = 0.07 * u, 0.09 * v
        z = 0.09 - 0.6 * (x * x + y * y) / 0.09 + 0.01 * torch.sin(8 * u)
        self.register_buffer("mean", torch.stack([x, y, z], -1))
        self.register_buffer("sdirs", 0.004 * torch.randn(S, 468, 3, generator=g))
        self.register_buffer("edirs", 0.012 * torch.randn(E, 468, 3, generator=g))
        self.n_shape, self.n_expression = S, E
        self.expression_names = [f"e{i}" for i in range(E)]

    def forward(self, shape=None, expression=None, rotation=None, translation=None, **kw):
        B = max(x.shape[0] for x in (shape, expression) if x is not None) if (shape is not None or expression is not None) else 1
        v = self.mean.expand(B, -1, -1)
        if shape is not None:
            v = v + torch.einsum("bs,svc->bvc", shape.expand(B, -1), self.sdirs)
        if expression is not None:
            v = v + torch.einsum("be,evc->bvc", expression.expand(B, -1), self.edirs)
        if rotation is not None:
            v = v @ rotation.transpose(-1, -2)
        if translation is not None:
            v = v + translation[:, None]
        return SimpleNamespace(vertices=v, landmarks468=v, landmarks68=v[:, MEDIAPIPE_TO_IBUG68])


def _truth(T=24, seed=1):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T, dtype=torch.float32)
    shape = torch.randn(S, generator=g)
    expr = (0.5 + 0.4 * torch.sin(t[:, None] * 0.3 + torch.arange(E)[None])).clamp(0, 1)
    aa = torch.stack([0.15 * torch.sin(0.2 * t), 0.3 * torch.sin(0.13 * t), 0.05 * torch.cos(0.1 * t)], -1)
    R = torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32) @ axis_angle_to_matrix(aa)
    trans = torch.stack([0.02 * torch.sin(0.1 * t), -0.01 + 0 * t, 0.6 + 0.03 * torch.cos(0.15 * t)], -1)
    return shape, expr, R, trans


def _observe(model, shape, expr, R, trans, K, R_cam=None, t_cam=None, noise=0.0, seed=2):
    out = model(shape=shape[None], expression=expr)
    X = out.landmarks468 @ R.transpose(-1, -2) + trans[:, None]
    if R_cam is not None:
        X = X @ R_cam.T + t_cam
    p = X @ torch.as_tensor(K, dtype=torch.float32).T
    uv = p[..., :2] / p[..., 2:]
    if noise:
        uv = uv + noise * torch.randn(uv.shape, generator=torch.Generator().manual_seed(seed))
    z = (X[..., 2] - X[..., 2].mean(-1, keepdim=True)) * K[0, 0] / X[..., 2].mean(-1, keepdim=True)
    return uv.numpy(), z.numpy()


@pytest.fixture(scope="module")
def toy():
    model = ToyHead()
    return model, landmark_function(model)


def test_linear_basis_matches_model(toy):
    model, lmf = toy
    assert isinstance(lmf, LinearLandmarks) and lmf.has_468
    s, e = torch.randn(3, S), torch.rand(3, E)
    ref = model(shape=s, expression=e)
    got = lmf(s, e)
    assert torch.allclose(got.lm468, ref.landmarks468, atol=1e-6)
    assert torch.allclose(got.lm68, ref.landmarks68, atol=1e-6)


def test_robust_losses_and_smoothness():
    r2 = torch.tensor([0.0, 1.0, 100.0, 1e6])
    gm = energy.geman_mcclure(r2, 5.0)
    assert gm[0] == 0 and abs(gm[1] - 25 / 26) < 1e-6 and gm[-1] < 25.0 + 1e-3   # saturates at sigma^2
    hu = energy.huber(r2, 2.0)
    assert torch.allclose(hu[:2], r2[:2]) and abs(hu[2] - (2 * 2 * 10 - 4)) < 1e-4
    line = torch.arange(10.0)[:, None] * torch.tensor([1.0, -2.0])
    assert energy.smoothness(line, 0.0, 1.0) < 1e-10        # constant velocity: no 2nd-difference cost
    assert energy.smoothness(line, 1.0, 0.0) > 1.0
    assert energy.smoothness(line[:1]) == 0                  # a single frame
    # landmark term ignores NaN targets and zero weights
    pred = torch.zeros(1, 3, 2)
    tgt = torch.tensor([[[0.0, 0.0], [float("nan"), 1.0], [3.0, 4.0]]])
    e = energy.landmark_term(pred, tgt, torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([100.0]), "l2")
    assert e == 0


def test_umeyama_recovers_similarity():
    g = torch.Generator().manual_seed(0)
    src = torch.randn(2, 30, 3, generator=g)
    R = axis_angle_to_matrix(torch.tensor([[0.3, -0.5, 0.2], [2.5, 0.1, 0.0]]))
    s = torch.tensor([3.0, 0.5])
    t = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]])
    dst = s[:, None, None] * src @ R.transpose(-1, -2) + t[:, None]
    s2, R2, t2 = umeyama(src, dst, torch.ones(2, 30))
    assert torch.allclose(s2, s, atol=1e-4) and torch.allclose(R2, R, atol=1e-4) and torch.allclose(t2, t, atol=1e-4)


def test_fit_recovers_synthetic_sequence(toy):
    model, lmf = toy
    shape, expr, R, trans = _truth()
    K = default_camera(640, 480).K
    uv, z = _observe(model, shape, expr, R, trans, K, noise=0.3)
    obs = Observations.monocular(uv[:, MEDIAPIPE_TO_IBUG68], K, lm468=uv, lm468_z=z)
    cfg = FitConfig(w_shape=1e-4, w_expression=1e-3, w_expression_l1=0.0, iters_rigid=60, iters_full=400)
    res = fit_landmarks(lmf, obs, cfg)
    # reprojection ~ the noise level (0.3 px of ~70 px IOD), pose and expression recovered
    err = (res.landmarks468_2d[0] - torch.as_tensor(uv)).norm(dim=-1).mean()
    assert err < 0.6, err
    ang = matrix_to_axis_angle(res.rotation @ R.transpose(-1, -2)).norm(dim=-1)
    assert ang.max() < math.radians(2.0), ang.max()
    assert (res.translation - trans).norm(dim=-1).max() < 0.02
    assert (res.expression - expr).abs().mean() < 0.08
    assert res.expression.min() >= 0 and res.expression.max() <= 1      # ICT-style bounds kept
    assert res.valid.all() and res.landmarks68_2d.shape == (1, 24, 68, 2)
    nme = nme_per_frame(res.landmarks68_2d[0].numpy(), uv[:, MEDIAPIPE_TO_IBUG68])
    assert nme_mean(nme) < 0.01


def test_lost_frames_are_interpolated_and_flagged(toy):
    model, lmf = toy
    shape, expr, R, trans = _truth(T=20)
    K = default_camera(640, 480).K
    uv, z = _observe(model, shape, expr, R, trans, K)
    lost = np.zeros(20, bool)
    lost[[0, 7, 8, 9, 19]] = True
    uv[lost] = np.nan
    z[lost] = np.nan
    obs = Observations.monocular(uv[:, MEDIAPIPE_TO_IBUG68], K, lm468=uv, lm468_z=z)
    res = fit_landmarks(lmf, obs, FitConfig(iters_rigid=30, iters_full=150))
    assert (res.valid == ~lost).all()
    for x in (res.rotation, res.translation, res.expression, res.landmarks68_2d):
        assert torch.isfinite(x).all()
    # interpolated translation lies between its valid neighbours (linear in time)
    t6, t10 = res.translation[6], res.translation[10]
    assert torch.allclose(res.translation[8], 0.5 * (t6 + t10), atol=1e-5)
    assert torch.allclose(res.translation[0], res.translation[1]) and torch.allclose(res.translation[19], res.translation[18])
    # no face at all: a clear error, not a crash inside the optimiser
    obs_none = Observations.monocular(np.full((3, 68, 2), np.nan), K)
    with pytest.raises(ValueError, match="no face"):
        fit_landmarks(lmf, obs_none, FitConfig(iters_rigid=1, iters_full=1))


def test_multiview_fit_shares_shape(toy):
    model, lmf = toy
    shape, expr, R, trans = _truth(T=10)
    # world = camera 0; camera 1 rotated 35 degrees about the head (+y down axis in OpenCV)
    centre = torch.tensor([0.0, -0.01, 0.6])
    Rc1 = axis_angle_to_matrix(torch.tensor([0.0, math.radians(35), 0.0]))
    tc1 = centre - Rc1 @ centre
    K = default_camera(640, 480).K
    cams = [Camera(K=K, image_size=(640, 480), name="a"),
            Camera(K=K, R=Rc1.numpy().astype(np.float64), t=tc1.numpy().astype(np.float64), image_size=(640, 480), name="b")]
    uv0, z0 = _observe(model, shape, expr, R, trans, K)
    uv1, z1 = _observe(model, shape, expr, R, trans, K, Rc1, tc1)
    f = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)
    lm = np.stack([uv0, uv1])
    obs = Observations(lm68=f(lm[:, :, MEDIAPIPE_TO_IBUG68]), valid=torch.ones(2, 10, dtype=torch.bool),
                       K=f(np.stack([c.K for c in cams])), R_cam=f(np.stack([c.R for c in cams])),
                       t_cam=f(np.stack([c.t for c in cams])), lm468=f(lm), lm468_z=f(np.stack([z0, z1])))
    res = fit_landmarks(lmf, obs, FitConfig(w_shape=1e-4, w_expression=1e-3, w_expression_l1=0.0, iters_full=300))
    assert res.landmarks468_2d.shape == (2, 10, 468, 2)
    err = (res.landmarks468_2d - f(lm)).norm(dim=-1).mean()
    assert err < 0.5, err
    assert (res.translation - trans).norm(dim=-1).max() < 0.01   # two views pin down depth


def test_interpolation_helpers():
    valid = np.array([False, True, False, False, True, False])
    prev, nxt, a = neighbour_weights(valid)
    assert prev.tolist() == [1, 1, 1, 1, 4, 4] and nxt.tolist() == [1, 1, 4, 4, 4, 4]
    x = torch.tensor([[9.0], [1.0], [9.0], [9.0], [4.0], [9.0]])
    assert interpolate_linear(x, valid)[:, 0].tolist() == [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    R = axis_angle_to_matrix(torch.tensor([[0, 0, 0.0], [0, 0, 0.0], [1, 1, 1.0], [1, 1, 1.0], [0, 0, 0.9], [0, 0, 0.0]]))
    Ri = interpolate_rotations(R, valid)
    aa = matrix_to_axis_angle(Ri)
    assert torch.allclose(aa[2], torch.tensor([0, 0, 0.3]), atol=1e-4)
    assert torch.allclose(aa[3], torch.tensor([0, 0, 0.6]), atol=1e-4)
    with pytest.raises(ValueError):
        neighbour_weights(np.zeros(3, bool))


def test_metrics():
    tgt = np.zeros((2, 68, 2))
    tgt[:, 36] = [0, 0]
    tgt[:, 45] = [100, 0]
    pred = tgt + np.array([3.0, 4.0])         # 5 px everywhere
    nme = nme_per_frame(pred, tgt)
    assert np.allclose(nme, 0.05)
    assert math.isclose(nme_mean(np.array([0.1, np.nan, 0.3])), 0.2)
    assert math.isclose(pearson(np.arange(5), 2 * np.arange(5) + 1), 1.0)
    lm = np.zeros((1, 468, 2))
    lm[0, 33], lm[0, 263], lm[0, 13], lm[0, 14] = [0, 0], [100, 0], [50, 50], [50, 60]
    assert np.allclose(inner_lip_distance(lm), 0.1)


def test_cameras_json_roundtrip_and_errors(tmp_path):
    K = [[500, 0, 320], [0, 500, 240], [0, 0, 1]]
    doc = {"cameras": [{"name": "left", "K": K, "R": np.eye(3).tolist(), "t": [0, 0, 0], "image_size": [640, 480]},
                       {"name": "right", "K": K, "rvec": [0, 0.5, 0], "t": [-0.3, 0, 0.05],
                        "dist": [0.1, -0.05, 0, 0, 0], "image_size": [640, 480]}]}
    p = tmp_path / "cams.json"
    p.write_text(json.dumps(doc))
    cams = load_cameras(p)
    assert [c.name for c in cams] == ["left", "right"] and cams[1].dist.shape == (5,)
    assert np.allclose(cams[1].R @ cams[1].R.T, np.eye(3), atol=1e-9)
    save_cameras(cams, tmp_path / "again.json")
    again = load_cameras(tmp_path / "again.json")
    assert np.allclose(again[1].R, cams[1].R) and again[1].image_size == (640, 480)
    # undistortion is a no-op without distortion and moves points with it
    pts = np.array([[[600.0, 50.0]]])
    assert np.allclose(cams[0].undistort_points(pts), pts)
    assert not np.allclose(cams[1].undistort_points(pts), pts)
    for bad, msg in [({"cameras": []}, "non-empty"), ([{"R": np.eye(3).tolist()}], "no 'K'"),
                     ([{"K": K, "R": [[2, 0, 0], [0, 1, 0], [0, 0, 1]], "image_size": [1, 1]}], "not a rotation"),
                     ([{"K": K}], "image_size"), ([{"K": [[1, 2]], "image_size": [2, 2]}], "shape")]:
        with pytest.raises(InputError, match=msg):
            parse_cameras(bad, "x.json")
    with pytest.raises(InputError, match="not found"):
        load_cameras(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InputError, match="bad.json"):
        load_cameras(tmp_path / "bad.json")


def test_fit_runs_on_cuda_when_available(toy):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model, _ = toy
    shape, expr, R, trans = _truth(T=8)
    K = default_camera(640, 480).K
    uv, z = _observe(model, shape, expr, R, trans, K)
    cfg = FitConfig(iters_full=100)
    ref = fit_landmarks(landmark_function(model), Observations.monocular(uv[:, MEDIAPIPE_TO_IBUG68], K, lm468=uv,
                                                                          lm468_z=z), cfg)
    gpu_model = ToyHead().cuda()
    uv_t = torch.as_tensor(uv).cuda()   # torch CUDA inputs are taken as they are
    obs = Observations.monocular(uv_t[:, MEDIAPIPE_TO_IBUG68], K, lm468=uv_t, lm468_z=z, device="cuda")
    res = fit_landmarks(landmark_function(gpu_model), obs, cfg)
    assert res.rotation.is_cuda and torch.isfinite(res.expression).all()
    diff = (res.landmarks68_2d.cpu() - ref.landmarks68_2d).abs()   # px: the same fit on either device
    assert diff.mean() < 0.2 and diff.max() < 2.0, (diff.mean(), diff.max())


def test_flame_path_fits_jaw_through_forward():
    """A skinned model (random FLAME-format file): non-linear jaw fitted per frame through the model
    forward, partial 468 embedding (NaN rows ignored), no z for the init (planar lift)."""
    from headgen.models import load_head_model
    from headgen.testing.flame import write_random_flame_folder
    from headgen.stages.fit.basis import ForwardLandmarks
    from headgen.stages.fit.optimize import config_for_model
    import tempfile

    d = tempfile.mkdtemp()
    write_random_flame_folder(d, seed=3)
    m = load_head_model("flame", path=d, mediapipe=True)
    lmf = landmark_function(m)
    assert isinstance(lmf, ForwardLandmarks) and lmf.extra_params == {"jaw": (3,)}
    T = 6
    g = torch.Generator().manual_seed(0)
    R = torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32).expand(T, 3, 3)
    t = torch.tensor([0.0, 0.0, 0.6]).expand(T, 3)
    out = m(shape=0.3 * torch.randn(1, m.n_shape, generator=g), expression=0.3 * torch.randn(T, m.n_expression, generator=g),
            jaw=torch.tensor([[0.1, 0, 0]]).expand(T, 3), rotation=R, translation=t)
    K = default_camera(640, 480).K
    p = out.landmarks468 @ torch.as_tensor(K, dtype=torch.float32).T
    uv = (p[..., :2] / p[..., 2:]).numpy()
    assert np.isnan(uv[0, :, 0]).any()                       # partial embedding
    obs = Observations.monocular(uv[:, MEDIAPIPE_TO_IBUG68], K, lm468=uv, valid=np.ones(T, bool))
    res = fit_landmarks(lmf, obs, config_for_model(m, iters_full=200))
    err = np.nanmean(np.linalg.norm(res.landmarks468_2d[0].numpy() - uv, axis=-1))
    assert err < 1.0, err
    assert res.extra["jaw"].shape == (T, 3) and 0.03 < float(res.extra["jaw"][:, 0].mean()) < 0.15


def test_fit_stage_requests_a_gpu_only_for_cuda():
    from headgen.stages.fit.stage import FitStage
    assert FitStage.resources_for({"device": "cuda"})["num_gpus"] == 1
    assert FitStage.resources_for({"device": "cpu"})["num_gpus"] == 0
    assert FitStage.resources_for({"device": "auto"})["num_gpus"] == 0


def test_fit_without_a_468_embedding_uses_the_68_landmarks():
    """A model without the MediaPipe embedding (FLAME folder lacking mediapipe_landmark_embedding.npz):
    the rigid init and the fit run on the model's own 68 landmarks."""
    import tempfile
    from pathlib import Path

    from headgen.models import load_head_model
    from headgen.testing.flame import write_random_flame_folder
    from headgen.stages.fit.optimize import config_for_model

    d = Path(tempfile.mkdtemp())
    write_random_flame_folder(d, seed=4)
    (d / "mediapipe_landmark_embedding.npz").unlink()
    m = load_head_model("flame", path=d)
    assert not m.has_landmarks("mediapipe")
    lmf = landmark_function(m)
    T = 5
    R = torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32).expand(T, 3, 3)
    out = m(rotation=R, translation=torch.tensor([0.0, 0.0, 0.6]).expand(T, 3))
    K = default_camera(640, 480).K
    p = out.landmarks68 @ torch.as_tensor(K, dtype=torch.float32).T
    uv = (p[..., :2] / p[..., 2:]).numpy()
    res = fit_landmarks(lmf, Observations.monocular(uv, K, valid=np.ones(T, bool)), config_for_model(m, iters_full=100))
    assert res.landmarks468_2d is None
    err = np.linalg.norm(res.landmarks68_2d[0].numpy() - uv, axis=-1)[:, 17:].mean()
    assert err < 2.0, err
