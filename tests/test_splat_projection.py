"""Projection (reference and CPU extension) vs gsplat's _torch_impl._fully_fused_projection."""
import pytest
import torch

from headgen.splat import reference
from headgen.splat.backends import cpu_ops


def _inputs(seed, N=400, C=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(N, 3, generator=g, dtype=dtype) * 0.6
    quats = torch.randn(N, 4, generator=g, dtype=dtype)
    scales = torch.rand(N, 3, generator=g, dtype=dtype) * 0.1 + 0.001
    viewmats = torch.eye(4, dtype=dtype).repeat(C, 1, 1)
    for c in range(C):
        a = 0.3 * c
        viewmats[c, :3, :3] = torch.tensor([[1, 0, 0], [0, torch.cos(torch.tensor(a)), -torch.sin(torch.tensor(a))],
                                            [0, torch.sin(torch.tensor(a)), torch.cos(torch.tensor(a))]], dtype=dtype)
        viewmats[c, :3, 3] = torch.tensor([0.1 * c, -0.05, 1.5], dtype=dtype)
    Ks = torch.tensor([[90.0, 0, 40], [0, 85.0, 30], [0, 0, 1]], dtype=dtype).repeat(C, 1, 1)
    return means, quats, scales, viewmats, Ks


@pytest.mark.parametrize("seed,antialiased", [(0, False), (1, True), (2, True)])
def test_projection_matches_gsplat_torch_impl(seed, antialiased):
    ti = pytest.importorskip("gsplat.cuda._torch_impl")
    means, quats, scales, viewmats, Ks = _inputs(seed)
    W, H = 80, 60
    covars, _ = ti._quat_scale_to_covar_preci(quats, scales, compute_preci=False)
    r_g, m_g, d_g, c_g, comp_g = ti._fully_fused_projection(means, covars, viewmats, Ks, W, H, eps2d=0.3,
                                                            near_plane=0.01, far_plane=1e10,
                                                            calc_compensations=antialiased)
    ours = {"reference": reference.project(means, quats, scales, None, viewmats, Ks, W, H, 0.3, 0.01, 1e10, 0.0,
                                           antialiased)}
    ext = cpu_ops().project_fwd(means, quats, scales, means.new_zeros(0), viewmats, Ks, W, H, 0.3, 0.01, 1e10, 0.0,
                                antialiased)
    ours["cpu"] = tuple(ext)
    vis = (r_g > 0).all(-1)
    assert 100 < vis.sum() < vis.numel()  # some culled, many visible
    for name, (radii, means2d, depths, conics, comps) in ours.items():
        assert torch.equal((radii > 0).all(-1), vis), name
        assert torch.equal(radii[vis], r_g[vis]), name
        torch.testing.assert_close(means2d[vis], m_g[vis], rtol=1e-10, atol=1e-9)
        torch.testing.assert_close(depths[vis], d_g[vis], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(conics[vis], c_g[vis], rtol=1e-9, atol=1e-9)
        if antialiased:
            torch.testing.assert_close(comps[vis], comp_g[vis], rtol=1e-9, atol=1e-12)


def test_sh_matches_gsplat_torch_impl():
    ti = pytest.importorskip("gsplat.cuda._torch_impl")
    g = torch.Generator().manual_seed(0)
    dirs = torch.randn(2, 50, 3, generator=g, dtype=torch.float64)
    coeffs = torch.randn(50, 16, 3, generator=g, dtype=torch.float64)
    for deg in range(4):
        want = ti._spherical_harmonics(deg, dirs, coeffs[None].expand(2, -1, -1, -1))
        torch.testing.assert_close(reference.sh_colors(deg, dirs, coeffs), want, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(cpu_ops().sh_fwd(deg, dirs, coeffs), want, rtol=1e-12, atol=1e-12)
