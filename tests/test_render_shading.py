"""Normals, Lambert, texture sampling, render_mesh (colours, background, SSAA), ICT winding."""
import numpy as np
import torch

from headgen.assets import ict_facekit_npz
from headgen.render import (face_normals, interpolate, lambert, rasterize, render_mesh, sample_texture,
                            vertex_normals)


def _cube():
    v = torch.tensor([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)])
    # outward CCW faces of the cube (index = 4x + 2y + z with 0/1 coords)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    f = torch.tensor([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))])
    return v, f


def test_vertex_normals_point_outward_and_batch():
    v, f = _cube()
    n = vertex_normals(v, f)
    assert n.shape == v.shape
    torch.testing.assert_close(n.norm(dim=-1), torch.ones(8))
    assert ((n * v).sum(-1) > 0.9 * v.norm(dim=-1)).all()  # along the corner direction
    nb = vertex_normals(torch.stack([v, 2 * v]), f)
    torch.testing.assert_close(nb[0], n)
    torch.testing.assert_close(nb[1], n)
    fn = face_normals(v, f)
    assert fn.shape == (12, 3) and torch.allclose(fn.abs().sum(-1), torch.ones(12))


def test_lambert_values():
    n = torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    i = lambert(n, (0.0, 0.0, -1.0), ambient=0.2, diffuse=0.8, two_sided=False)
    torch.testing.assert_close(i[:, 0], torch.tensor([1.0, 0.2, 0.2]))
    i2 = lambert(n, (0.0, 0.0, -1.0), ambient=0.2, diffuse=0.8, two_sided=True)
    torch.testing.assert_close(i2[:, 0], torch.tensor([1.0, 0.2, 1.0]))


def test_sample_texture_uv_convention():
    tex = torch.zeros(4, 4, 3)
    tex[0, 0] = torch.tensor([1.0, 0, 0])  # top-left texel = (u ~ 0, v ~ 1)
    tex[3, 3] = torch.tensor([0, 0, 1.0])  # bottom-right = (u ~ 1, v ~ 0)
    uv = torch.tensor([[[[0.125, 0.875], [0.875, 0.125]]]])  # texel centres
    out = sample_texture(tex, uv)
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([1.0, 0, 0]))
    torch.testing.assert_close(out[0, 0, 1], torch.tensor([0, 0, 1.0]))


def test_render_mesh_colors_background_and_ssaa():
    v = torch.tensor([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]])
    f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    K = torch.tensor([[40.0, 0, 15.5], [0, 40.0, 15.5], [0, 0, 1]])
    colors = torch.tensor([[1.0, 0.0, 0.0]]).expand(4, 3)
    img = render_mesh(v, f, K, 32, 32, colors=colors, shading="none", background=(0.0, 0.0, 1.0))
    assert img.shape == (1, 32, 32, 3)
    torch.testing.assert_close(img[0, 16, 16], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(img[0, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    lit = render_mesh(v, f, K, 32, 32, colors=colors, shading="lambert")
    assert 0.95 < lit[0, 16, 16, 0] <= 1.0  # facing the headlight
    # with cx = 15.3 the square spans x in [5.3, 25.3]: 20 px per row, partial edge pixels
    K2 = torch.tensor([[40.0, 0, 15.3], [0, 40.0, 15.5], [0, 0, 1]])
    _, alpha = render_mesh(v, f, K2, 32, 32, ssaa=4, return_alpha=True)
    assert abs(alpha[0, 16].sum().item() - 20.0) < 0.26
    assert alpha[0, 16, 5].item() == 0.25 and alpha[0, 16, 25].item() == 0.75


def test_ict_head_winding_faces_camera():
    d = np.load(ict_facekit_npz())
    v = torch.from_numpy(d["neutral_vertices"]).float() * 0.01 * torch.tensor([1.0, -1.0, -1.0]) + torch.tensor([0, 0, 0.6])
    f = torch.from_numpy(d["faces"]).long()
    K = torch.tensor([[90.0, 0, 31.5], [0, 90.0, 39.5], [0, 0, 1]])
    r = rasterize(v, f, K, 80, 64)
    n = interpolate(vertex_normals(v, f), r, f)[0][r.mask[0]]
    assert (n[:, 2] < 0).float().mean() > 0.95  # visible normals point back at the camera
    img = render_mesh(v, f, K, 80, 64, shading="normals")
    assert img.shape == (1, 80, 64, 3) and img.max() <= 1 and img[0, 40, 32].sum() > 0


def test_analytic_antialias_coverage_and_silhouette_gradient():
    v = torch.tensor([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]])
    f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    K = torch.tensor([[40.0, 0, 15.3], [0, 40.0, 15.5], [0, 0, 1]])  # square spans x in [5.3, 25.3]
    vg = v.clone().requires_grad_(True)
    img, a = render_mesh(vg, f, K, 32, 32, shading="none", colors=torch.ones(4, 3), antialias=True,
                         return_alpha=True)
    torch.testing.assert_close(a[0, 16, 4:7], torch.tensor([0.0, 0.2, 1.0]))
    torch.testing.assert_close(a[0, 16, 24:27], torch.tensor([1.0, 0.8, 0.0]))
    torch.testing.assert_close(img[0, 16, 5], torch.full((3,), 0.2))
    a.sum().backward()
    # d(covered area)/dx of the right edge: 20 rows x 20 px/m, shared by its two vertices
    torch.testing.assert_close(vg.grad[[1, 2], 0].sum(), torch.tensor(400.0), rtol=0.02, atol=0)
    # left edge: one corner row is missed (its covered neighbour's triangle does not own the edge)
    torch.testing.assert_close(vg.grad[[0, 3], 0].sum(), torch.tensor(-400.0), rtol=0.06, atol=0)
    assert ((a[0, 6:26, 25] - 0.8).abs() < 1e-5).all()  # interior diagonal edge is not treated as a silhouette
