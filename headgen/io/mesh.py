"""Wavefront OBJ reading (the one OBJ reader; writing is in ``headgen.models.export``).

``read_obj_positions``: only the ``v`` lines, fast (ICT-FaceKit's 150 morph-target OBJs);
``read_obj_mesh``: vertices, UVs, polygons of any arity with their UV ids and materials;
``read_obj_triangles``: vertices and fan-triangulated faces.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from headgen.errors import InputError

__all__ = ["read_obj_positions", "read_obj_mesh", "read_obj_triangles", "fan_triangulate"]


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e})") from None


def read_obj_positions(path: str | Path) -> np.ndarray:
    """Vertex positions (``v`` lines) of an OBJ file as float64 (N, 3), in file units (ICT: cm).

    Ignores everything else (vt, vn, f, ...). Raises InputError naming the file if it has no or malformed ``v`` lines.
    """
    path = Path(path)
    lines = _read_bytes(path).splitlines()
    vals = b" ".join(ln[2:] for ln in lines if ln[:2] in (b"v ", b"v\t"))
    n = sum(1 for ln in lines if ln[:2] in (b"v ", b"v\t"))
    arr = np.array(vals.split(), dtype=np.float64) if n else np.zeros(0)
    if n == 0 or arr.size != 3 * n:
        raise InputError(f"{path}: expected 'v x y z' lines (found {n} v lines, {arr.size} numbers)")
    return arr.reshape(n, 3)


def read_obj_mesh(path: str | Path):
    """Parse a polygon OBJ: returns (v (N,3) float64, vt (M,2) float64, polygons, polygon_uvs, polygon_material).

    polygons / polygon_uvs: lists of 0-based index lists (one per ``f`` line, any arity); polygon_material:
    list of the ``usemtl`` name active for each polygon (None before the first usemtl).
    """
    path = Path(path)
    v, vt, polys, puvs, pmat = [], [], [], [], []
    material = None
    for raw in _read_bytes(path).splitlines():
        parts = raw.split()
        if not parts:
            continue
        tag = parts[0]
        if tag == b"v":
            v.append(parts[1:4])
        elif tag == b"vt":
            vt.append(parts[1:3])
        elif tag == b"f":
            vi, ti = [], []
            for c in parts[1:]:
                s = c.split(b"/")
                vi.append(int(s[0]))
                ti.append(int(s[1]) if len(s) > 1 and s[1] else 0)
            polys.append(vi)
            puvs.append(ti)
            pmat.append(material)
        elif tag == b"usemtl":
            material = parts[1].decode() if len(parts) > 1 else None
    if not v or not polys:
        raise InputError(f"{path}: not a polygon OBJ (found {len(v)} vertices, {len(polys)} faces)")
    try:
        v_arr = np.array(v, dtype=np.float64)
        vt_arr = np.array(vt, dtype=np.float64) if vt else np.zeros((0, 2))
    except ValueError as e:
        raise InputError(f"{path}: malformed v/vt line ({e})") from None
    nv, nt = len(v_arr), len(vt_arr)
    # OBJ indices are 1-based; negative ones count back from the end.
    polys = [[i - 1 if i > 0 else nv + i for i in p] for p in polys]
    puvs = [[i - 1 if i > 0 else nt + i for i in p] for p in puvs]
    return v_arr, vt_arr, polys, puvs, pmat


def fan_triangulate(polygons: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Fan-triangulate polygons (0,1,2),(0,2,3),... keeping winding.

    Returns (triangles (F,3) int64, face_to_polygon (F,) int64)."""
    tris, owner = [], []
    for pi, p in enumerate(polygons):
        for k in range(1, len(p) - 1):
            tris.append((p[0], p[k], p[k + 1]))
            owner.append(pi)
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3), np.asarray(owner, dtype=np.int64)


def read_obj_triangles(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64 (file units) and triangles (F, 3) int64 (0-based, polygons fan-triangulated)
    of an OBJ file. Raises InputError naming the file when it is missing or not a polygon OBJ."""
    v, _vt, polys, _puvs, _mat = read_obj_mesh(path)
    return v, fan_triangulate(polys)[0]
