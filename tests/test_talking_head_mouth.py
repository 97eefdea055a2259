"""talking_head's mouth (``PhotoWarp.mouth``): what a still shows between the lips stays with the skull, the
jaw opens a cavity under it, and at rest every pixel is the still's own. Synthetic: the ICT mean head with the
jaw a third open in a 128 px view, the fitted inner-lip contour painted a "teeth" green on a grey still."""
from __future__ import annotations

import numpy as np
import pytest
import torch

GREEN = torch.tensor([0.0, 1.0, 0.0])


@pytest.fixture(scope="module")
def scene():
    from headgen.geometry.conventions import HEAD_TO_OPENCV
    from headgen.models import load_head_model
    from headgen.models.arkit import ARKIT_NAMES
    from headgen.stages.talking_head.drive import build_drive
    from headgen.stages.talking_head.warp import WARP_PARTS, PhotoWarp

    m = load_head_model("ict", parts=list(WARP_PARTS), mediapipe=True)
    names = list(m.expression_names)
    e = torch.zeros(1, len(names))
    e[0, names.index("jawOpen")] = 0.35
    with torch.no_grad():
        v = m(expression=e).vertices[0].numpy()
    centre = 0.5 * (v.min(0) + v.max(0))
    R = np.asarray(HEAD_TO_OPENCV, np.float32)
    t = np.array([0, 0.03, 0.45], np.float32) - R @ centre      # the mouth near the view's centre

    class Fit:   # the FitArtifact fields build_drive reads
        model, expression_names = "ict", np.array(names)
        shape = np.zeros(m.n_shape, np.float32)
        expression = e.numpy()
        rotation, translation = R[None], t[None]
        frame_index, valid = np.array([0]), np.array([True])
        K = np.array([[400.0, 0, 63.5], [0, 400.0, 63.5], [0, 0, 1]], np.float32)
        image_size = np.array([128, 128])
        extra = {}

    T = 3
    arkit = np.zeros((T, 52), np.float32)
    arkit[:, ARKIT_NAMES.index("jawOpen")] = [0.0, 0.4, 0.4]
    drive = build_drive(m, Fit, 0, arkit, None, T)
    # frame 2: the same jaw with the head turned 3 degrees
    from scipy.spatial.transform import Rotation
    H = torch.as_tensor(Rotation.from_euler("y", 3, degrees=True).as_matrix(), dtype=torch.float32)
    drive.rotation[2] = drive.rotation[2] @ H
    warp = PhotoWarp(m, drive.rest, Fit.K, (128, 128))
    still = torch.full((128, 128, 3), 0.6)
    gap = warp.gap > 0.5
    still[gap] = GREEN
    return warp, drive, still, gap


def test_gap_is_the_fitted_inner_lip_contour(scene):
    from headgen.stages.talking_head.warp import polygon_mask

    warp, _, _, gap = scene
    assert 20 < int(gap.sum()) < 1000                       # an open mouth, not the face
    sq = np.array([[10.0, 10], [19, 10], [19, 19], [10, 19]])
    a = polygon_mask(sq, (32, 32))
    assert abs(a.sum() - 81) < 5 and a[12:18, 12:18].min() == 1 and a[:9].max() == 0   # edges: +1/8 px
    assert polygon_mask(sq, (32, 32), grow=1.0).sum() > a.sum() + 30
    assert polygon_mask(sq[:2], (32, 32)).sum() == 0


def test_held_is_the_rigid_motion(scene):
    """``held``: where the rest view saw the point of the rigid head a pixel shows - the pixel itself at rest,
    the rigidly moved rest mesh's own rest position when the head turns (frame 2), wherever the jaw is."""
    warp, drive, _, _ = scene
    r = warp.rasterize(drive.inputs())
    w, h = warp.win_size
    x0, y0, _, _ = warp.window
    ys, xs = torch.meshgrid(torch.arange(h) + float(y0), torch.arange(w) + float(x0), indexing="ij")
    pix = torch.stack([xs, ys], -1)
    ok0, ok2 = r["held_ok"][0], r["held_ok"][2]
    assert (r["held"][0][ok0] - pix[ok0]).abs().max() < 0.05
    # frame 2 (head turned 3 degrees, jaw open): the held points moved like the rest mesh's vertices do
    d = (r["held"][2][ok2] - pix[ok2]).norm(dim=-1)
    assert d.median() > 1.0
    # frame 1 (same jaw, no turn): rigidly nothing moved
    assert (r["held"][1][r["held_ok"][1]] - pix[r["held_ok"][1]]).abs().max() < 0.05


def test_rest_is_the_still_and_the_opening_jaw_leaves_the_teeth(scene):
    warp, drive, still, gap = scene
    r = warp.rasterize(drive.inputs())
    carried = warp.sample(still, r)
    out = warp.mouth(carried, still, r)
    cov = r["cover"][0]
    # rest: the still (to float rounding of the sub-pixel lookups, under half a gray level)
    assert torch.allclose(out[0][cov], warp.crop(still)[cov], atol=2e-3)
    x0, y0, _, _ = warp.window
    is_green = lambda im: (im[..., 1] > 0.8) & (im[..., 0] < 0.2)
    rows = torch.nonzero(gap.any(1)).flatten() - y0
    for i in (1, 2):
        g = is_green(out[i]) & r["cover"][i]
        # the teeth stay in the rest gap's rows (they do not travel down with the jaw) ...
        gr = torch.nonzero(g.any(1)).flatten()
        assert gr.numel() and int(gr.max()) <= int(rows.max()) + 2
        # ... a cavity opens in the mouth, dark red, where the still showed lip
        dark = (out[i][..., 0] > 0.1) & (out[i][..., 0] < 0.5) & (out[i][..., 1] < 0.25) & r["cover"][i]
        assert int(dark.sum()) >= 10
    # carried by the mesh instead (the mouth treated like skin), the teeth would follow the jaw down
    below = is_green(carried[1]) & r["cover"][1]
    assert int(torch.nonzero(below.any(1)).flatten().max()) > int(rows.max()) + 2


def test_mouth_pixels_outside_the_mouth_are_carried(scene):
    warp, drive, still, _ = scene
    r = warp.rasterize(drive.inputs(slice(1, 2)))
    carried = warp.sample(still, r) + 0.01
    out = warp.mouth(carried, still, r)
    far = r["cover"][0].clone()
    h = far.shape[0]
    far[h // 2:] = False          # the upper half of the window: forehead, eyes, nose - no mouth
    assert torch.allclose(out[0][far], carried[0][far])



def test_opening_and_lip_offsets_of_landmarks():
    from headgen.stages.talking_head.evaluate import lip_offsets, opening_of

    lm = np.zeros((2, 468, 2))
    lm[:, 10], lm[:, 152] = [50, 0], [50, 100]           # face height 100 px
    lm[:, 13], lm[:, 14] = [50, 60], [50, 65]
    lm[1, 14] = [50, 70]
    assert np.allclose(opening_of(lm), [0.05, 0.10])
    seen = lm.copy()
    seen[:, 13, 1] += 2.0                               # MediaPipe's upper lip 2 px lower than the mesh's
    assert np.allclose(lip_offsets(seen, lm), [[0.02, 0.0], [0.02, 0.0]])


def test_opened_cavity_is_dark_and_darker_deeper(scene):
    """Where the jaw opens beyond the still's gap the mouth shows its shadowed interior: darker than the lips
    around it (a lit, lip-red cavity reads as more lip), and darker the deeper its surface lies behind them."""
    warp, drive, still, gap = scene
    r = warp.rasterize(drive.inputs(slice(1, 2)))
    out = warp.mouth(warp.sample(still, r), still, r)[0]
    is_green = (out[..., 1] > 0.8) & (out[..., 0] < 0.2)
    mouth_now = r["cover"][0] & ~is_green & (out.sum(-1) < 1.2)   # not the grey still, not the held teeth
    assert int(mouth_now.sum()) >= 10
    lum = out[..., :3] @ torch.tensor([0.299, 0.587, 0.114])
    assert float(lum[mouth_now].mean()) < 0.2
    d = r["depth"][0][r["interior"][0]]
    s = warp.shade(r)[0, ..., 0][r["interior"][0]]
    assert float(d.max()) > 0.01 and float(s.min()) < 0.8
    order = torch.argsort(d)
    assert torch.all(s[order][1:] <= s[order][:-1] + 1e-6)


def test_upscaled_view_is_the_plain_enlargement():
    """A 4x portrait crop is the photo enlarged bicubically and nothing else (no sharpening: edges the photo
    does not have alias when a landmarker resamples the face), and a native-size view is the photo itself."""
    import cv2

    from headgen.stages.talking_head.view import make_view

    still = np.full((32, 32, 3), 60, np.uint8)
    still[16:] = 200
    K = np.array([[100.0, 0, 15.5], [0, 100.0, 15.5], [0, 0, 1]])
    v = make_view(still, K, np.array([[4.0, 4], [27, 27]]), 128)
    assert v.scale == 4.0
    M = np.array([[4.0, 0, 1.5], [0, 4.0, 1.5]])                          # the same crop, bicubic
    cubic = cv2.warpAffine(still, M, (128, 128), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    assert np.array_equal(v.background, cubic)
    col = v.background[:, 64, 0].astype(int)
    assert np.all(col[:40] == 60) and np.all(col[-40:] == 200)            # flat areas stay flat
    assert np.array_equal(make_view(still, K, None, "native").background, still)


def test_held_gap_stops_at_the_teeth():
    """The skull holds the gap down to the lower edge of the teeth it shows, or to a photo pixel's worth of
    rows above the contour's lower edge if that is lower; below (a band of lower lip inside the fitted
    contour, the shadow line) the gap moves with the jaw. Columns without teeth (the corners) and a gap
    without teeth are held whole."""
    from headgen.stages.talking_head.warp import teeth_held

    gap = np.zeros((40, 60), np.float32)
    gap[15:25, 10:50] = 1.0                                   # the fitted inner-lip contour
    img = np.full((40, 60, 3), (0.55, 0.35, 0.35), np.float32)   # lips and skin
    img[15:19, 14:46] = 0.9                                   # a row of upper teeth in the gap's top
    img[19:20, 10:50] = 0.15                                  # the shadow under them
    held = teeth_held(gap, img, band_px=6.0)                  # a photo enlarged 6x: its contour is +-6 px
    assert np.all(held[15:19, 14:46] == 1) and np.all(held[19:25, 14:46] == 0)
    assert np.all(held[15:25, 10:12] == 1)                    # columns without teeth: held whole
    assert held[:15].max() == 0 and held[25:].max() == 0      # nothing outside the gap
    sharp = teeth_held(gap, img, band_px=2.0)                 # a larger photo: only its contour's last 2 rows
    assert np.all(sharp[15:23, 14:46] == 1) and np.all(sharp[23:25, 14:46] == 0)
    dark = img.copy()
    dark[15:25, 10:50] = 0.1                                  # a dark opening, no teeth
    assert np.array_equal(teeth_held(gap, dark), gap)
