"""Compositing a rendered foreground back into a photo: feathered masks, colour matching, alpha blending.

All functions take numpy arrays or torch tensors (returning the same kind, torch on the caller's device) and are
batched: images (H,W,3) or (B,H,W,3), masks (H,W) or (B,H,W). Float images are in [0,1]; uint8 images are accepted
and returned as uint8.

    alpha = feathered_mask(head_mask, radius_px=12)          # 1 inside, smooth ramp to 0 at the mask's edge
    ring = edge_ring(head_mask, width_px=16)                   # band just inside the edge (the seam region)
    fg = match_colour(render, photo, ring)                     # render's colours matched to the photo's there
    out = composite(fg, photo, alpha)                          # alpha * fg + (1 - alpha) * photo

``feathered_mask(mode="distance")`` uses the exact Euclidean distance transform (scipy, on the CPU); ``mode="blur"``
is pure torch (erode by max-pooling, then Gaussian blur), differentiable, and stays on the device.
``match_colour(space="rgb")`` matches per-channel mean and standard deviation; ``space="lab"`` does the same in
CIELAB (Reinhard et al. 2001 colour transfer, with CIELAB in place of l-alpha-beta).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from headgen.errors import InputError

__all__ = ["feathered_mask", "edge_ring", "match_colour", "composite", "rgb_to_lab", "lab_to_rgb"]


# ---------------------------------------------------------------------------------------------- helpers
def _to_torch(x, name: str, device=None) -> tuple[torch.Tensor, bool, np.dtype | None]:
    """(tensor, was_numpy, numpy dtype) for a numpy array or tensor."""
    if isinstance(x, torch.Tensor):
        return (x if device is None else x.to(device)), False, None
    a = np.asarray(x)
    if a.dtype == object:
        raise InputError(f"{name}: expected a numeric array, got dtype object")
    return torch.from_numpy(np.ascontiguousarray(a)).to(device or "cpu"), True, a.dtype


def _back(t: torch.Tensor, was_numpy: bool):
    return t.detach().cpu().numpy() if was_numpy else t


def _float_img(t: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Image tensor -> float in [0,1] and whether it was uint8."""
    if t.dtype == torch.uint8:
        return t.float() / 255.0, True
    return (t if t.is_floating_point() else t.float()), False


def _u8(t: torch.Tensor) -> torch.Tensor:
    return (t.clamp(0, 1) * 255.0).round().to(torch.uint8)


def _batch_mask(m: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    """(B,H,W) float view of a (H,W)/(B,H,W)/(B,H,W,1) mask and whether it was batched."""
    if m.ndim == 4 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim == 2:
        return m[None], False
    if m.ndim == 3:
        return m, True
    raise InputError(f"{name}: expected an (H,W) or (B,H,W) mask, got shape {tuple(m.shape)}")


def _smoothstep(x):
    return x * x * (3 - 2 * x)


# ---------------------------------------------------------------------------------------------- masks
def _edt_inside(m: np.ndarray, border: bool = False) -> np.ndarray:
    """Euclidean distance (px) of every pixel of ``m`` to the nearest pixel not in ``m`` (0 off ``m``); pixels
    beyond the image border count as ``border`` (False: the edge of the image is an edge of ``m``)."""
    from scipy.ndimage import distance_transform_edt
    if not m.any():
        return np.zeros(m.shape, np.float64)
    if border and m.all():
        return np.full(m.shape, np.inf)
    return distance_transform_edt(np.pad(m, 1, constant_values=border))[1:-1, 1:-1]


def feathered_mask(mask, radius_px: float, mode: str = "distance", inside: bool = True):
    """Soft alpha from a (H,W)/(B,H,W) mask (bool, or float thresholded at 0.5): a smooth ramp of ``radius_px``.

    inside=True (default): alpha is 0 outside the mask and on its boundary's outside, rises with the distance
    to the edge (smoothstep of distance / radius_px) and is 1 deeper than radius_px - the blend never reaches
    pixels outside the mask (where a rendered foreground is undefined). inside=False centres the ramp on the
    edge (half inside, half outside). Pixels beyond the image border count as outside. radius_px <= 0 returns
    the binary mask. mode "distance": exact Euclidean distance transform (CPU); mode "blur": torch-only
    erosion by radius/2 (square max-pool) + Gaussian blur of sigma radius/4 (radius/3 centred; stays on the device, differentiable w.r.t. a float
    mask). Returns float32 of the input's shape and kind (numpy / torch on the same device).
    """
    t, was_np, _ = _to_torch(mask, "feathered_mask")
    mb, batched = _batch_mask(t, "feathered_mask")
    dev = mb.device
    mf = mb.float() if mb.dtype != torch.bool else mb.to(torch.float32)
    binary = mf > 0.5
    if radius_px <= 0:
        out = binary.to(torch.float32)
    elif mode == "distance":
        b = binary.cpu().numpy()
        alphas = []
        for m in b:
            din = _edt_inside(m)
            if inside:
                a = np.clip(din / radius_px, 0.0, 1.0)
            else:
                dout = _edt_inside(~m, border=True)
                a = np.clip((din - dout) / (2.0 * radius_px) + 0.5, 0.0, 1.0)
            alphas.append(_smoothstep(a))
        out = torch.from_numpy(np.stack(alphas).astype(np.float32)).to(dev)
    elif mode == "blur":
        r = int(math.ceil(radius_px))
        src = mf.clamp(0, 1)[:, None]
        if inside:  # erode by r/2 so that the blur's tail ends at the original edge
            k = 2 * max(1, r // 2) + 1
            src = 1 - F.max_pool2d(1 - F.pad(src, (k // 2,) * 4, value=0.0), k, stride=1)
        sigma = max(radius_px / (4.0 if inside else 3.0), 0.5)
        n = 2 * int(math.ceil(3 * sigma)) + 1
        x = torch.arange(n, device=dev, dtype=torch.float32) - n // 2
        g = torch.exp(-x * x / (2 * sigma * sigma))
        g = g / g.sum()
        p = F.pad(src, (n // 2,) * 4, value=0.0)
        p = F.conv2d(p, g.view(1, 1, n, 1))
        out = F.conv2d(p, g.view(1, 1, 1, n))[:, 0]
        if inside:
            out = out * binary
        out = out.clamp(0, 1)
    else:
        raise InputError(f"feathered_mask: mode must be 'distance' or 'blur', got {mode!r}")
    out = out if batched else out[0]
    return _back(out, was_np)


def edge_ring(mask, width_px: float, inside: bool = True):
    """Band of pixels within ``width_px`` of the mask's edge: inside it (default) or outside it (inside=False).

    mask (H,W)/(B,H,W) bool or float (thresholded at 0.5) -> bool of the same shape and kind. The inner ring is
    where a rendered head and the photo both show the face's border: the region to match colours on.
    """
    t, was_np, _ = _to_torch(mask, "edge_ring")
    mb, batched = _batch_mask(t, "edge_ring")
    b = (mb.float() > 0.5).cpu().numpy()
    rings = []
    for m in b:
        d = _edt_inside(m) if inside else _edt_inside(~m, border=True)
        rings.append((d > 0) & (d <= width_px))
    out = torch.from_numpy(np.stack(rings)).to(mb.device)
    out = out if batched else out[0]
    return _back(out, was_np)


# ---------------------------------------------------------------------------------------------- colour
_M_RGB2XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                           [0.212671, 0.715160, 0.072169],
                           [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_WHITE_D65 = (0.95047, 1.0, 1.08883)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0,1] (...,3) -> CIELAB (D65; L in [0,100]), as scikit-image's ``rgb2lab``. Differentiable."""
    lin = torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = _M_RGB2XYZ.to(rgb.device, rgb.dtype)
    xyz = lin @ m.T
    xyz = xyz / torch.tensor(_WHITE_D65, device=rgb.device, dtype=rgb.dtype)
    eps = 0.008856
    f = torch.where(xyz > eps, xyz.clamp(min=eps) ** (1 / 3), 7.787 * xyz + 16 / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return torch.stack([L, a, b], dim=-1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIELAB (D65) (...,3) -> sRGB (...,3), not clipped (out-of-gamut colours fall outside [0,1])."""
    fy = (lab[..., 0] + 16) / 116
    fx = fy + lab[..., 1] / 500
    fz = fy - lab[..., 2] / 200
    f = torch.stack([fx, fy, fz], dim=-1)
    xyz = torch.where(f > 0.206893, f ** 3, (f - 16 / 116) / 7.787)
    xyz = xyz * torch.tensor(_WHITE_D65, device=lab.device, dtype=lab.dtype)
    m = torch.linalg.inv(_M_RGB2XYZ).to(lab.device, lab.dtype)
    lin = xyz @ m.T
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * lin)


def _masked_stats(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted per-channel mean/std of x (B,H,W,C) under w (B,H,W) -> (B,1,1,C) each."""
    ws = w.sum(dim=(1, 2)).clamp(min=1e-8)[:, None, None, None]
    mu = (x * w[..., None]).sum(dim=(1, 2), keepdim=True) / ws
    var = ((x - mu) ** 2 * w[..., None]).sum(dim=(1, 2), keepdim=True) / ws
    return mu, var.clamp(min=0).sqrt()


def match_colour(src, ref, mask, ref_mask=None, space: str = "rgb", max_gain: float = 4.0):
    """Transfer colour statistics: src's per-channel mean/std on ``mask`` are mapped to ref's on ``ref_mask``.

    src, ref: (H,W,3) or (B,H,W,3) images (float [0,1] or uint8; ref may be a single image for a batch of src).
    mask: (H,W)/(B,H,W) bool/float weights on src; ref_mask: the same on ref (default: ``mask``). space: "rgb"
    (per-channel mean/std) or "lab" (the same in CIELAB, Reinhard-style). The per-channel gain std_ref/std_src
    is limited to [1/max_gain, max_gain] so a flat region cannot blow colours up. The whole of src is
    transformed and clipped to [0,1]; returns src's kind, shape and dtype. Differentiable in torch (float).
    Raises InputError when a mask selects no pixels.
    """
    s, was_np, _ = _to_torch(src, "match_colour")
    r, _, _ = _to_torch(ref, "match_colour", device=s.device)
    m, _, _ = _to_torch(mask, "match_colour", device=s.device)
    rm = m if ref_mask is None else _to_torch(ref_mask, "match_colour", device=s.device)[0]
    sf, s_u8 = _float_img(s)
    rf, _ = _float_img(r)
    batched = sf.ndim == 4
    sb = sf if batched else sf[None]
    rb = rf if rf.ndim == 4 else rf[None]
    if sb.shape[-1] != 3 or rb.shape[-1] != 3 or (rb.shape[1:] != sb.shape[1:] and ref_mask is None):
        raise InputError(f"match_colour: src {tuple(sf.shape)} and ref {tuple(rf.shape)} must be RGB images of "
                         f"one size (or pass ref_mask for a differently sized ref)")
    mb = _batch_mask(m, "match_colour")[0].to(sb.dtype).expand(sb.shape[0], -1, -1)
    rmb = _batch_mask(rm, "match_colour")[0].to(rb.dtype)
    if mb.shape[1:] != sb.shape[1:3] or rmb.shape[1:] != rb.shape[1:3]:
        raise InputError("match_colour: mask size does not match the image size")
    if bool((mb.sum(dim=(1, 2)) <= 0).any()) or bool((rmb.sum(dim=(1, 2)) <= 0).any()):
        raise InputError("match_colour: the mask selects no pixels")
    if space == "lab":
        xs, xr = rgb_to_lab(sb), rgb_to_lab(rb)
    elif space == "rgb":
        xs, xr = sb, rb
    else:
        raise InputError(f"match_colour: space must be 'rgb' or 'lab', got {space!r}")
    mu_s, sd_s = _masked_stats(xs, mb)
    mu_r, sd_r = _masked_stats(xr, rmb)
    gain = (sd_r / sd_s.clamp(min=1e-6)).clamp(1.0 / max_gain, max_gain)
    y = (xs - mu_s) * gain + mu_r
    out = (lab_to_rgb(y) if space == "lab" else y).clamp(0, 1)
    out = out if batched else out[0]
    if s_u8:
        out = _u8(out)
    return _back(out, was_np)


def composite(fg, bg, alpha):
    """Alpha blend ``alpha * fg + (1 - alpha) * bg``.

    fg: (H,W,3) or (B,H,W,3); bg: the same shape or one (H,W,3) image for the batch; alpha: (H,W), (B,H,W) or
    (B,H,W,1) in [0,1]. Float images in [0,1] -> float (differentiable in torch); uint8 fg and bg -> uint8
    (rounded). Where alpha is 0 the output equals bg exactly. Returns fg's kind (numpy / torch on its device).
    """
    f, was_np, _ = _to_torch(fg, "composite")
    b, _, _ = _to_torch(bg, "composite", device=f.device)
    a, _, _ = _to_torch(alpha, "composite", device=f.device)
    ff, f_u8 = _float_img(f)
    bf, b_u8 = _float_img(b)
    if a.ndim == f.ndim and a.shape[-1] == 1:
        a = a[..., 0]
    a = a.to(ff.dtype)
    if ff.shape[-1] != 3 or ff.shape[-3:-1] != bf.shape[-3:-1] or a.shape[-2:] != ff.shape[-3:-1]:
        raise InputError(f"composite: fg {tuple(ff.shape)}, bg {tuple(bf.shape)} and alpha {tuple(a.shape)} "
                         f"must share one (H,W) and have 3 channels")
    a = a[..., None]
    bf = bf.to(ff.dtype)
    out = torch.where(a > 0, a * ff + (1 - a) * bf, bf)  # exact bg (even beside NaN fg) where alpha is 0
    if f_u8 and b_u8:
        out = _u8(out)
    return _back(out, was_np)
