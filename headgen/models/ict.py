"""ICT-FaceKit Light (MIT) as a :class:`~headgen.models.base.HeadModel`.

Data: ``ict_facekit/ict_facekit.npz`` (layout in the asset's SOURCE.md), loaded once per process.

* 100 identity modes (``shape``, coefficients ~ N(0, 1)), 53 ARKit-named expression blendshapes
  (``expression``, weights 0..1, order = ``ICT_EXPRESSION_NAMES``), units converted cm -> metres.
* Model frame: +x subject-left, +y up, +z out of the face, metres. Origin (``ICT_ORIGIN_CM`` in the npz's
  centimetre frame, identical for every part set): x = 0 (symmetry plane), y = height of the eyeball
  centres, z = middle of the neutral head's depth (back of head .. nose tip), i.e. roughly the centre of the
  skull between the ears at eye height.
* No skeleton: the rigid head pose is ``rotation`` + ``translation``; ``jaw`` (B, 3) axis-angle drives the
  ``jawOpen`` blendshape through its pitch component only (``jaw[:, 0] / jaw_open_angle`` is added to the
  jawOpen weight; ``jaw_open_angle`` is measured from the lower teeth at load, about 0.4 rad); ``eyes``
  (B, 2, 3) [left (+x), right] axis-angle rotate the eyeball vertices rigidly about each eyeball's centre
  (vertex centroid + the neutral mesh's sphere-fit offset)
  (parts that include eyeballs) and drive the eyelid shapes eyeLook{Up,Down,In,Out}_{L,R} from their pitch (x)
  and yaw (y) components (weight = angle / EYE_LOOK_ANGLE, 30 degrees; the ICT shapes do not move the
  eyeballs themselves). ``neck`` is not
  supported (raises InputError when non-zero): use ``rotation``.
* Parts: "face" = face + mouth socket + eye sockets (12,223 vertices; no see-through holes: its only open
  boundary is the face outline), "head" = face + head_and_neck + sockets (14,062 vertices; only the neck cut is
  open), "full" = all 17 components (eyeballs, teeth, gums, lashes...),
  or a list of component names. Sub-meshes carry remapped faces, UVs, landmark ids and regions.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from headgen.errors import InputError
from headgen.geometry.rotations import axis_angle_to_matrix
from headgen.models.base import HeadModel

__all__ = ["ICTFaceKit", "load_ict_arrays", "ICT_PARTS", "ict_part_components"]

CM_TO_M = 0.01
#: gaze angle (rad) that corresponds to an eyeLook* weight of 1 (a convention; ARKit does not define one)
EYE_LOOK_ANGLE = float(np.deg2rad(30.0))

ICT_PARTS = {
    "face": ("face", "mouth_socket", "eye_socket_left", "eye_socket_right"),
    "head": ("face", "head_and_neck", "mouth_socket", "eye_socket_left", "eye_socket_right"),
    "full": None,  # every component
}

_REQUIRED = {  # key -> expected shape (None = any length on that axis)
    "neutral_vertices": (None, 3), "faces": (None, 3), "uvs": (None, 2), "faces_uv": (None, 3),
    "identity_deltas": (None, None, 3), "expression_names": (None,), "expression_deltas": (None, None, 3),
    "landmarks_multipie68": (68,), "vertex_component_id": (None,), "face_component_id": (None,),
    "component_names": (None,), "region_names": (None,), "region_vertex_ranges": (None, 2),
}

_CACHE: dict[tuple, dict[str, np.ndarray]] = {}


def load_ict_arrays(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """All arrays of the ICT-FaceKit npz (cached per process by path, size and mtime; read-only arrays).

    path: the npz (default: ``headgen.assets.ict_facekit_npz()``). Raises InputError naming the file when
    it is not a readable npz or lacks a key / has a wrong shape.
    """
    if path is None:
        from headgen.assets import ict_facekit_npz
        path = ict_facekit_npz()
    path = Path(path)
    try:
        st = path.stat()
    except OSError as e:
        raise InputError(f"ICT-FaceKit model file {path}: cannot read it ({e})") from e
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise InputError(f"ICT-FaceKit model file {path}: not a valid/complete npz ({type(e).__name__}: {e})") from e
    for k, shp in _REQUIRED.items():
        if k not in arrays:
            raise InputError(f"ICT-FaceKit model file {path}: missing key '{k}' (see ict_facekit/SOURCE.md)")
        a = arrays[k]
        if a.ndim != len(shp) or any(s is not None and s != d for s, d in zip(shp, a.shape)):
            raise InputError(f"ICT-FaceKit model file {path}: key '{k}' has shape {a.shape}, expected "
                             f"{tuple('N' if s is None else s for s in shp)}")
    V = arrays["neutral_vertices"].shape[0]
    for k in ("identity_deltas", "expression_deltas"):
        if arrays[k].shape[1] != V:
            raise InputError(f"ICT-FaceKit model file {path}: '{k}' has {arrays[k].shape[1]} vertices, "
                             f"neutral_vertices has {V}")
    for a in arrays.values():
        a.setflags(write=False)
    _CACHE.clear()  # keep one model version in memory
    _CACHE[key] = arrays
    return arrays


def ict_part_components(arrays: dict, parts) -> list[str]:
    """Component names selected by ``parts`` ("face" | "head" | "full" | list of component names)."""
    names = [str(n) for n in arrays["component_names"]]
    if isinstance(parts, str):
        if parts not in ICT_PARTS:
            raise InputError(f"ICT parts must be one of {sorted(ICT_PARTS)} or a list of components "
                             f"{names}; got {parts!r}")
        sel = ICT_PARTS[parts]
        return names if sel is None else list(sel)
    sel = list(parts)
    bad = [p for p in sel if p not in names]
    if bad or not sel:
        raise InputError(f"ICT parts: unknown components {bad}; choose from {names}")
    return sel


def _origin_cm(a: dict) -> np.ndarray:
    v = a["neutral_vertices"].astype(np.float64)
    names = [str(n) for n in a["component_names"]]
    comp = a["vertex_component_id"]
    eyes = [v[comp == names.index(n)].mean(0) for n in ("eyeball_left", "eyeball_right") if n in names]
    y = float(np.mean([e[1] for e in eyes])) if eyes else float(v[:, 1].mean())
    head = v[np.isin(comp, [names.index(n) for n in ("face", "head_and_neck") if n in names])]
    z = 0.5 * (float(head[:, 2].min()) + float(head[:, 2].max()))
    return np.array([0.0, y, z])


def _kabsch_axis_angle(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Axis-angle (3,) of the best rotation taking point set p (N, 3) to q (N, 3) (centred Kabsch)."""
    pc, qc = p - p.mean(0), q - q.mean(0)
    u, _, vt = np.linalg.svd(pc.T @ qc)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    R = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    angle = np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]]) / (2 * np.sin(angle))
    return axis * angle


def _drive_table(a: dict) -> tuple[list, float]:
    """Rows (input slot, axis, sign, expression index, angle rad) for jaw/eye -> blendshape driving."""
    names = [str(n) for n in a["expression_names"]]
    v = a["neutral_vertices"].astype(np.float64)
    rows = []
    jaw_angle = float("nan")
    teeth_ranges = a.get("teeth_vertex_ranges")
    teeth_names = [str(n) for n in a.get("teeth_names", [])]
    if "jawOpen" in names and teeth_ranges is not None:
        ids = np.concatenate([np.arange(*r) for n, r in zip(teeth_names, teeth_ranges) if "lower" in n])
        d = a["expression_deltas"][names.index("jawOpen")][ids].astype(np.float64)
        aa = _kabsch_axis_angle(v[ids], v[ids] + d)
        jaw_angle = float(aa[0])
        if jaw_angle > 1e-3:
            rows.append(("jaw", 0, 0, +1, names.index("jawOpen"), jaw_angle))
    # eyes: slot 0 = left (+x) eye, slot 1 = right eye; pitch (axis 0) > 0 looks down; yaw (axis 1) > 0
    # looks toward +x (out for the left eye, in for the right eye). The eyeLook shapes only move the lids
    # (not the eyeballs), so their angle is a convention: weight 1 <-> EYE_LOOK_ANGLE.
    for slot, side in ((0, "L"), (1, "R")):
        for shape, axis, sign in (("eyeLookDown", 0, +1), ("eyeLookUp", 0, -1),
                                  ("eyeLookOut", 1, +1 if side == "L" else -1),
                                  ("eyeLookIn", 1, -1 if side == "L" else +1)):
            n = f"{shape}_{side}"
            if n in names:
                rows.append(("eyes", slot, axis, sign, names.index(n), EYE_LOOK_ANGLE))
    return rows, jaw_angle


class ICTFaceKit(HeadModel):
    """ICT-FaceKit Light head model (see the module docstring for frame, parts, jaw/eyes driving).

    Buffers: ``template_soa`` (3, V) m and ``basis_soa`` (n_shape + n_expression, 3*V) m (identity modes then
    expressions; rows are all-x, all-y, all-z; properties ``template`` (V, 3) and ``basis`` (K, V*3) give the
    interleaved layout), ``landmarks68_ids`` (68,) vertex ids, ``vertex_ids_full`` (V,) ids into the full ICT
    mesh, ``full_face_to_model`` (52220,) face ids of the full mesh -> this mesh (-1 = not included),
    ``face_ids_full`` (F,). ``origin_cm`` (3,) numpy: the model origin in the npz's cm frame.
    """

    model_name = "ict"
    has_jaw = True
    has_eyes = True

    def __init__(self, parts="face", path=None, n_shape: int | None = None, dtype=torch.float32,
                 device="cpu", check_inputs: bool = True):
        a = load_ict_arrays(path)
        self.path = path          # None: the shipped asset (headgen.assets)
        self.parts = parts
        comps = ict_part_components(a, parts)
        all_names = [str(n) for n in a["component_names"]]
        comp_ids = [all_names.index(c) for c in comps]
        faces_all = a["faces"].astype(np.int64)
        fsel = np.nonzero(np.isin(a["face_component_id"], comp_ids))[0]
        vsel = np.union1d(np.nonzero(np.isin(a["vertex_component_id"], comp_ids))[0], np.unique(faces_all[fsel]))
        Vfull = a["neutral_vertices"].shape[0]
        vmap = np.full(Vfull, -1, np.int64)
        vmap[vsel] = np.arange(len(vsel))
        faces = vmap[faces_all[fsel]]
        uv_used = np.unique(a["faces_uv"][fsel])
        uvmap = np.full(a["uvs"].shape[0], -1, np.int64)
        uvmap[uv_used] = np.arange(len(uv_used))
        faces_uv = uvmap[a["faces_uv"][fsel]]
        self.components = comps
        self.origin_cm = _origin_cm(a)

        regions = {}
        for c, cid in zip(comps, comp_ids):
            regions[c] = vmap[np.nonzero(a["vertex_component_id"] == cid)[0]]
        for name, (lo, hi) in zip([str(n) for n in a["region_names"]], a["region_vertex_ranges"]):
            ids = vmap[np.arange(lo, hi)]
            if (ids >= 0).any():
                regions[name] = ids[ids >= 0]
        for k in ("jawline_left", "jawline_right", "jawline_left_extended", "jawline_right_extended",
                  "fitting_vertex_ids", "rigid_vertex_ids"):
            if k in a:
                ids = vmap[a[k]]
                if (ids >= 0).all():
                    regions[k.replace("_vertex_ids", "")] = ids
        exp_names = [str(n) for n in a["expression_names"]]
        super().__init__(faces, uvs=a["uvs"][uv_used], faces_uv=faces_uv, regions=regions,
                         expression_names=exp_names, n_shape=a["identity_deltas"].shape[0] if n_shape is None
                         else n_shape, check_inputs=check_inputs)
        if not 0 < self.n_shape <= a["identity_deltas"].shape[0]:
            raise InputError(f"ICT n_shape must be in 1..{a['identity_deltas'].shape[0]}, got {n_shape}")

        template = (a["neutral_vertices"][vsel].astype(np.float64) - self.origin_cm) * CM_TO_M
        ident = a["identity_deltas"][: self.n_shape, vsel].reshape(self.n_shape, -1)
        expr = a["expression_deltas"][:, vsel].reshape(len(exp_names), -1)
        basis = np.concatenate([ident, expr], 0).astype(np.float64 if dtype == torch.float64 else np.float32)
        basis *= CM_TO_M
        self.register_buffer("template_soa", torch.as_tensor(template.T.copy(), dtype=dtype), persistent=False)
        soa = basis.reshape(basis.shape[0], -1, 3).transpose(0, 2, 1).reshape(basis.shape[0], -1)
        self.register_buffer("basis_soa", torch.from_numpy(np.ascontiguousarray(soa)).to(dtype), persistent=False)
        del basis, soa
        self.register_buffer("vertex_ids_full", torch.from_numpy(vsel), persistent=False)
        fmap = np.full(faces_all.shape[0], -1, np.int64)
        fmap[fsel] = np.arange(len(fsel))
        self.register_buffer("full_face_to_model", torch.from_numpy(fmap), persistent=False)
        self.register_buffer("face_ids_full", torch.from_numpy(fsel), persistent=False)

        lmk = vmap[a["landmarks_multipie68"].astype(np.int64)]
        if (lmk < 0).any():  # pragma: no cover - every part set includes the face component
            raise InputError(f"ICT parts {parts!r} do not contain the 68 landmark vertices")
        self.register_buffer("landmarks68_ids", torch.from_numpy(lmk), persistent=False)
        f_ids, bary = _vertex_embedding(faces, lmk)
        self.set_landmark_embedding("ibug68", f_ids, bary)

        rows, self.jaw_open_angle = _drive_table(a)
        # drive matrix: inputs [jaw(3), eyes(6)] split by sign -> (18,) features, then (18, E) weights
        D = np.zeros((18, len(exp_names)))
        for kind, slot, axis, sign, e, ang in rows:
            j = (0 if kind == "jaw" else 3 + 3 * slot) + axis
            D[2 * j + (0 if sign > 0 else 1), e] = 1.0 / ang
        self.register_buffer("drive", torch.as_tensor(D, dtype=dtype), persistent=False)
        # eyeball rotation centre = vertex centroid + (sphere centre - centroid) measured on the neutral mesh
        offs = np.zeros((2, 3))
        for slot, comp in enumerate(("eyeball_left", "eyeball_right")):
            if comp in all_names:
                ev = a["neutral_vertices"][a["vertex_component_id"] == all_names.index(comp)].astype(np.float64)
                offs[slot] = (_sphere_centre(ev) - ev.mean(0)) * CM_TO_M
        self.register_buffer("eye_centre_offset", torch.as_tensor(offs, dtype=dtype), persistent=False)
        self.to(device)

    @property
    def template(self) -> Tensor:
        """Neutral mean-shape vertices (V, 3) in metres, model frame (a view of ``template_soa`` (3, V))."""
        return self.template_soa.t()

    @property
    def basis(self) -> Tensor:
        """Blend-shape basis (n_shape + n_expression, V*3) interleaved xyz, metres (a copy of ``basis_soa``,
        which is stored as (K, 3*V): all x, then all y, then all z)."""
        k = self.basis_soa.shape[0]
        return self.basis_soa.view(k, 3, -1).transpose(1, 2).reshape(k, -1)

    def _num_vertices(self) -> int:
        return self.template_soa.shape[1]

    def _deform(self, B, shape, expression, jaw, neck, eyes, ctx):
        if neck is not None and bool((neck != 0).any()):
            raise self._bad("has no neck joint; pass the head pose as 'rotation' (neck must be None or zero)")
        parts = []
        dt, dev = self.template_soa.dtype, self.template_soa.device
        S, E = self.n_shape, self.n_expression
        if shape is None:
            parts.append(torch.zeros(B, S, dtype=dt, device=dev))
        else:
            parts.append(shape if shape.shape[1] == S else
                         torch.nn.functional.pad(shape, (0, S - shape.shape[1])))
        ex = None
        if expression is not None:
            ex = expression if expression.shape[1] == E else torch.nn.functional.pad(expression,
                                                                                      (0, E - expression.shape[1]))
        if jaw is not None or eyes is not None:
            feats = torch.cat([jaw if jaw is not None else torch.zeros(B, 3, dtype=dt, device=dev),
                               eyes.reshape(B, 6) if eyes is not None else torch.zeros(B, 6, dtype=dt, device=dev)],
                              1)
            split = torch.stack([feats.clamp(min=0), (-feats).clamp(min=0)], -1).reshape(B, 18)
            drive = split @ self.drive
            ex = drive if ex is None else ex + drive
        parts.append(ex if ex is not None else torch.zeros(B, E, dtype=dt, device=dev))
        coeffs = torch.cat(parts, 1)
        verts = torch.addmm(self.template_soa.reshape(1, -1), coeffs, self.basis_soa).view(B, 3, -1)
        if eyes is not None:
            R = axis_angle_to_matrix(eyes)  # (B, 2, 3, 3)
            for slot, comp in enumerate(("eyeball_left", "eyeball_right")):
                if comp in self.regions:
                    ids = self.regions[comp]
                    ev = verts[:, :, ids]  # (B, 3, n)
                    c = ev.mean(2, keepdim=True) + self.eye_centre_offset[slot][None, :, None]
                    verts = verts.index_copy(2, ids, torch.matmul(R[:, slot], ev - c) + c)
        return verts, None


def _sphere_centre(p: np.ndarray) -> np.ndarray:
    """Least-squares sphere centre (3,) of points p (N, 3)."""
    A = np.c_[2 * p, np.ones(len(p))]
    x = np.linalg.lstsq(A, (p ** 2).sum(1), rcond=None)[0]
    return x[:3]


def _vertex_embedding(faces: np.ndarray, vertex_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face-based embedding of vertices: for each vertex id a face containing it and a one-hot bary."""
    flat = faces.reshape(-1)
    uniq, first = np.unique(flat, return_index=True)
    pos = np.searchsorted(uniq, vertex_ids)
    if (pos >= len(uniq)).any() or (uniq[np.minimum(pos, len(uniq) - 1)] != vertex_ids).any():
        raise InputError("landmark vertex is not referenced by any face of the selected parts")
    corner = first[pos]
    bary = np.zeros((len(vertex_ids), 3))
    bary[np.arange(len(vertex_ids)), corner % 3] = 1.0
    return corner // 3, bary
