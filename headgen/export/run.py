"""``export_clip``: a fit, animation, avatar or pipeline output -> .glb (animated morph-target head),
.obj / .ply (one frame's mesh; for an avatar, .ply is its standard 3DGS PLY)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from headgen.errors import InputError

__all__ = ["export_clip", "EXPORT_SUFFIXES"]

EXPORT_SUFFIXES = (".glb", ".obj", ".ply")


def export_clip(path, out, frame: int = 0, node: str | None = None, parts: str = "head",
                mesh_ply: bool = False) -> Path:
    """Export PATH (see :func:`headgen.export.sources.load_clip`) to ``out``; the format is ``out``'s suffix.

    * .glb: ICT head (identity of the fit/avatar, mean shape for an animation) with the ARKit morph targets
      (:mod:`headgen.export.morph`), animated over all frames (weights + head rotation, plus translation and
      the video camera for a fit); an avatar gives the unanimated rig;
    * .obj / .ply: the head mesh of frame ``frame`` in the head-model frame (metres, +y up), expression
      applied, no rigid pose; for an avatar, .ply writes its Gaussians as a standard 3DGS PLY (``mesh_ply``
      writes the mesh instead).

    parts: ICT part set ("face", "head", "full"). Returns ``out``. Raises InputError for an unknown suffix,
    a frame out of range or an unreadable input.
    """
    from headgen.export.sources import clip_rig, clip_weights, load_clip
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InputError(f"{out}: unknown export format '{suffix or '(none)'}'; use one of "
                         f"{', '.join(EXPORT_SUFFIXES)}")
    clip = load_clip(path, node=node)
    if clip.kind == "glb":
        raise InputError(f"{path}: already a .glb export; export from its fit.npz / animation.npz / avatar")
    if suffix == ".ply" and clip.kind == "avatar" and not mesh_ply:
        from headgen.export.splats import write_gaussian_ply
        return write_gaussian_ply(out, clip.splats)
    rig = clip_rig(clip, parts)
    weights = clip_weights(clip, rig)
    if suffix == ".glb":
        from headgen.export.gltf import write_morph_glb
        if clip.kind == "avatar":
            return write_morph_glb(out, rig)
        camera = None
        if clip.K is not None and clip.image_size is not None:
            w, h = clip.image_size
            camera = {"yfov": 2 * np.arctan(h / (2 * float(clip.K[1, 1]))), "aspect": w / h}
        times = clip.times - clip.times[0]
        if clip.n_frames > 1 and not (np.diff(times) > 0).all():
            times = np.arange(clip.n_frames) / clip.fps
        return write_morph_glb(out, rig, weights=weights, times=times, rotation=clip.rotation,
                               translation=clip.translation if clip.kind == "fit" else None, camera=camera)
    if not -clip.n_frames <= frame < clip.n_frames:
        raise InputError(f"--frame {frame}: {clip.path} has {clip.n_frames} frame(s)")
    from headgen.models.export import export_mesh
    verts = rig.vertices(weights[frame], dtype=np.float64)
    return export_mesh(out, verts, rig.faces, rig.uvs, rig.faces_uv)
