"""ARKit's 52 blendshapes: name table, and transfer onto another head model's expression (+ jaw) space.

* :data:`ARKIT_NAMES`: Apple's 52 ``ARFaceAnchor.BlendShapeLocation`` names (lowerCamel, ``eyeBlinkLeft``;
  Live Link Face CSV order). :func:`normalize_arkit_name` also accepts ARKit raw values / ICT names
  (``eyeBlink_L``), capitalised names (``EyeBlinkLeft``) and MediaPipe's blendshape names.
* :func:`arkit_to_ict_matrix`: (52, 53) weights that express each ARKit shape in ICT-FaceKit's 53 shapes
  (ICT splits ``browInnerUp`` and ``cheekPuff`` into _L/_R; ``tongueOut`` has no ICT shape).
* :func:`solve_blendshape_transfer`: generic solver. Given per-blendshape displacements of a source model
  on P corresponding surface points (already in the target's frame/units) and the target's points as a
  function of (expression, jaw), find per blendshape the target expression (Tikhonov-regularised linear
  least squares, jaw Jacobian included) and refine (expression, jaw) jointly with L-BFGS, batched over all
  blendshapes at once.
* :func:`transfer_arkit`: ICT-FaceKit (or any model with ARKit-named shapes) -> target head model (FLAME),
  correspondence through both models' MediaPipe-468 embeddings (FLAME's may be partial).
* :class:`ArkitTransfer` + :func:`arkit_curves_to_array`: convert ARKit-named animation curves
  (dict name -> (T,) or array (T, 52)) into target expression (T, E) and jaw (T, 3).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import numpy as np
import torch

from headgen.errors import InputError

__all__ = [
    "ARKIT_NAMES", "normalize_arkit_name", "arkit_index", "arkit_to_ict_matrix", "arkit_to_model_matrix",
    "solve_blendshape_transfer", "TransferSolution", "transfer_arkit", "transfer_arkit_from_ict", "ArkitTransfer",
    "arkit_curves_to_array",
]

#: ARKit's 52 blendshape names (ARFaceAnchor.BlendShapeLocation; order of Live Link Face CSVs)
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawRight", "jawLeft", "jawOpen", "mouthClose",
    "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)
assert len(ARKIT_NAMES) == 52 and len(set(ARKIT_NAMES)) == 52

_KEY = {n.lower(): n for n in ARKIT_NAMES}


def _key(name: str) -> str:
    s = str(name).strip()
    s = re.sub(r"_L$", "Left", s)
    s = re.sub(r"_R$", "Right", s)
    return s.replace("_", "").lower()


def normalize_arkit_name(name: str) -> Optional[str]:
    """ARKit name in any common spelling (``eyeBlinkLeft``, ``eyeBlink_L``, ``EyeBlinkLeft``) -> the
    :data:`ARKIT_NAMES` spelling, or None when it is not one of the 52."""
    return _KEY.get(_key(name))


def arkit_index(name: str) -> int:
    """Index into :data:`ARKIT_NAMES`; InputError for an unknown name."""
    n = normalize_arkit_name(name)
    if n is None:
        raise InputError(f"'{name}' is not an ARKit blendshape name (expected one of {', '.join(ARKIT_NAMES)})")
    return ARKIT_NAMES.index(n)


def arkit_to_model_matrix(expression_names) -> np.ndarray:
    """(52, E) matrix W with ``model_weights = arkit_weights @ W`` for a model whose expression shapes carry
    ARKit names (any spelling). A shape split into _L/_R halves on the model (ICT's ``browInnerUp_L/_R``,
    ``cheekPuff_L/_R``) gets both halves; ARKit shapes the model lacks (ICT: ``tongueOut``) stay zero rows."""
    names = [str(n) for n in expression_names]
    W = np.zeros((52, len(names)))
    for j, n in enumerate(names):
        a = normalize_arkit_name(n)
        if a is not None:
            W[ARKIT_NAMES.index(a), j] = 1.0
            continue
        k = _key(n)
        for side in ("left", "right"):           # split halves of an unsided ARKit shape
            if k.endswith(side) and k[: -len(side)] in _KEY:
                W[ARKIT_NAMES.index(_KEY[k[: -len(side)]]), j] = 1.0
    return W


def arkit_to_ict_matrix(expression_names=None) -> np.ndarray:
    """(52, 53) ARKit -> ICT-FaceKit weights (default: the ICT names of the shipped npz)."""
    if expression_names is None:
        from headgen.models.ict import load_ict_arrays
        expression_names = load_ict_arrays()["expression_names"]
    return arkit_to_model_matrix(expression_names)


# ----------------------------------------------------------------------------------------------------------
# generic solver
@dataclass
class TransferSolution:
    """expression (K, E), jaw (K, 3) (zeros without jaw), rms (K,) residual RMS per shape (units of the
    points), rel (K,) residual norm / source displacement norm (0 for zero displacements)."""
    expression: torch.Tensor
    jaw: torch.Tensor
    rms: torch.Tensor
    rel: torch.Tensor


def _check_finite(x: torch.Tensor, what: str) -> None:
    if not torch.isfinite(x).all():
        raise InputError(f"{what}: contains NaN or infinite values")


def solve_blendshape_transfer(source_disp: torch.Tensor, target_points: Callable, n_expression: int, *,
                              use_jaw: bool = True, reg_expression: float = 1e-4, reg_jaw: float = 1e-4,
                              point_weights: Optional[torch.Tensor] = None, n_iter: int = 40,
                              fd_step: float = 1e-3) -> TransferSolution:
    """Target (expression, jaw) reproducing each source blendshape's displacement on corresponding points.

    source_disp: (K, P, 3) displacement of each of K source blendshapes at P points, in the target's frame
    and units. target_points: f(expression (N, E), jaw (N, 3) or None) -> (N, P, 3) the target's points
    (differentiable in torch). n_expression: E. Loss per shape k (all K solved in one batch):
    ``mean_p w_p |f(e_k, j_k)_p - f(0, 0)_p - d_kp|^2 / s^2 + reg_expression |e_k|^2 + reg_jaw |j_k|^2``
    with ``s^2`` the mean squared displacement of a unit expression coefficient (so the regularisers are
    unit-free). Step 1: linear least squares over [expression basis, finite-difference jaw Jacobian];
    step 2 (use_jaw): L-BFGS over (e, j) on the exact nonlinear loss, ``n_iter`` iterations.
    Returns :class:`TransferSolution`.
    """
    if not torch.is_tensor(source_disp) or source_disp.dim() != 3 or source_disp.shape[-1] != 3:
        raise InputError(f"source_disp: expected (K, P, 3), got "
                         f"{tuple(source_disp.shape) if torch.is_tensor(source_disp) else type(source_disp)}")
    _check_finite(source_disp, "source_disp")
    K, P, _ = source_disp.shape
    E = int(n_expression)
    d = source_disp.detach()
    dt, dev = d.dtype, d.device
    w = torch.ones(P, dtype=dt, device=dev) if point_weights is None else torch.as_tensor(
        point_weights, dtype=dt, device=dev).reshape(-1)
    if w.shape[0] != P or (w < 0).any() or not torch.isfinite(w).all():
        raise InputError(f"point_weights: expected ({P},) non-negative finite values")
    w = w / w.mean().clamp_min(1e-12)

    def f(e, j):
        out = target_points(e, j)
        if out.shape != (e.shape[0], P, 3):
            raise InputError(f"target_points returned shape {tuple(out.shape)}, expected ({e.shape[0]}, {P}, 3) "
                             f"(P must match source_disp)")
        return out

    with torch.no_grad():
        zero_e = torch.zeros(1, E, dtype=dt, device=dev)
        zero_j = torch.zeros(1, 3, dtype=dt, device=dev) if use_jaw else None
        neutral = f(zero_e, zero_j)[0]
        _check_finite(neutral, "target_points(0, 0)")
        eye = torch.eye(E, dtype=dt, device=dev)
        basis = f(eye, None if not use_jaw else torch.zeros(E, 3, dtype=dt, device=dev)) - neutral   # E,P,3
        cols = [basis]
        if use_jaw:
            jd = torch.eye(3, dtype=dt, device=dev) * fd_step
            cols.append((f(torch.zeros(3, E, dtype=dt, device=dev), jd) - neutral) / fd_step)          # 3,P,3
        A = torch.cat(cols, 0)                                                                         # C,P,3
        s2 = (basis ** 2).sum(-1).mean().clamp_min(1e-30)
        Aw = A * w[None, :, None]
        G = torch.einsum("cpd,kpd->ck", Aw, A) / (P * s2)
        reg = torch.full((A.shape[0],), reg_expression, dtype=dt, device=dev)
        if use_jaw:
            reg[E:] = reg_jaw
        rhs = torch.einsum("cpd,kpd->kc", Aw, d) / (P * s2)                                           # K,C
        sol = torch.linalg.solve(G + torch.diag(reg), rhs.T).T
    e = sol[:, :E].clone()
    j = sol[:, E:].clone() if use_jaw else torch.zeros(K, 3, dtype=dt, device=dev)

    def loss_terms(e_, j_):
        pred = f(e_, j_ if use_jaw else None) - neutral
        r = pred - d
        data = ((r ** 2).sum(-1) * w).mean(-1) / s2
        return data + reg_expression * (e_ ** 2).sum(-1) + (reg_jaw * (j_ ** 2).sum(-1) if use_jaw else 0.0), r

    if use_jaw and n_iter > 0:
        e.requires_grad_(True)
        j.requires_grad_(True)
        opt = torch.optim.LBFGS([e, j], lr=1.0, max_iter=n_iter, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-12, tolerance_change=1e-14)

        def closure():
            opt.zero_grad()
            loss = loss_terms(e, j)[0].sum()
            loss.backward()
            return loss

        opt.step(closure)
        e, j = e.detach(), j.detach()
    with torch.no_grad():
        _, r = loss_terms(e, j)
        rms = ((r ** 2).sum(-1) * w).mean(-1).sqrt()
        dn = ((d ** 2).sum(-1) * w).mean(-1).sqrt()
        rel = torch.where(dn > 0, rms / dn.clamp_min(1e-30), torch.zeros_like(rms))
    return TransferSolution(e, j, rms, rel)


# ----------------------------------------------------------------------------------------------------------
# model-to-model transfer
@dataclass
class ArkitTransfer:
    """Per-ARKit-shape target coefficients: expression (52, E), jaw (52, 3) axis-angle (radians), with
    the fit quality rms_mm (52,) and rel (52,). ``names`` = :data:`ARKIT_NAMES`."""
    expression: torch.Tensor
    jaw: torch.Tensor
    rms_mm: torch.Tensor
    rel: torch.Tensor
    names: tuple = ARKIT_NAMES

    def apply(self, curves) -> tuple[torch.Tensor, torch.Tensor]:
        """ARKit curves (dict name -> (T,), or (T, 52) / (52,) array/tensor in ARKIT_NAMES order) ->
        (expression (T, E), jaw (T, 3)) by linear blending of the per-shape solutions."""
        W = arkit_curves_to_array(curves)
        W = torch.as_tensor(W, dtype=self.expression.dtype, device=self.expression.device)
        return W @ self.expression, W @ self.jaw

    def save(self, path) -> None:
        """Write an npz (expression, jaw, rms_mm, rel, names)."""
        np.savez(path, expression=self.expression.cpu().numpy(), jaw=self.jaw.cpu().numpy(),
                 rms_mm=self.rms_mm.cpu().numpy(), rel=self.rel.cpu().numpy(), names=np.array(self.names))

    @classmethod
    def load(cls, path) -> "ArkitTransfer":
        """Read an npz written by :meth:`save`; InputError on a wrong layout."""
        try:
            with np.load(path, allow_pickle=False) as z:
                ex, jw, rms, rel, names = (z[k] for k in ("expression", "jaw", "rms_mm", "rel", "names"))
        except (OSError, KeyError, ValueError) as e:
            raise InputError(f"{path}: not an ARKit transfer file ({e})") from e
        if ex.ndim != 2 or ex.shape[0] != 52 or jw.shape != (52, 3) or tuple(map(str, names)) != ARKIT_NAMES:
            raise InputError(f"{path}: expected 52 ARKit rows, got expression {ex.shape}, jaw {jw.shape}")
        t = torch.as_tensor
        return cls(t(ex), t(jw), t(rms), t(rel))


def arkit_curves_to_array(curves, n_frames: Optional[int] = None) -> np.ndarray:
    """ARKit curves -> (T, 52) float array in :data:`ARKIT_NAMES` order.

    curves: dict name -> (T,) values (any ARKit spelling; missing shapes are 0), or an array/tensor
    (T, 52) or (52,) (-> T = 1). InputError on unknown names, different lengths, wrong shapes or NaN.
    """
    if isinstance(curves, Mapping):
        if not curves:
            raise InputError("ARKit curves: empty dict")
        cols = {}
        for name, v in curves.items():
            i = arkit_index(name)
            if i in cols:
                raise InputError(f"ARKit curves: '{name}' given twice (as {ARKIT_NAMES[i]})")
            a = v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v, dtype=np.float64)
            cols[i] = np.atleast_1d(a.astype(np.float64))
            if cols[i].ndim != 1:
                raise InputError(f"ARKit curves: '{name}' must be a 1-D curve (T,), got shape {a.shape}")
        lengths = {ARKIT_NAMES[i]: len(c) for i, c in cols.items()}
        if len(set(lengths.values())) != 1:
            raise InputError(f"ARKit curves: curves have different lengths {lengths}")
        T = next(iter(lengths.values()))
        out = np.zeros((T, 52))
        for i, c in cols.items():
            out[:, i] = c
    else:
        a = curves.detach().cpu().numpy() if torch.is_tensor(curves) else np.asarray(curves, dtype=np.float64)
        a = a.astype(np.float64)
        if a.ndim == 1:
            a = a[None]
        if a.ndim != 2 or a.shape[1] != 52:
            raise InputError(f"ARKit curves: expected shape (T, 52) in ARKIT_NAMES order, got {a.shape}")
        out = a
    if not np.isfinite(out).all():
        raise InputError("ARKit curves: contain NaN or infinite values")
    if n_frames is not None and out.shape[0] != n_frames:
        raise InputError(f"ARKit curves: expected {n_frames} frames, got {out.shape[0]}")
    return out


def _valid_landmarks(model, name="mediapipe") -> torch.Tensor:
    if not model.has_landmarks(name):
        raise InputError(f"{model.model_name}: no '{name}' landmark embedding (ICT: headgen.models.embedding."
                         f"load_or_compute_mediapipe_embedding(model); FLAME: mediapipe_landmark_embedding.npz)")
    return model.landmark_valid(name)


def transfer_arkit(source, target, *, source_matrix: Optional[np.ndarray] = None, use_jaw: Optional[bool] = None,
                   reg_expression: float = 1e-4, reg_jaw: float = 1e-4, n_iter: int = 40,
                   align: bool = True, dtype=torch.float64) -> ArkitTransfer:
    """Fit, for each ARKit blendshape, the target model's expression (and jaw) coefficients.

    source: head model whose expression shapes are ARKit-named (ICT-FaceKit); target: head model (FLAME or
    any :class:`~headgen.models.base.HeadModel`). Both need a ``"mediapipe"`` landmark embedding; the points
    valid on both are the correspondences. source_matrix: (52, E_src) ARKit -> source weights (default:
    :func:`arkit_to_model_matrix` of the source's names). align: map source displacements into the target
    frame with the similarity that aligns the neutral landmark sets (Umeyama). use_jaw: default
    ``target.has_jaw``. Both models are evaluated at their mean shape. Returns :class:`ArkitTransfer`.
    """
    from headgen.geometry.procrustes import umeyama

    valid = (_valid_landmarks(source) & _valid_landmarks(target).to(source.device)).cpu()
    if int(valid.sum()) < 4:
        raise InputError(f"ARKit transfer: the two MediaPipe embeddings share only {int(valid.sum())} points")
    M = arkit_to_model_matrix(source.expression_names) if source_matrix is None else np.asarray(source_matrix)
    if M.shape != (52, source.n_expression) or not np.isfinite(M).all():
        raise InputError(f"source_matrix: expected finite (52, {source.n_expression}), got {M.shape}")
    if not np.any(M):
        raise InputError("ARKit transfer: none of the source model's expression names are ARKit names")
    use_jaw = bool(target.has_jaw) if use_jaw is None else bool(use_jaw)
    vs = valid.to(source.device)
    with torch.no_grad():
        src = source(expression=torch.as_tensor(np.vstack([np.zeros((1, M.shape[1])), M]), dtype=source.dtype,
                                                 device=source.device)).landmarks468[:, vs].to(dtype).cpu()
    src_neutral, src_disp = src[0], src[1:] - src[:1]
    vt = valid.to(target.device)
    tdt = target.dtype

    def target_points(e, j):
        out = target(expression=e.to(device=target.device, dtype=tdt),
                     jaw=None if j is None else j.to(device=target.device, dtype=tdt))
        return out.landmarks468[:, vt].to(dtype).cpu()

    if align:
        with torch.no_grad():
            tgt_neutral = target_points(torch.zeros(1, target.n_expression, dtype=dtype), None)[0]
        s, R, _ = umeyama(src_neutral.numpy(), tgt_neutral.numpy())
        src_disp = src_disp @ torch.as_tensor(s * R, dtype=dtype).T
    sol = solve_blendshape_transfer(src_disp, target_points, target.n_expression, use_jaw=use_jaw,
                                    reg_expression=reg_expression, reg_jaw=reg_jaw, n_iter=n_iter)
    return ArkitTransfer(sol.expression, sol.jaw, sol.rms * 1000.0, sol.rel)


def transfer_arkit_from_ict(target, *, ict_path=None, **kwargs) -> ArkitTransfer:
    """:func:`transfer_arkit` with ICT-FaceKit (parts="face", float64, MediaPipe embedding from
    :func:`headgen.models.embedding.load_or_compute_mediapipe_embedding`, cached) as the ARKit source.

    target: head model with a ``"mediapipe"`` embedding (FLAME: ``mediapipe_landmark_embedding.npz``).
    ict_path: ICT npz (default: the shipped asset). kwargs go to :func:`transfer_arkit`.
    """
    from headgen.models import load_head_model
    from headgen.models.embedding import load_or_compute_mediapipe_embedding

    src = load_head_model("ict", path=ict_path, parts="face", dtype=torch.float64)
    load_or_compute_mediapipe_embedding(src)
    return transfer_arkit(src, target, **kwargs)
