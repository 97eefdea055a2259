"""Render animation curves on a head: the shaded head mesh (ICT-FaceKit or FLAME) or a Gaussian avatar.

The head faces the camera at ``distance`` metres with a ~24 degree portrait field of view; per frame it takes
the curves' expression (ARKit weights mapped onto the model: ICT directly, FLAME through
``headgen.models.arkit`` transfer) and head rotation. Frames are produced in batches, so memory does not grow
with the length.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch

from headgen.geometry.camera import focal_from_fov
from headgen.geometry.conventions import HEAD_TO_OPENCV


def portrait_camera(size: int, fov_deg: float = 24.0) -> torch.Tensor:
    """(3,3) intrinsics of a square ``size`` px image with ``fov_deg`` across it."""
    f = focal_from_fov(size, fov_deg)
    return torch.tensor([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]])


def facing_pose(head_rotation: np.ndarray, offset: torch.Tensor, distance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Head rotations (B,3,3) in the head-model frame -> camera-frame rotation (B,3,3) and translation (B,3)
    (metres) of a head facing the camera with the model-frame point ``offset`` (3,) on the optical axis at
    ``distance``."""
    R = torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32) @ torch.as_tensor(np.asarray(head_rotation),
                                                                               dtype=torch.float32)
    t = torch.tensor([0.0, 0.0, distance]).expand(R.shape[0], 3) - (R @ offset)
    return R, t


def model_inputs(model, arkit: np.ndarray, transfer=None) -> dict:
    """ARKit (B,52) -> dict of the model's expression inputs: ICT ``expression`` (B,53); FLAME (``transfer``,
    an ``ArkitTransfer``) ``expression`` (B,E) and ``jaw`` (B,3)."""
    from headgen.models.arkit import arkit_to_model_matrix

    W = torch.as_tensor(np.asarray(arkit), dtype=torch.float32)
    if transfer is not None:
        e, j = transfer.apply(W.double())
        return {"expression": e.float(), "jaw": j.float()}
    M = torch.as_tensor(arkit_to_model_matrix(model.expression_names), dtype=torch.float32)
    return {"expression": W @ M}


def mesh_frames(model, arkit: np.ndarray, head_rotation: np.ndarray, size: int = 384, batch: int = 16,
                distance: float = 0.55, transfer=None, shape: Optional[torch.Tensor] = None,
                offset: Optional[torch.Tensor] = None) -> Iterator[np.ndarray]:
    """Yield (size, size, 3) uint8 frames of the shaded mesh: arkit (T,52), head_rotation (T,3,3) head-model
    frame. shape: identity coefficients (S,) or None (mean head); offset: (3,) model-frame point placed on
    the optical axis (default: the neutral mesh's bounding-box centre)."""
    from headgen.render import render_mesh

    T = len(arkit)
    K = portrait_camera(size)
    with torch.no_grad():
        if offset is None:
            v0 = model(**model_inputs(model, np.zeros((1, 52)), transfer)).vertices[0]
            offset = 0.5 * (v0.min(0).values + v0.max(0).values)
        for s in range(0, T, batch):
            e = min(T, s + batch)
            B = e - s
            R, t = facing_pose(head_rotation[s:e], offset, distance)
            kw = model_inputs(model, arkit[s:e], transfer)
            if shape is not None:
                kw["shape"] = shape[None].expand(B, -1)
            out = model(rotation=R, translation=t, **kw)
            img = render_mesh(out.vertices, model.faces, K.expand(B, 3, 3), size, size, shading="lambert",
                              background=(0.08, 0.08, 0.1), ambient=0.35, diffuse=0.65)
            for f in (img.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy():
                yield f


def avatar_frames(avatar_dir, arkit: np.ndarray, head_rotation: np.ndarray, size: int = 384, batch: int = 4,
                  distance: float = 0.55, flame_path=None) -> Iterator[np.ndarray]:
    """Yield (size, size, 3) uint8 frames of a Gaussian avatar (``headgen.avatar``; folder with
    ``avatar_rig.npz``) driven by arkit (T,52) and head_rotation (T,3,3); a FLAME avatar needs
    ``flame_path`` (ARKit -> FLAME transfer through ``headgen.models.arkit``)."""
    from headgen.avatar.avatar import load_avatar, load_avatar_model, render

    av = load_avatar(avatar_dir)
    model = load_avatar_model(av, flame_path=flame_path, mediapipe=av.model == "flame")
    transfer = None
    if av.model == "flame":
        from headgen.models.arkit import transfer_arkit_from_ict
        transfer = transfer_arkit_from_ict(model)
    T = len(arkit)
    K = portrait_camera(size)
    with torch.no_grad():
        v0 = av.neutral_vertices.float() if av.neutral_vertices is not None else model(
            **model_inputs(model, np.zeros((1, 52)), transfer)).vertices[0]
        offset = 0.5 * (v0.min(0).values + v0.max(0).values)
        for s in range(0, T, batch):
            e = min(T, s + batch)
            R, t = facing_pose(head_rotation[s:e], offset, distance)
            params = dict(model_inputs(model, arkit[s:e], transfer), rotation=R, translation=t)
            out = render(av, model, params, K, (size, size), background=(0.08, 0.08, 0.1))
            for f in (out["rgb"].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy():
                yield f
