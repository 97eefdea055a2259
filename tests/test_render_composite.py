"""headgen.render.composite: feathered masks, edge rings, colour matching (RGB and CIELAB), alpha compositing."""
import numpy as np
import pytest
import torch

from headgen.errors import InputError
from headgen.render.composite import (composite, edge_ring, feathered_mask, lab_to_rgb, match_colour,
                                      rgb_to_lab)


def _disk(h=64, w=80, cx=40, cy=32, r=20):
    yy, xx = np.mgrid[:h, :w]
    d = np.hypot(xx - cx, yy - cy)
    return d <= r, r - d  # mask, signed distance to the circle (positive inside)


def test_feathered_mask_distance_ramp():
    m, sd = _disk()
    a = feathered_mask(m, 8)
    assert a.dtype == np.float32 and a.shape == m.shape
    assert np.all(a[~m] == 0)                      # never reaches outside the mask
    assert np.all(a[sd >= 8.5] == 1)               # fully opaque deeper than the radius
    ramp = (sd > 1) & (sd < 7)
    assert np.all((a[ramp] > 0) & (a[ramp] < 1))
    # monotone in the distance to the edge (up to pixelisation of the circle)
    near = m & (sd < 8)
    assert np.corrcoef(sd[near], a[near])[0, 1] > 0.95
    np.testing.assert_array_equal(feathered_mask(m, 0), m.astype(np.float32))
    # centred ramp: ~0.5 on the edge, spills half a radius outside
    c = feathered_mask(m, 8, inside=False)
    assert c[(np.abs(sd) < 0.5)].mean() == pytest.approx(0.5, abs=0.15)
    assert np.all(c[sd < -8.5] == 0) and np.all(c[sd > 8.5] == 1)
    # batched and torch in -> torch out
    b = feathered_mask(torch.from_numpy(np.stack([m, ~m])), 8)
    assert isinstance(b, torch.Tensor) and b.shape == (2, 64, 80)
    np.testing.assert_allclose(b[0].numpy(), a)


def test_feathered_mask_blur_mode_is_torch_and_differentiable():
    m, sd = _disk()
    mt = torch.from_numpy(m.astype(np.float32)).requires_grad_(True)
    a = feathered_mask(mt, 8, mode="blur")
    assert isinstance(a, torch.Tensor) and a.shape == m.shape
    an = a.detach().numpy()
    assert np.all(an[~m] == 0) and an[sd >= 10].min() > 0.98
    assert an[(sd > 0) & (sd < 2)].mean() < 0.2 and 0.25 < an[(sd > 3.5) & (sd < 4.5)].mean() < 0.75
    a.sum().backward()
    assert mt.grad is not None and torch.isfinite(mt.grad).all()
    with pytest.raises(InputError):
        feathered_mask(m, 4, mode="nope")


def test_edge_ring():
    m, sd = _disk()
    r = edge_ring(m, 4)
    assert r.dtype == bool and np.all(r <= m)
    assert np.all(r[(sd > 0.5) & (sd < 3.5)]) and not r[sd > 5].any()
    ro = edge_ring(m, 4, inside=False)
    assert not (ro & m).any() and np.all(ro[(sd < -0.5) & (sd > -3.5)])


def test_lab_matches_skimage_and_round_trips():
    from skimage.color import rgb2lab
    rgb = torch.rand(500, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lab = rgb_to_lab(rgb)
    np.testing.assert_allclose(lab.numpy(), rgb2lab(rgb.numpy()[None])[0], atol=2e-3)
    np.testing.assert_allclose(lab_to_rgb(lab).numpy(), rgb.numpy(), atol=1e-6)


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_match_colour_recovers_a_colour_cast(space):
    g = torch.Generator().manual_seed(1)
    ref = 0.25 + 0.5 * torch.rand(2, 40, 50, 3, generator=g)
    if space == "rgb":   # a cast in the space being matched is undone exactly (up to clipping)
        cast = (ref * torch.tensor([0.8, 1.1, 0.9]) + torch.tensor([0.1, -0.05, 0.02])).clamp(0, 1)
    else:
        cast = lab_to_rgb(rgb_to_lab(ref) * torch.tensor([0.9, 1.2, 1.0]) + torch.tensor([4.0, 3.0, -5.0]))
        cast = cast.clamp(0, 1)
    mask = torch.zeros(40, 50, dtype=torch.bool)
    mask[5:35, 5:45] = True
    out = match_colour(cast, ref, mask, space=space)
    assert out.shape == ref.shape
    before = (cast - ref).abs().mean()
    after = (out - ref).abs().mean()
    assert after < 0.05 * before
    # the statistics on the mask now agree with the reference's
    x, y = (out, ref) if space == "rgb" else (rgb_to_lab(out), rgb_to_lab(ref))
    scale = 1.0 if space == "rgb" else 100.0
    assert torch.allclose(x[:, mask].mean(1), y[:, mask].mean(1), atol=2e-3 * scale)
    # numpy uint8 in -> uint8 out
    u = match_colour((cast[0].numpy() * 255).astype(np.uint8), (ref[0].numpy() * 255).astype(np.uint8),
                     mask.numpy(), space=space)
    assert u.dtype == np.uint8 and np.abs(u / 255.0 - ref[0].numpy()).mean() < 0.5 * before
    with pytest.raises(InputError):
        match_colour(cast, ref, torch.zeros(40, 50, dtype=torch.bool))


def test_composite_values_kinds_and_gradients():
    g = torch.Generator().manual_seed(2)
    fg = torch.rand(2, 8, 9, 3, generator=g).requires_grad_(True)
    bg = torch.rand(8, 9, 3, generator=g)
    alpha = torch.rand(2, 8, 9, generator=g)
    alpha[:, 0] = 0
    alpha[:, 1] = 1
    out = composite(fg, bg, alpha)
    assert out.shape == (2, 8, 9, 3)
    assert torch.equal(out[:, 0], bg[0].expand(2, -1, -1))
    assert torch.allclose(out[:, 1], fg[:, 1])
    assert torch.allclose(out[:, 4], alpha[:, 4, :, None] * fg[:, 4] + (1 - alpha[:, 4, :, None]) * bg[4])
    out.sum().backward()
    assert torch.allclose(fg.grad[..., 0], alpha)
    nanfg = torch.full((8, 9, 3), float("nan"))
    assert torch.equal(composite(nanfg, bg, torch.zeros(8, 9)), bg)  # undefined fg outside the alpha
    fu = (fg.detach()[0].numpy() * 255).astype(np.uint8)
    bu = (bg.numpy() * 255).astype(np.uint8)
    cu = composite(fu, bu, alpha[0].numpy())
    assert cu.dtype == np.uint8 and np.array_equal(cu[0], bu[0]) and np.array_equal(cu[1], fu[1])
    with pytest.raises(InputError):
        composite(fg, bg[:4], alpha)


def test_seam_on_a_real_photo():
    """A colour-shifted copy of the portrait's person, matched on a ring and feathered in, leaves the
    background untouched and sits closer to the photo than a hard paste of the shifted copy."""
    from headgen.assets import AssetMissingError, resolve
    from headgen.io.images import read_image
    try:
        photo = np.asarray(read_image(resolve("faces/codait_luciano.png")))[..., :3].astype(np.float32) / 255
    except AssetMissingError:  # pragma: no cover
        pytest.skip("sample faces missing")
    yy, xx = np.mgrid[:400, :400]
    head = ((xx - 190) / 80.0) ** 2 + ((yy - 150) / 110.0) ** 2 <= 1      # an ellipse over the head
    shifted = np.clip(photo * np.array([0.85, 1.0, 1.15], np.float32) + 0.05, 0, 1)
    matched = match_colour(shifted, photo, edge_ring(head, 12), space="lab")
    alpha = feathered_mask(head, 10)
    out = composite(matched, photo, alpha)
    assert np.array_equal(out[~head], photo[~head])                        # outside the head: the photo, exactly
    hard = np.where(head[..., None], shifted, photo)
    seam = edge_ring(head, 6) | edge_ring(head, 6, inside=False)
    err_out = np.abs(out - photo)[seam].mean()
    err_hard = np.abs(hard - photo)[seam].mean()
    assert err_out < 0.5 * err_hard, (err_out, err_hard)
