"""Turntables: a head mesh rotating about its vertical (+y) axis, rendered in batches and
streamed to an mp4."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from headgen.geometry.camera import default_intrinsics
from headgen.geometry.conventions import HEAD_TO_OPENCV


def turntable_cameras(verts_model: torch.Tensor, n_frames: int, size: int = 512, fov_deg: float = 25.0,
                      margin: float = 1.15, degrees: float = 360.0, elevation_deg: float = 0.0):
    """Camera-frame vertices for every turntable frame.

    verts_model (V, 3) head-model frame (+y up, +z out of the face; metres). The head is centred
    on its bounding-box centre, turned by yaw_k = degrees * k / n_frames about +y, tilted by
    elevation, mapped with HEAD_TO_OPENCV and placed at a distance that fits its bounding sphere
    (times ``margin``) in the view. -> (verts_cam (n_frames, V, 3), K (3, 3)).
    """
    v = torch.as_tensor(verts_model, dtype=torch.float32)
    centre = (v.max(0).values + v.min(0).values) / 2
    v = v - centre
    radius = float(v.norm(dim=-1).max())
    dist = margin * radius / math.sin(math.radians(fov_deg) / 2)
    yaw = torch.arange(n_frames, dtype=torch.float32) * math.radians(degrees) / max(1, n_frames)
    c, s = torch.cos(yaw), torch.sin(yaw)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    Ry = torch.stack([c, z, s, z, o, z, -s, z, c], -1).view(-1, 3, 3)
    e = math.radians(elevation_deg)
    Rx = torch.tensor([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]])
    R = torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32) @ Rx @ Ry
    verts_cam = v @ R.transpose(-1, -2) + torch.tensor([0.0, 0.0, dist])
    return verts_cam, default_intrinsics(size, size, fov_deg)


def turntable_frames(verts_model, faces, n_frames: int = 90, size: int = 512, batch: int = 8,
                     colors=None, background=(1.0, 1.0, 1.0), ssaa: int = 2, backend: str = "auto",
                     **kwargs) -> Iterator[np.ndarray]:
    """Yield n_frames (size, size, 3) uint8 renders of the rotating head (see turntable_cameras
    for the camera; kwargs: fov_deg, margin, degrees, elevation_deg, and shading options of
    render_mesh: shading, texture, uvs, faces_uv, light_dir)."""
    from headgen.render.shading import render_mesh

    cam_keys = {"fov_deg", "margin", "degrees", "elevation_deg"}
    cam_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in cam_keys}
    verts_cam, K = turntable_cameras(verts_model, n_frames, size, **cam_kw)
    faces = torch.as_tensor(faces).long()
    with torch.no_grad():
        for i in range(0, n_frames, batch):
            vb = verts_cam[i:i + batch]
            img = render_mesh(vb, faces, K, size, size, colors=colors, background=background, ssaa=ssaa,
                              backend=backend, **kwargs)
            for im in img:
                yield (im.numpy() * 255 + 0.5).astype(np.uint8)


def write_turntable(path: str | Path, verts_model, faces, n_frames: int = 90, fps: float = 30.0,
                    size: int = 512, **kwargs) -> Path:
    """Render a turntable (see turntable_frames) and write it as an H.264 mp4 (atomic). Returns path."""
    from headgen.io.video import VideoWriter

    with VideoWriter(path, fps) as w:
        for frame in turntable_frames(verts_model, faces, n_frames=n_frames, size=size, **kwargs):
            w.write(frame)
    return Path(path)
