"""NPHM: architecture, official checkpoint layout, mesh extraction and SDF fitting on analytic shapes."""
import numpy as np
import pytest
import torch

from headgen.errors import InputError
from headgen.models.nphm import (NPHM, NPHMConfig, extract_mesh, fit_sdf, load_nphm_checkpoint,
                                 sphere_anchors)

R = 0.3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_cfg(**kw):
    base = dict(lat_dim_glob=8, lat_dim_loc=4, n_loc=6, n_symm_pairs=2, hidden_dim=32, n_layers=2,
                pos_mlp_dim=16, expr_lat_dim=8, expr_id_dim=4, expr_hidden_dim=32, expr_n_layers=2)
    base.update(kw)
    return NPHMConfig(**base)


def sphere_data(n=4000, seed=0, centre=(0.0, 0.0, 0.0)):
    g = torch.Generator().manual_seed(seed)
    c = torch.tensor(centre)
    surf = torch.randn(n, 3, generator=g)
    surf = surf / surf.norm(dim=-1, keepdim=True) * R + c
    space = (torch.rand(n, 3, generator=g) * 2 - 1) * 0.6
    return surf, space, (space - c).norm(dim=-1) - R


@pytest.fixture(scope="module")
def fitted_sphere():
    torch.manual_seed(0)
    model = NPHM(tiny_cfg(), sphere_anchors(6, 2, R))
    surf, space, sd = sphere_data()
    res = fit_sdf(model, surf, space_points=space, space_sdf=sd, optimize_network=True, n_steps=200,
                  lr=1e-2, lr_network=5e-3, batch_size=256)
    return model, res


def test_official_layout_key_names_and_default_shapes():
    m = NPHM(NPHMConfig(), sphere_anchors(39, 16, 0.4))
    sd_id, sd_ex = m.identity.state_dict(), m.expression.state_dict()
    # published model: 39 anchors, 16 symmetric pairs -> 40 - 16 weight sets, input 3 + 64 + 32
    assert tuple(sd_id["ensembled_deep_sdf.lin0.weight"].shape) == (24, 200, 99)
    assert tuple(sd_id["ensembled_deep_sdf.lin1.weight"].shape) == (24, 200 - 99, 200)   # skip before lin2
    assert tuple(sd_id["ensembled_deep_sdf.lin4.weight"].shape) == (24, 1, 200)
    assert tuple(sd_id["mlp_pos.4.weight"].shape) == (39 * 3, 128)
    assert "anchors_mean" not in sd_id      # not part of the official checkpoint
    assert tuple(sd_ex["compressor.0.weight"].shape) == (32, 64 + 40 * 32 + 39 * 3)
    assert tuple(sd_ex["defDeepSDF.lin0.weight"].shape) == (512, 3 + 32 + 200)
    assert tuple(sd_ex["defDeepSDF.lin6.weight"].shape) == (3, 512)
    assert m.lat_dim_id == 64 + 40 * 32


def test_forward_shapes_and_mirror_symmetry():
    torch.manual_seed(1)
    m = NPHM(tiny_cfg(), sphere_anchors(6, 2, R)).eval()
    z_id = torch.randn(2, m.lat_dim_id) * 0.1
    z_ex = torch.randn(2, m.lat_dim_ex) * 0.1
    pts = torch.rand(2, 50, 3) - 0.5
    s = m.sdf(pts, z_id, z_ex)
    assert s.shape == (2, 50) and torch.isfinite(s).all()
    assert m.identity.ensembled_deep_sdf.lin0.weight.shape[0] == 7 - 2     # pairs share one weight set

    # all anchors in mirrored pairs, no anchor offsets, equal codes within each pair: eval-mode SDF (constant
    # background) is mirror-symmetric because the second member of a pair sees mirrored local coordinates
    cfg = tiny_cfg(n_loc=4, n_symm_pairs=2)
    ms = NPHM(cfg, sphere_anchors(4, 2, R), with_expression=False).eval()
    with torch.no_grad():
        ms.identity.mlp_pos[4].weight.zero_()
        ms.identity.mlp_pos[4].bias.zero_()
    z = torch.randn(1, ms.lat_dim_id)
    loc = z[:, cfg.lat_dim_glob:].view(1, 5, cfg.lat_dim_loc)
    loc[:, 1], loc[:, 3] = loc[:, 0], loc[:, 2]
    x = (torch.rand(1, 200, 3) - 0.5) * 0.8
    xm = x * torch.tensor([-1.0, 1.0, 1.0])
    assert torch.allclose(ms.sdf(x, z), ms.sdf(xm, z), atol=1e-5)
    loc[:, 1] += 0.5      # breaking the pair's code equality breaks the symmetry
    assert not torch.allclose(ms.sdf(x, z), ms.sdf(xm, z), atol=1e-3)


def test_checkpoint_roundtrip_and_mismatch(tmp_path):
    torch.manual_seed(2)
    m = NPHM(tiny_cfg(), sphere_anchors(6, 2, R)).eval()
    p_id, p_ex = tmp_path / "id.tar", tmp_path / "ex.tar"
    codes = torch.randn(3, m.lat_dim_id)
    torch.save({"decoder_state_dict": m.identity.state_dict(), "latent_codes_state_dict": {"weight": codes}}, p_id)
    torch.save({"decoder_state_dict": m.expression.state_dict()}, p_ex)
    m2, extra = load_nphm_checkpoint(p_id, sphere_anchors(6, 2, R), p_ex)
    assert m2.cfg.n_loc == 6 and m2.cfg.n_symm_pairs == 2 and m2.cfg.hidden_dim == 32
    assert m2.cfg.expr_lat_dim == 8 and m2.cfg.expr_id_dim == 4 and m2.cfg.expr_mode == "compress"
    assert torch.equal(extra["id_codes"], codes)
    pts = torch.rand(1, 30, 3) - 0.5
    z_id, z_ex = codes[:1] * 0.1, torch.randn(1, 8) * 0.1
    assert torch.allclose(m.sdf(pts, z_id, z_ex), m2.sdf(pts, z_id, z_ex))

    bad = dict(m.identity.state_dict())
    bad["ensembled_deep_sdf.lin1.weight"] = bad["ensembled_deep_sdf.lin1.weight"][:, :5]
    torch.save({"decoder_state_dict": bad}, p_id)
    with pytest.raises(InputError, match="shape mismatch"):
        load_nphm_checkpoint(p_id, sphere_anchors(6, 2, R))
    torch.save({"decoder_state_dict": {"lin0.weight": torch.zeros(3, 3)}}, p_id)
    with pytest.raises(InputError, match="not an NPHM"):
        load_nphm_checkpoint(p_id, sphere_anchors(6, 2, R))
    with pytest.raises(InputError, match="anchor"):
        load_nphm_checkpoint({"decoder_state_dict": m.identity.state_dict()}, np.zeros((5, 3)))
    with pytest.raises(InputError, match="not found"):
        load_nphm_checkpoint(tmp_path / "nope.tar", sphere_anchors(6, 2, R))


def test_bad_inputs():
    m = NPHM(tiny_cfg(), sphere_anchors(6, 2, R))
    z_id, z_ex = m.zero_codes(1)
    with pytest.raises(InputError, match="NaN"):
        m.sdf(torch.full((1, 4, 3), float("nan")), z_id)
    with pytest.raises(InputError, match="z_id"):
        m.sdf(torch.zeros(1, 4, 3), torch.zeros(1, 5))
    with pytest.raises(InputError, match=r"\(B,N,3\)"):
        m.sdf(torch.zeros(1, 4, 2), z_id)
    with pytest.raises(InputError, match="space_sdf"):
        fit_sdf(m, torch.zeros(10, 3), space_points=torch.zeros(5, 3), space_sdf=torch.zeros(4), n_steps=1)


def test_sphere_fit_mesh_radius(fitted_sphere):
    model, res = fitted_sphere
    assert res.losses[-1] < 0.1 * res.losses[0]
    v, f = model.mesh(res.z_id, bounds_min=[-0.5] * 3, bounds_max=[0.5] * 3, resolution=48, batch_points=20000)
    r = np.linalg.norm(v, axis=1)
    assert abs(r.mean() - R) / R < 0.05, r.mean()
    assert r.std() / R < 0.06
    # outward winding: positive enclosed volume close to the sphere's
    tri = v[f]
    vol = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert 0.8 < vol / (4 / 3 * np.pi * R ** 3) < 1.1


def test_fit_expression_field(fitted_sphere):
    model, res = fitted_sphere
    surf, _, _ = sphere_data(2000, seed=3, centre=(0.04, 0.0, 0.0))
    before = model.sdf(surf.unsqueeze(0), res.z_id, model.zero_codes(1)[1]).abs().mean().item()
    id_before = [p.detach().clone() for p in model.identity.parameters()]
    fit = fit_sdf(model, surf, z_id=res.z_id, fit_identity=False, fit_expression=True, optimize_network=True,
                  network_parts=("expression",), n_steps=80, lr=1e-2, lr_network=3e-3, w_eikonal=0.0,
                  batch_size=512)
    after = model.sdf(surf.unsqueeze(0), res.z_id, fit.z_ex).abs().mean().item()
    assert fit.z_ex.shape == (1, 8)
    assert after < 0.5 * before, (before, after)
    # identity code and identity network untouched by an expression-only fit
    assert torch.equal(fit.z_id, res.z_id)
    assert all(torch.equal(a, b) for a, b in zip(id_before, model.identity.parameters()))


def test_extract_mesh_no_crossing():
    with pytest.raises(InputError, match="zero crossing"):
        extract_mesh(lambda p: torch.ones(p.shape[0]), [-1] * 3, [1] * 3, resolution=8)
