"""Photometric refinement: after the landmark fit, compare the rendered mesh with the frames.

Appearance model: one colour per vertex, the visibility-weighted mean over frames of the image colour
under each projected vertex (lighting baked in). Geometry and colours alternate: ``rounds`` blocks of
geometry steps with the colours fixed, each followed by re-estimating the colours. Each geometry
step renders a minibatch of frames with the differentiable rasteriser (``headgen.render``), masks by the
rasterised coverage, and adds ``w_photometric * mean |render - frame|`` (RGB in [0, 1]) over ``blur`` x
``blur`` pixel means (a baked texture has a basin of about one pixel; local means widen it) to the landmark
energy, which keeps the fit anchored. Monocular (first view) only; all frames stay in one problem
(the minibatch is a random subset of frames per step, not a per-frame loop).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from headgen.errors import InputError
from headgen.io.media import open_media
from headgen.models.sequence import fitted_vertices, frame_inputs


def _as_float(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames -> float [0, 1] (float frames pass through)."""
    return frames.float() / 255.0 if frames.dtype == torch.uint8 else frames


def _frame_ids(frame_ids, n: int, device) -> torch.Tensor:
    return torch.arange(n, device=device) if frame_ids is None else torch.as_tensor(frame_ids, device=device)


def vertex_colors(model, res, frames: torch.Tensor, valid: np.ndarray, chunk: int = 16,
                  frame_ids=None) -> torch.Tensor:
    """Per-vertex colour (V,3) in [0,1] of a FitResult's mesh baked from ``frames``
    (``headgen.render.texture.vertex_colors``: visibility-weighted mean of the image colours under each
    vertex). frames (N,H,W,3) uint8 or float [0,1] on the fit device; valid (N,); frame_ids (N,) the fit
    frames they show (default 0..N-1)."""
    from headgen.render.texture import vertex_colors as bake

    ids = _frame_ids(frame_ids, frames.shape[0], res.rotation.device)
    return bake(frames, lambda a, b: fitted_vertices(model, res, ids[a:b]), model.faces, res.K[0],
                weights=np.asarray(valid, np.float32), chunk=chunk)


def photometric_energy(model, frames, colors, valid, batch: int = 6, seed: int = 0, blur: int = 1,
                       frame_ids=None):
    """Callable(params) -> scalar for ``FitConfig.photometric``: mean masked L1 between the rendered
    mesh (per-vertex ``colors``, unshaded) and a random minibatch of ``batch`` valid frames per call.
    frames (N,H,W,3) uint8 or float; valid (N,); frame_ids (N,) the fit frames they show (default 0..N-1)."""
    from headgen.render import render_mesh

    gen = torch.Generator().manual_seed(seed)
    idx_valid = torch.as_tensor(np.nonzero(valid)[0])
    H, W = frames.shape[1:3]
    ids_all = _frame_ids(frame_ids, frames.shape[0], frames.device)

    def energy(p):
        sel = idx_valid[torch.randperm(len(idx_valid), generator=gen)[:batch]].to(frames.device)
        n = sel.numel()
        fid = ids_all[sel].to(p["rotation"].device)
        out = model(**frame_inputs(p["shape"], p["expression"], p["extra"], fid, p["rotation"], p["translation"]))
        img, alpha = render_mesh(out.vertices, model.faces, p["K"][0], H, W, colors=colors[None].expand(n, -1, -1),
                                 shading="none", return_alpha=True)
        m = alpha.unsqueeze(-1)
        diff = (m * (img - _as_float(frames[sel]))).permute(0, 3, 1, 2)  # (n,3,H,W), 0 off the mesh
        if blur > 1:   # compare local means: a wider basin than per-pixel colours of a baked texture
            diff = torch.nn.functional.avg_pool2d(diff, blur, stride=max(1, blur // 2), ceil_mode=True)
            m = torch.nn.functional.avg_pool2d(m.permute(0, 3, 1, 2), blur, stride=max(1, blur // 2), ceil_mode=True)
        return diff.abs().sum() / (3 * m.sum()).clamp_min(1.0)

    return energy


@torch.no_grad()
def photometric_error(model, res, frames, colors, valid, chunk: int = 8, frame_ids=None) -> float:
    """Mean masked |render - frame| (RGB in [0, 1]) over all valid frames of a FitResult ``res``, with
    per-vertex ``colors`` (V,3); frames (N,H,W,3) uint8 or float [0, 1], valid (N,), frame_ids (N,) the fit
    frames they show (default 0..N-1). Deterministic (every valid frame)."""
    from headgen.render import render_mesh

    H, W = frames.shape[1:3]
    ids = _frame_ids(frame_ids, frames.shape[0], res.rotation.device)
    num = den = 0.0
    for a in range(0, frames.shape[0], chunk):
        b = min(frames.shape[0], a + chunk)
        keep = torch.as_tensor(valid[a:b], device=frames.device)
        if not bool(keep.any()):
            continue
        fr = _as_float(frames[a:b][keep])
        v = fitted_vertices(model, res, ids[a:b][keep]).to(fr)
        img, alpha = render_mesh(v, model.faces, res.K[0].to(fr), H, W,
                                 colors=colors[None].expand(v.shape[0], -1, -1), shading="none", return_alpha=True)
        m = alpha.unsqueeze(-1)
        num += float((m * (img - fr).abs()).sum())
        den += float(3 * m.sum())
    return num / max(den, 1.0)


def photometric_refine(model, lmfun, obs, cfg, res, source, log=print, iters: int = 60, batch: int = 6,
                       weight: float = 200.0, rounds: int = 3, lr_scale: float = 0.1, blur: int | None = None,
                       max_frames: int = 96):
    """Refine a landmark FitResult ``res`` with the photometric term (see module doc) -> FitResult.
    source: the first view's media (a path or an open ``headgen.io.media.Media``, whose kept frames are
    then reused). The photometric term sees at most ``max_frames``
    valid frames, evenly spaced (kept as uint8); the other frames follow through temporal smoothness."""
    from headgen.stages.fit.optimize import fit_landmarks

    if source is None:
        raise InputError("--photometric needs the input media")
    dev = obs.lm68.device
    valid_all = obs.valid[0].cpu().numpy()
    ids = np.nonzero(valid_all)[0]
    if len(ids) == 0:
        return res
    if len(ids) > max_frames:
        ids = ids[np.round(np.linspace(0, len(ids) - 1, max_frames)).astype(np.int64)]
    frames = torch.as_tensor(open_media(source).frames(ids), device=dev)     # (N,H,W,3) uint8
    valid = np.ones(len(ids), bool)
    kw = dict(frame_ids=torch.as_tensor(ids, device=dev))
    with torch.no_grad():
        colors = vertex_colors(model, res, frames, valid, **kw)
    if blur is None:   # compare 8x8-pixel means on a 288-pixel-high frame, likewise relative to the height
        blur = max(2, int(round(frames.shape[1] / 36)))
    before = photometric_error(model, res, frames, colors, valid, **kw)
    out = res
    rounds = max(1, int(rounds))
    for r in range(rounds):
        # alternate: geometry steps with the colours fixed, then the colours re-estimated for the new
        # geometry (the visibility-weighted mean is the per-vertex optimum of the L2 version of the term)
        e_fn = photometric_energy(model, frames, colors, valid, batch=batch, seed=r, blur=blur, **kw)
        pcfg = dataclasses.replace(cfg, photometric=e_fn, w_photometric=weight, iters_full=max(1, iters // rounds),
                                   iters_rigid=0, lr_shape=cfg.lr_shape * lr_scale,
                                   lr_expression=cfg.lr_expression * lr_scale,
                                   lr_rotation=cfg.lr_rotation * lr_scale, lr_translation=cfg.lr_translation * lr_scale)
        out = fit_landmarks(lmfun, obs, pcfg, init=out)
        with torch.no_grad():
            colors = vertex_colors(model, out, frames, valid, **kw)
    after = photometric_error(model, out, frames, colors, valid, **kw)
    log(f"photometric refinement: mean |render - frame| {before:.4f} -> {after:.4f} ({iters} steps, "
        f"{len(ids)} frames)")
    out.photometric_error = (before, after)
    return out
