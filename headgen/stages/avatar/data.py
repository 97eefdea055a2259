"""Training data of the avatar stage: frames, the fit as tensors, person masks, a static background, the
crop around the head, MediaPipe landmarks of every frame (for the evaluation boxes and the retrieval baseline)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from headgen.errors import InputError
from headgen.io.media import media_kind


def parse_holdout(text: str | None) -> tuple[int, int] | None:
    """"START:END" (END exclusive) -> (start, end); None/"" -> None. InputError on bad syntax."""
    if text is None or str(text).strip() == "":
        return None
    try:
        a, b = str(text).split(":")
        s, e = int(a), int(b)
    except ValueError:
        raise InputError(f"--holdout {text!r}: expected START:END frame numbers (END exclusive), e.g. 35:55") from None
    if s < 0 or e <= s:
        raise InputError(f"--holdout {text!r}: need 0 <= START < END")
    return s, e


def read_media(path: str | Path) -> tuple[np.ndarray, float, bool]:
    """A video or a photo -> (frames (T,H,W,3) uint8 RGB, fps (0 for a photo), is_video)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if media_kind(path) == "video":
        from headgen.io.video import read_video
        frames, fps = read_video(path)
        if len(frames) == 0:
            raise InputError(f"{path}: the video has no frames")
        return frames, float(fps), True
    from headgen.io.images import read_image
    return read_image(path)[None], 0.0, False


@dataclass
class Clip:
    """Frames and fitted parameters of one input (T frames of H x W)."""
    frames: np.ndarray            # (T,H,W,3) uint8
    fps: float
    is_video: bool
    fit: object                   # FitArtifact
    params: dict                  # fit tensors: shape, expression, rotation, translation, extra
    K: torch.Tensor               # (3,3)
    valid: np.ndarray             # (T,) bool
    train_ids: np.ndarray         # frames trained on
    eval_ids: np.ndarray          # held-out frames evaluated

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[2]), int(self.frames.shape[1])


def load_clip(media: str | Path, fit_path: str | Path, holdout: tuple[int, int] | None, device,
              one_shot: bool = False, exclude: tuple[int, int] | None = None) -> Clip:
    """Read the media and its fit, check they match, split the frames.

    holdout (start, end): frames evaluated, never trained on. one_shot: train on the first valid frame
    outside the hold-out only. exclude (start, end): frames neither trained on nor evaluated (validation runs that
    keep a test chunk unseen). InputError when the fit does not match the media or too few frames remain."""
    from headgen.artifacts.fit import read_fit
    from headgen.models.sequence import fit_tensors

    frames, fps, is_video = read_media(media)
    fit = read_fit(fit_path)
    T, H, W = frames.shape[:3]
    if fit.n_frames != T:
        raise InputError(f"{fit_path}: the fit has {fit.n_frames} frames, {Path(media).name} has {T}")
    if tuple(int(v) for v in fit.image_size) != (W, H):
        raise InputError(f"{fit_path}: the fit is for {fit.image_size[0]}x{fit.image_size[1]} images, "
                         f"{Path(media).name} is {W}x{H}")
    if getattr(fit, "camera_names", None):
        raise InputError(f"{fit_path}: multi-view fits are not supported by the avatar stage yet")
    valid = np.ones(T, bool) if fit.valid is None else np.asarray(fit.valid, bool)
    ids = np.arange(T)
    held = np.zeros(T, bool)
    if holdout is not None:
        if holdout[0] >= T:
            raise InputError(f"--holdout {holdout[0]}:{holdout[1]}: {Path(media).name} has only {T} frames")
        held[holdout[0]:holdout[1]] = True
    skip = np.zeros(T, bool)
    if exclude is not None:
        skip[exclude[0]:exclude[1]] = True
    train = ids[valid & ~held & ~skip]
    if one_shot:
        train = train[:1]
    need = 1 if (one_shot or not is_video) else 3
    if len(train) < need:
        raise InputError(f"{media}: only {len(train)} valid frame(s) with a face to train on (need {need})")
    p = fit_tensors(fit, device=device)
    return Clip(frames=frames, fps=fps, is_video=is_video, fit=fit, params=p,
                K=torch.as_tensor(np.asarray(fit.K), dtype=torch.float32, device=device), valid=valid,
                train_ids=train, eval_ids=ids[held])


def model_inputs(params: dict, index, deltas: dict | None = None) -> dict:
    """Head-model keyword inputs of the frames ``index`` (LongTensor), with optional per-frame refinements
    deltas = dict(expression (T,E), rotation (T,3) axis-angle applied after the fitted rotation,
    translation (T,3))."""
    from headgen.geometry.rotations import axis_angle_to_matrix

    e = params["expression"][index]
    R = params["rotation"][index]
    t = params["translation"][index]
    if deltas is not None:
        e = e + deltas["expression"][index]
        R = axis_angle_to_matrix(deltas["rotation"][index]) @ R
        t = t + deltas["translation"][index]
    kw = dict(shape=params["shape"][None].expand(len(index), -1) if params["shape"].numel() else None,
              expression=e, rotation=R, translation=t)
    for k, v in params["extra"].items():
        kw[k] = v[index]
    return kw


def detect_landmarks(frames: np.ndarray) -> np.ndarray:
    """MediaPipe 468 landmarks of every frame -> (T,468,2) px (NaN where no face was found)."""
    from headgen.landmarks.mediapipe_backend import FaceLandmarker

    out = np.full((len(frames), 468, 2), np.nan, np.float32)
    with FaceLandmarker(max_faces=1, video=len(frames) > 1) as lm:
        for i, f in enumerate(frames):
            faces = lm.detect(f)
            if faces:
                out[i] = faces[0].landmarks_468[:, :2]
    return out


def person_masks(frames: np.ndarray) -> np.ndarray:
    """Foreground probability (T,H,W) float32 from MediaPipe selfie segmentation."""
    from headgen.landmarks.segmentation import person_masks as pm

    return np.asarray(pm(frames), np.float32)


def estimate_background(frames: np.ndarray, masks: np.ndarray, head_masks: np.ndarray) -> np.ndarray:
    """Static background (H,W,3) float32 [0,1]: per pixel the median of the frames where it is not the
    person (mask < 0.3); where it always is, the median of the frames where it is outside the (dilated)
    head-mesh silhouette (the torso, hair and neck are nearly static in GRID); elsewhere the median of all.
    frames (T,H,W,3) uint8, masks (T,H,W) person probability, head_masks (T,H,W) bool."""
    f = torch.as_tensor(frames).float() / 255.0
    out = f.median(0).values
    for sel in (~head_masks, masks < 0.3):
        sel = torch.as_tensor(sel)
        ok = sel.any(0)
        if bool(ok.any()):
            x = torch.where(sel[..., None], f, torch.full_like(f, float("nan")))
            out[ok] = x[:, ok].nanmedian(0).values
    return out.numpy().astype(np.float32)


def head_silhouettes(model, verts: torch.Tensor, K: torch.Tensor, size, dilate: int = 4) -> np.ndarray:
    """Masks (B,H,W) bool of the posed mesh's silhouette (verts (B,V,3) camera frame), dilated by ``dilate`` px."""
    import torch.nn.functional as Fnn

    from headgen.render.raster import rasterize

    W, H = size
    out = []
    with torch.no_grad():
        for a in range(0, verts.shape[0], 8):
            r = rasterize(verts[a:a + 8], model.faces, K, H, W)
            m = r.mask.float()[:, None]
            if dilate:
                m = Fnn.max_pool2d(m, 2 * dilate + 1, stride=1, padding=dilate)
            out.append(m[:, 0] > 0)
    return torch.cat(out).cpu().numpy()


def crop_box_of(verts: torch.Tensor, K: torch.Tensor, size, pad: float = 0.15, multiple: int = 16) -> tuple:
    """Pixel box (x0, y0, x1, y1) around the projections of verts (B,V,3) over all frames, enlarged by
    ``pad`` of its size on each side, clipped to the image."""
    from headgen.geometry.camera import project_points

    W, H = size
    with torch.no_grad():
        p = project_points(verts.reshape(-1, 3), K)
    lo = p.min(0).values.cpu().numpy()
    hi = p.max(0).values.cpu().numpy()
    d = (hi - lo) * pad
    x0, y0 = (int(max(0, np.floor(v))) for v in lo - d)
    x1, y1 = int(min(W, np.ceil(hi[0] + d[0]))), int(min(H, np.ceil(hi[1] + d[1])))
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise InputError("the fitted head is not inside the image")
    return x0, y0, x1, y1


def crop_from_landmarks(lm: np.ndarray, size, scale: float = 1.25) -> tuple:
    """The region the training loss looks at: the union over frames of the face boxes (landmarks (T,468,2)
    px) enlarged ``scale`` about their centres, clipped to the image -> (x0, y0, x1, y1)."""
    from headgen.metrics import landmark_box

    boxes = np.array([landmark_box(p, scale, size) for p in lm])
    x0, y0 = boxes[:, :2].min(0)
    x1, y1 = boxes[:, 2:].max(0)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise InputError("the face is too small in the image (under 8 px)")
    return int(x0), int(y0), int(x1), int(y1)


def dilate_mask(mask: np.ndarray, px: int) -> np.ndarray:
    """(H,W) bool dilated by a (2 px + 1)^2 square."""
    if px <= 0:
        return np.asarray(mask, bool)
    from scipy import ndimage

    return ndimage.binary_dilation(np.asarray(mask, bool), structure=np.ones((2 * px + 1, 2 * px + 1), bool))


def inpaint(image: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """Fill ``mask`` (H,W) bool of ``image`` (H,W,3) float [0,1] from its surroundings (OpenCV Telea)."""
    import cv2

    u8 = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    out = cv2.inpaint(u8, mask.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)
    return out.astype(np.float32) / 255.0


def smooth_track(x: torch.Tensor, sigma: float, valid: np.ndarray | None = None) -> torch.Tensor:
    """Zero-lag temporal smoothing of a per-frame track x (T, ...) by local-linear regression with Gaussian weights
    of ``sigma`` frames (window +-3 sigma): inside the clip a Gaussian average, at its ends a line through the
    neighbours (no pull towards the interior). Frames with ``valid`` False neither contribute nor change.
    sigma <= 0 or T < 3: x unchanged."""
    T = x.shape[0]
    if sigma <= 0 or T < 3:
        return x
    ok = np.ones(T, bool) if valid is None else np.asarray(valid, bool)
    flat = x.reshape(T, -1).double()
    out = flat.clone()
    r = max(1, int(math.ceil(3 * sigma)))
    for t in np.nonzero(ok)[0]:
        idx = np.arange(max(0, t - r), min(T, t + r + 1))
        idx = idx[ok[idx]]
        if len(idx) < 2:
            continue
        d = torch.as_tensor(idx - t, dtype=torch.float64, device=x.device)
        w = torch.exp(-0.5 * (d / sigma) ** 2)
        # weighted least squares of a + b d; the value at d = 0 is a
        s0, s1, s2 = w.sum(), (w * d).sum(), (w * d * d).sum()
        y = flat[idx]
        m0, m1 = (w[:, None] * y).sum(0), ((w * d)[:, None] * y).sum(0)
        det = s0 * s2 - s1 * s1
        out[t] = (s2 * m0 - s1 * m1) / det if float(det) > 1e-9 * float(s0 * s2) else m0 / s0
    return out.reshape(x.shape).to(x.dtype)


def smooth_params(params: dict, sigma_pose: float, sigma_expression: float, valid: np.ndarray | None = None) -> dict:
    """Fit tensors (``fit_tensors``' dict) with their per-frame tracks smoothed over time (``smooth_track``):
    rotation (T,3,3) and translation (T,3) with ``sigma_pose`` frames (the smoothed rotation matrices projected back
    onto rotations), expression (T,E) and the extra per-frame inputs (jaw/neck/eyes) with ``sigma_expression``.
    The fitter's frame-to-frame noise moves the mesh by a fraction of a pixel where the image does not move; the
    avatar is trained and driven with these parameters. A new dict; shape and the inputs are unchanged."""
    p = dict(params)
    R = smooth_track(params["rotation"], sigma_pose, valid)
    if R is not params["rotation"]:
        from headgen.geometry.headpose import orthonormalize
        R = torch.as_tensor(orthonormalize(R.detach().cpu().numpy()), dtype=params["rotation"].dtype,
                            device=R.device)
    p["rotation"] = R
    p["translation"] = smooth_track(params["translation"], sigma_pose, valid)
    if params["expression"].numel():
        p["expression"] = smooth_track(params["expression"], sigma_expression, valid)
    p["extra"] = {k: smooth_track(v, sigma_expression, valid) for k, v in params["extra"].items()}
    return p
