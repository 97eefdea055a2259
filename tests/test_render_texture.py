"""Projecting a photo onto a mesh: texels get the photo colour where visible, occlusion masks."""
import numpy as np
import torch

from headgen.render import project_texture, render_mesh


def _grid_plane(n=8, z=2.0, size=1.0):
    ys, xs = torch.meshgrid(torch.linspace(-size / 2, size / 2, n + 1), torch.linspace(-size / 2, size / 2, n + 1),
                            indexing="ij")
    v = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.full(((n + 1) ** 2,), z)], -1)
    idx = torch.arange((n + 1) ** 2).view(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    f = torch.cat([torch.stack([a, c, b], -1).reshape(-1, 3), torch.stack([a, d, c], -1).reshape(-1, 3)])
    uv = torch.stack([(v[:, 0] + size / 2) / size, 1 - (v[:, 1] + size / 2) / size], -1)
    return v, f, uv


def test_projected_texture_reproduces_the_photo():
    v, f, uv = _grid_plane()
    # counter-clockwise as seen from the camera (normals towards the camera at -z)
    K = torch.tensor([[50.0, 0, 31.5], [0, 50.0, 31.5], [0, 0, 1]])
    yy, xx = np.mgrid[0:64, 0:64]
    photo = np.stack([xx * 4, yy * 4, np.full_like(xx, 128)], -1).astype(np.uint8)
    tex, vis = project_texture(photo, v, f, uv, f, K, tex_size=64)
    assert tex.shape == (64, 64, 3) and vis.dtype == torch.bool
    assert vis.float().mean() > 0.9
    # re-render with the baked texture: matches the photo where the plane is
    img, alpha = render_mesh(v, f, K, 64, 64, shading="none", texture=tex, uvs=uv, faces_uv=f, return_alpha=True)
    m = alpha[0] > 0
    inner = torch.zeros_like(m)
    inner[12:52, 12:52] = True
    diff = (img[0] - torch.from_numpy(photo).float() / 255).abs()[m & inner]
    assert diff.mean() < 0.02


def test_occluded_texels_are_marked_invisible():
    v, f, uv = _grid_plane(n=8, z=2.0)
    blocker_v = torch.tensor([[-0.2, -0.2, 1.0], [0.2, -0.2, 1.0], [0.2, 0.2, 1.0], [-0.2, 0.2, 1.0]])
    vv = torch.cat([v, blocker_v])
    n0 = v.shape[0]
    ff = torch.cat([f, torch.tensor([[n0, n0 + 2, n0 + 1], [n0, n0 + 3, n0 + 2]])])
    uu = torch.cat([uv, torch.zeros(4, 2)])
    K = torch.tensor([[50.0, 0, 31.5], [0, 50.0, 31.5], [0, 0, 1]])
    photo = np.full((64, 64, 3), 200, np.uint8)
    mask = torch.zeros(ff.shape[0], dtype=torch.bool)
    mask[: f.shape[0]] = True
    tex, vis = project_texture(photo, vv, ff, uu, ff, K, tex_size=64, face_mask=mask)
    # blocker at z=1 of half-width 0.2 hides plane points with |x| < 0.4 at z=2: centre texels
    assert not vis[28:36, 28:36].any()
    assert vis[2:8, 2:8].all() and vis[56:62, 56:62].all()
    assert (tex[~vis] == 0).all()
    assert abs(tex[vis].mean().item() - 200 / 255) < 0.01
