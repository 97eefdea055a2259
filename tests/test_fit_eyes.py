"""Eye-closure term of the landmark fit: when the target eyelids close (a blink rendered from the ICT model's own
eyeBlink shapes), the fitted eyeBlink must follow; the term itself is zero for matching apertures."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch


@pytest.fixture
def ict():
    """(ICT face model with the MediaPipe embedding, its landmark function); skips without the assets."""
    from headgen.assets import AssetMissingError
    from headgen.models import load_head_model
    from headgen.stages.fit.basis import landmark_function

    try:
        model = load_head_model("ict", parts="face", mediapipe=True)
    except AssetMissingError as e:  # pragma: no cover
        pytest.skip(str(e))
    lmf = landmark_function(model)
    if not getattr(lmf, "has_468", False):  # pragma: no cover
        pytest.skip("ICT MediaPipe embedding missing")
    return model, lmf


def observe(lmf, shape, E, cam):
    """Exact MediaPipe-468 landmarks of the model (shape (S,), expressions (T,E)) 0.6 m in front of ``cam`` ->
    (uv (T,468,2) pixels, monocular Observations with the iBUG-68 subset)."""
    from headgen.geometry.conventions import HEAD_TO_OPENCV
    from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68
    from headgen.stages.fit.optimize import Observations

    X = lmf(shape[None], E).lm468 @ torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32).T + torch.tensor([0, 0, 0.6])
    p = X @ torch.as_tensor(cam.K, dtype=torch.float32).T
    uv = (p[..., :2] / p[..., 2:]).numpy()
    return uv, Observations.monocular(uv[:, MEDIAPIPE_TO_IBUG68], cam.K, lm468=uv)


def test_eye_closure_energy_zero_on_match_and_relative_ignores_offset():
    from headgen.stages.fit.optimize import EYELID_PAIRS_468, eye_closure_energy, eyelid_apertures

    g = torch.Generator().manual_seed(0)
    pts = torch.rand(1, 5, 468, 2, generator=g) * 100
    ap = eyelid_apertures(pts, EYELID_PAIRS_468)
    assert ap.shape == (1, 5, 6)
    d = pts[0, 2, 159] - pts[0, 2, 145]
    assert torch.allclose(ap[0, 2, 0], d.norm(), atol=1e-4)
    w, iod = torch.ones_like(ap), torch.full((1, 5), 50.0)
    assert float(eye_closure_energy(ap, ap, w, iod)) < 1e-8
    assert float(eye_closure_energy(ap + 1.0, ap, w, iod)) == pytest.approx(4.0, rel=1e-4)   # 1 px = 2 % IOD
    assert float(eye_closure_energy(ap + 1.0, ap, w, iod, relative=True)) < 1e-8          # a constant offset
    nan_t = ap.clone()
    nan_t[0, 1] = float("nan")                                                           # missing targets ignored
    assert torch.isfinite(eye_closure_energy(ap, nan_t, w, iod))


def test_fitted_blink_follows_closing_eyelids(one_torch_thread, ict):
    from headgen.geometry.rig import default_camera
    from headgen.stages.fit.optimize import config_for_model, fit_landmarks

    model, lmf = ict
    names = list(model.expression_names)
    T = 16
    blink = torch.tensor([0, 0, 0, 0, 0, .3, .8, 1, 1, .8, .3, 0, 0, 0, 0, 0.])
    E = torch.zeros(T, lmf.n_expression)
    bl = [names.index("eyeBlink_L"), names.index("eyeBlink_R")]
    E[:, bl] = blink[:, None]
    E[:, names.index("jawOpen")] = 0.15 * (1 + torch.sin(torch.arange(T) * 0.7))     # speech-like jaw motion
    shape = 0.5 * torch.randn(lmf.n_shape, generator=torch.Generator().manual_seed(0))
    cam = default_camera(360, 288)                                                    # GRID frame size
    uv, obs = observe(lmf, shape, E, cam)

    assert config_for_model(model).w_eye_closure > 0                  # on by default
    cfg = config_for_model(model, iters_rigid=30, iters_full=120)      # shorter schedule: a fast test
    fitted = fit_landmarks(lmf, obs, cfg).expression[:, bl].mean(1).numpy()
    closed = blink.numpy() >= 0.8
    assert fitted[closed].mean() > 0.7, fitted                         # the eyes close with the target
    assert fitted[blink.numpy() == 0].max() < 0.15, fitted             # and stay open elsewhere
    # the fit before the eye-closure term (no term, no eyeBlink / eyeLook prior multipliers): the priors win
    old_cfg = dataclasses.replace(cfg, w_eye_closure=0.0, expression_prior_scale={
        k: v for k, v in cfg.expression_prior_scale.items() if not k.startswith("eye")})
    old = fit_landmarks(lmf, obs, old_cfg).expression[:, bl].mean(1).numpy()
    assert old[closed].mean() < 0.3, old
    assert np.corrcoef(fitted, blink.numpy())[0, 1] > 0.95


def test_closure_gain_amplifies_only_closing():
    from headgen.stages.fit.optimize import eye_closure_energy

    tgt = torch.tensor([10.0, 10.0, 10.0, 6.0, 10.0, 12.0])[None, :, None]      # (V,T,P): a blink and a wide frame
    w, iod = torch.ones_like(tgt), torch.full((1, 6), 100.0)
    gained = tgt.clone()
    gained[0, 3] = 2.0                                                             # 10 - 2 x 4
    assert float(eye_closure_energy(gained, tgt, w, iod, relative=True, closure_gain=2.0)) < 1e-8
    assert float(eye_closure_energy(tgt, tgt, w, iod, relative=True, closure_gain=2.0)) > 1.0


def test_single_frame_fit_keeps_the_priors_it_had_before_the_term(one_torch_thread, ict):
    """A photo (one frame) gives the relative eye-closure term nothing to compare, so neither the term nor the
    eyelid prior multipliers that come with it may change its fit: identical to the fit without them."""
    from headgen.geometry.rig import default_camera
    from headgen.stages.fit.optimize import EYE_CLOSURE_PRIORS, config_for_model, fit_landmarks

    model, lmf = ict
    names = list(model.expression_names)
    E = torch.zeros(1, lmf.n_expression)
    E[0, names.index("eyeBlink_L")] = E[0, names.index("eyeBlink_R")] = 0.4     # half-shut eyes in the photo
    E[0, names.index("jawOpen")] = 0.2
    shape = 0.5 * torch.randn(lmf.n_shape, generator=torch.Generator().manual_seed(1))
    cam = default_camera(512, 512)
    uv, obs = observe(lmf, shape, E, cam)

    cfg = config_for_model(model, iters_rigid=20, iters_full=60)
    assert any(k in cfg.expression_prior_scale for k in EYE_CLOSURE_PRIORS)     # the multipliers are configured
    plain = dataclasses.replace(cfg, w_eye_closure=0.0, expression_prior_scale={
        k: v for k, v in cfg.expression_prior_scale.items() if k not in EYE_CLOSURE_PRIORS})
    a, b = fit_landmarks(lmf, obs, cfg), fit_landmarks(lmf, obs, plain)
    assert torch.equal(a.expression, b.expression) and torch.equal(a.shape, b.shape)
    # with two frames the multipliers act: the same photo twice is fitted differently
    _, obs2 = observe(lmf, shape, E.repeat(2, 1), cam)
    c, d = fit_landmarks(lmf, obs2, cfg), fit_landmarks(lmf, obs2, plain)
    assert not torch.equal(c.expression, d.expression)
