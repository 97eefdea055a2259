"""Image score distillation (headgen.stages.sculpt.sds): tiny random Stable Diffusion built from configs (no
downloads), the analytic score of a known target image, path errors."""
import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def model():
    from headgen.stages.sculpt.core import load_model_for_sculpt
    return load_model_for_sculpt()


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from sculpt_sd_tiny import build_tiny_sd
    return build_tiny_sd(tmp_path_factory.mktemp("sd") / "tiny_sd")


def test_missing_or_malformed_model_is_one_line_error(tmp_path):
    from headgen.errors import InputError
    from headgen.stages.sculpt.sds import load_sd_pipeline
    with pytest.raises(InputError, match="no such folder"):
        load_sd_pipeline(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="model_index.json"):
        load_sd_pipeline(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(InputError) as e:
        load_sd_pipeline(tmp_path / "bad")
    assert "\n" not in str(e.value) and "bad" in str(e.value)


def test_sds_with_tiny_stable_diffusion_updates_the_head(model, tiny_sd):
    from headgen.stages.sculpt.core import torch_threads
    from headgen.stages.sculpt.sds import StableDiffusionScore, load_sd_pipeline, optimize_head
    from headgen.stages.sculpt.space import SculptSpace
    pipe = load_sd_pipeline(tiny_sd)
    score = StableDiffusionScore(pipe, seed=0)
    sp = SculptSpace(model)
    with torch_threads(1):
        s, e, st = optimize_head(model, score, "a long face", torch.zeros(100), torch.zeros(53), directions=sp.D,
                                 iters=3, size=64, seed=0)
    assert torch.isfinite(s).all() and torch.isfinite(e).all() and np.isfinite(st["losses"]).all()
    assert s.abs().max() > 0 and (e >= 0).all() and (e <= 1).all()


def test_analytic_score_pulls_the_render_to_the_target(model):
    from headgen.models.attributes import SHAPE_NAMES
    from headgen.stages.sculpt.core import torch_threads
    from headgen.stages.sculpt.sds import VIEWS, TargetScore, optimize_head, render_views
    from headgen.stages.sculpt.space import SculptSpace
    sp = SculptSpace(model)
    a_t = torch.zeros(sp.K, dtype=torch.float64)
    a_t[SHAPE_NAMES.index("nose width")] = 2.0
    a_t[SHAPE_NAMES.index("face length")] = 1.5
    a_t[SHAPE_NAMES.index("jaw width")] = -1.5
    s_t = sp.D @ a_t
    e0 = torch.zeros(53, dtype=torch.float64)
    views = [0, 1, 2]
    with torch.no_grad():
        c = model.neutral().vertices_model[0]
        centre = (c.max(0).values + c.min(0).values) / 2
        tg = render_views(model, s_t, e0, torch.tensor([VIEWS[i][0] for i in views]), 48, centre)
        targets = torch.zeros(len(VIEWS), 48, 48, 3)
        targets[views] = tg
        v_t = model(shape=s_t[None]).vertices_model[0]
        rms0 = float((model.neutral().vertices_model[0] - v_t).norm(dim=-1).square().mean().sqrt())
    score = TargetScore(targets, blur=5)
    with torch_threads(1):
        s, e, st = optimize_head(model, score, "x", torch.zeros(100), torch.zeros(53), directions=sp.D, iters=100,
                                 size=48, fixed_views=views, lr=0.05, prior=0.0, expr_lr=0.0)
    with torch.no_grad():
        rms = float((model(shape=s[None], expression=e[None]).vertices_model[0] - v_t).norm(dim=-1).square().mean().sqrt())
    assert st["losses"][-1] < 0.15 * st["losses"][0]
    assert rms < 0.5 * rms0, (rms, rms0)


def test_run_sculpt_with_diffusion(tiny_sd, tmp_path):
    from headgen.artifacts.sculpt import read_sculpt
    from headgen.stages.sculpt.run import run_sculpt
    run_sculpt("a long face", tmp_path / "o", diffusion=str(tiny_sd), sds_iters=2, turntable=False, log=lambda m: None)
    art = read_sculpt(tmp_path / "o")
    assert art.method == "sds" and (tmp_path / "o" / "head.obj").is_file() and (tmp_path / "o" / "fit.npz").is_file()


def test_analytic_score_pulls_the_avatar_colours_to_the_target():
    """--avatar with --diffusion optimises the Gaussians' colours: with the analytic score of renders of the
    same avatar recoloured (blond hair, darker skin) it must get there, measured on the avatar's colours."""
    from headgen.avatar import build_avatar, load_avatar_model, rgb_to_sh0
    from headgen.avatar.appearance import appearance_regions, edit_appearance, measure_appearance
    from headgen.stages.sculpt.core import torch_threads
    from headgen.stages.sculpt.sds import VIEWS, TargetScore, optimize_avatar_colors, render_avatar_views
    m = load_avatar_model("ict", mediapipe=True)
    av = build_avatar(m, n_gaussians=6000, coverage=1.0)
    reg = appearance_regions(av, m)
    col = torch.tensor([0.1, 0.2, 0.9]).repeat(av.n, 1)
    col[reg["skin"]] = torch.tensor([0.85, 0.65, 0.55])
    col[reg["hair"]] = torch.tensor([0.2, 0.13, 0.08])
    av.sh[:, 0] = rgb_to_sh0(col)
    target = edit_appearance(av, {"blond hair": 1.0, "skin lightness": -1.5}, reg)
    views = [0, 1, 2, 3]
    v = av.neutral_vertices
    centre = (v.max(0).values + v.min(0).values) / 2
    with torch.no_grad():
        tg = render_avatar_views(target, v, torch.tensor([VIEWS[i][0] for i in views]), 48, centre)
    with torch_threads(1):
        out, st = optimize_avatar_colors(av, v, TargetScore(tg), "x", iters=60, lr=0.1, size=48, fixed_views=views,
                                         mask=reg["skin"] | reg["hair"])
    a0, a1, at = (measure_appearance(x, reg) for x in (av, out, target))
    assert st["losses"][-1] < 0.05 * st["losses"][0]
    assert abs(a1["skin lightness"] - at["skin lightness"]) < 0.2 * abs(a0["skin lightness"] - at["skin lightness"])
    assert a1["hair delta E blond"] < 0.2 * a0["hair delta E blond"] and a1["hair colour"] == "blond"
    other = ~(reg["skin"] | reg["hair"])
    assert torch.equal(out.sh[other], av.sh[other]) and torch.equal(out.binding, av.binding)


def test_run_sculpt_with_diffusion_on_an_avatar(tiny_sd, tmp_path):
    from headgen.artifacts.sculpt import read_sculpt
    from headgen.avatar import build_avatar, load_avatar, load_avatar_model, save_avatar
    from headgen.stages.sculpt.run import run_sculpt
    m = load_avatar_model("ict")
    av = build_avatar(m, shape=torch.zeros(m.n_shape), n_gaussians=3000)
    save_avatar(tmp_path / "av", av)
    run_sculpt("blond hair", tmp_path / "o", avatar=tmp_path / "av", diffusion=str(tiny_sd), sds_iters=2,
               turntable=False, log=lambda m: None)
    art = read_sculpt(tmp_path / "o")
    out = load_avatar(tmp_path / "o")
    assert art.method == "sds" and "hair lightness" in art.attributes
    assert torch.equal(out.binding, av.binding) and not torch.equal(out.sh, av.sh)   # colours were optimised
