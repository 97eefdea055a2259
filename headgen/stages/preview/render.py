"""Render a fitted head as a short talking-head preview: photo texture, gentle head motion, mouth
opening following the speech envelope."""
from __future__ import annotations

import math

import numpy as np
import torch

from headgen.artifacts.fit import read_fit
from headgen.errors import InputError
from headgen.geometry.rotations import axis_angle_to_matrix


def load_fit(path) -> dict:
    """The first frame of a ``fit.npz`` (read with ``headgen.artifacts.fit.read_fit``) -> dict of numpy
    arrays: shape (S,), expression (E,), expression_names, rotation (3,3), translation (3,), K (3,3),
    image_size (w, h), model (str)."""
    fa = read_fit(path)
    return dict(model=fa.model, shape=fa.shape, expression=fa.expression[0], expression_names=fa.expression_names,
                rotation=fa.rotation[0], translation=fa.translation[0], K=fa.K, image_size=np.asarray(fa.image_size))


def head_motion(n_frames: int, fps: float, yaw_deg: float = 12.0, pitch_deg: float = 3.0,
                period_s: float = 4.0) -> torch.Tensor:
    """Gentle idle head motion -> (n_frames, 3, 3) rotations in the head-model frame (slow yaw sway and
    a smaller pitch nod at a different rate)."""
    t = torch.arange(n_frames, dtype=torch.float32) / max(fps, 1e-6)
    yaw = math.radians(yaw_deg) * torch.sin(2 * math.pi * t / period_s)
    pitch = math.radians(pitch_deg) * torch.sin(2 * math.pi * t / (0.63 * period_s))
    aa = torch.stack([pitch, yaw, torch.zeros_like(t)], -1)
    return axis_angle_to_matrix(aa)


def bake_photo_texture(model, fit: dict, image: np.ndarray, tex_size: int = 1024) -> torch.Tensor:
    """Project the photo onto the fitted mesh's first UV tile -> texture (S, S, 3) float [0, 1],
    unseen texels filled from their neighbours."""
    from headgen.render import fill_texture, project_texture

    out = model(shape=torch.as_tensor(fit["shape"])[None], expression=torch.as_tensor(fit["expression"])[None],
                rotation=torch.as_tensor(fit["rotation"])[None], translation=torch.as_tensor(fit["translation"])[None])
    corner_u = model.uvs[model.faces_uv][..., 0]
    face_mask = (corner_u < 1.0).all(-1)
    tex, visible = project_texture(image, out.vertices[0], model.faces, model.uvs, model.faces_uv,
                                   torch.as_tensor(fit["K"]), tex_size=tex_size, face_mask=face_mask)
    return fill_texture(tex, visible, iterations=64)


def render_preview_frames(model, fit: dict, texture: torch.Tensor, mouth: np.ndarray, fps: float,
                          size: int = 512, batch: int = 8, max_jaw_open: float = 0.55):
    """Yield preview frames (H, W, 3) uint8: the fitted head facing the camera at the fitted distance,
    textured, idle head motion, ICT ``jawOpen`` = ``max_jaw_open * mouth[t]`` on top of the fitted
    expression. mouth: (T,) in [0, 1]."""
    from headgen.geometry.camera import focal_from_fov, intrinsics_matrix
    from headgen.geometry.conventions import HEAD_TO_OPENCV
    from headgen.render import render_mesh

    T = len(mouth)
    names = fit["expression_names"]
    if "jawOpen" not in names:
        raise InputError(f"preview needs an ICT fit with a jawOpen expression; got model {fit['model']}")
    jaw_idx = names.index("jawOpen")
    base_expr = torch.as_tensor(fit["expression"], dtype=torch.float32)
    motion = head_motion(T, fps)
    dist = float(np.linalg.norm(fit["translation"]))
    f = focal_from_fov(size, 24.0)    # a portrait framing
    K = intrinsics_matrix(f, f, (size - 1) / 2, (size - 1) / 2)
    R0 = torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32)
    t0 = torch.tensor([0.0, 0.0, max(dist, 0.45)])
    shape = torch.as_tensor(fit["shape"], dtype=torch.float32)[None]
    for s in range(0, T, batch):
        e = min(T, s + batch)
        expr = base_expr.expand(e - s, -1).clone()
        expr[:, jaw_idx] = (expr[:, jaw_idx] + max_jaw_open * torch.as_tensor(mouth[s:e])).clamp(0, 1)
        out = model(shape=shape.expand(e - s, -1), expression=expr, rotation=R0 @ motion[s:e],
                    translation=t0.expand(e - s, 3))
        img = render_mesh(out.vertices, model.faces, K.expand(e - s, 3, 3), size, size, shading="lambert",
                          texture=texture, uvs=model.uvs, faces_uv=model.faces_uv, background=(0.08, 0.08, 0.1),
                          ambient=0.55, diffuse=0.45)
        for frame in (img.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy():
            yield frame
