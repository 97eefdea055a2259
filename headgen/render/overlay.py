"""2D drawing over frames: landmarks, edges, mesh wireframes, shaded meshes blended over video,
side-by-side panels, and a streaming ``overlay_video`` that keeps the source's audio.

Frames are (H, W, 3) uint8 RGB numpy arrays (as ``headgen.io.video`` yields them); functions
return new arrays and never modify their input.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

Color = tuple[int, int, int]


def _img(frame) -> np.ndarray:
    from headgen.io.video import to_uint8_rgb

    return to_uint8_rgb(frame).copy()


def draw_points(frame, points, color: Color = (0, 255, 0), radius: int = 2) -> np.ndarray:
    """Filled discs at points (N, 2) pixel (x, y) (numpy or torch; NaN rows skipped) -> new frame.
    Vectorised: every disc is stamped at once."""
    img = _img(frame)
    p = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points, dtype=np.float64).reshape(-1, 2)
    p = p[np.isfinite(p).all(1)]
    if len(p) == 0:
        return img
    r = max(0, int(radius))
    oy, ox = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (ox ** 2 + oy ** 2) <= r * r + r  # slightly fuller than a strict circle
    ox, oy = ox[disc], oy[disc]
    c = np.rint(p).astype(np.int64)
    xs = (c[:, :1] + ox[None]).ravel()
    ys = (c[:, 1:] + oy[None]).ravel()
    H, W = img.shape[:2]
    ok = (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
    img[ys[ok], xs[ok]] = np.asarray(color, np.uint8)
    return img


def draw_edges(frame, points, edges, color: Color = (255, 255, 255), thickness: int = 1,
               antialias: bool = True) -> np.ndarray:
    """Line segments between points (N, 2) px for index pairs edges (E, 2) -> new frame
    (one cv2.polylines call)."""
    import cv2

    img = _img(frame)
    p = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points, dtype=np.float64).reshape(-1, 2)
    e = np.asarray(edges.detach().cpu() if hasattr(edges, "detach") else edges, dtype=np.int64).reshape(-1, 2)
    segs = p[e]  # (E,2,2)
    segs = segs[np.isfinite(segs).all((1, 2)) & (np.abs(segs) < 1e6).all((1, 2))]
    if len(segs) == 0:
        return img
    shift = 4  # sub-pixel precision
    pts = np.rint(segs * (1 << shift)).astype(np.int32)
    cv2.polylines(img, list(pts), False, tuple(int(c) for c in color), int(thickness),
                  cv2.LINE_AA if antialias else cv2.LINE_8, shift)
    return img


def mesh_edges(faces) -> np.ndarray:
    """Unique undirected edges (E, 2) of triangles faces (F, 3)."""
    f = np.asarray(faces.detach().cpu() if hasattr(faces, "detach") else faces, dtype=np.int64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    e.sort(axis=1)
    return np.unique(e, axis=0)


def draw_wireframe(frame, verts_cam, faces, K, color: Color = (80, 255, 120), thickness: int = 1,
                   visible_only: bool = True, backend: str = "auto") -> np.ndarray:
    """Mesh wireframe: verts_cam (V, 3) OpenCV camera metres, faces (F, 3), K (3, 3) -> new frame.
    visible_only: draw only edges of triangles that win at least one pixel (hidden-line removal
    with the rasteriser)."""
    from headgen.render.raster import project_to_screen, rasterize

    img = _img(frame)
    v = torch.as_tensor(np.asarray(verts_cam) if not torch.is_tensor(verts_cam) else verts_cam).float()
    v = v[0] if v.dim() == 3 else v
    K = torch.as_tensor(np.asarray(K) if not torch.is_tensor(K) else K).float()
    K = K[0] if K.dim() == 3 else K
    f = torch.as_tensor(np.asarray(faces) if not torch.is_tensor(faces) else faces).long()
    if visible_only:
        H, W = img.shape[:2]
        with torch.no_grad():
            r = rasterize(v, f, K, H, W, backend=backend)
        ids = torch.unique(r.tri_id[r.tri_id >= 0])
        f = f[ids]
    uv = project_to_screen(v.unsqueeze(0), K)[0]
    uv = torch.where((uv[:, 2:] > 0), uv[:, :2], torch.full_like(uv[:, :2], float("nan")))
    return draw_edges(img, uv.numpy(), mesh_edges(f), color, thickness)


def blend_mesh(frame, verts_cam, faces, K, alpha: float = 0.6, colors=None, shading: str = "lambert",
               ssaa: int = 1, backend: str = "auto", **shade_kwargs) -> np.ndarray:
    """Shaded mesh blended over a frame: out = (1 - alpha * coverage) * frame + alpha * coverage
    * render. verts_cam (V, 3) / (1, V, 3) camera metres, faces (F, 3), K (3, 3) -> new frame."""
    from headgen.render.shading import render_mesh

    img = _img(frame)
    H, W = img.shape[:2]
    v = torch.as_tensor(verts_cam).float()
    with torch.no_grad():
        rgb, cov = render_mesh(v, torch.as_tensor(faces), torch.as_tensor(K).float(), H, W, colors=colors,
                               shading=shading, backend=backend, ssaa=ssaa, return_alpha=True, **shade_kwargs)
    a = (alpha * cov[0]).unsqueeze(-1).numpy()
    out = img.astype(np.float32) / 255.0 * (1 - a) + rgb[0].numpy() * a
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def put_label(frame, text: str, org=(8, 22), color: Color = (255, 255, 255), scale: float = 0.6) -> np.ndarray:
    """Text with a dark outline at org (x, y baseline) -> new frame."""
    import cv2

    img = _img(frame)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, tuple(int(c) for c in color), 1, cv2.LINE_AA)
    return img


def side_by_side(frames: Sequence, labels: Sequence[str] | None = None, height: int | None = None,
                 gap: int = 0) -> np.ndarray:
    """Panels (each (H_i, W_i, 3) uint8 or float [0, 1]) resized to a common height (default:
    the first's) and concatenated left to right, optional labels -> (H, sum W, 3) uint8."""
    import cv2

    imgs = [_img(f) for f in frames]
    h = int(height or imgs[0].shape[0])
    out = []
    for i, im in enumerate(imgs):
        if im.shape[0] != h:
            w = max(1, int(round(im.shape[1] * h / im.shape[0])))
            im = cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA)
        if labels is not None and i < len(labels) and labels[i]:
            im = put_label(im, labels[i])
        out.append(im)
        if gap and i < len(imgs) - 1:
            out.append(np.zeros((h, gap, 3), np.uint8))
    return np.concatenate(out, axis=1)


def overlay_video(src, dst: str | Path, draw: Callable[[np.ndarray, int], np.ndarray],
                  keep_audio: bool = True, max_frames: int | None = None, fps: float | None = None) -> Path:
    """Stream ``src`` (a video path, or an open ``headgen.io.media.Media`` whose frames may already be
    decoded) through ``draw(frame, index) -> frame`` into the mp4 ``dst`` (atomic), at most
    ``max_frames`` frames, muxing the source's audio in sync when it has any and keep_audio is set.
    Returns dst."""
    from headgen.io.media import Media
    from headgen.io.video import VideoReader, VideoWriter

    r = src if isinstance(src, Media) else VideoReader(src, max_frames=max_frames)
    try:
        audio = str(r.path) if (keep_audio and r.has_audio) else None
        with VideoWriter(dst, fps or r.fps, audio=audio) as w:
            for i, frame in enumerate(r):
                if max_frames is not None and i >= max_frames:
                    break
                w.write(draw(frame, i))
    finally:
        if r is not src:
            r.close()
    return Path(dst)


def side_by_side_video(sources: Sequence[Iterable], dst: str | Path, fps: float, labels=None, audio=None,
                       sample_rate: int | None = None) -> Path:
    """Zip several frame iterables (e.g. VideoReaders, generators of renders) into one
    side-by-side mp4 (stops at the shortest); audio as in VideoWriter. Returns dst."""
    from headgen.io.video import VideoWriter

    with VideoWriter(dst, fps, audio=audio, sample_rate=sample_rate) as w:
        for panels in zip(*sources):
            w.write(side_by_side(panels, labels=labels))
    return Path(dst)
