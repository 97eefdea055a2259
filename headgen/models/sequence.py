"""Posing a head model over a sequence of fitted parameters (batched over frames).

``frame_inputs`` turns per-clip tensors into the model's keyword inputs for some frames;
``fit_tensors`` / ``pose_fit`` do the same for a whole ``fit.npz`` (:class:`headgen.artifacts.fit.FitArtifact`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: fit.npz arrays that are extra per-frame model inputs (model keyword of the same name).
EXTRA_INPUTS = ("jaw", "neck", "eyes")


def frame_inputs(shape: Tensor, expression: Tensor, extra: dict, index=slice(None), rotation: Tensor | None = None,
                 translation: Tensor | None = None) -> dict:
    """Head-model keyword inputs for the frames ``index`` (slice or index tensor) of a fit: shape (S,)
    broadcast to every frame; expression (T,E), extra {name: (T,...)}, rotation (T,3,3), translation (T,3)
    indexed. Empty shape/expression become None; rotation/translation None are left out."""
    n = torch.arange(expression.shape[0], device=expression.device)[index].numel()
    kw = dict(shape=shape[None].expand(n, -1) if shape.numel() else None,
              expression=expression[index] if expression.numel() else None,
              **{k: v[index] for k, v in extra.items()})
    if rotation is not None:
        kw.update(rotation=rotation[index], translation=translation[index])
    return kw


def fit_tensors(fit, device="cpu", dtype=torch.float32) -> dict:
    """A FitArtifact -> dict of tensors on ``device``: shape (S,), expression (T,E), rotation (T,3,3),
    translation (T,3), extra {jaw/neck/eyes: (T,...)} (those present in the fit)."""
    f = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)
    extra = {k: f(getattr(fit, k, None) if getattr(fit, k, None) is not None else fit.extra[k])
             for k in EXTRA_INPUTS if getattr(fit, k, None) is not None or k in getattr(fit, "extra", {})}
    return dict(shape=f(fit.shape), expression=f(fit.expression), rotation=f(fit.rotation),
                translation=f(fit.translation), extra=extra)


def pose_fit(model, fit, frames=slice(None), rigid: bool = True, batch: int = 64) -> Tensor:
    """Vertices (N, V, 3) of ``model`` for the frames ``frames`` (slice or index array) of a FitArtifact, on
    the model's device, without gradients. rigid=False leaves out rotation/translation (model frame)."""
    p = fit_tensors(fit, device=model.device)
    idx = torch.arange(p["expression"].shape[0], device=model.device)[frames]
    out = []
    with torch.no_grad():
        for a in range(0, idx.numel(), batch):
            kw = frame_inputs(p["shape"], p["expression"], p["extra"], idx[a:a + batch],
                              p["rotation"] if rigid else None, p["translation"] if rigid else None)
            out.append(model(**kw).vertices)
    return torch.cat(out) if out else torch.zeros(0, model.num_vertices, 3, device=model.device)


def fitted_vertices(model, res, frames=slice(None)) -> Tensor:
    """Vertices (N, V, 3) of the frames ``frames`` (slice or index tensor) of a fit held as tensors (an
    object with shape (S,), expression (T,E), extra {name: (T,...)}, rotation (T,3,3), translation (T,3),
    e.g. the fit stage's FitResult), in its world frame (the camera frame for monocular fits), without
    gradients."""
    with torch.no_grad():
        return model(**frame_inputs(res.shape, res.expression, res.extra, frames, res.rotation,
                                    res.translation)).vertices
