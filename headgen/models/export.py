"""Export a posed head (vertices + faces + UVs) as OBJ, PLY or GLB.

OBJ is written directly (``v``/``vt``/``f v/vt`` with separate position and UV indices, so the topology is kept
exactly); PLY and GLB go through trimesh, which needs one UV per vertex: vertices are split along UV seams
(each distinct (vertex, uv) corner pair becomes one output vertex). Files are written atomically (temp file then
rename). Units are whatever the vertices are in (head models: metres).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.io.atomic import atomic_path

__all__ = ["export_mesh", "export_head", "split_uv_seams", "EXPORT_FORMATS"]

EXPORT_FORMATS = (".obj", ".ply", ".glb")


def _np(x, dtype=None):
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def split_uv_seams(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, faces_uv: np.ndarray):
    """One UV per vertex: returns (vertices (N, 3), faces (F, 3), uvs (N, 2), source vertex ids (N,)).

    vertices (V, 3), faces (F, 3), uvs (T, 2), faces_uv (F, 3) per-corner uv ids.
    """
    pairs = np.stack([faces.reshape(-1), faces_uv.reshape(-1)], 1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    return vertices[uniq[:, 0]], inv.reshape(faces.shape), uvs[uniq[:, 1]], uniq[:, 0]


def _check(vertices, faces, uvs, faces_uv, path):
    if vertices.ndim == 3:
        if vertices.shape[0] != 1:
            raise InputError(f"export {path}: pass one frame of vertices (V, 3), got {vertices.shape}")
        vertices = vertices[0]
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise InputError(f"export {path}: vertices must have shape (V, 3), got {vertices.shape}")
    if not np.isfinite(vertices).all():
        raise InputError(f"export {path}: vertices contain NaN/inf")
    if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or faces.max() >= len(vertices))):
        raise InputError(f"export {path}: faces must be (F, 3) ids in [0, {len(vertices)})")
    if (uvs is None) != (faces_uv is None):
        raise InputError(f"export {path}: give both uvs (T, 2) and faces_uv (F, 3), or neither")
    if uvs is not None:
        if uvs.ndim != 2 or uvs.shape[1] != 2 or faces_uv.shape != faces.shape or \
                (faces_uv.size and (faces_uv.min() < 0 or faces_uv.max() >= len(uvs))):
            raise InputError(f"export {path}: uvs must be (T, 2) and faces_uv (F, 3) ids in [0, T); got "
                             f"{uvs.shape}, {faces_uv.shape}")
    return vertices


def _atomic_write(path: Path, write) -> None:
    with atomic_path(path) as tmp:
        write(str(tmp))


def _write_obj(tmp, v, f, uv, fuv, texture_name: str | None):
    with open(tmp, "w") as fh:
        fh.write("# headgen head mesh\n")
        if texture_name:
            fh.write(f"mtllib {Path(texture_name).stem}.mtl\nusemtl head\n")
        np.savetxt(fh, v, fmt="v %.8f %.8f %.8f")
        if uv is not None:
            np.savetxt(fh, uv, fmt="vt %.8f %.8f")
            np.savetxt(fh, np.concatenate([f[:, :, None], fuv[:, :, None]], 2).reshape(-1, 6) + 1,
                       fmt="f %d/%d %d/%d %d/%d")
        else:
            np.savetxt(fh, f + 1, fmt="f %d %d %d")


def export_mesh(path, vertices, faces, uvs=None, faces_uv=None, texture=None, vertex_colors=None) -> Path:
    """Write a triangle mesh to ``path`` (.obj / .ply / .glb by suffix) and return the path.

    vertices (V, 3) or (1, V, 3) (tensor or array); faces (F, 3); uvs (T, 2) with faces_uv (F, 3) per-corner
    uv ids (optional); texture: HxWx3 uint8 image (optional; OBJ gets a .mtl + .png beside it, GLB embeds it);
    vertex_colors (V, 3) floats 0..1 or uint8 (PLY/GLB only). Raises InputError on bad shapes or suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise InputError(f"export {path}: unsupported format '{suffix}', use one of {EXPORT_FORMATS}")
    v = _np(vertices, np.float64)
    f = _np(faces, np.int64)
    uv = _np(uvs, np.float64)
    fuv = _np(faces_uv, np.int64)
    v = _check(v, f, uv, fuv, path)
    tex = _np(texture)
    if suffix == ".obj":
        tex_name = None
        if tex is not None:
            from PIL import Image
            tex_name = path.with_suffix(".png").name
            Image.fromarray(tex.astype(np.uint8)).save(path.with_suffix(".png"))
            path.with_suffix(".mtl").write_text(f"newmtl head\nKa 1 1 1\nKd 1 1 1\nmap_Kd {tex_name}\n")
        _atomic_write(path, lambda tmp: _write_obj(tmp, v, f, uv, fuv, tex_name))
        return path
    import trimesh
    colors = _np(vertex_colors)
    if uv is not None:
        v2, f2, uv2, src = split_uv_seams(v, f, uv, fuv)
        if tex is not None:
            from PIL import Image
            material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(tex.astype(np.uint8)))
            visual = trimesh.visual.TextureVisuals(uv=uv2, material=material)
        else:
            visual = trimesh.visual.TextureVisuals(uv=uv2)
        mesh = trimesh.Trimesh(v2, f2, visual=visual, process=False)
        if colors is not None and suffix == ".ply":
            mesh.vertex_attributes["color"] = colors[src]
    else:
        mesh = trimesh.Trimesh(v, f, vertex_colors=colors, process=False)
    _atomic_write(path, lambda tmp: mesh.export(tmp, file_type=suffix[1:]))
    return path


def export_head(path, model, output=None, frame: int = 0, texture=None, vertex_colors=None,
                model_frame: bool = False) -> Path:
    """Export one frame of a posed head model.

    model: a HeadModel (faces, uvs, faces_uv are taken from it); output: a HeadOutput, a (B, V, 3) / (V, 3)
    vertex tensor, or None for the neutral head; frame: which batch element; model_frame: use
    ``output.vertices_model`` (before the rigid transform) instead of ``output.vertices``.
    """
    import torch
    if output is None:
        with torch.no_grad():
            output = model.neutral()
    verts = output
    if hasattr(output, "vertices"):
        verts = output.vertices_model if model_frame else output.vertices
    verts = _np(verts, np.float64)
    if verts.ndim == 3:
        if not 0 <= frame < verts.shape[0]:
            raise InputError(f"export {path}: frame {frame} out of range for a batch of {verts.shape[0]}")
        verts = verts[frame]
    if verts.shape != (model.num_vertices, 3):
        raise InputError(f"export {path}: vertices {verts.shape} do not match the model ({model.num_vertices}, 3)")
    return export_mesh(path, verts, model.faces, getattr(model, "uvs", None), getattr(model, "faces_uv", None),
                       texture=texture, vertex_colors=vertex_colors)
