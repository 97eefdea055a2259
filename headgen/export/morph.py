"""A head model with a fixed identity as a morph-target rig: base mesh + named ARKit blendshape targets.

ICT-FaceKit's 53 expression shapes are ARKit-named; two ARKit shapes (``browInnerUp``, ``cheekPuff``) are
split into _L/_R halves and ``tongueOut`` has no ICT shape. The rig's targets are therefore

* the 52 ARKit shapes in :data:`headgen.models.arkit.ARKIT_NAMES` order (target = sum of the ICT shapes
  ``arkit_to_model_matrix`` maps it to; ``tongueOut`` is an all-zero target so every tool finds all 52 names),
* one ``<name>_asym`` target per split ARKit shape (``browInnerUp_asym`` = browInnerUp_L - browInnerUp_R),
  whose weight (e_L - e_R) / 2 restores a fit's asymmetric use of the halves exactly (0 for ARKit input),
* one target per model shape that no ARKit name covers (none for the shipped ICT).

So ``base + sum_k w_k target_k`` equals ``model(shape, expression).vertices_model`` for any ICT expression
(up to float rounding). All positions are metres in the head-model frame (+x subject-left, +y up, +z out of
the face) - the same axes as glTF's Y-up.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from headgen.errors import InputError

__all__ = ["MorphRig", "build_morph_rig"]


@dataclass
class MorphRig:
    """base (V, 3) float64 metres (model frame, identity applied, neutral expression); targets (K, V, 3)
    per-target vertex displacements; names (K,) target names (first 52 = ARKit); faces (F, 3) int;
    uvs (T, 2) / faces_uv (F, 3) or None; to_targets (E, K): model expression (E,) -> target weights (K,)
    (``w = e @ to_targets``); from_arkit (52, K): ARKit weights -> target weights; expression_names (E,);
    landmark_ids (68,) iBUG-68 landmark vertex ids or None."""
    base: np.ndarray
    targets: np.ndarray
    names: list[str]
    faces: np.ndarray
    uvs: np.ndarray | None
    faces_uv: np.ndarray | None
    to_targets: np.ndarray
    from_arkit: np.ndarray
    expression_names: list[str]
    landmark_ids: np.ndarray | None = None
    _flat: dict = field(default_factory=dict, repr=False)

    @property
    def n_targets(self) -> int:
        """K, the number of morph targets."""
        return len(self.names)

    def weights_from_expression(self, expression) -> np.ndarray:
        """Model expression weights (T, E) (or (E,)) -> target weights (T, K) (or (K,))."""
        e = np.asarray(expression, np.float64)
        if e.shape[-1] != self.to_targets.shape[0]:
            raise InputError(f"expression has {e.shape[-1]} columns, the model has {self.to_targets.shape[0]}")
        return e @ self.to_targets

    def weights_from_arkit(self, arkit) -> np.ndarray:
        """ARKit weights (T, 52) (columns in ARKIT_NAMES order) -> target weights (T, K)."""
        a = np.asarray(arkit, np.float64)
        if a.shape[-1] != 52:
            raise InputError(f"ARKit weights must have 52 columns, got {a.shape}")
        return a @ self.from_arkit

    def arkit_from_weights(self, weights) -> np.ndarray:
        """Target weights (T, K) -> the 52 ARKit weights (T, 52) (the first 52 targets)."""
        return np.asarray(weights)[..., :52]

    def vertices(self, weights, dtype=np.float32) -> np.ndarray:
        """Model-frame vertices for target weights (K,) -> (V, 3) or (T, K) -> (T, V, 3) (``dtype``)."""
        w = np.asarray(weights, dtype)
        key = np.dtype(dtype).str
        if key not in self._flat:
            self._flat[key] = (self.base.reshape(-1).astype(dtype),
                               self.targets.reshape(self.n_targets, -1).astype(dtype))
        base, flat = self._flat[key]
        v = base + w @ flat
        return v.reshape(*w.shape[:-1], -1, 3)


def build_morph_rig(model, shape=None) -> MorphRig:
    """Morph rig of a head model whose expression shapes are ARKit-named (ICT-FaceKit), for one identity.

    model: an ICT :class:`~headgen.models.base.HeadModel` (any part set); shape: (S,) identity coefficients
    or None (mean shape). The targets are the model's (linear) expression displacements, measured by posing
    the model once per shape, so the rig reproduces ``model(shape, expression)`` exactly. Raises InputError
    for a model without ARKit-named shapes (FLAME: its expression space is not ARKit).
    """
    import torch
    from headgen.models.arkit import ARKIT_NAMES, arkit_to_model_matrix

    names = list(model.expression_names)
    W = arkit_to_model_matrix(names)                 # (52, E), 0/1 entries
    if not W.any():
        raise InputError(f"{model.model_name}: its expression shapes are not ARKit blendshapes; morph-target "
                         f"export needs the ICT-FaceKit model")
    E = len(names)
    dt = model.template_soa.dtype if hasattr(model, "template_soa") else torch.float32
    with torch.no_grad():
        s = None if shape is None or np.asarray(shape).size == 0 else \
            torch.as_tensor(np.asarray(shape), dtype=dt, device=model.device)[None]
        base = model(shape=s, batch_size=1).vertices_model[0].double().cpu().numpy()
        eye = torch.eye(E, dtype=dt, device=model.device)
        posed = model(shape=None if s is None else s.expand(E, -1), expression=eye).vertices_model
    deltas = posed.double().cpu().numpy() - base[None]   # (E, V, 3)
    if (W.sum(0) > 1).any():  # pragma: no cover - a shape counted twice would break the exact reproduction
        raise InputError(f"{model.model_name}: a model shape is mapped from more than one ARKit shape")
    targets, tnames, cols = [], [], []                # cols: (E,) coefficient vector per target
    for i, n in enumerate(ARKIT_NAMES):
        c = W[i].astype(np.float64)
        targets.append(np.tensordot(c, deltas, 1))
        tnames.append(n)
        cols.append(c)
    # expression -> targets: ARKit weight = mean of the halves it covers
    A = np.stack(cols, 1)                             # (E, 52)
    cover = A.sum(0)
    to_targets = A / np.maximum(cover, 1)[None]       # e @ to_targets = per-ARKit mean of its halves
    extra_cols = []
    for i, n in enumerate(ARKIT_NAMES):
        ids = np.nonzero(W[i])[0]
        if len(ids) == 2:                             # split shape: asymmetric part
            l, r = ids
            targets.append(deltas[l] - deltas[r])
            tnames.append(f"{n}_asym")
            c = np.zeros(E)
            c[l], c[r] = 0.5, -0.5
            extra_cols.append(c)
        elif len(ids) > 2:  # pragma: no cover - no such model
            raise InputError(f"{model.model_name}: ARKit shape {n} maps to {len(ids)} model shapes")
    for j in np.nonzero(W.sum(0) == 0)[0]:           # model shapes without an ARKit name
        targets.append(deltas[j])
        tnames.append(names[j])
        c = np.zeros(E)
        c[j] = 1.0
        extra_cols.append(c)
    if extra_cols:
        to_targets = np.concatenate([to_targets, np.stack(extra_cols, 1)], 1)
    K = len(tnames)
    from_arkit = np.zeros((52, K))
    from_arkit[:, :52] = np.eye(52)
    uvs = getattr(model, "uvs", None)
    fuv = getattr(model, "faces_uv", None)
    return MorphRig(base=base, targets=np.stack(targets), names=tnames,
                    faces=model.faces.cpu().numpy().astype(np.int64),
                    uvs=None if uvs is None else uvs.cpu().numpy().astype(np.float64),
                    faces_uv=None if fuv is None else fuv.cpu().numpy().astype(np.int64),
                    to_targets=to_targets, from_arkit=from_arkit, expression_names=names,
                    landmark_ids=None if getattr(model, "landmarks68_ids", None) is None
                    else model.landmarks68_ids.cpu().numpy().astype(np.int64))
