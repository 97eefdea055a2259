"""torch.autograd.Function wrappers around the splatting extensions (CPU or CUDA ``ops`` module).

``ops`` exposes project_fwd/project_bwd, sh_fwd/sh_bwd, bin_tiles, raster_fwd/raster_bwd with the
signatures of cuda_ext/cpu/splat_cpu.cpp (the CUDA bindings mirror them).
"""
from __future__ import annotations

import torch


class ProjectFn(torch.autograd.Function):
    """(means, quats, scales, opacities, viewmats, Ks) -> radii, means2d, depths, conics, compensations.
    Gradients flow to means, quats, scales (not to cameras; opacities only choose the culling box)."""

    @staticmethod
    def forward(ctx, ops, means, quats, scales, opacities, viewmats, Ks, width, height, eps2d, near_plane,
                far_plane, radius_clip, antialiased):
        args = (width, height, eps2d, near_plane, far_plane, radius_clip, antialiased)
        radii, means2d, depths, conics, comps = ops.project_fwd(means, quats, scales, opacities, viewmats, Ks, *args)
        ctx.ops, ctx.args = ops, args
        ctx.save_for_backward(means, quats, scales, viewmats, Ks, radii)
        ctx.mark_non_differentiable(radii)
        return radii, means2d, depths, conics, comps

    @staticmethod
    def backward(ctx, v_radii, v_means2d, v_depths, v_conics, v_comps):
        means, quats, scales, viewmats, Ks, radii = ctx.saved_tensors
        v_means, v_quats, v_scales = ctx.ops.project_bwd(
            means, quats, scales, viewmats, Ks, radii, *ctx.args, v_means2d.contiguous(), v_depths.contiguous(),
            v_conics.contiguous(), v_comps.contiguous())
        return (None, v_means, v_quats, v_scales) + (None,) * 10


class SHFn(torch.autograd.Function):
    """dirs (C,N,3), coeffs (N,K,3) -> raw SH colour (C,N,3) of degree ``degree``."""

    @staticmethod
    def forward(ctx, ops, degree, dirs, coeffs):
        ctx.ops, ctx.degree = ops, degree
        ctx.save_for_backward(dirs, coeffs)
        return ops.sh_fwd(degree, dirs, coeffs)

    @staticmethod
    def backward(ctx, v_colors):
        dirs, coeffs = ctx.saved_tensors
        v_coeffs, v_dirs = ctx.ops.sh_bwd(ctx.degree, dirs, coeffs, v_colors.contiguous(), ctx.needs_input_grad[2])
        return None, None, (v_dirs if ctx.needs_input_grad[2] else None), v_coeffs


class RasterizeFn(torch.autograd.Function):
    """Tile-based front-to-back compositing. means2d (C,N,2), conics (C,N,3), colors (C,N,D),
    opacities (C,N), backgrounds (C,D) or None, tile binning (offsets, flatten_ids) ->
    images (C,H,W,D) (background included), alphas (C,H,W,1)."""

    @staticmethod
    def forward(ctx, ops, means2d, conics, colors, opacities, backgrounds, width, height, tile_size, offsets, ids):
        bg = backgrounds if backgrounds is not None else means2d.new_zeros(0)
        render, alpha, last = ops.raster_fwd(means2d, conics, colors, opacities, bg, width, height, tile_size,
                                             offsets, ids)
        ctx.ops, ctx.size = ops, (width, height, tile_size)
        ctx.has_bg = backgrounds is not None
        ctx.save_for_backward(means2d, conics, colors, opacities, offsets, ids, render, alpha, last)
        return render, alpha

    @staticmethod
    def backward(ctx, v_render, v_alpha):
        means2d, conics, colors, opacities, offsets, ids, render, alpha, last = ctx.saved_tensors
        width, height, tile_size = ctx.size
        v_means2d, v_conics, v_colors, v_opac = ctx.ops.raster_bwd(
            means2d, conics, colors, opacities, width, height, tile_size, offsets, ids, render, alpha, last,
            v_render.contiguous(), v_alpha.contiguous())
        v_bg = None
        if ctx.has_bg and ctx.needs_input_grad[5]:
            v_bg = (v_render * (1 - alpha)).sum(dim=(1, 2))  # final transmittance = 1 - alpha
        return None, v_means2d, v_conics, v_colors, v_opac, v_bg, None, None, None, None, None
