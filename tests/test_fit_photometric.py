"""Photometric term: gradients through the differentiable renderer pull a mis-placed head back."""
from __future__ import annotations

import dataclasses

import numpy as np

import pytest
import torch

pytest.importorskip("mediapipe")


def test_photometric_term_corrects_a_shifted_head():
    from headgen.assets import AssetMissingError, sample_videos
    from headgen.io.video import read_video
    from headgen.models import load_head_model
    from headgen.stages.fit.basis import landmark_function
    from headgen.geometry.rig import default_camera
    from headgen.stages.fit.optimize import Observations, config_for_model, fit_landmarks
    from headgen.stages.fit.photometric import photometric_energy, vertex_colors
    from headgen.stages.fit.tracks import detect_track

    try:
        clip = sample_videos()[0]
    except (AssetMissingError, IndexError):  # pragma: no cover
        pytest.skip("GRID clips missing")
    T = 10
    tr = detect_track(clip, max_frames=T)
    model = load_head_model("ict", parts="face", mediapipe=True)
    lmf = landmark_function(model)
    obs = Observations.monocular(tr.lm68, default_camera(*tr.size).K, lm468=tr.lm468[..., :2], lm468_z=tr.lm468[..., 2])
    cfg = config_for_model(model, iters_full=150)
    res = fit_landmarks(lmf, obs, cfg)
    frames = torch.as_tensor(read_video(clip, max_frames=T)[0]).float() / 255
    colors = vertex_colors(model, res, frames, tr.valid)
    assert colors.shape == (model.num_vertices, 3) and 0 <= colors.min() and colors.max() <= 1

    def err(r):
        with torch.no_grad():
            return float(photometric_energy(model, frames, colors, tr.valid, batch=T)(
                dict(shape=r.shape, expression=r.expression, rotation=r.rotation, translation=r.translation,
                     K=r.K, extra=r.extra)))

    shift = torch.tensor([0.004, 0.0, 0.0])                      # 4 mm sideways
    bad = dataclasses.replace(res, translation=res.translation + shift)
    assert err(bad) > 2 * err(res)
    # photometric term only (landmarks almost off): the renderer's gradients must undo the shift
    pcfg = dataclasses.replace(cfg, photometric=photometric_energy(model, frames, colors, tr.valid, batch=5),
                               w_photometric=20.0, iters_full=40, w_lmk468=0.0, w_lmk68=1e-3)
    out = fit_landmarks(lmf, obs, pcfg, init=bad)
    assert err(out) < 0.6 * err(bad)
    dx = (out.translation - res.translation)[:, 0].mean()
    assert abs(float(dx)) < 0.5 * 0.004, dx


def test_photometric_refinement_lowers_photo_error_on_a_real_clip(tmp_path, grid_clip):
    """On a real GRID clip the refinement must lower the multi-frame photometric error (each geometry
    with its own best per-vertex colours) while keeping the landmark fit within 3 % NME."""
    pytest.importorskip("mediapipe")
    import json

    from headgen.cli import main

    clip = grid_clip
    out = tmp_path / "fit"
    assert main(["fit", str(clip), "-o", str(out), "--photometric", "--max-frames", "25", "--no-overlay"]) == 0
    m = json.loads((out / "fit_metrics.json").read_text())
    before, after = m["photometric_error"]
    assert after < before, (before, after)
    assert m["nme_mean"] < 0.03
