"""Degenerate inputs: defined results, never a crash or hang."""
import pytest
import torch

from headgen.errors import InputError
from headgen.splat import rasterize
from headgen.testing.scenes import random_scene

BACKENDS = ["cpu", "torch"] + (["cuda"] if torch.cuda.is_available() else [])
PARAMS = ("means", "quats", "scales", "opacities", "colors_or_sh")


def _on(scene, backend):
    """The scene's tensors on the device the backend runs on."""
    dev = "cuda" if backend == "cuda" else "cpu"
    return {k: (v.to(dev) if torch.is_tensor(v) else v) for k, v in scene.items()}


def _grad_run(scene, backend, **kw):
    s = {k: (v.clone().requires_grad_(k in PARAMS) if torch.is_tensor(v) else v) for k, v in scene.items()}
    img, alpha, meta = rasterize(**s, backend=backend, **kw)
    (img.sum() + alpha.sum()).backward()
    return img, alpha, meta, {k: s[k].grad for k in PARAMS}


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_set_gives_background(backend):
    s = _on(random_scene(0, n_cameras=2, width=20, height=10), backend)
    bg = torch.tensor([0.2, 0.4, 0.6], device=s["means"].device)
    img, alpha, meta, grads = _grad_run(s, backend, backgrounds=bg, render_mode="RGB+ED")
    assert img.shape == (2, 10, 20, 4) and alpha.shape == (2, 10, 20, 1)
    torch.testing.assert_close(img[..., :3], bg.expand(2, 10, 20, 3))
    assert (img[..., 3] == 0).all() and (alpha == 0).all()
    assert meta["means2d"].shape == (2, 0, 2) and meta["radii"].shape == (2, 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_gaussians_are_masked(backend):
    s = _on(random_scene(60, width=32, height=24, seed=1), backend)
    clean = rasterize(**s, backend=backend)[0]
    bad = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in s.items()}
    extra = _on(random_scene(4, width=32, height=24, seed=2), backend)
    for k in PARAMS:  # append 4 broken Gaussians
        bad[k] = torch.cat([bad[k], extra[k]])
    bad["means"][60] = float("nan")
    bad["quats"][61] = float("inf")
    bad["scales"][62, 1] = float("nan")
    bad["opacities"][63] = float("nan")
    img, alpha, meta, grads = _grad_run(bad, backend)
    assert torch.isfinite(img).all() and torch.isfinite(alpha).all()
    torch.testing.assert_close(img, clean, rtol=1e-6, atol=1e-6)
    assert not meta["visibility"][:, 60:].any()
    for k, g in grads.items():
        assert torch.isfinite(g).all(), k
        assert (g[60:] == 0).all(), k


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["classic", "antialiased"])
def test_zero_scales_behind_and_offscreen(backend, mode):
    s = _on(random_scene(30, width=32, height=24, seed=4), backend)
    s["scales"][:10] = 0.0  # zero scales: a blur-sized dot (classic) or invisible (antialiased: compensation 0)
    s["means"][10:20, 2] = -1.0  # behind the camera (camera at z = -0.5 in world)
    s["means"][20:30, 0] = 5.0  # far off-screen to the right
    img, alpha, meta, grads = _grad_run(s, backend, rasterize_mode=mode, backgrounds=torch.ones(3, device=s["means"].device))
    assert torch.isfinite(img).all()
    assert not meta["visibility"][:, 10:].any()
    assert meta["visibility"][:, :10].all() == (mode == "classic")
    if mode == "antialiased":
        torch.testing.assert_close(img, torch.ones_like(img))
    for k, g in grads.items():
        assert torch.isfinite(g).all(), k
        assert (g[10:] == 0).all(), k


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "torch"])
def test_camera_inside_gaussians_and_extreme_values_do_not_hang(backend):
    s = _on(random_scene(200, width=32, height=24, seed=5, distance=0.05), backend)  # camera inside the cloud
    s["scales"][:20] = 1e4
    s["scales"][20:40] = 1e-12
    img, alpha, _ = rasterize(**s, backend=backend)
    assert torch.isfinite(img).all() and (alpha <= 1).all()


def test_bad_input_raises_input_error():
    s = random_scene(10, width=16, height=16)
    with pytest.raises(InputError, match="quats"):
        rasterize(**{**s, "quats": s["quats"][:, :3]}, backend="cpu")
    vm = s["viewmats"].clone()
    vm[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="viewmats"):
        rasterize(**{**s, "viewmats": vm}, backend="cpu")
    with pytest.raises(InputError, match="render_mode"):
        rasterize(**s, backend="cpu", render_mode="XYZ")
    with pytest.raises(InputError, match="backend"):
        rasterize(**s, backend="cuda")  # CPU tensors
    with pytest.raises(InputError, match="SH coefficients"):
        rasterize(**s, backend="cpu", sh_degree=2)  # colors are (N,3), not SH
