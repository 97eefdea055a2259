"""Finite-difference checks (torch.autograd.gradcheck, float64) of the CPU extension and the reference."""
import pytest
import torch

from headgen.splat import rasterize
from headgen.testing.scenes import random_scene


def _tiny(seed, sh):
    s = random_scene(6, n_cameras=1, width=20, height=16, seed=seed, sh_degree=sh, dtype=torch.float64,
                     scale_range=(0.02, 0.05), fov_deg=60.0)
    s["opacities"] = s["opacities"].clamp(0.2, 0.8)
    return s


@pytest.mark.parametrize("backend,mode,sh", [("cpu", "antialiased", 1), ("cpu", "classic", None),
                                             ("torch", "antialiased", 2)])
def test_gradcheck(backend, mode, sh):
    s = _tiny(5, sh)
    names = ("means", "quats", "scales", "opacities", "colors_or_sh")
    inputs = tuple(s[k].clone().requires_grad_(True) for k in names)
    fixed = {k: v for k, v in s.items() if k not in names}
    w = torch.rand(1, 16, 20, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def f(*args):
        img, alpha, _ = rasterize(*args, fixed["viewmats"], fixed["Ks"], 20, 16, backend=backend,
                                  sh_degree=fixed.get("sh_degree"), rasterize_mode=mode, render_mode="RGB+ED")
        return (img * w).sum() + alpha.sum()

    # the reference is slow under finite differences: its full Jacobian is covered by the tight
    # ext-vs-reference gradient comparison in test_splat_reference.py, fast mode (random projections) here
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=backend == "torch")
