"""The avatar stage: densification keeps bindings, checkpoints resume, the CLI end to end on a downscaled GRID
clip (pose -> fit -> avatar through the pipeline), bad inputs -> one-line errors with nothing written."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from headgen.artifacts.avatar import read_avatar
from headgen.avatar import build_avatar
from headgen.stages.avatar.train import TrainOptions, _Params, densify_and_prune


def _fake_avatar(n=40):
    from types import SimpleNamespace
    V = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [2, 0, 0]])
    F = torch.tensor([[0, 1, 2], [1, 3, 2], [1, 4, 3]])
    m = SimpleNamespace(faces=F, device=torch.device("cpu"), model_name="ict", components=["face"])
    return build_avatar(m, vertices=V, n_gaussians=n, seed=1)


def test_densify_clones_splits_prunes_and_keeps_bindings():
    av = _fake_avatar()
    opts = TrainOptions(grad_threshold=0.5, split_scale=0.3, max_gaussians=1000, min_opacity=0.01)
    P = _Params(av, T=2, E=3, opts=opts, device="cpu")
    n = av.n
    with torch.no_grad():
        P.g["log_scales"][:10] = np.log(0.1)      # small: cloned
        P.g["log_scales"][10:20] = np.log(0.8)    # large: split
        P.g["opacity_logits"][30:35] = -10.0      # transparent: pruned
    grads = torch.zeros(n)
    grads[:20] = 1.0
    parent_binding = av.binding.clone()
    parent_offsets = P.g["offsets"].detach().clone()
    d = densify_and_prune(P, grads, torch.ones(n), opts, torch.Generator().manual_seed(0))
    assert d == dict(cloned=10, split=10, pruned=5, n=n - 5 - 10 + 10 + 20)
    a = P.current()
    assert a.n == d["n"] and all(getattr(a, k).shape[0] == a.n for k in ("offsets", "sh", "opacity_logits"))
    keep = [i for i in range(n) if not (10 <= i < 20 or 30 <= i < 35)]
    k = len(keep)
    assert torch.equal(a.binding[:k], parent_binding[keep])
    assert torch.equal(a.binding[k:k + 10], parent_binding[:10])            # clones keep the triangle
    assert torch.equal(a.binding[k + 10:], parent_binding[10:20].repeat(2))  # both split children too
    assert torch.allclose(a.offsets[k:k + 10], parent_offsets[:10])
    assert torch.allclose(a.log_scales[k + 10:], torch.full((20, 3), float(np.log(0.8 / 1.6))), atol=1e-5)
    # Adam moments: kept rows keep theirs, new rows start at zero; the optimiser still steps
    a.offsets.sum().backward()
    P.opt.step()


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory, grid_clip):
    """The first 14 frames of a GRID clip at half size (180x144), as an mp4."""
    from headgen.io.video import read_video, write_video
    import cv2

    frames, fps = read_video(grid_clip, max_frames=14)
    small = [cv2.resize(f, (180, 144), interpolation=cv2.INTER_AREA) for f in frames]
    p = tmp_path_factory.mktemp("clip") / "small.mp4"
    write_video(p, small, fps)
    return p


@pytest.fixture(scope="module")
def cli_run(small_clip, tmp_path_factory, one_torch_thread):
    from headgen.cli import main

    out = tmp_path_factory.mktemp("avatar") / "out"
    rc = main(["avatar", str(small_clip), "-o", str(out), "--iterations", "12", "--holdout", "10:14",
               "--gaussians", "3000", "--backend", "cpu"])
    return rc, out


def test_cli_end_to_end(cli_run):
    rc, out = cli_run
    assert rc == 0
    files = read_avatar(out)
    m = json.loads((out / "avatar_metrics.json").read_text())
    assert files.ply["means"].shape[0] == files.rig["binding"].shape[0] == m["n_gaussians"] >= 3000
    assert files.rig["model"] == "ict" and "teeth" in files.rig["model_parts"]
    assert m["iterations"] == 12 and m["heldout_frames"] == [10, 11, 12, 13] and m["train_seconds"] > 0
    for name in ("avatar", "retrieval", "textured_mesh"):
        for r in ("full", "face", "mouth"):
            assert np.isfinite(m["heldout"][name][r]["psnr"]), (name, r)
    assert all(f < 10 for f in m["retrieval_frames"])
    # the avatar is better than nothing: its face box beats a black image by far
    assert m["heldout"]["avatar"]["face"]["psnr"] > 15
    # video default: the per-frame expression is refined (not the pose), and the held-out frames are driven with the
    # transferred deltas; the same avatar driven by the fit alone is scored beside it
    assert m["refine_transfer"] == 3 and np.isfinite(m["heldout"]["avatar_fit_driven"]["face"]["psnr"])
    assert np.abs(files.rig["refined_expression"]).max() > 0
    assert not np.abs(files.rig["refined_rotation"]).any() and not np.abs(files.rig["refined_translation"]).any()
    from headgen.io.images import read_image
    pngs = sorted((out / "eval").glob("frame_*.png"))
    assert [p.name for p in pngs] == [f"frame_{i:05d}.png" for i in range(10, 14)]
    assert read_image(pngs[0]).shape == (144, 180, 3)
    assert (out / "eval" / "side_by_side.mp4").stat().st_size > 1000
    assert not (out / ".avatar_checkpoint").exists()


def test_bad_inputs_one_line_nothing_written(cli_run, tmp_path, capsys):
    from headgen.cli import main

    _, out = cli_run
    fit = next((out / ".fit").rglob("fit.npz"))
    photo = tmp_path / "p.png"
    import cv2
    cv2.imwrite(str(photo), np.full((144, 180, 3), 128, np.uint8))
    dst = tmp_path / "o1"
    assert main(["avatar", str(photo), "-o", str(dst), "--fit", str(fit)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "14 frames" in err
    assert not (dst / "avatar.ply").exists() and not (dst / "avatar_rig.npz").exists()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["avatar", str(bad), "-o", str(tmp_path / "o2"), "--fit", str(fit)]) != 0
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["avatar", str(photo), "-o", str(tmp_path / "o3"), "--holdout", "9-3"]) != 0
    assert "--holdout" in capsys.readouterr().err


def test_checkpoint_resume_matches_a_straight_run(cli_run, small_clip, one_torch_thread):
    from headgen.avatar import load_avatar_model
    from headgen.stages.avatar import data as D
    from headgen.stages.avatar.train import seed_avatar, train_avatar

    _, out = cli_run
    fit = next((out / ".fit").rglob("fit.npz"))
    clip = D.load_clip(small_clip, fit, (10, 14), "cpu")
    model = load_avatar_model("ict")
    bg = torch.full((144, 180, 3), 0.3)
    opts = TrainOptions(iterations=6, n_gaussians=2000, checkpoint_every=3, backend="cpu", densify_from=2,
                        densify_every=2, densify_until=1.0)
    crop = (40, 20, 140, 130)
    a1, _, s1 = train_avatar(clip, model, seed_avatar(clip, model, opts), bg, crop, opts)
    ck = out.parent / "ck.pt"
    stop = TrainOptions(**{**vars(opts), "iterations": 6})
    # a run killed after iteration 3: emulate by running 3 iterations' worth and keeping its checkpoint
    torch.manual_seed(0)
    _ = train_avatar(clip, model, seed_avatar(clip, model, opts), bg, crop, stop, ckpt_path=ck, key="k")
    assert ck.exists()
    a2, _, s2 = train_avatar(clip, model, seed_avatar(clip, model, opts), bg, crop, opts, ckpt_path=ck, key="k")
    assert s2["resumed_from"] == 3 and s1["resumed_from"] == 0
    assert a1.n == a2.n
    assert torch.allclose(a1.offsets, a2.offsets, atol=1e-5) and torch.allclose(a1.sh, a2.sh, atol=1e-5)
    # a different key (other inputs/options) does not resume
    _, _, s3 = train_avatar(clip, model, seed_avatar(clip, model, opts), bg, crop, opts, ckpt_path=ck, key="other")
    assert s3["resumed_from"] == 0


def test_one_shot_mouth_cavity_keeps_defaults_and_is_not_trained(cli_run, small_clip, one_torch_thread):
    """One-shot: the socket and tongue keep their default colours even where the photo sees them (its lip gap shows
    teeth or shadow), and training on the photo leaves them and the teeth alone; the skin's Gaussians do train, and
    the colour-range penalty keeps hidden Gaussians' colours near [0, 1]."""
    from headgen.avatar import load_avatar_model, sh0_to_rgb
    from headgen.stages.avatar import data as D
    from headgen.stages.avatar.colors import PART_DEFAULTS, triangle_parts
    from headgen.stages.avatar.run import ONE_SHOT_CAVITY, ONE_SHOT_FROZEN
    from headgen.stages.avatar.train import seed_avatar, train_avatar

    _, out = cli_run
    fit = next((out / ".fit").rglob("fit.npz"))
    clip = D.load_clip(small_clip, fit, (10, 14), "cpu", one_shot=True)
    model = load_avatar_model("ict")
    opts = TrainOptions(iterations=4, n_gaussians=3000, backend="cpu", refine=False, densify=False, lr_opacity=0.0,
                        frozen_parts=ONE_SHOT_FROZEN, color_range_weight=1.0)
    seed = seed_avatar(clip, model, opts, keep_defaults=ONE_SHOT_CAVITY)
    parts = triangle_parts(model)[seed.binding.numpy()]
    rgb = sh0_to_rgb(seed.sh[:, 0])
    for p in ONE_SHOT_CAVITY:
        m = torch.as_tensor(parts == p)
        assert m.any() and torch.allclose(rgb[m], torch.tensor(PART_DEFAULTS[p]).expand(int(m.sum()), 3), atol=1e-5)
    before = {k: getattr(seed, k).clone() for k in ("sh", "offsets", "log_scales")}
    trained, _, _ = train_avatar(clip, model, seed, torch.full((144, 180, 3), 0.3), (40, 20, 140, 130), opts)
    cav = torch.as_tensor(np.isin(parts, ONE_SHOT_FROZEN))
    for k, v in before.items():
        assert torch.equal(getattr(trained, k)[cav], v[cav]), k
    assert not torch.equal(trained.sh[~cav], before["sh"][~cav])


def test_seed_colors_mirror_and_mouth_defaults():
    from headgen.avatar import load_avatar_model
    from headgen.geometry.camera import default_intrinsics
    from headgen.geometry.conventions import HEAD_TO_OPENCV
    from headgen.geometry.rotations import axis_angle_to_matrix
    from headgen.stages.avatar.colors import PART_DEFAULTS, seed_triangle_colors, triangle_parts

    model = load_avatar_model("ict")
    R = torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32) @ axis_angle_to_matrix(torch.tensor([0.0, 1.0, 0.0]))
    with torch.no_grad():   # head turned ~57 degrees: one cheek hidden
        v = model(rotation=R[None], translation=torch.tensor([[0.0, 0.0, 0.7]])).vertices[0]
    K = torch.as_tensor(default_intrinsics(160, 160), dtype=torch.float32)
    img = np.zeros((160, 160, 3), np.uint8)
    img[:] = (50, 150, 75)
    col, seen = seed_triangle_colors(model, v, img, K, min_facing=0.3)
    parts = triangle_parts(model)
    face = torch.as_tensor(parts == "face")
    assert (face & seen).sum() > 1000 and (face & ~seen).sum() > 1000       # both cheeks: one seen, one not
    target = torch.tensor([50, 150, 75]) / 255.0
    close = ((col[face & ~seen] - target).abs().max(1).values < 0.02).float().mean()
    assert close > 0.9, close                 # filled from the mirror side (a few take the inner-mouth defaults)
    teeth = torch.as_tensor(parts == "teeth") & ~seen
    assert teeth.any() and torch.allclose(col[teeth], torch.tensor(PART_DEFAULTS["teeth"]).expand(int(teeth.sum()), 3))


def test_seed_colors_hidden_eye_parts_take_the_seen_eye_colour():
    """The iris behind ICT's cornea and the sclera under the lids are never seen: they take the colour of the nearest
    seen triangle of the same eye (not the default white sclera / dark iris that bled through as a pale blob)."""
    from headgen.avatar import load_avatar_model
    from headgen.geometry.camera import default_intrinsics
    from headgen.geometry.conventions import HEAD_TO_OPENCV
    from headgen.stages.avatar.colors import PART_DEFAULTS, seed_triangle_colors, triangle_parts

    model = load_avatar_model("ict")
    R = torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32)
    with torch.no_grad():   # frontal
        v = model(rotation=R[None], translation=torch.tensor([[0.0, 0.0, 0.6]])).vertices[0]
    K = torch.as_tensor(default_intrinsics(160, 160), dtype=torch.float32)
    img = np.zeros((160, 160, 3), np.uint8)
    img[:] = (50, 150, 75)
    parts = triangle_parts(model)
    target = torch.tensor([50, 150, 75]) / 255.0
    col, seen = seed_triangle_colors(model, v, img, K, min_facing=0.3)
    col0, _ = seed_triangle_colors(model, v, img, K, min_facing=0.3, eye_fill=False)
    for side in ("left", "right"):
        eyeball = torch.as_tensor(parts == f"eyeball_{side}")
        iris = torch.as_tensor(parts == f"iris_{side}")
        assert (eyeball & seen).any() and (eyeball & ~seen).any() and iris.any()
        hidden = (eyeball | iris) & ~seen
        assert float((col[hidden] - target).abs().max()) < 0.02
        assert torch.allclose(col0[iris & ~seen], torch.tensor(PART_DEFAULTS[f"iris_{side}"]).expand(int((iris & ~seen).sum()), 3))
    other = ~torch.as_tensor(np.isin(parts, ["eyeball_left", "eyeball_right", "iris_left", "iris_right"]))
    assert torch.equal(col[other], col0[other])          # nothing else changes


def test_cli_one_shot_photo(small_clip, tmp_path, one_torch_thread):
    from headgen.cli import main
    from headgen.io.images import read_image
    from headgen.io.video import read_video
    import cv2

    frames, _ = read_video(small_clip, max_frames=1)
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), frames[0][..., ::-1])
    out = tmp_path / "one"
    assert main(["avatar", str(photo), "-o", str(out), "--iterations", "5", "--gaussians", "2000", "--backend", "cpu"]) == 0
    m = json.loads((out / "avatar_metrics.json").read_text())
    assert m["mode"] == "one_shot" and m["heldout"] is None and m["train_frames"] == [0]
    assert m["train_view"]["face"]["psnr"] > 15
    assert read_image(out / "eval" / "frame_00000.png").shape == (144, 180, 3)
    assert (out / "eval" / "side_by_side.mp4").stat().st_size > 1000
    assert read_avatar(out).rig["binding"].shape[0] == m["n_gaussians"]


def test_pipeline_stage_video_avatar_yaml(cli_run, small_clip, tmp_path, one_torch_thread):
    """configs/video_avatar.yaml: pose -> fit (served from the CLI run's cache) -> the avatar stage."""
    from headgen.pipeline.runner import raise_for_failures, run_pipeline

    _, out = cli_run
    root = Path(__file__).resolve().parents[1]
    res = run_pipeline(root / "configs" / "video_avatar.yaml", tmp_path / "run", inputs={"media": str(small_clip)},
                       sets=["avatar.iterations=3", "avatar.gaussians=1500", "avatar.lpips=false",
                             "avatar.holdout='12:14'", "avatar.backend=cpu"], cache=out / ".fit" / ".cache", workers=1)
    raise_for_failures(res)
    assert res.statuses()["fit"] == "cached"
    from headgen.pipeline.spec import PipelineError
    with pytest.raises(PipelineError, match="quote it"):
        run_pipeline(root / "configs" / "video_avatar.yaml", tmp_path / "bad", inputs={"media": str(small_clip)},
                     sets=["avatar.holdout=12:14"])
    files = read_avatar(tmp_path / "run" / "avatar")
    m = json.loads((tmp_path / "run" / "avatar" / "avatar_metrics.json").read_text())
    assert m["n_gaussians"] == files.rig["binding"].shape[0] and m["heldout_frames"] == [12, 13]
    assert sorted(p.name for p in (tmp_path / "run" / "avatar" / "eval").iterdir()) == [
        "frame_00012.png", "frame_00013.png", "side_by_side.mp4"]


def test_smooth_params_removes_jitter_keeps_trends_and_rotations():
    from headgen.geometry.rotations import axis_angle_to_matrix
    from headgen.stages.avatar.data import smooth_params, smooth_track

    g = torch.Generator().manual_seed(0)
    T = 40
    t = torch.arange(T, dtype=torch.float32)
    ramp = torch.stack([0.01 * t, -0.002 * t + 0.5, torch.full_like(t, 0.6)], -1)       # a steady head motion
    assert torch.allclose(smooth_track(ramp, 2.0), ramp, atol=1e-5)                      # ends too: no lag, no pull
    noise = 0.003 * torch.randn(T, 3, generator=g)
    err = lambda x: float((x - ramp).pow(2).mean().sqrt())
    assert err(smooth_track(ramp + noise, 2.0)) < 0.6 * err(ramp + noise)
    assert torch.equal(smooth_track(ramp + noise, 0.0), ramp + noise)
    valid = np.ones(T, bool)
    valid[10] = False                                                                     # a frame without a face
    x = ramp + noise
    x[10] = 5.0
    y = smooth_track(x, 2.0, valid)
    assert float(y[10, 0]) == 5.0 and float((y[9:12:2] - ramp[9:12:2]).abs().max()) < 0.01   # neither used nor changed
    aa = torch.stack([0.02 * t, 0.1 + 0.005 * torch.randn(T, generator=g), torch.zeros(T)], -1)
    p = dict(shape=torch.zeros(0), expression=0.3 + 0.05 * torch.randn(T, 5, generator=g), rotation=axis_angle_to_matrix(aa),
             translation=ramp + noise, extra={"jaw": torch.zeros(T, 3)})
    q = smooth_params(p, 2.0, 0.0)
    R = q["rotation"]
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3).expand(T, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(T), atol=1e-5)
    assert torch.equal(q["expression"], p["expression"]) and q["shape"] is p["shape"]     # sigma 0: unchanged
    assert err(q["translation"]) < err(p["translation"])


def test_neighbour_weights_and_transferred_vertices():
    """Held-out frames take the refined expression deltas of their landmark-nearest training frames: the nearest by
    centred landmarks (a shifted copy of a training frame is that frame), weights summing to 1, k capped by the
    training frames; the posed vertices are the fit's plus the weighted deltas (rotation / translation the fit's)."""
    from types import SimpleNamespace

    from headgen.stages.avatar.evaluate import neighbour_weights
    from headgen.stages.avatar.run import train_options, transferred_vertices, AvatarOptions

    rng = np.random.default_rng(0)
    lm = rng.normal(size=(8, 468, 2)).astype(np.float32) * 10 + 100
    lm[6] = lm[2] + 7.0                                 # a shifted copy of training frame 2
    lm[7] = 0.5 * lm[1] + 0.5 * lm[3]                   # halfway between frames 1 and 3 (after centring)
    train = np.array([0, 1, 2, 3, 4])
    ids, w = neighbour_weights(lm, train, [6, 7], k=3)
    assert ids.shape == w.shape == (2, 3) and np.allclose(w.sum(1), 1)
    assert ids[0, 0] == 2 and w[0, 0] > 0.999
    assert set(ids[1, :2]) == {1, 3} and abs(w[1, 0] - w[1, 1]) < 1e-4 and w[1, 2] < w[1, 0]
    assert neighbour_weights(lm, [0, 1], [7], k=5)[0].shape == (1, 2)

    T, E, V = 8, 4, 5
    basis = torch.randn(E, V, 3, generator=torch.Generator().manual_seed(1))
    model = lambda expression, rotation, translation, **kw: SimpleNamespace(
        vertices=torch.einsum("be,evc->bvc", expression, basis) @ rotation.transpose(1, 2) + translation[:, None])
    params = dict(shape=torch.zeros(0), expression=torch.rand(T, E), rotation=torch.eye(3).expand(T, 3, 3).clone(),
                  translation=torch.rand(T, 3), extra={})
    clip = SimpleNamespace(params=params, train_ids=train, K=torch.eye(3))
    deltas = dict(expression=torch.zeros(T, E))
    deltas["expression"][2] = torch.tensor([0.1, -0.2, 0.3, 0.0])
    v = transferred_vertices(model, clip, lm, deltas, [6], k=1)
    kw = dict(expression=params["expression"][[6]] + deltas["expression"][[2]], rotation=params["rotation"][[6]],
              translation=params["translation"][[6]])
    assert torch.allclose(v, model(**kw).vertices, atol=1e-6)
    # defaults: a video refines the expression only; one-shot never refines
    t = train_options(AvatarOptions(), one_shot=False)
    assert t.refine and not t.refine_pose and not train_options(AvatarOptions(), one_shot=True).refine
