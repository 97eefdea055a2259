"""Landmark-only evaluation of a head model, the inner loop of fitting.

Fitting only needs the model's landmarks (68 iBUG + 468 MediaPipe through the model's embedding), not
the full mesh. For a model that is linear in shape and expression (ICT-FaceKit: blendshapes), the
landmarks are ``mean + shape_dirs @ shape + expr_dirs @ expression``: :class:`LinearLandmarks` gathers
exactly those rows once (by probing the model with unit coefficient vectors, so it works for any model
that follows the head-model API) and then evaluates all frames with two small matmuls. Models with
non-linear per-frame parameters (FLAME's jaw/neck/eyes via skinning) use :class:`ForwardLandmarks`,
which calls the full model forward.

Both return landmarks in the MODEL frame (metres, +y up, +z out of the face); the rigid head pose is
applied by the optimiser.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class LandmarkSet:
    """Landmarks evaluated for T frames: lm68 (T,68,3), lm468 (T,468,3) or None; model frame, metres."""

    lm68: Tensor
    lm468: Tensor | None


class LinearLandmarks(torch.nn.Module):
    """Landmarks of a linear model. Buffers: mean (L,3); shape_dirs (L*3,S); expr_dirs (L*3,E);
    the first 68 rows are the iBUG 68, the next 468 (when present) MediaPipe's 468.

    ``forward(shape (S,) or (T,S), expression (T,E)) -> LandmarkSet``.
    """

    extra_params: dict = {}

    def __init__(self, mean: Tensor, shape_dirs: Tensor, expr_dirs: Tensor, has_468: bool):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("shape_dirs", shape_dirs)
        self.register_buffer("expr_dirs", expr_dirs)
        self.has_468 = has_468
        self.n_shape = shape_dirs.shape[1]
        self.n_expression = expr_dirs.shape[1]
        self.extra_params = {}

    @property
    def n_landmarks(self) -> int:
        return self.mean.shape[0]

    def forward(self, shape: Tensor | None, expression: Tensor | None, **extra) -> LandmarkSet:
        L = self.mean.shape[0]
        T = expression.shape[0] if expression is not None else (shape.shape[0] if shape is not None and shape.dim() == 2 else 1)
        out = self.mean.reshape(1, L * 3).expand(T, L * 3)
        if shape is not None and self.n_shape:
            s = shape.reshape(-1, self.n_shape)
            out = out + s @ self.shape_dirs.T
        if expression is not None and self.n_expression:
            out = out + expression @ self.expr_dirs.T
        out = out.reshape(T, L, 3)
        return LandmarkSet(out[:, :68], out[:, 68:] if self.has_468 else None)

    @classmethod
    @torch.no_grad()
    def from_model(cls, model, device=None, dtype=torch.float32, chunk: int = 64) -> "LinearLandmarks":
        """Probe ``model`` (head-model API) at zero and at each unit shape/expression coefficient.
        Returns the landmark basis on ``device`` (default: the model's)."""
        S, E = int(getattr(model, "n_shape", 0)), int(getattr(model, "n_expression", 0))
        dev = device if device is not None else _model_device(model)

        def landmarks(shape, expr):
            o = model(shape=shape, expression=expr)
            l68 = o.landmarks68
            l468 = getattr(o, "landmarks468", None)
            return torch.cat([l68, l468], 1) if l468 is not None else l68

        mdev = _model_device(model)
        z = landmarks(torch.zeros(1, S, device=mdev) if S else None, torch.zeros(1, E, device=mdev) if E else None)
        has_468 = z.shape[1] == 68 + 468
        mean = z[0]

        def probe(n, which):
            cols = []
            for a in range(0, n, chunk):
                b = min(n, a + chunk)
                eye = torch.zeros(b - a, n, device=mdev)
                eye[torch.arange(b - a), torch.arange(a, b)] = 1.0
                other = torch.zeros(b - a, E if which == "shape" else S, device=mdev)
                kw = (eye, other if E else None) if which == "shape" else (other if S else None, eye)
                cols.append((landmarks(*kw) - mean).reshape(b - a, -1))
            return torch.cat(cols, 0).T if cols else torch.zeros(mean.numel(), 0, device=mdev)

        sd, ed = probe(S, "shape"), probe(E, "expr")
        return cls(mean.to(dev, dtype), sd.to(dev, dtype).contiguous(), ed.to(dev, dtype).contiguous(), has_468)


class ForwardLandmarks(torch.nn.Module):
    """Landmarks through the full model forward (for models with non-linear per-frame parameters).

    ``extra_params``: per-frame parameter name -> trailing shape, from the model's
    ``fit_extra_params`` attribute when present (e.g. ``{"jaw": (3,)}`` for FLAME).
    """

    def __init__(self, model, extra_params: dict | None = None):
        super().__init__()
        self.model = model
        self.n_shape = int(getattr(model, "n_shape", 0))
        self.n_expression = int(getattr(model, "n_expression", 0))
        self.extra_params = dict(extra_params if extra_params is not None else fit_extra_params(model))

    def forward(self, shape: Tensor | None, expression: Tensor | None, **extra) -> LandmarkSet:
        T = expression.shape[0]
        sh = shape.reshape(-1, self.n_shape).expand(T, -1) if shape is not None else None
        o = self.model(shape=sh, expression=expression, **extra)
        return LandmarkSet(o.landmarks68, getattr(o, "landmarks468", None))


def fit_extra_params(model) -> dict:
    """Per-frame non-linear parameters worth fitting: ``model.fit_extra_params`` when defined, else
    ``{"jaw": (3,)}`` for skinned models with a jaw joint (FLAME). ICT's ``jaw`` only drives the jawOpen
    blendshape, which is fitted directly as an expression, so ICT has none. Neck is redundant with the
    rigid head rotation and eye gaze is not observable from landmarks: both stay at rest."""
    extra = getattr(model, "fit_extra_params", None)
    if extra is not None:
        return dict(extra)
    if getattr(model, "model_name", "") != "ict" and getattr(model, "has_jaw", False):
        return {"jaw": (3,)}
    return {}


def _model_device(model) -> torch.device:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def landmark_function(model, device=None, check_linear: bool = True):
    """The fastest exact landmark evaluator for ``model``: LinearLandmarks when the model is linear in
    shape/expression and has no extra per-frame parameters, else ForwardLandmarks."""
    extra = fit_extra_params(model)
    if extra:
        return ForwardLandmarks(model, extra)
    lin = LinearLandmarks.from_model(model, device=device)
    if check_linear:
        g = torch.Generator().manual_seed(0)
        S, E = lin.n_shape, lin.n_expression
        s = torch.randn(2, S, generator=g) if S else None
        e = torch.rand(2, E, generator=g) if E else None
        mdev = _model_device(model)
        with torch.no_grad():
            o = model(shape=s.to(mdev) if s is not None else None, expression=e.to(mdev) if e is not None else None)
            ref = o.landmarks68.to(lin.mean.device)
            got = lin(s.to(lin.mean.device) if s is not None else None, e.to(lin.mean.device) if e is not None else None).lm68
        if (ref - got).abs().max() > 1e-4 * max(1.0, ref.abs().max().item()):
            return ForwardLandmarks(model)
    return lin
