"""Rasteriser: builtin (C++/OpenMP) vs the pure-torch reference, exact coverage of a known
square, perspective-correct barycentrics, differentiable interpolation, optional backends."""

import numpy as np
import pytest
import torch

from headgen.assets import ict_facekit_npz
from headgen.render import interpolate, project_to_screen, rasterize, rasterize_screen


def _ict(z=0.6):
    d = np.load(ict_facekit_npz())
    v = torch.from_numpy(d["neutral_vertices"]).float() * 0.01
    f = torch.from_numpy(d["faces"]).long()
    return v * torch.tensor([1.0, -1.0, -1.0]) + torch.tensor([0.0, 0.0, z]), f


def _K(f, cx, cy):
    return torch.tensor([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])


def _random_mesh(seed, n_tris=60, B=2):
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(B, n_tris, 1, 3, generator=g) * torch.tensor([1.6, 1.6, 1.0]) + torch.tensor([-0.8, -0.8, 1.5])
    v = (centres + 0.25 * torch.randn(B, n_tris, 3, 3, generator=g)).reshape(B, -1, 3)
    faces = torch.arange(n_tris * 3).view(n_tris, 3)
    return v, faces


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_builtin_matches_torch_reference_on_random_meshes(seed):
    v, f = _random_mesh(seed)
    K = _K(40.0, 31.3, 23.8)
    rb = rasterize(v, f, K, 48, 64, backend="builtin")
    rt = rasterize(v, f, K, 48, 64, backend="torch")
    assert rb.tri_id.shape == (2, 48, 64)
    assert rb.mask.float().mean() > 0.3  # the scene really covers the image
    same = (rb.tri_id == rt.tri_id).float().mean().item()
    assert same > 0.999
    m = (rb.tri_id == rt.tri_id) & rb.mask
    torch.testing.assert_close(rb.depth[m], rt.depth[m], rtol=1e-6, atol=0)
    torch.testing.assert_close(rb.bary[m], rt.bary[m], rtol=0, atol=1e-5)
    assert (rb.depth[~rb.mask] == 0).all() and (rb.tri_id[~rb.mask] == -1).all()


def test_builtin_matches_reference_on_ict_head():
    v, f = _ict()
    K = _K(90.0, 31.5, 39.5)
    rb = rasterize(v, f, K, 80, 64, backend="builtin")
    rt = rasterize(v, f, K, 80, 64, backend="torch")
    cov = rb.mask.float().mean().item()
    assert 0.2 < cov < 0.9
    assert (rb.tri_id == rt.tri_id).float().mean().item() > 0.999
    m = (rb.tri_id == rt.tri_id) & rb.mask
    torch.testing.assert_close(rb.depth[m], rt.depth[m], rtol=1e-6, atol=0)
    # the nose tip is the nearest surface: ~13 cm in front of the origin at z = 0.6
    assert 0.45 < rb.depth[rb.mask].min().item() < 0.50


def test_square_at_known_distance_covers_expected_pixels():
    # 1 m square at z = 2 m, f = 100 px -> 50 x 50 px; edges placed between pixel centres.
    v = torch.tensor([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]])
    f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    K = _K(100.0, 31.7, 40.2)
    for backend in ("builtin", "torch"):
        r = rasterize(v, f, K, 96, 80, backend=backend)
        assert r.mask.sum().item() == 2500
        ys, xs = torch.nonzero(r.mask[0], as_tuple=True)
        assert (xs.min().item(), xs.max().item(), ys.min().item(), ys.max().item()) == (7, 56, 16, 65)
        torch.testing.assert_close(r.depth[r.mask], torch.full((2500,), 2.0), rtol=1e-6, atol=0)
    # Behind the camera / beyond near plane: nothing drawn.
    r = rasterize(v * torch.tensor([1.0, 1.0, -1.0]), f, K, 96, 80, backend="builtin")
    assert r.mask.sum().item() == 0


def test_perspective_correct_barycentrics_on_tilted_plane():
    # A plane tilted in depth: interpolated camera positions must lie on the pixel's ray.
    v = torch.tensor([[-1.0, -1.0, 2.0], [1.0, -1.0, 4.0], [0.0, 1.5, 3.0]])
    f = torch.tensor([[0, 1, 2]])
    K = _K(30.0, 32.0, 32.0)
    r = rasterize(v, f, K, 64, 64, backend="builtin")
    P = interpolate(v.unsqueeze(0), r, f)[0]  # (H,W,3)
    m = r.mask[0]
    assert m.sum() > 250
    uv = project_to_screen(P[m].unsqueeze(0), K)[0]
    ys, xs = torch.nonzero(m, as_tuple=True)
    torch.testing.assert_close(uv[:, 0], xs.float(), atol=2e-3, rtol=0)
    torch.testing.assert_close(uv[:, 1], ys.float(), atol=2e-3, rtol=0)
    torch.testing.assert_close(P[m][:, 2], r.depth[0][m], atol=1e-5, rtol=1e-5)


def test_interpolate_gradcheck_wrt_attributes_and_vertices():
    v = torch.tensor([[-0.6, -0.5, 2.0], [0.7, -0.4, 2.6], [0.1, 0.8, 2.2], [0.9, 0.7, 3.0]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2], [1, 3, 2]])
    K = _K(6.0, 3.5, 3.5).double()
    attr = torch.randn(1, 4, 2, dtype=torch.float64, requires_grad=True)

    def fa(a):
        r = rasterize(v.unsqueeze(0), f, K, 8, 8, backend="builtin")
        return interpolate(a, r, f)

    assert torch.autograd.gradcheck(fa, (attr,), eps=1e-6, atol=1e-7)
    vv = v.unsqueeze(0).clone().requires_grad_(True)
    colors = torch.randn(1, 4, 3, dtype=torch.float64)

    def fv(x):
        r = rasterize(x, f, K, 8, 8, backend="builtin")
        return interpolate(colors, r, f), r.depth

    assert torch.autograd.gradcheck(fv, (vv,), eps=1e-6, atol=1e-6)
    out, _ = fv(vv)
    out.sum().backward()
    assert vv.grad.abs().sum() > 0  # gradient reaches the vertex positions


def test_batch_and_screen_space_entry():
    v, f = _random_mesh(3, B=3)
    K = _K(40.0, 31.3, 23.8)
    r = rasterize(v, f, K, 48, 64, backend="builtin")
    for b in range(3):
        rb = rasterize(v[b], f, K, 48, 64, backend="builtin")
        assert torch.equal(rb.tri_id[0], r.tri_id[b])
    vs = project_to_screen(v, K)
    r2 = rasterize_screen(vs, f, 48, 64, backend="builtin")
    assert torch.equal(r2.tri_id, r.tri_id)


def test_unknown_backend_is_rejected():
    v, f = _random_mesh(0, B=1)
    with pytest.raises(ValueError, match="unknown rasteriser backend"):
        rasterize(v, f, _K(40.0, 31.3, 23.8), 8, 8, backend="opengl")


def test_pytorch3d_matches_builtin_on_ict():
    pytest.importorskip("pytorch3d")
    v, f = _ict()
    K = _K(180.0, 63.5, 79.5)
    rb = rasterize(v, f, K, 160, 128, backend="builtin")
    rp = rasterize(v, f, K, 160, 128, backend="pytorch3d")
    assert (rb.tri_id == rp.tri_id).float().mean().item() > 0.995
    m = rb.mask & rp.mask
    torch.testing.assert_close(rb.depth[m], rp.depth[m], rtol=1e-4, atol=1e-5)


def test_nvdiffrast_matches_builtin_on_ict():
    pytest.importorskip("nvdiffrast")
    if not torch.cuda.is_available():
        pytest.skip("nvdiffrast needs CUDA")
    v, f = _ict()
    K = _K(180.0, 63.5, 79.5)
    rb = rasterize(v, f, K, 160, 128, backend="builtin")
    rn = rasterize(v.cuda(), f.cuda(), K.cuda(), 160, 128, backend="nvdiffrast")
    assert (rb.tri_id == rn.tri_id.cpu()).float().mean().item() > 0.995


@pytest.mark.gpu
def test_builtin_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    v, f = _ict()
    K = _K(180.0, 63.5, 79.5)
    rc = rasterize(v, f, K, 160, 128, backend="builtin")
    rg = rasterize(v.cuda(), f.cuda(), K.cuda(), 160, 128, backend="builtin")
    assert (rc.tri_id == rg.tri_id.cpu()).float().mean().item() > 0.999


@pytest.mark.slow
def test_cuda_sources_compile_with_nvcc(tmp_path):
    import shutil

    from headgen.ext import nvcc_compile_check

    if not shutil.which("nvcc") and not __import__("os").path.exists("/usr/local/cuda/bin/nvcc"):
        pytest.skip("nvcc not installed")
    objs = nvcc_compile_check(["cuda/raster_cuda.cu"], tmp_path)
    assert objs[0].exists() and objs[0].stat().st_size > 0
