"""Avatars rigged to FLAME (issue 13: "FLAME when the fit is FLAME"), on a random FLAME-format model
(``headgen.testing.flame``; not the real FLAME): build, deform with the jaw joint, render, save/load, and the
``headgen avatar VIDEO --fit FIT --flame PATH`` CLI end to end on a tiny clip with a synthetic FLAME fit."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from headgen.errors import InputError


@pytest.fixture(scope="module")
def flame_dir(tmp_path_factory):
    from headgen.testing.flame import write_random_flame_folder

    d = tmp_path_factory.mktemp("flame")
    pkl = write_random_flame_folder(d, seed=0)
    return d, pkl


def _pose(T, z=0.6):
    from headgen.geometry.conventions import HEAD_TO_OPENCV

    R = torch.as_tensor(np.asarray(HEAD_TO_OPENCV), dtype=torch.float32).expand(T, 3, 3)
    return R, torch.tensor([0.0, 0.0, z]).expand(T, 3)


def test_flame_avatar_build_deform_render_save_load(flame_dir, tmp_path, one_torch_thread):
    from headgen.avatar import build_avatar, deform, load_avatar, load_avatar_model, render, save_avatar
    from headgen.geometry.camera import default_intrinsics

    d, pkl = flame_dir
    model = load_avatar_model("flame", flame_path=pkl)
    assert model.model_name == "flame"
    g = torch.Generator().manual_seed(0)
    shape = 0.5 * torch.randn(model.n_shape, generator=g)
    av = build_avatar(model, shape=shape, n_gaussians=600, colors=torch.tensor([0.8, 0.5, 0.3]))
    assert av.model == "flame" and av.parts == ["full"] and av.n == 600
    assert av.faces.shape[0] == model.faces.shape[0] and av.neutral_vertices.shape == (model.num_vertices, 3)
    # the jaw joint deforms the mesh; the Gaussians (seeded on the surface) stay on their posed triangles
    T = 2
    R, t = _pose(T)
    jaw = torch.tensor([[0.0, 0.0, 0.0], [0.3, 0.0, 0.0]])
    with torch.no_grad():
        v = model(shape=shape[None].expand(T, -1), jaw=jaw, rotation=R, translation=t).vertices
        means, quats, scales = deform(av, v)
    assert means.shape == (T, 600, 3) and quats.shape == (T, 600, 4) and scales.shape == (T, 600, 3)
    assert float((v[1] - v[0]).norm(dim=-1).max()) > 1e-3                        # the jaw moved the mesh
    tri = v[:, av.faces[av.binding]]                                              # (T,N,3,3)
    n = torch.nn.functional.normalize(torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1), dim=-1)
    assert float(((means - tri[:, :, 0]) * n).sum(-1).abs().max()) < 1e-5          # in the triangle's plane
    dm = (means[1] - means[0]).norm(dim=-1)
    dc = (tri[1].mean(1) - tri[0].mean(1)).norm(dim=-1)
    assert float(dm.max()) > 1e-3 and float((dm - dc).abs().max()) < 0.5 * float(dm.max())   # they move with them
    assert torch.isfinite(means).all() and torch.allclose(quats.norm(dim=-1), torch.ones(T, 600), atol=1e-5)
    # a Gaussian's world normal axis is its triangle's normal
    from headgen.geometry.rotations import quaternion_to_matrix
    assert float(((quaternion_to_matrix(quats)[..., 2] * n).sum(-1).abs() - 1).abs().max()) < 1e-4
    # render through the model's own inputs (expression + jaw) over a background colour
    W, H = 64, 64
    K = torch.as_tensor(default_intrinsics(W, H), dtype=torch.float32)
    params = dict(expression=torch.zeros(T, model.n_expression), jaw=jaw, rotation=R, translation=t)
    with torch.no_grad():
        out = render(av, model, params, K, (W, H), background=(0.0, 0.0, 1.0), backend="cpu")
    rgb, alpha = out["rgb"], out["alpha"]
    assert rgb.shape == (T, H, W, 3) and alpha.shape == (T, H, W)
    assert float(alpha[0, H // 2, W // 2]) > 0.9 and float(alpha[0, 0, 0]) < 0.01        # head in the middle
    assert torch.allclose(rgb[0, 0, 0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-3)       # background at the corner
    assert (rgb[0, H // 2, W // 2] - torch.tensor([0.8, 0.5, 0.3])).abs().max() < 0.1
    assert (rgb[0] - rgb[1]).abs().max() > 0.05                                           # the jaw changed the image
    # save / load: the rig names FLAME; loading its model needs the FLAME path; renders are identical
    save_avatar(tmp_path / "av", av)
    back = load_avatar(tmp_path / "av")
    assert back.model == "flame" and back.parts == ["full"] and back.n == av.n
    with pytest.raises(InputError, match="FLAME"):
        load_avatar_model(back)
    m2 = load_avatar_model(back, flame_path=d)       # the folder works as well as the .pkl
    assert torch.equal(m2.faces.long(), back.faces)
    with torch.no_grad():
        out2 = render(back, m2, params, K, (W, H), background=(0.0, 0.0, 1.0), backend="cpu")
    assert torch.allclose(out2["rgb"], rgb, atol=1e-5)


def test_flame_one_shot_seed_colours(flame_dir):
    """One-shot seeding on FLAME (no named parts): the seen side takes the photo's colour; without neighbour
    diffusion the hidden back of the head falls back to the median seen colour, not a made-up skin default."""
    from headgen.avatar import load_avatar_model
    from headgen.geometry.camera import default_intrinsics
    from headgen.stages.avatar.colors import seed_triangle_colors

    _, pkl = flame_dir
    model = load_avatar_model("flame", flame_path=pkl)
    R, t = _pose(1)
    with torch.no_grad():
        v = model(rotation=R, translation=t).vertices[0]
    img = np.zeros((64, 64, 3), np.uint8)
    img[:] = (200, 40, 90)
    col, seen = seed_triangle_colors(model, v, img, torch.as_tensor(default_intrinsics(64, 64), dtype=torch.float32),
                                     min_facing=0.3, diffuse_iters=0)
    assert seen.any() and (~seen).any()
    assert float((col - torch.tensor([200, 40, 90]) / 255.0).abs().max()) < 0.02


@pytest.fixture(scope="module")
def flame_clip(flame_dir, tmp_path_factory, grid_clip):
    """6 frames of a GRID clip at 120x96 and a synthetic FLAME fit of them (random head in front of the camera)."""
    import cv2

    from headgen.artifacts.fit import write_fit
    from headgen.geometry.camera import default_intrinsics
    from headgen.io.video import read_video, write_video
    from headgen.models import load_head_model

    d, pkl = flame_dir
    m = load_head_model("flame", path=pkl)
    frames, fps = read_video(grid_clip, max_frames=6)
    W, H = 120, 96
    tmp = tmp_path_factory.mktemp("flame_clip")
    clip = tmp / "clip.mp4"
    write_video(clip, [cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA) for f in frames], fps)
    T = 6
    R, t = _pose(T)
    rng = np.random.default_rng(0)
    fit = dict(model=np.array("flame"), shape=np.zeros(m.n_shape, np.float32),
               expression=(0.3 * rng.standard_normal((T, m.n_expression))).astype(np.float32),
               expression_names=np.array(m.expression_names), rotation=R.numpy(), translation=t.numpy(),
               jaw=np.stack([np.linspace(0, 0.2, T), np.zeros(T), np.zeros(T)], -1).astype(np.float32),
               K=np.asarray(default_intrinsics(W, H), np.float32), image_size=np.array([W, H], np.int32),
               valid=np.ones(T, bool), fps=np.float32(fps), times=(np.arange(T) / fps).astype(np.float32),
               frame_index=np.arange(T, dtype=np.int32))
    fit_path = write_fit(tmp / "fit.npz", fit)
    return clip, fit_path, pkl


def test_flame_cli_end_to_end(flame_clip, tmp_path, capsys, one_torch_thread):
    from headgen.artifacts.avatar import read_avatar
    from headgen.cli import main

    clip, fit, pkl = flame_clip
    out = tmp_path / "out"
    assert main(["avatar", str(clip), "-o", str(out), "--fit", str(fit), "--flame", str(pkl), "--iterations", "4",
                 "--holdout", "4:6", "--gaussians", "800", "--backend", "cpu", "--no-lpips"]) == 0
    files = read_avatar(out)
    m = json.loads((out / "avatar_metrics.json").read_text())
    assert files.rig["model"] == "flame" and list(files.rig["model_parts"]) == ["full"]
    assert files.ply["means"].shape[0] == files.rig["binding"].shape[0] == m["n_gaussians"] >= 800
    assert m["heldout_frames"] == [4, 5] and m["iterations"] == 4
    for name in ("avatar", "retrieval", "textured_mesh"):
        assert np.isfinite(m["heldout"][name]["face"]["psnr"]), name
    assert sorted(p.name for p in (out / "eval").iterdir()) == ["frame_00004.png", "frame_00005.png", "side_by_side.mp4"]
    # one-shot on the same FLAME fit
    out1 = tmp_path / "one"
    assert main(["avatar", str(clip), "-o", str(out1), "--fit", str(fit), "--flame", str(pkl), "--one-shot",
                 "--iterations", "2", "--holdout", "4:6", "--gaussians", "800", "--backend", "cpu", "--no-lpips"]) == 0
    m1 = json.loads((out1 / "avatar_metrics.json").read_text())
    assert m1["mode"] == "one_shot" and m1["train_frames"] == [0] and read_avatar(out1).rig["model"] == "flame"
    # a FLAME fit without --flame: one line naming the option, nothing written
    capsys.readouterr()
    out2 = tmp_path / "noflame"
    assert main(["avatar", str(clip), "-o", str(out2), "--fit", str(fit), "--iterations", "2", "--backend", "cpu"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--flame" in err, err
    assert not (out2 / "avatar_rig.npz").exists()
