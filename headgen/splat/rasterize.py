"""``rasterize()``: the single entry point of the 3D Gaussian splatting rasteriser (gsplat-style API)."""
from __future__ import annotations

import torch

from headgen.errors import InputError
from headgen.splat import reference
from headgen.splat.backends import cpu_ops, cuda_ops, resolve_backend
from headgen.splat.binning import tile_grid
from headgen.splat.functions import ProjectFn, RasterizeFn, SHFn

RENDER_MODES = ("RGB", "D", "ED", "RGB+D", "RGB+ED")
RASTERIZE_MODES = ("classic", "antialiased")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise InputError(f"rasterize: {msg}")


def _mask_nonfinite(means, quats, scales, opacities, colors, per_camera: bool):
    """Gaussians with any non-finite parameter are made invisible (opacity 0) and get zero gradients.
    colors: (N,...) per Gaussian, or (C,N,D) when ``per_camera``."""
    col = colors.transpose(0, 1) if per_camera else colors  # (N, ...)
    # fast path, one reduction and one host sync: a sum is finite when every term is (the exact per-Gaussian
    # test below runs only when it is not, e.g. after a float overflow of the sum)
    with torch.no_grad():
        total = means.sum(-1) + quats.sum(-1) + scales.sum(-1) + opacities + col.flatten(1).sum(-1)
        if bool(torch.isfinite(total).all()):
            return means, quats, scales, opacities, colors
    ok = (torch.isfinite(means).all(-1) & torch.isfinite(quats).all(-1) & torch.isfinite(scales).all(-1)
          & torch.isfinite(opacities) & torch.isfinite(col.flatten(1)).all(-1))
    if bool(ok.all()):
        return means, quats, scales, opacities, colors
    unit_q = torch.zeros_like(quats)
    unit_q[:, 0] = 1
    means = torch.where(ok[:, None], means, torch.zeros_like(means))
    quats = torch.where(ok[:, None], quats, unit_q)
    scales = torch.where(ok[:, None], scales, torch.ones_like(scales))
    opacities = torch.where(ok, opacities, torch.zeros_like(opacities))
    okc = ok[None, :, None] if per_camera else ok.reshape((-1,) + (1,) * (colors.dim() - 1))
    colors = torch.where(okc, colors, torch.zeros_like(colors))
    return means, quats, scales, opacities, colors


def rasterize(means, quats, scales, opacities, colors_or_sh, viewmats, Ks, width: int, height: int, backend: str = "auto",
              near_plane: float = 0.01, far_plane: float = 1e10, sh_degree: int | None = None, backgrounds=None,
              render_mode: str = "RGB", rasterize_mode: str = "classic", eps2d: float = 0.3,
              radius_clip: float = 0.0, tile_size: int = 16):
    """Render N 3D Gaussians into C pinhole cameras (front-to-back alpha compositing, 16x16 tiles).

    Inputs (all on one device; float32, or float64 for the "cpu"/"torch" backends):
      means (N,3) world positions; quats (N,4) wxyz rotations (need not be normalised); scales (N,3)
      standard deviations (world units, not log); opacities (N,) in [0,1];
      colors_or_sh: (N,D) or (C,N,D) features (any D >= 1), or (N,K,3) SH coefficients when ``sh_degree``
      (0..3) is given: colour = max(SH(dir from camera centre to the mean) + 0.5, 0) as gsplat;
      viewmats (C,4,4) world->camera (OpenCV: +x right, +y down, +z forward); Ks (C,3,3) intrinsics (px);
      width, height: image size (px).
      backend: "auto" | "cuda" (ours) | "cpu" (ours, OpenMP) | "gsplat" | "torch" (readable reference).
      backgrounds: (C,D) or (D,) colour behind the Gaussians (depth channels get 0).
      render_mode: "RGB" (features), "D" (accumulated depth sum w_i z_i), "ED" (expected depth = D / alpha),
      "RGB+D", "RGB+ED" (depth appended as the last channel).
      rasterize_mode: "classic" | "antialiased" (eps2d blur + opacity * sqrt(det_orig / det_blur)).
    Returns images (C,H,W,D'), alphas (C,H,W,1), meta dict:
      means2d (C,N,2) px (call ``meta["means2d"].retain_grad()`` before backward for densification),
      radii (C,N) int32 max of the x/y box half-sizes (0 = not rendered), radii_xy (C,N,2),
      visibility (C,N) bool, depths (C,N) camera z, conics (C,N,3), opacities (C,N) effective
      (compensated) opacities, backend (str), width/height/tile_size/n_cameras.
    Degenerate input: N = 0, Gaussians behind the near plane / beyond far / off-screen -> the background;
    zero scales -> an eps2d-sized dot ("classic", as gsplat) or nothing ("antialiased": compensation 0);
    Gaussians with any non-finite parameter are masked (invisible, zero gradient, finite outputs);
    non-finite cameras, malformed shapes or bad options raise InputError.
    Gradients: means, quats, scales, opacities, colors/SH (and backgrounds); not cameras.
    """
    colors = colors_or_sh
    _check(isinstance(means, torch.Tensor) and means.dim() == 2 and means.shape[-1] == 3, "means must be (N,3)")
    N = means.shape[0]
    _check(quats.shape == (N, 4), f"quats must be (N,4)=({N},4), got {tuple(quats.shape)}")
    _check(scales.shape == (N, 3), f"scales must be (N,3), got {tuple(scales.shape)}")
    _check(opacities.shape == (N,), f"opacities must be (N,), got {tuple(opacities.shape)}")
    _check(viewmats.dim() == 3 and viewmats.shape[1:] == (4, 4), f"viewmats must be (C,4,4), got {tuple(viewmats.shape)}")
    C = viewmats.shape[0]
    _check(Ks.shape == (C, 3, 3), f"Ks must be (C,3,3)=({C},3,3), got {tuple(Ks.shape)}")
    _check(int(width) > 0 and int(height) > 0, f"width/height must be positive, got {width}x{height}")
    width, height, tile_size = int(width), int(height), int(tile_size)
    _check(1 <= tile_size <= 32, f"tile_size must be in 1..32, got {tile_size}")
    _check(render_mode in RENDER_MODES, f"render_mode must be one of {RENDER_MODES}, got '{render_mode}'")
    _check(rasterize_mode in RASTERIZE_MODES, f"rasterize_mode must be one of {RASTERIZE_MODES}, got '{rasterize_mode}'")
    _check(near_plane > 0 and far_plane > near_plane, f"need 0 < near_plane < far_plane, got {near_plane}, {far_plane}")
    _check(eps2d >= 0, f"eps2d must be >= 0, got {eps2d}")
    _check(bool(torch.isfinite(viewmats).all() & torch.isfinite(Ks).all()), "viewmats/Ks contain nan or inf")
    if sh_degree is not None:
        _check(0 <= sh_degree <= 3, f"sh_degree must be 0..3, got {sh_degree}")
        _check(colors.dim() == 3 and colors.shape[0] == N and colors.shape[2] == 3
               and colors.shape[1] >= (sh_degree + 1) ** 2,
               f"SH coefficients must be (N,K,3) with K >= {(sh_degree + 1) ** 2}, got {tuple(colors.shape)}")
    else:
        _check((colors.dim() == 2 and colors.shape[0] == N) or (colors.dim() == 3 and colors.shape[:2] == (C, N)),
               f"colors must be (N,D) or (C,N,D) (or SH (N,K,3) with sh_degree), got {tuple(colors.shape)}")
    dtype, device = means.dtype, means.device
    _check(dtype in (torch.float32, torch.float64), f"float32/float64 expected, got {dtype}")
    backend = resolve_backend(backend, device)
    _check(dtype == torch.float32 or backend in ("cpu", "torch"), f"backend '{backend}' needs float32")
    _check(backend != "cuda" or tile_size in (8, 16, 24, 32), "backend 'cuda' needs tile_size 8, 16, 24 or 32")
    tensors = [quats, scales, opacities, colors, viewmats, Ks]
    _check(all(t.device == device for t in tensors), "all tensors must be on the same device")
    quats, scales, opacities, colors = (t.to(dtype) for t in (quats, scales, opacities, colors))
    viewmats, Ks = viewmats.to(dtype).contiguous(), Ks.to(dtype).contiguous()
    per_camera = sh_degree is None and colors.dim() == 3
    means, quats, scales, opacities, colors = _mask_nonfinite(means, quats, scales, opacities, colors, per_camera)
    antialiased = rasterize_mode == "antialiased"

    if backend == "gsplat":
        return _rasterize_gsplat(means, quats, scales, opacities, colors, viewmats, Ks, width, height, near_plane,
                                 far_plane, sh_degree, backgrounds, render_mode, rasterize_mode, eps2d, radius_clip,
                                 tile_size)

    # ---- projection
    opac_det = opacities.detach().contiguous()
    proj_args = (width, height, float(eps2d), float(near_plane), float(far_plane), float(radius_clip), antialiased)
    if backend == "torch":
        ops = None
        radii, means2d, depths, conics, comps = reference.project(means, quats, scales, opac_det, viewmats, Ks, *proj_args)
    else:
        ops = cpu_ops() if backend == "cpu" else cuda_ops()
        radii, means2d, depths, conics, comps = ProjectFn.apply(ops, means.contiguous(), quats.contiguous(),
                                                                scales.contiguous(), opac_det, viewmats, Ks, *proj_args)
    opac_c = opacities[None, :] * comps if antialiased else opacities[None, :].expand(C, N)

    # ---- colours / features (C,N,D)
    if sh_degree is not None:
        campos = -(viewmats[:, :3, :3].transpose(1, 2) @ viewmats[:, :3, 3:4])[..., 0]  # (C,3) camera centres
        dirs = means[None, :, :] - campos[:, None, :]
        if backend == "torch":
            raw = reference.sh_colors(sh_degree, dirs, colors)
        else:
            raw = SHFn.apply(ops, sh_degree, dirs.contiguous(), colors.contiguous())
        feats = torch.clamp_min(raw + 0.5, 0.0)
    else:
        feats = colors if colors.dim() == 3 else colors[None].expand(C, N, colors.shape[-1])
    D_feat = feats.shape[-1]
    if render_mode in ("D", "ED"):
        feats = depths[..., None]
    elif render_mode in ("RGB+D", "RGB+ED"):
        feats = torch.cat([feats, depths[..., None]], -1)
    bgs = _backgrounds(backgrounds, C, D_feat, render_mode, dtype, device)

    # ---- compositing
    if backend == "torch":
        images, alphas = reference.composite(means2d, conics, feats, opac_c, depths, radii, width, height, bgs)
    else:
        tiles_w, tiles_h = tile_grid(width, height, tile_size)
        offsets, ids = ops.bin_tiles(means2d.detach(), radii, depths.detach(), tile_size, tiles_w, tiles_h)
        images, alphas = RasterizeFn.apply(ops, means2d, conics.contiguous(), feats.contiguous(),
                                           opac_c.contiguous(), bgs, width, height, tile_size, offsets, ids)
    if render_mode in ("ED", "RGB+ED"):
        images = torch.cat([images[..., :-1], images[..., -1:] / alphas.clamp_min(1e-10)], -1)
    radii_max = radii.max(dim=-1).values if N > 0 else radii.new_zeros((C, 0))
    meta = dict(means2d=means2d, radii=radii_max, radii_xy=radii, visibility=radii_max > 0, depths=depths,
                conics=conics, opacities=opac_c, backend=backend, width=width, height=height, tile_size=tile_size,
                n_cameras=C)
    return images, alphas, meta


def _backgrounds(backgrounds, C, D_feat, render_mode, dtype, device):
    """(C,D_out) background per camera (0 for depth channels) or None."""
    if backgrounds is None:
        return None
    bg = backgrounds.to(device=device, dtype=dtype)
    if bg.dim() == 1:
        bg = bg[None].expand(C, bg.shape[0])
    n_depth = 1 if render_mode in ("RGB+D", "RGB+ED") else 0
    if render_mode in ("D", "ED"):
        _check(bg.shape[-1] == 1, f"backgrounds for render_mode '{render_mode}' must have 1 channel")
        return torch.zeros_like(bg[..., :1]).contiguous()
    _check(bg.shape == (C, D_feat), f"backgrounds must be (C,D)=({C},{D_feat}) or (D,), got {tuple(backgrounds.shape)}")
    if n_depth:
        bg = torch.cat([bg, torch.zeros_like(bg[:, :1])], -1)
    return bg.contiguous()


def _rasterize_gsplat(means, quats, scales, opacities, colors, viewmats, Ks, width, height, near_plane, far_plane,
                      sh_degree, backgrounds, render_mode, rasterize_mode, eps2d, radius_clip, tile_size):
    """Wrap gsplat.rasterization() and translate its meta to ours."""
    import gsplat

    C = viewmats.shape[0]
    if backgrounds is not None and backgrounds.dim() == 1:
        backgrounds = backgrounds[None].expand(C, -1)
    images, alphas, m = gsplat.rasterization(
        means, quats, scales, opacities, colors, viewmats, Ks, width, height, near_plane=near_plane,
        far_plane=far_plane, radius_clip=radius_clip, eps2d=eps2d, sh_degree=sh_degree, packed=False,
        tile_size=tile_size, backgrounds=backgrounds, render_mode=render_mode, rasterize_mode=rasterize_mode)
    radii = m["radii"]
    radii_max = radii.max(dim=-1).values if radii.dim() == 3 else radii
    meta = dict(means2d=m["means2d"], radii=radii_max.int(), radii_xy=radii, visibility=radii_max > 0,
                depths=m["depths"], conics=m["conics"], opacities=m["opacities"], backend="gsplat", width=width,
                height=height, tile_size=tile_size, n_cameras=C)
    return images, alphas, meta
