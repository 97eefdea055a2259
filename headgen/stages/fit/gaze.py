"""Eye gaze: per-frame eyeball rotations fitted to MediaPipe's iris centres, after the head fit.

The head fit fixes shape, expression and rigid pose; this solves the ``eyes`` input of the head model,
(T, 2, 3) axis-angle [subject's left (+x), right], one batched problem over all frames:

    sum_t,e  huber(|proj(pupil_e(t)) - iris_e(t)|^2 / d_t^2)          iris centres, d_t = inter-ocular px
    + w_conjugate |angles_left - angles_right|^2                          the eyes move together
    + smoothness over time + a small L2 prior towards looking straight ahead

Each eye rotates about its own centre (pitch about x, yaw about y; no torsion). The pupil is the
frontmost vertex (largest model-frame z at rest) of each eyeball mesh: ICT-FaceKit's eyeball
components, or the vertices FLAME skins to its eye joints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from headgen.geometry.camera import project_points
from headgen.geometry.rotations import axis_angle_to_matrix
from headgen.models import energy
from headgen.models.sequence import frame_inputs


@dataclass
class EyeRig:
    """model: a head model whose vertices include both eyeballs; pupil_ids (2,) int64: frontmost vertex
    of the [left (+x), right] eyeball in that model; is_fit_model: it is the fitted model itself (then
    the fit's extra per-frame inputs, e.g. FLAME's jaw, are passed to it)."""
    model: torch.nn.Module
    pupil_ids: torch.Tensor
    is_fit_model: bool = False


def eye_rig(model) -> EyeRig | None:
    """The eye rig of a fitted head model (ICT-FaceKit or FLAME), or None when it has no eyes."""
    if not getattr(model, "has_eyes", False):
        return None
    if getattr(model, "model_name", "") == "ict":
        from headgen.models.ict import ICTFaceKit
        rig = ICTFaceKit(parts=["face", "eyeball_left", "eyeball_right"], path=getattr(model, "path", None),
                         dtype=model.dtype, device=model.device)
        regions = rig.regions
        sets = [regions["eyeball_left"], regions["eyeball_right"]]
    else:
        w = getattr(model, "lbs_weights_t", None)     # (J, V); FLAME joints 3, 4 = left, right eye
        if w is None or w.shape[0] < 5:
            return None
        owner = w.argmax(0)
        sets = [torch.nonzero(owner == 3).flatten(), torch.nonzero(owner == 4).flatten()]
        if any(len(s) == 0 for s in sets):
            return None
        rig = model
    with torch.no_grad():
        v = rig().vertices[0]
    ids = [int(s[torch.argmax(v[s, 2])]) for s in sets]
    return EyeRig(rig, torch.as_tensor(ids, dtype=torch.long, device=v.device), is_fit_model=rig is model)


def _eyes_from_angles(angles: torch.Tensor) -> torch.Tensor:
    """(T, 2, 2) [pitch, yaw] rad -> (T, 2, 3) axis-angle (no torsion)."""
    return torch.cat([angles, torch.zeros_like(angles[..., :1])], -1)


@torch.no_grad()
def eye_geometry(rig: EyeRig, res, probe: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Model-frame rest pupils p0 (T, 2, 3) and eye rotation centres c (T, 2, 3) (metres) for the shape,
    expression (and extra inputs) of a FitResult: a rotated pupil is ``c + R(eyes) (p0 - c)``. The centre
    is the fixed point of two probe rotations (yaw and pitch by ``probe`` rad), solved by least squares,
    so it holds for either model's way of rotating the eyes (ICT: about each eyeball's centre; FLAME:
    about its eye joints)."""
    T = res.rotation.shape[0]
    kw = frame_inputs(res.shape, res.expression, res.extra if rig.is_fit_model else {})
    dt, dev = res.rotation.dtype, res.rotation.device
    pts = []
    eyes = torch.zeros(3, T, 2, 3, dtype=dt, device=dev)
    eyes[1, ..., 1] = probe
    eyes[2, ..., 0] = probe
    for e in eyes:
        pts.append(rig.model(eyes=e, **kw).vertices[:, rig.pupil_ids].to(dt))
    p0, p_yaw, p_pitch = pts
    A, b = [], []
    for e, p in ((eyes[1], p_yaw), (eyes[2], p_pitch)):
        R = axis_angle_to_matrix(e)                                            # (T, 2, 3, 3)
        A.append(torch.eye(3, dtype=dt, device=dev) - R)                      # (I - R) c = p - R p0
        b.append(p - (R @ p0[..., None])[..., 0])
    A = torch.cat(A, -2)                                                       # (T, 2, 6, 3)
    b = torch.cat(b, -1)[..., None]                                            # (T, 2, 6, 1)
    c = torch.linalg.lstsq(A, b).solution[..., 0]
    return p0, c


def pupils_2d(rig: EyeRig, res, eyes: torch.Tensor, K: torch.Tensor, R_cam: torch.Tensor,
              t_cam: torch.Tensor, geometry=None) -> torch.Tensor:
    """Projected pupils (T, 2, 2) px of a FitResult ``res`` with eye rotations ``eyes`` (T, 2, 3), in a
    camera with intrinsics K (3, 3) and world-to-camera R_cam (3, 3), t_cam (3,). geometry: the
    :func:`eye_geometry` of ``res`` (computed when None)."""
    p0, c = eye_geometry(rig, res) if geometry is None else geometry
    P = c + (axis_angle_to_matrix(eyes) @ (p0 - c)[..., None])[..., 0]      # (T, 2, 3) model frame
    X = P @ res.rotation.transpose(-1, -2) + res.translation[:, None]         # world
    return project_points(X @ R_cam.T + t_cam, K)


@dataclass
class GazeConfig:
    """Weights and schedule of the gaze problem (see the module doc). Residuals are in percent of the
    inter-ocular distance; angles in radians."""
    iters: int = 200
    lr: float = 0.02
    robust_scale: float = 5.0          # Huber delta, % inter-ocular distance
    w_conjugate: float = 1000.0
    w_smooth: float = 10.0
    w_prior: float = 1.0
    max_angle: float = 0.8             # clamp, rad (about 46 degrees)


def fit_gaze(rig: EyeRig, res, iris_px, K, R_cam=None, t_cam=None, cfg: GazeConfig | None = None):
    """Fit eye rotations to iris centres.

    rig: :func:`eye_rig`; res: the head FitResult (shape, expression, rotation, translation, extra);
    iris_px (T, 2, 2) px [left (+x), right], NaN where not detected; K (3, 3); R_cam, t_cam: the
    world-to-camera pose of that view (default identity). Returns (eyes (T, 2, 3) axis-angle rad,
    error (T, 2) px reprojection error of the pupils, NaN where no iris was seen).
    """
    cfg = cfg or GazeConfig()
    dev, dt = res.rotation.device, res.rotation.dtype
    iris = torch.as_tensor(np.asarray(iris_px, np.float32), device=dev, dtype=dt)
    T = res.rotation.shape[0]
    if iris.shape != (T, 2, 2):
        raise ValueError(f"iris_px: expected ({T}, 2, 2), got {tuple(iris.shape)}")
    K = torch.as_tensor(K, device=dev, dtype=dt)
    R_cam = torch.eye(3, device=dev, dtype=dt) if R_cam is None else torch.as_tensor(R_cam, device=dev, dtype=dt)
    t_cam = torch.zeros(3, device=dev, dtype=dt) if t_cam is None else torch.as_tensor(t_cam, device=dev, dtype=dt)
    seen = torch.isfinite(iris).all(-1)                                   # (T, 2)
    target = torch.where(seen[..., None], iris, torch.zeros_like(iris))
    both = seen.all(-1)
    io = (target[:, 0] - target[:, 1]).norm(dim=-1)
    io_default = float(io[both].median()) if bool(both.any()) else 1.0
    unit = torch.where(both, io, torch.full_like(io, io_default)).clamp_min(1e-6) / 100.0   # px per % io
    angles = torch.zeros(T, 2, 2, device=dev, dtype=dt, requires_grad=True)
    if not bool(seen.any()):
        return _eyes_from_angles(angles.detach()), torch.full((T, 2), float("nan"), device=dev)
    geom = eye_geometry(rig, res)
    opt = torch.optim.Adam([angles], lr=cfg.lr)
    w = seen.to(dt)
    for it in range(cfg.iters):
        for g in opt.param_groups:
            g["lr"] = cfg.lr * (1.0 - 0.9 * it / max(1, cfg.iters - 1))
        opt.zero_grad(set_to_none=True)
        uv = pupils_2d(rig, res, _eyes_from_angles(angles), K, R_cam, t_cam, geometry=geom)
        r2 = (((uv - target) / unit[:, None, None]) ** 2).sum(-1)
        loss = (w * energy.huber(r2, cfg.robust_scale)).sum() / w.sum().clamp_min(1.0)
        loss = loss + cfg.w_conjugate * ((angles[:, 0] - angles[:, 1]) ** 2).sum(-1).mean()
        loss = loss + cfg.w_prior * (angles ** 2).sum((-1, -2)).mean()
        if T > 2:
            loss = loss + energy.smoothness(angles.reshape(T, -1), 0.0, cfg.w_smooth)
        loss.backward()
        opt.step()
        with torch.no_grad():
            angles.clamp_(-cfg.max_angle, cfg.max_angle)
    with torch.no_grad():
        eyes = _eyes_from_angles(angles.detach())
        err = (pupils_2d(rig, res, eyes, K, R_cam, t_cam, geometry=geom) - target).norm(dim=-1)
        err = torch.where(seen, err, torch.full_like(err, float("nan")))
    return eyes, err


def gaze_directions(rig: EyeRig, res, eyes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World-frame eye centres (T, 2, 3) and unit gaze directions (T, 2, 3) (centre -> pupil) of a
    FitResult with eye rotations ``eyes`` (T, 2, 3)."""
    with torch.no_grad():
        p0, c = eye_geometry(rig, res)
        d = (axis_angle_to_matrix(eyes) @ (p0 - c)[..., None])[..., 0]
        to_world = lambda x: x @ res.rotation.transpose(-1, -2)
        return to_world(c) + res.translation[:, None], torch.nn.functional.normalize(to_world(d), dim=-1)
