"""Per-frame head-model inputs of the talking head: the still's fitted head (identity, expression, pose)
driven by an animation's ARKit curves and a damped copy of its head motion.

Expression: the animation's ARKit weights are *added* to the still's fitted expression (ICT: the ARKit
blendshapes themselves) and clipped to [0, 1], so a silent frame (all-zero mouth curves) shows the photo's
own face. Head motion: the animation's head rotation (head-model frame) is scaled by ``motion`` and limited
to ``max_deg`` degrees, applied about a pivot in the neck, so the face moves against the still's hair and
shoulders only as much as a composite can hold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from headgen.errors import InputError


@dataclass
class Drive:
    """Model inputs of every output frame (T frames, tensors on one device): ``expression`` (T,E),
    ``rotation`` (T,3,3) and ``translation`` (T,3) mapping the model frame into the still's OpenCV camera
    frame (metres), ``shape`` (S,), ``extra`` {jaw/eyes/...: (T,...)} held at the still's values;
    ``rest`` = the same for the still itself (T=1)."""
    shape: torch.Tensor
    expression: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor
    extra: dict
    rest: dict

    @property
    def n_frames(self) -> int:
        return int(self.expression.shape[0])

    def inputs(self, index=slice(None)) -> dict:
        """Model keyword inputs for the frames ``index`` (slice)."""
        e = self.expression[index]
        B = e.shape[0]
        kw = dict(expression=e, rotation=self.rotation[index], translation=self.translation[index],
                  **{k: v[index] for k, v in self.extra.items()})
        if self.shape.numel():
            kw["shape"] = self.shape[None].expand(B, -1)
        return kw


def damp_rotations(R: np.ndarray, motion: float, max_deg: float) -> np.ndarray:
    """Rotations (T,3,3) -> the same axes with angles scaled by ``motion`` and clipped to ``max_deg``
    degrees (T,3,3)."""
    from scipy.spatial.transform import Rotation

    rv = Rotation.from_matrix(np.asarray(R, np.float64)).as_rotvec() * float(motion)
    ang = np.linalg.norm(rv, axis=1, keepdims=True)
    lim = math.radians(max_deg)
    rv = np.where(ang > lim, rv * lim / np.maximum(ang, 1e-12), rv)
    return Rotation.from_rotvec(rv).as_matrix()


def neck_pivot(rest_vertices: torch.Tensor) -> torch.Tensor:
    """A rotation pivot (3,) in the model frame: below the middle of the (neutral-ish) head, where the
    head meets the neck (x centre, y 75 % down the face, z 40 % from the back)."""
    lo, hi = rest_vertices.min(0).values, rest_vertices.max(0).values
    return torch.stack([(lo[0] + hi[0]) / 2, lo[1] + 0.25 * (hi[1] - lo[1]), lo[2] + 0.4 * (hi[2] - lo[2])])


def build_drive(model, fit, row: int, arkit: np.ndarray, head_rotation: np.ndarray | None, n_frames: int,
                motion: float = 0.5, max_deg: float = 3.0, expression_gain: float = 1.0) -> Drive:
    """Drive ``model`` (the fit's model, any parts) over ``n_frames`` frames.

    fit: FitArtifact; row: its row of the still; arkit (T,52) ARKit weights in [0,1] (padded with its last
    frame, or cut, to n_frames); head_rotation (T,3,3) head-model frame or None (no head motion);
    expression_gain: scale of the added ARKit weights. -> :class:`Drive` on the model's device.
    """
    from headgen.models.arkit import arkit_to_model_matrix
    from headgen.models.sequence import fit_tensors

    if fit.model != getattr(model, "model_name", fit.model):
        raise InputError(f"fit model {fit.model!r} does not match the head model {model.model_name!r}")
    dev = model.device
    p = fit_tensors(fit, device=dev)
    arkit = np.asarray(arkit, np.float32)
    T = int(n_frames)
    if arkit.ndim != 2 or arkit.shape[1] != 52 or len(arkit) == 0:
        raise InputError(f"animation: expected (T,52) ARKit weights, got {arkit.shape}")
    idx = np.minimum(np.arange(T), len(arkit) - 1)
    A = torch.as_tensor(arkit[idx], device=dev)
    names = list(getattr(model, "expression_names", fit.expression_names))
    if fit.model == "ict":
        M = torch.as_tensor(arkit_to_model_matrix(names), dtype=torch.float32, device=dev)
        e0 = p["expression"][row]
        expr = (e0[None] + expression_gain * (A @ M)).clamp(0, 1)
    else:
        raise InputError(f"talking_head drives ICT fits (ARKit expressions); got a {fit.model!r} fit")
    R0, t0 = p["rotation"][row], p["translation"][row]
    extra = {k: v[row][None].expand(T, *v.shape[1:]) for k, v in p["extra"].items()}
    rest = dict(expression=p["expression"][row][None], rotation=R0[None], translation=t0[None],
                **{k: v[row][None] for k, v in p["extra"].items()})
    if p["shape"].numel():
        rest["shape"] = p["shape"][None]
    if head_rotation is None or motion <= 0:
        H = torch.eye(3, device=dev).expand(T, 3, 3)
    else:
        hr = np.asarray(head_rotation)[np.minimum(np.arange(T), len(head_rotation) - 1)]
        H = torch.as_tensor(damp_rotations(hr, motion, max_deg), dtype=torch.float32, device=dev)
    with torch.no_grad():
        v_model = model(**{k: v for k, v in rest.items() if k not in ("rotation", "translation")}).vertices[0]
    piv = neck_pivot(v_model)
    R = R0[None] @ H
    t = t0[None] + (R0[None] @ (piv[None] - (H @ piv)[..., None][..., 0])[..., None])[..., 0]
    return Drive(shape=p["shape"], expression=expr, rotation=R, translation=t, extra=extra, rest=rest)
