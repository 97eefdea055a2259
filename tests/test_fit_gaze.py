"""Gaze: eyeball rotations fitted to iris centres - exact on synthetic pupils, right signs and useful
gain on rendered heads with known eye rotations, and the --gaze CLI artifacts."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from headgen.geometry.headpose import ypr_to_rotation
from headgen.models import load_head_model
from headgen.stages.fit.gaze import eye_rig, fit_gaze, gaze_directions, pupils_2d
from headgen.stages.fit.optimize import FitResult

K = torch.tensor([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]])


def _result(T, shape, expression, R, t):
    return FitResult(shape=shape, expression=expression, extra={}, rotation=R, translation=t, focal_scale=1.0,
                     K=K[None], landmarks68_2d=None, landmarks468_2d=None, landmarks68_3d=None,
                     valid=np.ones(T, bool), seconds=0.0)


@pytest.fixture(scope="module")
def ict_rig():
    try:
        model = load_head_model("ict", parts="face")
    except Exception as e:  # pragma: no cover - asset missing
        pytest.skip(f"ICT model unavailable: {e}")
    return model, eye_rig(model)


def test_pupil_formula_matches_the_model_and_gaze_is_recovered(ict_rig):
    model, rig = ict_rig
    assert rig is not None and rig.pupil_ids.shape == (2,)
    T = 30
    g = torch.Generator().manual_seed(0)
    R = torch.tensor(np.stack([ypr_to_rotation(30 * np.sin(i / 5), 5, 3) for i in range(T)]), dtype=torch.float32)
    res = _result(T, 0.5 * torch.randn(100, generator=g), 0.3 * torch.rand(T, 53, generator=g), R,
                  torch.tensor([[0.02, -0.01, 0.6]]).expand(T, 3))
    true = torch.zeros(T, 2, 3)
    true[..., 0] = 0.2 * torch.sin(torch.arange(T) / 7.0)[:, None]
    true[..., 1] = 0.15
    # the fast pupil formula equals the model's own eyeball rotation
    verts = rig.model(shape=res.shape[None].expand(T, -1), expression=res.expression, rotation=R,
                      translation=res.translation, eyes=true).vertices[:, rig.pupil_ids]
    uv_model = verts[..., :2] / verts[..., 2:] * 800.0 + torch.tensor([320.0, 240.0])
    uv = pupils_2d(rig, res, true, K, torch.eye(3), torch.zeros(3))
    assert (uv - uv_model).abs().max() < 1e-3
    iris = uv.numpy().copy()
    iris[3, 1] = np.nan                       # one eye unseen in one frame
    eyes, err = fit_gaze(rig, res, iris, K)
    assert eyes.shape == (T, 2, 3) and torch.isnan(err[3, 1]) and torch.isfinite(err[3, 0])
    assert float((eyes - true).abs().max()) < np.radians(0.5)
    # gaze directions: unit vectors; looking down (pitch > 0) points to +y in a frontal camera view
    c, d = gaze_directions(rig, res, eyes)
    assert torch.allclose(d.norm(dim=-1), torch.ones(T, 2), atol=1e-5)


def test_no_iris_leaves_eyes_at_rest(ict_rig):
    _, rig = ict_rig
    res = _result(2, torch.zeros(100), torch.zeros(2, 53), torch.tensor(ypr_to_rotation(0, 0, 0), dtype=torch.float32)
                  .expand(2, 3, 3), torch.tensor([[0.0, 0.0, 0.6]]).expand(2, 3))
    eyes, err = fit_gaze(rig, res, np.full((2, 2, 2), np.nan), K)
    assert torch.all(eyes == 0) and torch.isnan(err).all()
    with pytest.raises(ValueError, match="iris_px"):
        fit_gaze(rig, res, np.zeros((3, 2, 2)), K)


def test_gaze_on_rendered_heads_with_known_eye_rotations(tmp_path):
    """ICT head with eyeballs, textured from a real photo, rendered with the eyes turned; MediaPipe's
    iris centres are coarse at this size (about 1-2 px), so the test checks signs and a minimum gain:
    measured, yaw +-14.3 deg reads +8.9 / -8.6 deg, pitch +-11.5 deg reads +2.8 / -3.0 deg."""
    pytest.importorskip("mediapipe")
    import test_pose_known as known
    from headgen.io.images import write_image
    from headgen.landmarks.mediapipe_backend import FaceLandmarker
    from headgen.stages.fit.fitting import fit_media
    from headgen.stages.fit.params import FitParams

    parts = ["face", "head_and_neck", "mouth_socket", "eye_socket_left", "eye_socket_right", "eyeball_left",
             "eyeball_right", "teeth"]
    with FaceLandmarker(max_faces=1) as lm:
        _, F, cols = known.textured_head(lm, "codait_luciano", parts)
    model = load_head_model("ict", parts=parts)
    Kr = known.render_camera()
    fitted = {}
    for pitch, yaw in [(0, 0.25), (0, -0.25), (0.2, 0), (-0.2, 0)]:
        eyes = torch.tensor([[[pitch, yaw, 0.0]] * 2])
        V = model(eyes=eyes).vertices[0].double().numpy()
        p = tmp_path / f"eyes_{pitch}_{yaw}.png"
        write_image(p, known.known_pose.render_head(V, F, cols, ypr_to_rotation(10, 0, 0), Kr))
        fit_media(p, tmp_path / f"fit_{pitch}_{yaw}", FitParams(gaze=True, fov=known.known_pose.RENDER_FOV),
                  overlay=False, log=lambda s: None)
        fitted[(pitch, yaw)] = np.degrees(np.load(tmp_path / f"fit_{pitch}_{yaw}" / "fit.npz")["eyes"][0, :, :2])
    d_yaw = fitted[(0, 0.25)][:, 1] - fitted[(0, -0.25)][:, 1]          # truth: 28.6 deg, both eyes
    d_pitch = fitted[(0.2, 0)][:, 0] - fitted[(-0.2, 0)][:, 0]          # truth: 22.9 deg
    assert np.all(d_yaw > 12.0), fitted
    assert np.all(d_pitch > 3.0), fitted


def test_gaze_cli_artifacts(tmp_path, grid_clip):
    pytest.importorskip("mediapipe")
    from headgen.cli import main

    clip = grid_clip
    out = tmp_path / "fit"
    assert main(["fit", str(clip), "-o", str(out), "--gaze", "--max-frames", "20", "--no-overlay"]) == 0
    d = np.load(out / "fit.npz")
    assert d["eyes"].shape == (20, 2, 3) and d["iris_error"].shape == (20, 2)
    assert np.isfinite(d["eyes"]).all() and np.abs(d["eyes"]).max() < 0.8
    m = json.loads((out / "fit_metrics.json").read_text())
    assert m["gaze"] is True and m["iris_error_px"] is not None and m["iris_error_px"] < 3.0


def test_flame_eye_joints_give_a_rig_and_gaze_is_recovered(tmp_path):
    """FLAME-format file written by the test: the eyeballs are the vertices skinned to joints 3/4."""
    from headgen.testing.flame import write_random_flame_folder

    path = write_random_flame_folder(tmp_path / "flame", seed=5)
    model = load_head_model("flame", path=path)
    rig = eye_rig(model)
    assert rig is not None and rig.is_fit_model
    owner = model.lbs_weights_t.argmax(0)
    assert int(owner[rig.pupil_ids[0]]) == 3 and int(owner[rig.pupil_ids[1]]) == 4
    T = 6
    R = torch.tensor(np.stack([ypr_to_rotation(5 * i, 0, 0) for i in range(T)]), dtype=torch.float32)
    res = FitResult(shape=torch.zeros(model.n_shape), expression=torch.zeros(T, model.n_expression),
                    extra={"jaw": torch.zeros(T, 3)}, rotation=R, translation=torch.tensor([[0.0, 0.0, 0.6]]).expand(T, 3),
                    focal_scale=1.0, K=K[None], landmarks68_2d=None, landmarks468_2d=None, landmarks68_3d=None,
                    valid=np.ones(T, bool), seconds=0.0)
    true = torch.zeros(T, 2, 3)
    true[..., 1] = torch.linspace(-0.2, 0.2, T)[:, None]
    iris = pupils_2d(rig, res, true, K, torch.eye(3), torch.zeros(3))
    eyes, _ = fit_gaze(rig, res, iris.numpy(), K)
    assert float((eyes - true).abs().max()) < np.radians(0.5)
