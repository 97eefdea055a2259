"""Measuring animation curves against a fitted talking video: jawOpen correlation/lag and lip vertex error.

* :func:`lagged_correlation`: Pearson r of two curves at integer frame lags; the best lag and r at lag 0.
* :func:`lip_vertex_ids`: the lip vertices of the ICT-FaceKit mesh: vertices of the face (not the mouth socket)
  within ``radius`` (8 mm) of the 20 iBUG-68 lip landmark vertices (48-67) on the neutral head.
* :func:`lip_vertex_error`: per frame, the largest distance over the lip vertices between two posed meshes
  (same identity, no head pose), averaged over frames, in millimetres (the "lip vertex error" of VOCA /
  FaceFormer).
* :func:`lip_gap_mm`: distance between the inner-lip midpoints (iBUG 62 and 66) per frame: ~0 when closed.
"""
from __future__ import annotations

import numpy as np
import torch

from headgen.metrics import series


def lagged_correlation(pred: np.ndarray, ref: np.ndarray, max_lag: int = 5) -> dict:
    """pred, ref (T,) -> dict(r0: r at lag 0, lag: the lag in frames maximising r (positive: pred late),
    r_best). NaN r for constant curves."""
    out = series.lagged_correlation(ref, pred, range(-max_lag, max_lag + 1))
    best = series.best_lag(out)
    return {"r0": out[0], "lag": int(best), "r_best": out[best]}


def lip_vertex_ids(model, radius_m: float = 0.008) -> torch.Tensor:
    """(L,) vertex ids of the lips of an ICT-FaceKit model (see module docstring)."""
    v = model.template.reshape(-1, 3) if model.template.dim() == 2 else model.template[0]
    lm = v[torch.as_tensor(model.landmarks68_ids[48:68], dtype=torch.long)]
    d = torch.cdist(v.float(), lm.float()).min(1).values
    keep = d < radius_m
    socket = model.regions.get("mouth_socket")
    if socket is not None:
        keep[torch.as_tensor(socket, dtype=torch.long)] = False
    return torch.nonzero(keep)[:, 0]


def posed_vertices(model, expression: np.ndarray, shape=None, batch: int = 256) -> torch.Tensor:
    """(T,V,3) vertices (model frame, metres, no head pose) of the model's expression (T,E) (+ identity (S,))."""
    E = torch.as_tensor(np.asarray(expression), dtype=torch.float32)
    out = []
    with torch.no_grad():
        for s in range(0, E.shape[0], batch):
            kw = {"expression": E[s:s + batch]}
            if shape is not None:
                kw["shape"] = torch.as_tensor(np.asarray(shape), dtype=torch.float32)[None].expand(kw["expression"].shape[0], -1)
            out.append(model(**kw).vertices)
    return torch.cat(out)


def lip_vertex_error(model, expr_pred: np.ndarray, expr_ref: np.ndarray, shape=None, lip_ids=None) -> float:
    """Mean over frames of the max over lip vertices of |pred - ref| in mm; expressions (T,E) in the model's
    expression space, same identity ``shape``."""
    ids = lip_vertex_ids(model) if lip_ids is None else lip_ids
    a = posed_vertices(model, expr_pred, shape)[:, ids]
    b = posed_vertices(model, expr_ref, shape)[:, ids]
    return float((a - b).norm(dim=-1).max(1).values.mean() * 1000.0)


def lip_gap_mm(model, expression: np.ndarray, shape=None) -> np.ndarray:
    """(T,) distance in mm between the inner-lip midpoints (iBUG 62 upper, 66 lower) of the posed mesh."""
    v = posed_vertices(model, expression, shape)
    i62, i66 = int(model.landmarks68_ids[62]), int(model.landmarks68_ids[66])
    return ((v[:, i62] - v[:, i66]).norm(dim=-1) * 1000.0).numpy()
