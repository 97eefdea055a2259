"""FLAME (2020 / 2023 / 2023 Open; user-supplied, never shipped) as a :class:`~headgen.models.base.HeadModel`.

The model pickle (``generic_model.pkl``, ``flame2023.pkl``, ...) is read with :mod:`headgen.models.safe_pickle`
(chumpy arrays become numpy; nothing else may be constructed). Keys used: ``v_template`` (V, 3),
``shapedirs`` (V, 3, 300 shape + 100 expression), ``posedirs`` (V, 3, 36), ``J_regressor`` (5, V) sparse or
dense, ``weights`` (V, 5), ``kintree_table`` (2, 5), ``f`` (F, 3). Units are metres already.

* Joints: 0 global (root), 1 neck, 2 jaw, 3 left eye, 4 right eye; linear blend skinning with pose
  correctives, identical to ``smplx.FLAME`` (tested against it).
* Frame: FLAME's own (metres, +y up, +z out of the face); the origin is FLAME's native origin (near the
  centre of the head). ``rotation``/``translation`` are applied about that origin AFTER skinning with an
  identity root joint, i.e. ``out = R @ lbs(root = I) + t``; ``smplx.FLAME(global_orient=R, transl=t')`` gives
  the same vertices with ``t' = t + R @ J0 - J0`` (J0 the rest root joint, ``model.root_joint(shape, expr)``).
* ``neck`` (B, 3), ``jaw`` (B, 3), ``eyes`` (B, 2, 3) = [left eye joint 3, right eye joint 4] axis-angle.
* Landmarks, from files beside the model (or given explicitly): ``flame_static_embedding.pkl`` (51 points,
  smplx/RingNet layout ``lmk_face_idx``/``lmk_b_coords``) + ``flame_dynamic_embedding.npy`` (17 contour points
  x 79 yaw bins), or DECA's ``landmark_embedding.npy`` (static/dynamic/full keys). ``out.landmarks68`` =
  [17 contour points (dynamic, chosen from the head yaw = rotation @ neck, as in DECA), 51 static] in iBUG
  order. ``mediapipe_landmark_embedding.npz`` (``lmk_face_idx``, ``lmk_b_coords``, ``landmark_indices``) gives
  a partial ``out.landmarks468`` (NaN rows where FLAME has no point; see ``model.landmark_valid``).
  ``FLAME_masks.pkl`` regions become ``model.regions``; parts="face" keeps the ``face`` mask's triangles.
  ``FLAME_texture.npz`` (``vt`` (T, 2), ``ft`` (F, 3), FLAME's texture space) gives ``model.uvs``/``faces_uv``
  (None without it).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from headgen.errors import InputError
from headgen.models.base import HeadModel
from headgen.models.lbs import (batch_rodrigues, batch_rigid_transform, find_dynamic_lmk_idx_and_bcoords,
                                skin_vertices_soa)
from headgen.models.safe_pickle import safe_load

__all__ = ["FLAME", "load_flame_arrays", "find_flame_file", "FLAME_FILE_NAMES"]

FLAME_FILE_NAMES = ("generic_model.pkl", "flame2023.pkl", "FLAME2023.pkl", "flame2023_Open.pkl",
                    "flame2023_no_jaw.pkl", "FLAME_NEUTRAL.pkl", "female_model.pkl", "male_model.pkl")
_NOT_MODELS = {"flame_static_embedding.pkl", "FLAME_masks.pkl"}


def find_flame_file(path) -> Path:
    """The FLAME model pickle for ``path`` (a ``.pkl`` file, or a folder holding one of FLAME_FILE_NAMES)."""
    p = Path(path).expanduser()
    if p.is_dir():
        for n in FLAME_FILE_NAMES:
            if (p / n).is_file():
                return p / n
        cands = sorted(q for q in p.glob("*.pkl") if q.name not in _NOT_MODELS)
        if len(cands) == 1:
            return cands[0]
        raise InputError(f"FLAME folder {p}: no model pickle found (looked for {', '.join(FLAME_FILE_NAMES)})")
    if not p.is_file():
        raise InputError(f"FLAME model file {p} does not exist")
    return p


def _dense(x) -> np.ndarray:
    if hasattr(x, "toarray"):
        return np.asarray(x.toarray())
    return np.asarray(x)


def load_flame_arrays(path) -> dict[str, np.ndarray]:
    """Read and validate a FLAME pickle; returns numpy arrays (float64) for the keys the model uses.

    Raises InputError naming the file and the expected shapes when a key is missing or inconsistent.
    """
    path = find_flame_file(path)
    data = safe_load(path)
    if not isinstance(data, dict):
        raise InputError(f"FLAME model file {path}: expected a pickled dict, got {type(data).__name__}")
    need = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
    missing = [k for k in need if k not in data]
    if missing:
        raise InputError(f"FLAME model file {path}: missing keys {missing} (a FLAME pickle has {list(need)})")
    try:
        out = {k: _dense(data[k]) for k in need}
    except Exception as e:  # noqa: BLE001
        raise InputError(f"FLAME model file {path}: cannot convert arrays ({e})") from None
    V = out["v_template"].shape[0] if out["v_template"].ndim == 2 else -1
    J = out["kintree_table"].shape[1] if out["kintree_table"].ndim == 2 else -1
    expect = {"v_template": (V, 3), "shapedirs": (V, 3, None), "posedirs": (V, 3, 9 * (J - 1)),
              "J_regressor": (J, V), "weights": (V, J), "kintree_table": (2, J), "f": (None, 3)}
    for k, shp in expect.items():
        a = out[k]
        if V < 0 or J < 1 or a.ndim != len(shp) or any(s is not None and s != d for s, d in zip(shp, a.shape)):
            desc = {k2: tuple("K" if s is None else s for s in v) for k2, v in expect.items()}
            raise InputError(f"FLAME model file {path}: '{k}' has shape {a.shape}; expected shapes "
                             f"(V={V} vertices, J={J} joints): {desc}")
    for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        out[k] = out[k].astype(np.float64)
        if not np.isfinite(out[k]).all():
            raise InputError(f"FLAME model file {path}: '{k}' contains NaN/inf")
    out["f"] = out["f"].astype(np.int64)
    if out["f"].min() < 0 or out["f"].max() >= V:
        raise InputError(f"FLAME model file {path}: faces 'f' index outside [0, {V})")
    out["kintree_table"] = out["kintree_table"].astype(np.int64)
    out["path"] = path
    return out


def _opt(path, default_dir: Path, name: str) -> Path | None:
    if path is False:
        return None
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise InputError(f"FLAME embedding file {p} does not exist")
        return p
    p = default_dir / name
    return p if p.is_file() else None


def _as_np(x) -> np.ndarray:
    if torch.is_tensor(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class FLAME(HeadModel):
    """FLAME head model (see module docstring). Buffers: ``v_template`` (V, 3), ``basis_soa`` (S + E, 3*V),
    ``posedirs_soa`` (36, 3*V) (rows all-x, all-y, all-z; properties ``basis``/``posedirs`` give smplx's
    interleaved layout), ``lbs_weights_t`` (5, V) (property ``lbs_weights`` (V, 5)), ``parents`` (5,),
    ``J_template`` (5, 3), ``J_basis`` (S + E, 15) (the joint regressor applied to the template and basis).
    """

    model_name = "flame"
    has_jaw = has_neck = has_eyes = True

    def __init__(self, path, parts: str = "full", n_shape: int | None = None, n_expression: int | None = None,
                 shape_space_dim: int = 300, static_embedding=None, dynamic_embedding=None,
                 landmark_embedding=None, mediapipe_embedding=None, masks=None, texture=None,
                 dynamic_contour: bool = True, dtype=torch.float32, device="cpu", check_inputs: bool = True):
        a = load_flame_arrays(path)
        self.path = a["path"]
        folder = self.path.parent
        V = a["v_template"].shape[0]
        K = a["shapedirs"].shape[2]
        S_tot = min(shape_space_dim, K) if K > shape_space_dim else K // 2
        E_tot = K - S_tot
        n_shape = S_tot if n_shape is None else int(n_shape)
        n_expression = E_tot if n_expression is None else int(n_expression)
        if not (0 < n_shape <= S_tot and 0 <= n_expression <= E_tot):
            raise InputError(f"FLAME {self.path}: n_shape must be in 1..{S_tot} and n_expression in 0..{E_tot}; "
                             f"got {n_shape}, {n_expression}")
        dirs = np.concatenate([a["shapedirs"][:, :, :n_shape], a["shapedirs"][:, :, S_tot:S_tot + n_expression]], 2)
        Jreg = a["J_regressor"]
        J_template = Jreg @ a["v_template"]
        J_basis = np.einsum("jv,vdk->kjd", Jreg, dirs).reshape(dirs.shape[2], -1)

        # masks / regions, part selection
        regions = {}
        mpath = _opt(masks, folder, "FLAME_masks.pkl")
        if mpath is not None:
            m = safe_load(mpath)
            if not isinstance(m, dict):
                raise InputError(f"FLAME masks file {mpath}: expected a dict of vertex-id arrays")
            regions = {str(k): _as_np(v).astype(np.int64).reshape(-1) for k, v in m.items()}
        faces_full = a["f"]
        vsel = np.arange(V)
        fsel = np.arange(len(faces_full))
        if parts == "face":
            if "face" in regions:
                keep = np.zeros(V, bool)
                keep[regions["face"]] = True
                fsel = np.nonzero(keep[faces_full].all(1))[0]
                vsel = np.unique(faces_full[fsel])
            else:
                warnings.warn(f"FLAME parts='face' needs FLAME_masks.pkl beside {self.path}; using the full mesh",
                              stacklevel=2)
        elif parts not in ("full", "head"):
            raise InputError(f"FLAME parts must be 'face', 'head' or 'full'; got {parts!r}")
        self.parts = parts
        vmap = np.full(V, -1, np.int64)
        vmap[vsel] = np.arange(len(vsel))
        fmap = np.full(len(faces_full), -1, np.int64)
        fmap[fsel] = np.arange(len(fsel))
        sub_regions = {}
        for k, ids in regions.items():
            r = vmap[ids[(ids >= 0) & (ids < V)]]
            sub_regions[k] = r[r >= 0]
        names = [f"expr{i:03d}" for i in range(n_expression)]
        uvs = faces_uv = None
        tpath = _opt(texture, folder, "FLAME_texture.npz")
        if tpath is not None:  # FLAME texture space: vt (T, 2), ft (F, 3)
            try:
                with np.load(tpath, allow_pickle=False) as z:
                    uvs, ft = np.asarray(z["vt"], np.float64), np.asarray(z["ft"], np.int64)
            except Exception as e:  # noqa: BLE001
                raise InputError(f"FLAME texture file {tpath}: expected npz keys vt (T, 2), ft (F, 3) ({e})") from None
            if uvs.ndim != 2 or uvs.shape[1] != 2 or ft.shape != faces_full.shape or ft.min() < 0 or \
                    ft.max() >= len(uvs):
                raise InputError(f"FLAME texture file {tpath}: vt must be (T, 2) and ft ({len(faces_full)}, 3) ids "
                                 f"into vt; got {uvs.shape}, {ft.shape}")
            faces_uv = ft[fsel]
        super().__init__(vmap[faces_full[fsel]], uvs=uvs, faces_uv=faces_uv, regions=sub_regions,
                         expression_names=names, n_shape=n_shape, check_inputs=check_inputs)
        self.n_shape_total, self.n_expression_total = S_tot, E_tot
        self.dynamic_contour = dynamic_contour
        t = lambda x: torch.as_tensor(np.ascontiguousarray(x), dtype=dtype)  # noqa: E731
        self.register_buffer("v_template", t(a["v_template"][vsel]), persistent=False)
        # (K, 3*V) "structure of arrays" layouts (all x, all y, all z): see HeadModel._deform
        self.register_buffer("basis_soa", t(dirs[vsel].transpose(2, 1, 0).reshape(dirs.shape[2], -1)),
                             persistent=False)
        self.register_buffer("posedirs_soa", t(a["posedirs"][vsel].transpose(2, 1, 0).reshape(
            a["posedirs"].shape[2], -1)), persistent=False)
        self.register_buffer("lbs_weights_t", t(a["weights"][vsel].T), persistent=False)
        parents = torch.as_tensor(a["kintree_table"][0].copy(), dtype=torch.long)
        parents[0] = -1
        self.register_buffer("parents", parents, persistent=False)
        self.register_buffer("J_template", t(J_template), persistent=False)
        self.register_buffer("J_basis", t(J_basis), persistent=False)
        self.register_buffer("vertex_ids_full", torch.from_numpy(vsel), persistent=False)
        self.register_buffer("full_face_to_model", torch.from_numpy(fmap), persistent=False)
        self.register_buffer("_dyn_faces", None, persistent=False)
        self.register_buffer("_dyn_bary", None, persistent=False)
        self._load_landmarks(folder, static_embedding, dynamic_embedding, landmark_embedding, mediapipe_embedding)
        self.to(device)

    # ---------------------------------------------------------------- landmark files
    def _remap_faces(self, f: np.ndarray, what: str) -> np.ndarray:
        f = np.asarray(f, dtype=np.int64)
        nfull = self.full_face_to_model.shape[0]
        if f.size and (f.min() < 0 or f.max() >= nfull):
            raise InputError(f"FLAME {what}: face ids outside [0, {nfull})")
        g = self.full_face_to_model.numpy()[f]
        if (g < 0).any():
            raise InputError(f"FLAME {what}: landmarks lie on faces outside parts={self.parts!r}; use parts='full'")
        return g

    def _load_landmarks(self, folder, static_p, dynamic_p, deca_p, mp_p) -> None:
        static = dyn = full = None
        p = _opt(deca_p, folder, "landmark_embedding.npy")
        if p is not None:
            d = safe_load(p)
            try:
                static = (_as_np(d["static_lmk_faces_idx"]).reshape(-1),
                          _as_np(d["static_lmk_bary_coords"]).reshape(-1, 3))
                dyn = (_as_np(d["dynamic_lmk_faces_idx"]), _as_np(d["dynamic_lmk_bary_coords"]))
                if "full_lmk_faces_idx" in d:
                    full = (_as_np(d["full_lmk_faces_idx"]).reshape(-1),
                            _as_np(d["full_lmk_bary_coords"]).reshape(-1, 3))
            except (KeyError, TypeError, IndexError) as e:
                raise InputError(f"FLAME landmark embedding {p}: expected DECA keys static_/dynamic_lmk_faces_idx, "
                                 f"..._bary_coords ({e})") from None
        sp = _opt(static_p, folder, "flame_static_embedding.pkl")
        if sp is not None:
            d = safe_load(sp)
            try:
                static = (_as_np(d["lmk_face_idx"]).reshape(-1), _as_np(d["lmk_b_coords"]).reshape(-1, 3))
            except (KeyError, TypeError, IndexError) as e:
                raise InputError(f"FLAME static embedding {sp}: expected keys lmk_face_idx (K,), lmk_b_coords (K, 3)"
                                 f" ({e})") from None
        dp = _opt(dynamic_p, folder, "flame_dynamic_embedding.npy")
        if dp is not None:
            d = safe_load(dp)
            try:
                dyn = (_as_np(d["lmk_face_idx"]), _as_np(d["lmk_b_coords"]))
            except (KeyError, TypeError, IndexError) as e:
                raise InputError(f"FLAME dynamic embedding {dp}: expected keys lmk_face_idx (79, 17), lmk_b_coords "
                                 f"(79, 17, 3) ({e})") from None
        if dyn is not None:
            df, db = np.asarray(dyn[0], np.int64), np.asarray(dyn[1], np.float64)
            if df.ndim != 2 or db.shape != df.shape + (3,) or df.shape[0] != 79:
                raise InputError(f"FLAME dynamic contour embedding: expected faces (79, L) and bary (79, L, 3); got "
                                 f"{df.shape} and {db.shape}")
            self._dyn_faces = torch.from_numpy(self._remap_faces(df, "dynamic embedding"))
            self._dyn_bary = torch.as_tensor(db, dtype=self.v_template.dtype)
        if static is not None:
            sf, sb = self._remap_faces(static[0], "static embedding"), static[1]
            if sf.shape[0] == 68:
                self.set_landmark_embedding("ibug68", sf, sb)
            elif dyn is not None and sf.shape[0] + self._dyn_faces.shape[1] == 68:
                # rest-pose (yaw 0) contour + static points; the forward pass swaps in the yaw-dependent contour
                self.set_landmark_embedding("ibug68", np.concatenate([self._dyn_faces[0].numpy(), sf]),
                                            np.concatenate([self._dyn_bary[0].numpy(), sb]))
            elif full is not None and full[0].shape[0] == 68:
                self.set_landmark_embedding("ibug68", self._remap_faces(full[0], "full embedding"), full[1])
            else:  # no contour: expose the static points under their own name
                self.set_landmark_embedding("flame_static", sf, sb)
        mp = _opt(mp_p, folder, "mediapipe_landmark_embedding.npz")
        if mp is not None:
            try:
                with np.load(mp, allow_pickle=False) as z:
                    f, b, idx = z["lmk_face_idx"], z["lmk_b_coords"], z["landmark_indices"]
            except Exception as e:  # noqa: BLE001
                raise InputError(f"FLAME MediaPipe embedding {mp}: expected npz keys lmk_face_idx (K,), lmk_b_coords "
                                 f"(K, 3), landmark_indices (K,) ({e})") from None
            self.set_landmark_embedding("mediapipe", self._remap_faces(f.reshape(-1), "mediapipe embedding"), b,
                                        indices=idx.reshape(-1), num_points=468)

    def _embedding_for(self, name, B, ctx):
        f, b = self.landmark_embedding(name)
        if name == "ibug68" and self.dynamic_contour and self._dyn_faces is not None and f.shape[0] == 68 \
                and self._dyn_faces.shape[1] == 17:
            chain = ctx["chain_rot"]  # (B, 2, 3, 3): neck, global
            df, db = find_dynamic_lmk_idx_and_bcoords(chain, self._dyn_faces, self._dyn_bary)
            f = torch.cat([df, f[17:].expand(B, -1)], 1)
            b = torch.cat([db, b[17:].expand(B, -1, -1)], 1)
        return f, b

    # ---------------------------------------------------------------- forward
    def _num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def basis(self) -> torch.Tensor:
        """Shape + expression basis (S + E, V*3) interleaved xyz (smplx ``shapedirs`` flattened); a copy."""
        k = self.basis_soa.shape[0]
        return self.basis_soa.view(k, 3, -1).transpose(1, 2).reshape(k, -1)

    @property
    def posedirs(self) -> torch.Tensor:
        """Pose correctives (36, V*3) interleaved xyz (smplx buffer layout); a copy."""
        k = self.posedirs_soa.shape[0]
        return self.posedirs_soa.view(k, 3, -1).transpose(1, 2).reshape(k, -1)

    @property
    def lbs_weights(self) -> torch.Tensor:
        """Skinning weights (V, 5)."""
        return self.lbs_weights_t.t()

    def _coeffs(self, B, shape, expression):
        dt, dev = self.v_template.dtype, self.v_template.device
        S, E = self.n_shape, self.n_expression
        sh = torch.zeros(B, S, dtype=dt, device=dev) if shape is None else \
            torch.nn.functional.pad(shape, (0, S - shape.shape[1]))
        if E == 0:
            return sh
        ex = torch.zeros(B, E, dtype=dt, device=dev) if expression is None else \
            torch.nn.functional.pad(expression, (0, E - expression.shape[1]))
        return torch.cat([sh, ex], 1)

    def root_joint(self, shape=None, expression=None) -> torch.Tensor:
        """Rest-pose root joint J0 (B, 3) in the model frame for the given shape/expression."""
        B = 1 if shape is None and expression is None else max(
            x.shape[0] for x in (shape, expression) if x is not None and x.dim() == 2)
        shape = self._param(shape, "shape", (self.n_shape,), B, max_last=self.n_shape)
        expression = self._param(expression, "expression", (self.n_expression,), B, max_last=self.n_expression)
        c = self._coeffs(B, shape, expression)
        return self.J_template[0] + (c @ self.J_basis).view(B, -1, 3)[:, 0]

    def _deform(self, B, shape, expression, jaw, neck, eyes, ctx):
        dt, dev = self.v_template.dtype, self.v_template.device
        c = self._coeffs(B, shape, expression)
        J = self.J_template + (c @ self.J_basis).view(B, -1, 3)
        z = torch.zeros(B, 3, dtype=dt, device=dev)
        pose = torch.stack([z, neck if neck is not None else z, jaw if jaw is not None else z,
                            eyes[:, 0] if eyes is not None else z, eyes[:, 1] if eyes is not None else z], 1)
        rot = batch_rodrigues(pose.reshape(-1, 3)).view(B, -1, 3, 3)
        ident = torch.eye(3, dtype=dt, device=dev)
        pose_feature = (rot[:, 1:] - ident).reshape(B, -1)
        # v_posed = template + shape/expression blend + pose correctives, (B, 3, V), two matmuls
        v_posed = torch.addmm(self.v_template.t().reshape(1, -1), c, self.basis_soa)
        v_posed = torch.addmm(v_posed, pose_feature, self.posedirs_soa).view(B, 3, -1)
        joints, A = batch_rigid_transform(rot, J, self.parents)
        verts = skin_vertices_soa(v_posed, self.lbs_weights_t, A)
        R = ctx.get("rotation")
        glob = R if R is not None else ident.expand(B, 3, 3)
        ctx["chain_rot"] = torch.stack([rot[:, 1], glob], 1)
        return verts, joints
