"""Batched landmark (and optional photometric) fitting of a head model to a sequence, one or more views.

Unknowns: one shape vector (S,) for the subject; per frame the expression (T,E), the extra per-frame
parameters the model has (e.g. FLAME jaw (T,3)), the head rotation (T,3,3) (6D parametrisation) and
translation (T,3) in the WORLD frame (= the camera frame for monocular input); optionally one focal
scale. All frames (and views) are solved as one problem with Adam, coarse to fine:

1. rigid: rotation + translation only (shape/expression frozen at 0), robust loss with a wide kernel;
2. full: everything, robust Geman-McClure loss, priors and temporal smoothness, and an eye-closure term
   (:func:`eye_closure_energy`: upper-to-lower eyelid distances, predicted vs detected, per eye).

Expression bounds (ICT ARKit weights in [0,1]) are kept by projecting after each step (projected Adam).
There is no per-frame Python loop: every step evaluates all frames at once, on whatever device the
tensors live on (CPU or GPU).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from headgen.geometry.camera import project_points
from headgen.geometry.conventions import HEAD_TO_OPENCV
from headgen.geometry.procrustes import umeyama
from headgen.geometry.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from headgen.landmarks.ibug68 import IBUG68_GROUPS, MEDIAPIPE_TO_IBUG68
from headgen.models import energy
from headgen.stages.fit.interpolate import interpolate_linear, interpolate_rotations

JAW_CONTOUR = IBUG68_GROUPS["jaw"]
LIPS = IBUG68_GROUPS["lips_outer"] + IBUG68_GROUPS["lips_inner"]
#: Upper/lower eyelid landmark pairs (upper, lower) of the eye-closure term: MediaPipe 468 indices, three per eye
#: (the lid middle and either side of it; subject's right eye = image left first), and the same lids in iBUG-68
#: numbering for fits without a 468 embedding (37-41, 38-40 | 43-47, 44-46).
EYELID_PAIRS_468 = ((159, 145), (158, 153), (160, 144), (386, 374), (385, 380), (387, 373))
EYELID_PAIRS_68 = ((37, 41), (38, 40), (43, 47), (44, 46))


@dataclass
class FitConfig:
    """Weights and schedule. Landmark residuals are in % of inter-ocular distance (see ``energy``)."""

    iters_rigid: int = 60
    iters_full: int = 220
    lr_rotation: float = 0.02
    lr_translation: float = 0.004          # metres per step (Adam step size)
    lr_shape: float = 0.08
    lr_expression: float = 0.05
    lr_extra: float = 0.02
    lr_focal: float = 0.01
    lr_final_fraction: float = 0.1         # linear decay of the step size during the full stage
    w_lmk468: float = 1.0
    w_lmk68: float = 0.5
    lip_weight: float = 3.0                # relative weight of iBUG lips 48-67 (speech)
    jaw_weight: float = 0.2                # relative weight of iBUG jaw contour 0-16 (MediaPipe maps it loosely)
    robust: str = "gm"
    robust_scale_rigid: float = 30.0
    robust_scale: float = 6.0
    w_shape: float = 2e-3                  # L2 on identity coefficients (~N(0,1))
    w_expression: float = 0.5              # L2 on expression weights
    w_expression_l1: float = 0.5           # L1 (sparsity) on bounded, non-negative expression weights
    expression_prior_scale: dict = field(default_factory=dict)   # expression name -> prior multiplier
    expression_names: tuple = ()           # names for expression_prior_scale (the model's)
    w_extra: float = 1.0                   # L2 on extra per-frame params (radians)
    w_smooth_expression: float = 2.0       # second difference of expression, per frame
    w_smooth_rotation: float = 2000.0      # second difference of the rotation matrix entries
    w_smooth_translation: float = 2e5      # second difference of translation (metres)
    w_smooth_first: float = 0.1            # relative weight of first-difference penalties
    w_eye_closure: float = 1.0             # eyelid aperture term (eye_closure_energy); 0 = off. Chosen on the 8 GRID
                                           # clips' fits (bench/fit_eyes.py): lids follow blinks, NME / lips unchanged
    eye_closure_relative: bool = True      # match apertures minus their per-clip mean (the default: absolute
                                           # apertures also move the rest aperture and worsened the lips there)
    eye_closure_gain: float = 1.0          # relative mode: gain on the target's closing (see eye_closure_energy);
                                           # 1 for exact landmarks, MEDIAPIPE_EYE_CLOSURE_GAIN for MediaPipe's
    expression_bounds: tuple[float, float] | None = (0.0, 1.0)
    optimize_focal: bool = False
    cpu_threads: int | None = 1            # torch threads during a CPU fit: per-step tensors are small, so
                                           # intra-op threading costs more than it gains (None: leave as is)
    photometric: object = None             # optional callable(params dict) -> scalar energy (see photometric.py)
    w_photometric: float = 1.0


#: Per-expression prior multipliers for ICT-FaceKit's ARKit shapes: favour jawOpen for mouth opening over
#: the lip shapes that can mimic it (lip aperture is then carried by jawOpen, as animation rigs expect), and
#: eyeBlink for closing eyelids over the gaze shapes that also lower the lids (eyeLookDown/Up: the landmark fit
#: does not see the gaze; without this a synthetic full blink was fitted as ~0.7 eyeBlink + eyeLookDown).
ICT_EXPRESSION_PRIOR_SCALE = {
    "jawOpen": 0.3, "mouthClose": 5.0, "mouthFunnel": 3.0, "mouthPucker": 3.0, "mouthRollLower": 3.0,
    "mouthRollUpper": 3.0, "mouthLowerDown_L": 3.0, "mouthLowerDown_R": 3.0, "mouthUpperUp_L": 3.0,
    "mouthUpperUp_R": 3.0, "eyeBlink_L": 0.3, "eyeBlink_R": 0.3, "eyeLookDown_L": 3.0, "eyeLookDown_R": 3.0,
    "eyeLookUp_L": 3.0, "eyeLookUp_R": 3.0,
}
#: The multipliers above that belong to the eye-closure term (``FitConfig.w_eye_closure``): they let its blinks be
#: explained by eyeBlink, and apply only where the term acts (not to a single frame in relative mode, a photo: a
#: photo's fit keeps the priors it had before the term; with them the talking-head bench's lip r fell on two of
#: its three frontal photos, 0.90 -> 0.84 and 0.82 -> 0.72, a side effect the term was not made for).
EYE_CLOSURE_PRIORS = ("eyeBlink_L", "eyeBlink_R", "eyeLookDown_L", "eyeLookDown_R", "eyeLookUp_L", "eyeLookUp_R")


#: Gain on MediaPipe's eyelid closing (``FitConfig.eye_closure_gain``): MediaPipe reads a visibly shut eye as only
#: 30-45 % narrower than an open one (GRID clips), while the ICT lid points close ~80 % at eyeBlink 1. Gain 2 vs 1
#: was decided on avatar validation frames 10-29 (bench/results/fit_eyes.md).
MEDIAPIPE_EYE_CLOSURE_GAIN = 2.0


def config_for_model(model, **overrides) -> "FitConfig":
    """Default FitConfig for a head model fitted to MediaPipe landmarks: ICT gets [0,1] expression bounds and its
    prior multipliers; other models (FLAME: unbounded PCA expression) get no bounds; every model gets
    MediaPipe's eye-closure gain. ``overrides`` set FitConfig fields."""
    names = tuple(getattr(model, "expression_names", ()) or ())
    if getattr(model, "model_name", "") == "ict":
        kw = dict(expression_bounds=(0.0, 1.0), expression_names=names,
                  expression_prior_scale=dict(ICT_EXPRESSION_PRIOR_SCALE))
    else:
        kw = dict(expression_bounds=None, expression_names=names, w_expression=0.05, w_expression_l1=0.0)
    kw["eye_closure_gain"] = MEDIAPIPE_EYE_CLOSURE_GAIN
    kw.update(overrides)
    return FitConfig(**kw)


@dataclass
class Observations:
    """Fitting targets for V views and T time steps (pixels in each view's undistorted image).

    lm468 (V,T,468,2) or None; lm468_z (V,T,468) MediaPipe relative depth in px (for the rigid init) or
    None; lm68 (V,T,68,2); conf68 (V,T,68) or None (1); valid (V,T) bool (face found);
    K (V,3,3); R_cam (V,3,3), t_cam (V,3) world-to-camera; init_rotation (T,3,3) / init_translation (T,3)
    (world frame, optional, e.g. from pose.json).
    """

    lm68: Tensor
    valid: Tensor
    K: Tensor
    R_cam: Tensor
    t_cam: Tensor
    lm468: Tensor | None = None
    lm468_z: Tensor | None = None
    conf68: Tensor | None = None
    init_rotation: Tensor | None = None
    init_translation: Tensor | None = None

    @property
    def n_views(self) -> int:
        return self.lm68.shape[0]

    @property
    def n_frames(self) -> int:
        return self.lm68.shape[1]

    @staticmethod
    def monocular(lm68, K, lm468=None, lm468_z=None, conf68=None, valid=None, init_rotation=None,
                  init_translation=None, device="cpu", dtype=torch.float32) -> "Observations":
        """Single view: lm68 (T,68,2), K (3,3), lm468 (T,468,2), lm468_z (T,468), conf68 (T,68), valid (T,);
        numpy or torch; camera frame = world frame."""
        def t(x, dt=dtype):  # numpy or torch (any device) -> tensor on ``device``
            if x is None:
                return None
            return x.to(device=device, dtype=dt) if torch.is_tensor(x) else torch.as_tensor(np.asarray(x), dtype=dt,
                                                                                          device=device)
        f = lambda x: None if x is None else t(x)[None]
        lm68_t = f(lm68)
        if valid is None:
            valid = torch.isfinite(lm68_t[0]).all(-1).all(-1)
        return Observations(
            lm68=lm68_t, valid=t(valid, torch.bool)[None],
            K=f(K), R_cam=torch.eye(3, dtype=dtype, device=device)[None], t_cam=torch.zeros(1, 3, dtype=dtype, device=device),
            lm468=f(lm468), lm468_z=f(lm468_z), conf68=f(conf68),
            init_rotation=t(init_rotation), init_translation=t(init_translation))


@dataclass
class FitResult:
    """Solution. shape (S,); expression (T,E); extra {name: (T,...)}; rotation (T,3,3), translation (T,3)
    world frame; focal_scale float; K (V,3,3) after focal scaling; landmarks68_2d (V,T,68,2) (the MediaPipe
    subset of the fitted 468 embedding when the model has one, else the model's own 68) and
    landmarks468_2d (V,T,468,2)|None fitted projections; landmarks68_3d (T,68,3) world frame;
    valid (T,) (any view saw the face); seconds: optimisation wall time; history: loss per step."""

    shape: Tensor
    expression: Tensor
    extra: dict
    rotation: Tensor
    translation: Tensor
    focal_scale: float
    K: Tensor
    landmarks68_2d: Tensor
    landmarks468_2d: Tensor | None
    landmarks68_3d: Tensor
    valid: np.ndarray
    seconds: float
    history: list = field(default_factory=list)


def rigid_init_from_landmarks(model_pts: Tensor, pix: Tensor, z: Tensor | None, K: Tensor,
                              w: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-frame rigid pose (camera frame) from 2D landmarks lifted with a relative depth.

    model_pts (N,3) model-frame landmarks (metres); pix (B,N,2) pixels (NaN = missing); z (B,N) relative
    depth in pixel units (MediaPipe's z; larger = farther) or None (planar lift); K (3,3).
    A weak-perspective similarity Procrustes (Umeyama) of the model points to (u, v, z) gives the
    rotation and the scale s (px per metre) -> depth f / s. Returns R (B,3,3), t (B,3).
    """
    B, N = pix.shape[:2]
    ok = torch.isfinite(pix).all(-1) & torch.isfinite(model_pts).all(-1)[None]
    model_pts = torch.nan_to_num(model_pts)
    if w is None:
        w = torch.ones(B, N, dtype=pix.dtype, device=pix.device)
    w = w * ok
    zz = torch.zeros_like(pix[..., 0]) if z is None else torch.nan_to_num(z)
    dst = torch.cat([torch.nan_to_num(pix), zz[..., None]], -1)
    src = model_pts[None].expand(B, N, 3)
    s, R, t = umeyama(src, dst, w)
    if z is None:  # planar lift: a near-frontal guess is more reliable than the degenerate Procrustes rotation
        R = torch.as_tensor(HEAD_TO_OPENCV, dtype=pix.dtype, device=pix.device).expand(B, 3, 3).clone()
    f = 0.5 * (K[0, 0] + K[1, 1])
    depth = f / s.clamp_min(1e-6)
    u, v = t[:, 0], t[:, 1]  # image position of the model origin
    tc = torch.stack([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], -1)
    return R, tc


def _iod_px(lm68: Tensor, lm468: Tensor | None = None) -> Tensor:
    """(V,T) inter-ocular distance in px of the targets (the energy's unit); where the eye corners are
    missing, 0.4 x the larger side of the box of the finite targets (about the IOD of a face)."""
    d = lm68[..., 36, :] - lm68[..., 45, :]
    iod = torch.sqrt((d * d).sum(-1))
    pts = torch.cat([lm68, lm468], -2) if lm468 is not None else lm68
    ok = torch.isfinite(pts).all(-1, keepdim=True)
    big = torch.where(ok, pts, torch.full_like(pts, float("inf")))
    small = torch.where(ok, pts, torch.full_like(pts, float("-inf")))
    ext = (small.amax(-2) - big.amin(-2)).amax(-1)
    alt = torch.where(torch.isfinite(ext), 0.4 * ext, torch.ones_like(ext))
    return torch.where(torch.isfinite(iod) & (iod > 1.0), iod, alt).clamp_min(1.0)


def eyelid_apertures(pts: Tensor, pairs) -> Tensor:
    """Distances between upper and lower eyelid points. pts (..., N, 2) pixels (NaN = missing); pairs: P (upper,
    lower) indices into N (``EYELID_PAIRS_468`` / ``EYELID_PAIRS_68``) -> (..., P) pixels (NaN where missing)."""
    idx = torch.as_tensor(pairs, device=pts.device)
    d = pts[..., idx[:, 0], :] - pts[..., idx[:, 1], :]
    return torch.sqrt((d * d).sum(-1) + 1e-12)


def eye_closure_energy(pred_ap: Tensor, target_ap: Tensor, weight: Tensor, norm_px: Tensor,
                       relative: bool = False, closure_gain: float = 1.0) -> Tensor:
    """Eye-closure (blink) term, as face trackers use it (metrical-tracker / VHAP): the fitted eyelid apertures
    should follow the detected ones, so a blink closes the model's eyes even though the lid points are a tiny
    share of the landmark energy.

    pred_ap, target_ap: (V,T,P) upper-to-lower lid distances in pixels (:func:`eyelid_apertures`; NaN targets are
    ignored); weight (V,T,P) >= 0 (frame validity); norm_px (V,T) inter-ocular distance in pixels. Residuals are
    in % IOD, like the landmark term. relative: compare each lid pair's aperture minus its weighted mean over the
    frames (per view), i.e. the opening and closing, leaving the rest aperture (which depends on the shared
    identity and on how a detector places lid points) to the landmark term. closure_gain (relative only): the
    target's closing below its rest aperture (median over the frames) is multiplied by this factor before the
    comparison (MediaPipe reads a fully closed eye as only ~35-40 % narrower than an open one). Returns a scalar:
    the weighted mean squared residual.
    """
    w = weight * torch.isfinite(target_ap)
    s = (0.01 * norm_px.clamp_min(1e-6))[..., None]
    a, b = pred_ap / s, torch.nan_to_num(target_ap) / s
    if relative:
        if closure_gain != 1.0:
            rest = torch.nan_to_num(torch.where(w > 0, b, torch.full_like(b, float("nan"))).nanmedian(-2, keepdim=True)[0])
            b = torch.where(b < rest, rest + closure_gain * (b - rest), b)
        W = w.sum(-2, keepdim=True).clamp_min(1e-8)
        a = a - (w * a).sum(-2, keepdim=True) / W
        b = b - (w * b).sum(-2, keepdim=True) / W
    r = a - b
    return (w * r * r).sum() / w.sum().clamp_min(1e-8)


def fit_landmarks(lmfun, obs: Observations, config: FitConfig | None = None, progress=None,
                  init: FitResult | None = None) -> FitResult:
    """Fit ``lmfun`` (a ``basis.LinearLandmarks`` / ``ForwardLandmarks``) to ``obs``. See module doc.

    progress: optional callable(done, total, desc). init: a previous FitResult to start from (all
    parameters; the rigid stage is then skipped), e.g. for a photometric refinement.
    Returns a FitResult on the observations' device. Raises ValueError when no frame has a face.
    """
    cfg = config or FitConfig()
    if obs.lm68.device.type == "cpu" and cfg.cpu_threads:
        old = torch.get_num_threads()
        torch.set_num_threads(int(cfg.cpu_threads))
        try:
            return _fit_landmarks(lmfun, obs, cfg, progress, init)
        finally:
            torch.set_num_threads(old)
    return _fit_landmarks(lmfun, obs, cfg, progress, init)


def _fit_landmarks(lmfun, obs: Observations, cfg: FitConfig, progress=None, init=None) -> FitResult:
    t0 = time.perf_counter()
    dev, dt = obs.lm68.device, obs.lm68.dtype
    V, T = obs.n_views, obs.n_frames
    valid_vt = obs.valid.to(dev)
    valid_t = valid_vt.any(0).cpu().numpy()
    if not valid_t.any():
        raise ValueError("no face found in any frame")
    S, E = lmfun.n_shape, lmfun.n_expression

    # ---- weights ----------------------------------------------------------------------------
    iod = _iod_px(obs.lm68, obs.lm468)                                                  # (V,T)
    vw = valid_vt.to(dt)

    # ---- rigid init ----------------------------------------------------------------------------
    with torch.no_grad():
        neutral = lmfun(torch.zeros(1, S, dtype=dt, device=dev) if S else None,
                        torch.zeros(1, E, dtype=dt, device=dev) if E else None,
                        **{k: torch.zeros((1,) + tuple(s), dtype=dt, device=dev) for k, s in lmfun.extra_params.items()})
        if init is not None:
            R0, t0w = init.rotation.to(dev, dt), init.translation.to(dev, dt)
        elif obs.init_rotation is not None and obs.init_translation is not None:
            R0, t0w = obs.init_rotation.to(dev, dt), obs.init_translation.to(dev, dt)
        else:
            use468 = obs.lm468 is not None and neutral.lm468 is not None
            mp = neutral.lm468[0] if use468 else neutral.lm68[0]
            pix = obs.lm468 if use468 else obs.lm68
            z = obs.lm468_z if use468 else None
            wi = None
            if not use468:   # 68 only: leave out the jaw contour, which MediaPipe's 68 follow loosely
                wi = torch.ones(V, T, 68, dtype=dt, device=dev)
                wi[..., JAW_CONTOUR] = 0.0
            # per view, then take for each frame the first view that saw the face
            Rs, ts = [], []
            for v in range(V):  # loop over views (few), not frames
                Rc, tc = rigid_init_from_landmarks(mp, pix[v], None if z is None else z[v], obs.K[v],
                                                   None if wi is None else wi[v])
                Rs.append(obs.R_cam[v].T @ Rc)
                ts.append(((tc - obs.t_cam[v]) @ obs.R_cam[v]))
            Rs, ts = torch.stack(Rs), torch.stack(ts)                           # (V,T,...)
            first = valid_vt.to(torch.int64).argmax(0)                           # (T,)
            ar = torch.arange(T, device=dev)
            R0, t0w = Rs[first, ar], ts[first, ar]
        R0 = interpolate_rotations(R0, valid_t)
        t0w = interpolate_linear(t0w, valid_t)

    # ---- parameters -----------------------------------------------------------------------------
    rot6 = matrix_to_rotation_6d(R0).clone().requires_grad_(True)
    trans = t0w.clone().requires_grad_(True)
    shape = torch.zeros(S, dtype=dt, device=dev, requires_grad=True)
    lo_hi = cfg.expression_bounds
    expr = torch.zeros(T, E, dtype=dt, device=dev, requires_grad=True)
    extra = {k: torch.zeros((T,) + tuple(s), dtype=dt, device=dev, requires_grad=True) for k, s in lmfun.extra_params.items()}
    if init is not None:
        with torch.no_grad():
            shape.copy_(init.shape.to(dev, dt))
            expr.copy_(init.expression.to(dev, dt))
            for k in extra:
                extra[k].copy_(init.extra[k].to(dev, dt))
    log_f = torch.zeros((), dtype=dt, device=dev, requires_grad=True)
    if init is not None and init.focal_scale != 1.0:
        with torch.no_grad():
            log_f.fill_(float(np.log(init.focal_scale)))

    # ---- targets and weights (static: NaNs folded into zero weights once) ------------------------------
    # With a 468-point embedding the 68 iBUG targets are the MediaPipe subset MEDIAPIPE_TO_IBUG68, so they
    # are fitted through the same 468 model points (an extra, confidence-weighted emphasis on that subset,
    # jaw contour down-weighted); otherwise the model's own 68 landmarks are fitted.
    ib = torch.ones(68, dtype=dt, device=dev)
    ib[JAW_CONTOUR] = cfg.jaw_weight
    ib[LIPS] = cfg.lip_weight
    ib = ib * vw[..., None]                                                     # (V,T,68)
    if obs.conf68 is not None:
        ib = ib * torch.nan_to_num(obs.conf68).clamp(0, 1)
    use468 = obs.lm468 is not None and neutral.lm468 is not None and cfg.w_lmk468 > 0
    mp68 = torch.as_tensor(MEDIAPIPE_TO_IBUG68, device=dev)
    if use468:
        tgt = obs.lm468
        w_lmk = cfg.w_lmk468 * vw[..., None].expand(V, T, 468).clone()
        w_lmk[..., mp68] += cfg.w_lmk68 * (468.0 / 68.0) * ib
        pred_ok = torch.isfinite(neutral.lm468[0]).all(-1)
    else:
        tgt = obs.lm68
        w_lmk = ib
        pred_ok = torch.isfinite(neutral.lm68[0]).all(-1)
    w_lmk = w_lmk * torch.isfinite(tgt).all(-1) * pred_ok
    w_lmk = w_lmk / w_lmk.sum().clamp_min(1e-8)
    pairs = EYELID_PAIRS_468 if use468 else EYELID_PAIRS_68
    eye_tgt = eyelid_apertures(tgt, pairs)                                      # (V,T,P) px, NaN where missing
    eye_ok = torch.isfinite(eyelid_apertures((neutral.lm468 if use468 else neutral.lm68)[0, :, :2], pairs))
    eye_w = vw[..., None] * eye_ok * torch.isfinite(eye_tgt)
    tgt = torch.nan_to_num(tgt)
    inv_norm = (1.0 / (0.01 * iod))[..., None, None]                           # (V,T,1,1) -> residual in % IOD

    # the eye-closure term compares apertures with their per-clip mean in relative mode, so it has nothing to say
    # about a single frame (a photo); the eyelid prior multipliers that come with it apply only where it acts
    eye_term = bool(cfg.w_eye_closure) and (T > 1 or not cfg.eye_closure_relative)
    prior_w = torch.ones(E, dtype=dt, device=dev)
    for name, mult in (cfg.expression_prior_scale or {}).items():
        if name in cfg.expression_names and (eye_term or name not in EYE_CLOSURE_PRIORS):
            prior_w[list(cfg.expression_names).index(name)] = float(mult)

    def project(pts: Tensor, R: Tensor, t: Tensor, K: Tensor) -> Tensor:
        # pts (T,N,3) model frame -> (V,T,N,2) pixels; head pose and camera extrinsics folded into one transform
        Rv = obs.R_cam[:, None] @ R[None]                                       # (V,T,3,3)
        tv = (obs.R_cam[:, None] @ t[None, :, :, None])[..., 0] + obs.t_cam[:, None]   # (V,T,3)
        Xc = pts[None] @ Rv.transpose(-1, -2) + tv[:, :, None]
        return project_points(Xc, K[:, None])

    def current_K() -> Tensor:
        if not cfg.optimize_focal:
            return obs.K
        sc = torch.exp(log_f)
        Ks = obs.K.clone()
        Ks[:, 0, 0] = obs.K[:, 0, 0] * sc
        Ks[:, 1, 1] = obs.K[:, 1, 1] * sc
        return Ks

    def data_energy(rigid: bool, scale: float):
        R = rotation_6d_to_matrix(rot6)
        lms = lmfun(shape[None] if S else None, expr if E else None, **extra) if not rigid else \
            _broadcast(neutral, T)
        pts = torch.nan_to_num(lms.lm468 if use468 else lms.lm68)
        p = project(pts, R, trans, current_K())
        d = (p - tgt) * inv_norm
        e = (w_lmk * energy.robust((d * d).sum(-1), cfg.robust, scale)).sum()
        if not rigid and eye_term:
            e = e + cfg.w_eye_closure * eye_closure_energy(eyelid_apertures(p, pairs), eye_tgt, eye_w, iod,
                                                           cfg.eye_closure_relative, cfg.eye_closure_gain)
        return e, R, lms

    def smooth_energy(R):
        wf = cfg.w_smooth_first
        e = energy.smoothness(R.reshape(T, 9), wf * cfg.w_smooth_rotation, cfg.w_smooth_rotation)
        e = e + energy.smoothness(trans, wf * cfg.w_smooth_translation, cfg.w_smooth_translation)
        return e

    history = []
    n_total = cfg.iters_rigid + cfg.iters_full
    # ---- stage 1: rigid ---------------------------------------------------------------------------
    rigid_params = [{"params": [rot6], "lr": cfg.lr_rotation}, {"params": [trans], "lr": cfg.lr_translation}]
    opt = torch.optim.Adam(rigid_params)
    for it in range(cfg.iters_rigid if init is None else 0):
        opt.zero_grad(set_to_none=True)
        e, R, _ = data_energy(True, cfg.robust_scale_rigid)
        loss = e + smooth_energy(R)
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
        if progress is not None and it % 20 == 0:
            progress(it, n_total, "fit: rigid")

    # ---- stage 2: everything ----------------------------------------------------------------------
    groups = [{"params": [rot6], "lr": cfg.lr_rotation * 0.5}, {"params": [trans], "lr": cfg.lr_translation * 0.5}]
    if S:
        groups.append({"params": [shape], "lr": cfg.lr_shape})
    if E:
        groups.append({"params": [expr], "lr": cfg.lr_expression})
    if extra:
        groups.append({"params": list(extra.values()), "lr": cfg.lr_extra})
    if cfg.optimize_focal:
        groups.append({"params": [log_f], "lr": cfg.lr_focal})
    opt = torch.optim.Adam(groups)
    base_lrs = [g["lr"] for g in opt.param_groups]
    for it in range(cfg.iters_full):
        frac = it / max(1, cfg.iters_full - 1)
        for g, lr in zip(opt.param_groups, base_lrs):
            g["lr"] = lr * (1 - (1 - cfg.lr_final_fraction) * frac)
        opt.zero_grad(set_to_none=True)
        e, R, lms = data_energy(False, cfg.robust_scale)
        loss = e + smooth_energy(R)
        if S:
            loss = loss + cfg.w_shape * (shape * shape).sum()
        if E:
            loss = loss + cfg.w_expression * energy.l2_prior(expr, prior_w)
            if lo_hi is not None and lo_hi[0] >= 0 and cfg.w_expression_l1:
                loss = loss + cfg.w_expression_l1 * (expr * prior_w).sum(-1).mean()
            loss = loss + energy.smoothness(expr, cfg.w_smooth_first * cfg.w_smooth_expression, cfg.w_smooth_expression)
        for k, x in extra.items():
            loss = loss + cfg.w_extra * energy.l2_prior(x.reshape(T, -1))
            loss = loss + energy.smoothness(x, cfg.w_smooth_first * cfg.w_smooth_expression, cfg.w_smooth_expression)
        if cfg.photometric is not None:
            loss = loss + cfg.w_photometric * cfg.photometric(
                dict(shape=shape, expression=expr, rotation=R, translation=trans, K=current_K(), extra=extra))
        loss.backward()
        opt.step()
        if lo_hi is not None and E:
            with torch.no_grad():
                expr.clamp_(lo_hi[0], lo_hi[1])
        history.append(float(loss.detach()))
        if progress is not None and it % 20 == 0:
            progress(cfg.iters_rigid + it, n_total, "fit: full")

    # ---- final evaluation, interpolation of lost frames --------------------------------------------
    with torch.no_grad():
        R = rotation_6d_to_matrix(rot6)
        expr_f = expr.detach().clone()
        trans_f = trans.detach().clone()
        extra_f = {k: x.detach().clone() for k, x in extra.items()}
        if not valid_t.all():
            R = interpolate_rotations(R, valid_t)
            trans_f = interpolate_linear(trans_f, valid_t)
            if E:
                expr_f = interpolate_linear(expr_f, valid_t)
            extra_f = {k: interpolate_linear(x, valid_t) for k, x in extra_f.items()}
        lms = lmfun(shape[None] if S else None, expr_f if E else None, **extra_f)
        K = current_K()
        p68 = project(lms.lm68, R, trans_f, K)
        p468 = project(lms.lm468, R, trans_f, K) if lms.lm468 is not None else None
        if use468:  # report the 68 points with the detector's semantics (MediaPipe subset) where available
            pm = p468[..., mp68, :]
            p68 = torch.where(torch.isfinite(pm), pm, p68)
        l3d = lms.lm68 @ R.transpose(-1, -2) + trans_f[:, None]
    if progress is not None:
        progress(n_total, n_total, "fit")
    return FitResult(shape=shape.detach(), expression=expr_f, extra=extra_f, rotation=R, translation=trans_f,
                     focal_scale=float(torch.exp(log_f)) if cfg.optimize_focal else 1.0, K=K.detach(),
                     landmarks68_2d=p68, landmarks468_2d=p468, landmarks68_3d=l3d, valid=valid_t,
                     seconds=time.perf_counter() - t0, history=history)


def _broadcast(ls, T):
    from headgen.stages.fit.basis import LandmarkSet
    return LandmarkSet(ls.lm68.expand(T, -1, -1), None if ls.lm468 is None else ls.lm468.expand(T, -1, -1))
