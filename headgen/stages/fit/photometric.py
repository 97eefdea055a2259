"""Photometric refinement: after the landmark fit, compare the rendered mesh with the frames.

Appearance model: one colour per vertex, initialised as the visibility-weighted mean over frames of the
image colour under each projected vertex (lighting baked in), then optimised with the geometry. Each
step renders a minibatch of frames with the differentiable rasteriser (``headgen.render``), masks by the
rasterised coverage, and adds ``w_photometric * mean |render - frame|`` (RGB in [0, 1]) to the landmark
energy, which keeps the fit anchored. Monocular (first view) only; all frames stay in one problem
(the minibatch is a random subset of frames per step, not a per-frame loop).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from headgen.errors import InputError


def vertex_colors(model, res, frames: torch.Tensor, valid: np.ndarray, chunk: int = 16) -> torch.Tensor:
    """Per-vertex colour (V,3) in [0,1]: mean over valid frames of the bilinear image colour at each
    projected vertex, weighted by how much the vertex faces the camera (back-facing -> 0).
    frames (T,H,W,3) float [0,1] on the fit device."""
    from headgen.render import vertex_normals
    from headgen.stages.fit.run import fitted_vertices

    T, H, W, _ = frames.shape
    K = res.K[0].to(frames)
    acc = torch.zeros(model.num_vertices, 3, device=frames.device)
    wsum = torch.zeros(model.num_vertices, 1, device=frames.device)
    for a in range(0, T, chunk):   # chunks bound memory; each chunk is batched
        b = min(T, a + chunk)
        v = fitted_vertices(model, res, a, b).to(frames)
        n = vertex_normals(v, model.faces)
        view = torch.nn.functional.normalize(-v, dim=-1)
        w = (n * view).sum(-1).clamp_min(0) * torch.as_tensor(valid[a:b], device=frames.device)[:, None].to(frames)
        uv = v[..., :2] / v[..., 2:3].clamp_min(1e-6) * torch.stack([K[0, 0], K[1, 1]]) + torch.stack([K[0, 2], K[1, 2]])
        grid = torch.stack([2 * uv[..., 0] / (W - 1) - 1, 2 * uv[..., 1] / (H - 1) - 1], -1)[:, None]
        col = torch.nn.functional.grid_sample(frames[a:b].permute(0, 3, 1, 2), grid, align_corners=True)[:, :, 0]
        col = col.permute(0, 2, 1)                                                 # (B,V,3)
        acc += (w[..., None] * col).sum(0)
        wsum += w.sum(0)[:, None]
    return (acc / wsum.clamp_min(1e-6)).clamp(0, 1)


def photometric_energy(model, frames, colors, valid, batch: int = 6, seed: int = 0):
    """Callable(params) -> scalar for ``FitConfig.photometric``: mean masked L1 between the rendered
    mesh (per-vertex ``colors``, unshaded) and a random minibatch of ``batch`` valid frames per call."""
    from headgen.render import render_mesh

    gen = torch.Generator().manual_seed(seed)
    idx_valid = torch.as_tensor(np.nonzero(valid)[0])
    H, W = frames.shape[1:3]

    def energy(p):
        sel = idx_valid[torch.randperm(len(idx_valid), generator=gen)[:batch]].to(frames.device)
        n = sel.numel()
        out = model(shape=p["shape"][None].expand(n, -1) if p["shape"].numel() else None,
                    expression=p["expression"][sel] if p["expression"].numel() else None,
                    rotation=p["rotation"][sel], translation=p["translation"][sel],
                    **{k: v[sel] for k, v in p["extra"].items()})
        img, alpha = render_mesh(out.vertices, model.faces, p["K"][0], H, W, colors=colors[None].expand(n, -1, -1),
                                 shading="none", return_alpha=True)
        m = alpha.unsqueeze(-1)
        return (m * (img - frames[sel]).abs()).sum() / (3 * m.sum()).clamp_min(1.0)

    return energy


def photometric_refine(model, lmfun, obs, cfg, res, sources, log=print, iters: int = 60, batch: int = 6,
                       weight: float = 20.0):
    """Refine a landmark FitResult ``res`` with the photometric term (see module doc) -> FitResult.
    sources: media paths per view (the first is used)."""
    from headgen.io.images import read_image
    from headgen.io.video import read_video
    from headgen.stages.fit.optimize import fit_landmarks
    from headgen.stages.fit.run import media_kind

    src = sources[0]
    if src is None:
        raise InputError("--photometric needs the input media")
    dev = obs.lm68.device
    T = obs.n_frames
    if media_kind(src) == "image":
        fr = read_image(src)[None]
    else:
        fr, _ = read_video(src, max_frames=T)
    frames = torch.as_tensor(fr[:T], device=dev).float() / 255.0
    valid = obs.valid[0].cpu().numpy()
    with torch.no_grad():
        colors = vertex_colors(model, res, frames, valid)
    e_fn = photometric_energy(model, frames, colors, valid, batch=batch)
    with torch.no_grad():
        before = float(e_fn(dict(shape=res.shape, expression=res.expression, rotation=res.rotation,
                                 translation=res.translation, K=res.K, extra=res.extra)))
    pcfg = dataclasses.replace(cfg, photometric=e_fn, w_photometric=weight, iters_full=iters, iters_rigid=0,
                               lr_shape=cfg.lr_shape * 0.3, lr_expression=cfg.lr_expression * 0.3,
                               lr_rotation=cfg.lr_rotation * 0.3, lr_translation=cfg.lr_translation * 0.3)
    out = fit_landmarks(lmfun, obs, pcfg, init=res)
    with torch.no_grad():
        e_fn2 = photometric_energy(model, frames, colors, valid, batch=batch)   # same frames as `before`
        after = float(e_fn2(dict(shape=out.shape, expression=out.expression, rotation=out.rotation,
                                 translation=out.translation, K=out.K, extra=out.extra)))
    log(f"photometric refinement: mean |render - frame| {before:.4f} -> {after:.4f} ({iters} steps)")
    out.photometric_error = (before, after)
    return out
