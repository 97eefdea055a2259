"""``fit_overlay.mp4`` / ``fit_overlay.png``: the fitted mesh shaded over the (first view's) input."""
from __future__ import annotations

from pathlib import Path

import torch

from headgen.io.media import Media, open_media
from headgen.models.sequence import fitted_vertices


def write_overlay(model, res, src: str | Path | Media, out_dir: Path, max_frames: int | None = None,
                  alpha: float = 0.55, chunk: int = 16) -> Path:
    """Shade the fitted mesh of a FitResult ``res`` over the input ``src`` (a path or an open Media):
    ``fit_overlay.mp4`` with the input's fps and audio for a video; ``fit_overlay.png`` plus a one-frame
    ``fit_overlay.mp4`` for an image. Vertices are posed ``chunk`` frames at a time. -> the path written."""
    from headgen.io.images import write_image
    from headgen.io.video import VideoWriter
    from headgen.render.overlay import blend_mesh, overlay_video

    clip = open_media(src, max_frames)
    faces = model.faces.cpu()
    K = res.K[0].cpu()
    T = res.rotation.shape[0]
    cache: dict = {}

    def verts_for(i: int) -> torch.Tensor:
        if i not in cache:
            cache.clear()
            a = (i // chunk) * chunk
            b = min(T, a + chunk)
            v = fitted_vertices(model, res, slice(a, b)).cpu()
            for j in range(a, b):
                cache[j] = v[j - a]
        return cache[i]

    def draw(frame, i):
        if i >= T:
            return frame
        return blend_mesh(frame, verts_for(i)[None], faces, K, alpha=alpha)

    out_dir = Path(out_dir)
    if clip.kind == "image":
        out = draw(clip.frames([0])[0], 0)
        png = write_image(out_dir / "fit_overlay.png", out)
        with VideoWriter(out_dir / "fit_overlay.mp4", 1.0) as w:
            w.write(out)
        return png
    return overlay_video(clip, out_dir / "fit_overlay.mp4", draw, keep_audio=True, max_frames=max_frames)
