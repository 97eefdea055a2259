"""CUDA backend vs the CPU extension (and gsplat when installed). Needs a GPU and a CUDA torch."""
import pytest
import torch

from headgen.splat import rasterize
from headgen.testing.scenes import random_scene

pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

PARAMS = ("means", "quats", "scales", "opacities", "colors_or_sh")


def _run(scene, backend, device, **kw):
    s = {k: (v.detach().to(device).clone().requires_grad_(k in PARAMS) if torch.is_tensor(v) else v)
         for k, v in scene.items()}
    img, alpha, meta = rasterize(**s, backend=backend, **kw)
    meta["means2d"].retain_grad()
    w = torch.linspace(-1.0, 2.0, img.numel(), device=device).reshape(img.shape)
    ((img * w).sum() + alpha.sum()).backward()
    grads = {k: s[k].grad.cpu() for k in PARAMS if s[k].grad is not None}
    grads["means2d"] = meta["means2d"].grad.cpu()
    return img.detach().cpu(), alpha.detach().cpu(), grads


@pytest.mark.parametrize("mode,render_mode,sh,D", [("classic", "RGB", None, 3), ("antialiased", "RGB+ED", 3, 3),
                                                   ("classic", "RGB", None, 7)])
def test_cuda_matches_cpu(mode, render_mode, sh, D):
    scene = random_scene(2000, n_cameras=2, width=130, height=97, seed=0, sh_degree=sh, feature_dim=D)
    kw = dict(rasterize_mode=mode, render_mode=render_mode)
    i1, a1, g1 = _run(scene, "cuda", "cuda", **kw)
    i2, a2, g2 = _run(scene, "cpu", "cpu", **kw)
    torch.testing.assert_close(i1, i2, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(a1, a2, rtol=1e-4, atol=1e-4)
    for k in g2:
        scale = g2[k].abs().max().clamp_min(1e-6)
        assert ((g1[k] - g2[k]).abs().max() / scale) < 1e-2, k


def test_cuda_matches_gsplat():
    pytest.importorskip("gsplat")
    scene = random_scene(2000, n_cameras=1, width=128, height=128, seed=1, sh_degree=3)
    i1, a1, g1 = _run(scene, "cuda", "cuda", rasterize_mode="antialiased")
    i2, a2, g2 = _run(scene, "gsplat", "cuda", rasterize_mode="antialiased")
    torch.testing.assert_close(i1, i2, rtol=1e-3, atol=1e-3)
    for k in ("means", "scales", "opacities", "colors_or_sh"):
        scale = g2[k].abs().max().clamp_min(1e-6)
        assert ((g1[k] - g2[k]).abs().max() / scale) < 2e-2, k


def test_cuda_binning_matches_cpu_and_reference():
    from headgen.splat.backends import cpu_ops, cuda_ops
    from headgen.splat.binning import bin_tiles, tile_grid

    scene = random_scene(3000, n_cameras=3, width=150, height=101, seed=3)
    _, _, meta = rasterize(**scene, backend="cpu")
    tw, th = tile_grid(150, 101, 16)
    args = (meta["means2d"].detach(), meta["radii_xy"], meta["depths"].detach())
    o_cpu, i_cpu = cpu_ops().bin_tiles(*args, 16, tw, th)
    o_ref, i_ref = bin_tiles(*args, 16, tw, th)
    o_gpu, i_gpu = cuda_ops().bin_tiles(*(a.cuda().contiguous() for a in args), 16, tw, th)
    assert i_cpu.numel() > 10 * 3000  # a real workload: most Gaussians touch several tiles
    assert torch.equal(o_gpu.cpu(), o_cpu) and torch.equal(i_gpu.cpu(), i_cpu)
    assert torch.equal(o_ref, o_cpu) and torch.equal(i_ref, i_cpu)
