"""Fit a head model to a video / image (or a calibrated multi-view set) and write the fit artifacts.

Outputs in ``out_dir``:

``fit.npz`` (numpy, no pickles)::

    model               str ()          "ict" | "flame"
    shape               float32 (S,)    identity coefficients (one per subject)
    expression          float32 (T,E)   per-frame expression (ICT: ARKit blendshape weights in [0, 1])
    expression_names    str (E,)        names of the expression columns
    rotation            float32 (T,3,3) head-model frame -> camera (world) frame, X = R X_model + t
    translation         float32 (T,3)   metres, OpenCV camera frame (+x right, +y down, +z forward)
    jaw                 float32 (T,3)   axis-angle, only for models with a jaw joint (FLAME)
    eyes                float32 (T,2,3) --gaze: eyeball rotations [subject's left, right], axis-angle rad
                                        (pitch about x > 0 looks down, yaw about y), the model's ``eyes``
                                        input. ICT also drives its eyeLook lid shapes from ``eyes``; the
                                        fitted ``expression`` already holds the lids, so render with
                                        ``expression`` and ``eyes`` on a model part set with eyeballs and
                                        expect slightly stronger lid motion.
    iris_error          float32 (T,2)   --gaze: pupil reprojection error px (NaN where no iris was seen)
    focal               float32 ()      focal length fx in pixels used (fitted when --fit-focal)
    K                   float32 (3,3)   intrinsics of the (first) camera, pixels
    image_size          int32 (2,)      width, height in pixels
    landmarks_2d_fit    float32 (T,68,2) fitted iBUG-68 landmarks projected into the image (px)
    landmarks_2d_target float32 (T,68,2) detected iBUG-68 landmarks (px; NaN where the face was lost)
    landmarks468_2d_fit float32 (T,468,2) fitted MediaPipe-468 points (px), when the model has the embedding
    nme                 float32 (T,)    per-frame NME (see fit_metrics.json); NaN where lost
    valid               bool (T,)       face detected in the frame; False = parameters interpolated
    fps                 float32 ()      frame rate of the input (0 for an image)
    times               float32 (T,)    seconds from the first frame
    frame_index         int32 (T,)      frame number in the input
    multi-view only: camera_names str (V,), cameras_K (V,3,3), cameras_R (V,3,3), cameras_t (V,3)
      (world-to-camera), landmarks_2d_fit_views (V,T,68,2), valid_views (V,T); rotation/translation are
      then in the world frame of the camera file and K / landmarks_2d_fit are those of the first camera.

``fit_metrics.json``::

    {"nme_mean": float,          # mean over valid frames of nme
     "nme": [float|null, ...],   # per frame: mean 68-landmark error / inter-ocular distance (outer eye
                                 #   corners 36-45) of the detected 68; null where the face was lost
     "fps": float,               # fitted frames per second of the optimisation alone
     "fit_seconds": float, "landmark_seconds": float, "setup_seconds": float,
     "n_frames": int, "n_valid": int, "n_views": int, "model": str, "photometric": bool,
     "device": str, "jaw_lip_correlation": float|null,   # ICT: corr(jawOpen, MediaPipe 13-14 lip gap)
     "photometric_error": [before, after] | null,       # --photometric: mean |render - frame| (RGB 0..1)
     "gaze": bool, "iris_error_px": float | null}       # --gaze: mean pupil reprojection error

``fit_overlay.mp4``: the fitted mesh shaded over the (first camera's) video, same frame count and fps,
the input's audio kept; for an image input ``fit_overlay.png`` (and a one-frame ``fit_overlay.mp4``).
"""
from __future__ import annotations

import json
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from headgen.errors import InputError
from headgen.geometry.conventions import DEFAULT_FOV_DEG
from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68
from headgen.stages.fit.cameras import Camera, default_camera, load_cameras

#: Rows of ``FaceObservation.iris`` (MediaPipe landmarks 468..477) that are the iris centres:
#: 473 = subject's left eye, 468 = subject's right eye.
IRIS_CENTRES = [5, 0]
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class FitOptions:
    """model: "ict" | "flame"; flame_path: FLAME .pkl (or folder) for model="flame"; photometric: add the
    photometric refinement; device: "auto" | "cpu" | "cuda"; fit_focal: optimise one focal scale;
    fov: assumed field of view (degrees, longer side) without calibration; iters_rigid / iters_full:
    override the schedule; overlay: write the overlay video/png; max_frames: per input; threads:
    torch CPU threads (None: leave as is); gaze: also fit eyeball rotations to MediaPipe's iris centres
    (first view)."""

    model: str = "ict"
    flame_path: str | None = None
    photometric: bool = False
    device: str = "auto"
    fit_focal: bool = False
    fov: float = DEFAULT_FOV_DEG
    iters_rigid: int | None = None
    iters_full: int | None = None
    overlay: bool = True
    max_frames: int | None = None
    threads: int | None = None
    gaze: bool = False


@dataclass
class Track:
    """Landmark targets of one view. lm468 (T,468,3) px (z: MediaPipe relative depth in px, NaN if
    unknown); lm68 (T,68,2) px; valid (T,); times (T,) s; index (T,) frame numbers; fps (0 = image);
    size (w, h); K (3,3) or None; init_R (T,3,3) / init_t (T,3) from pose.json or None;
    seconds: time spent detecting landmarks."""

    lm468: np.ndarray
    lm68: np.ndarray
    valid: np.ndarray
    times: np.ndarray
    index: np.ndarray
    fps: float
    size: tuple[int, int]
    K: np.ndarray | None = None
    init_R: np.ndarray | None = None
    init_t: np.ndarray | None = None
    seconds: float = 0.0
    source: Path | None = None
    kind: str = "video"
    iris: np.ndarray | None = None       # (T, 2, 2) px iris centres [subject's left, right], NaN where lost


@dataclass
class FitRunResult:
    """Paths written and headline numbers."""

    fit_npz: Path
    metrics_json: Path
    overlay: Path | None
    metrics: dict = field(default_factory=dict)


def media_kind(path: Path) -> str:
    """"image" for image extensions, else "video" (anything ffmpeg reads)."""
    return "image" if Path(path).suffix.lower() in IMAGE_EXTS else "video"


def _read_frames(path: Path, max_frames: int | None):
    """Open media -> (iterable of (H,W,3) uint8 RGB frames, fps (0 for an image), (w, h), kind)."""
    from headgen.io.images import read_image
    from headgen.io.video import VideoReader

    if media_kind(path) == "image":
        img = read_image(path)
        return [img], 0.0, (img.shape[1], img.shape[0]), "image"
    r = VideoReader(path, max_frames=max_frames)
    return r, r.fps, r.size, "video"


def detect_track(path: str | Path, max_frames: int | None = None, iris: bool = False) -> Track:
    """Run the MediaPipe face landmarker (tracking mode, one face) over an image or video -> Track.
    iris: use MediaPipe's attention mesh, which adds the iris centres (``Track.iris``, (T, 2, 2) px,
    [subject's left, right]). Frames without a face get NaN landmarks and valid=False. Raises
    InputError for unreadable media."""
    from headgen.landmarks.mediapipe_backend import FaceLandmarker

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    frames, fps, size, kind = _read_frames(path, max_frames)
    lm468, irises, valid = [], [], []
    no_iris = np.full((2, 2), np.nan, np.float32)
    t0 = time.perf_counter()
    video = kind == "video"
    # the attention mesh (iris) moves the other landmarks enough to worsen the fit (NME, jaw): it runs
    # as a second landmarker used for the iris centres only
    with FaceLandmarker(max_faces=1, video=video) as det, \
            (FaceLandmarker(max_faces=1, video=video, refine_landmarks=True) if iris else nullcontext()) as det_iris:
        for fr in frames:
            faces = det.detect(fr)
            if faces:
                lm468.append(np.asarray(faces[0].landmarks_468, np.float32)[:468])
                valid.append(True)
            else:
                lm468.append(np.full((468, 3), np.nan, np.float32))
                valid.append(False)
            if det_iris is not None:
                f2 = det_iris.detect(fr)
                ir = f2[0].iris if f2 else None
                irises.append(np.asarray(ir, np.float32)[IRIS_CENTRES, :2] if ir is not None else no_iris)
    if hasattr(frames, "close"):
        frames.close()
    secs = time.perf_counter() - t0
    if not lm468:
        raise InputError(f"{path}: no frames decoded")
    lm = np.stack(lm468)
    T = lm.shape[0]
    times = np.arange(T) / fps if fps > 0 else np.zeros(T)
    return Track(lm468=lm, lm68=lm[:, MEDIAPIPE_TO_IBUG68, :2].copy(), valid=np.asarray(valid), times=times,
                 index=np.arange(T), fps=float(fps), size=(int(size[0]), int(size[1])), seconds=secs,
                 source=path, kind=kind, iris=np.stack(irises) if iris else None)


def track_from_pose(pose_json: str | Path, media: str | Path | None = None) -> Track:
    """Read a pose stage ``pose.json`` -> Track of the main face (the track_id present in most frames;
    ties: the larger mean box) of the source matching ``media`` (or the only source). Rotation and
    translation become the rigid init (the pose stage's head frame shares the axes of the fit's
    model frame; its origin differs slightly, which the rigid stage absorbs)."""
    pose_json = Path(pose_json)
    try:
        doc = json.loads(pose_json.read_text())
        frames = doc["frames"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{pose_json}: not a pose.json ({type(e).__name__}: {e})") from None
    sources = doc.get("sources") or []
    names = sorted({f.get("source") for f in frames})
    src = None
    if media is not None:
        want = Path(media).resolve()
        for n in names:
            if n is not None and (Path(n).resolve() == want or Path(n).name == Path(media).name):
                src = n
                break
    if src is None:
        if len(names) == 1:
            src = names[0]
        else:
            raise InputError(f"{pose_json}: cannot tell which of its {len(names)} sources is "
                             f"{media or 'the input'}; fit one video at a time")
    fr = sorted((f for f in frames if f.get("source") == src), key=lambda f: f.get("index", 0))
    if not fr:
        raise InputError(f"{pose_json}: no frames for source {src}")
    counts: dict[int, list[float]] = {}
    for f in fr:
        for h in f.get("heads", []):
            b = h.get("bbox", [0, 0, 0, 0])
            counts.setdefault(int(h.get("track_id", 0)), []).append((b[2] - b[0]) * (b[3] - b[1]))
    T = len(fr)
    lm = np.full((T, 468, 3), np.nan, np.float32)
    R = np.tile(np.eye(3, dtype=np.float32), (T, 1, 1))
    t = np.zeros((T, 3), np.float32)
    valid = np.zeros(T, bool)
    if counts:
        tid = max(counts, key=lambda k: (len(counts[k]), float(np.mean(counts[k]))))
        for i, f in enumerate(fr):
            for h in f.get("heads", []):
                if int(h.get("track_id", 0)) == tid:
                    pts = np.asarray(h["landmarks_468"], np.float32)
                    if pts.shape[0] != 468:
                        raise InputError(f"{pose_json}: frame {f.get('index')} has {pts.shape[0]} landmarks_468")
                    lm[i, :, :2] = pts[:, :2]
                    R[i] = np.asarray(h["rotation"], np.float32)
                    t[i] = np.asarray(h["translation"], np.float32)
                    valid[i] = True
    meta = next((s for s in sources if s.get("path") == src), {})
    fps = float(meta.get("fps") or 0.0)
    size = (int(meta.get("width", 0)), int(meta.get("height", 0)))
    K = np.asarray(meta["intrinsics"], np.float64) if "intrinsics" in meta else None
    times = np.asarray([f.get("time", 0.0) for f in fr], np.float64)
    index = np.asarray([f.get("index", i) for i, f in enumerate(fr)], np.int64)
    return Track(lm468=lm, lm68=lm[:, MEDIAPIPE_TO_IBUG68, :2].copy(), valid=valid, times=times, index=index,
                 fps=fps, size=size, K=K, init_R=R, init_t=t, source=Path(src),
                 kind="image" if fps == 0 else "video")


def resolve_device(device: str) -> torch.device:
    """"auto" -> cuda when available else cpu; otherwise torch.device(device)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def load_model(opts: FitOptions, device):
    """The head model for ``opts`` (ICT face part, with the MediaPipe embedding when available)."""
    from headgen.models import load_head_model

    if opts.model == "flame":
        if not opts.flame_path:
            raise InputError("--model flame needs --flame PATH (FLAME 2020/2023 generic_model.pkl)")
        return load_head_model("flame", path=opts.flame_path, device=device, mediapipe=True)
    if opts.model != "ict":
        raise InputError(f"unknown model {opts.model!r}: use ict or flame")
    return load_head_model("ict", parts="face", device=device, mediapipe=True)


def _multiview_media(media: Path, cams: list[Camera]) -> list[Path]:
    """Media files of a multi-view set: ``media`` is a folder with one video/image per camera, named
    after the camera (stem == name) or, failing that, in sorted order."""
    if not media.is_dir():
        raise InputError(f"{media}: with --cameras the input must be a folder holding one video or image per camera")
    files = sorted(p for p in media.iterdir() if p.is_file() and p.suffix.lower() not in {".json", ".txt", ".md"})
    by_stem = {p.stem: p for p in files}
    if all(c.name in by_stem for c in cams):
        return [by_stem[c.name] for c in cams]
    if len(files) == len(cams):
        return files
    raise InputError(f"{media}: {len(files)} media file(s) for {len(cams)} camera(s); name them after the "
                     f"cameras ({', '.join(c.name for c in cams)})")


def fit_media(media: str | Path, out_dir: str | Path, opts: FitOptions | None = None,
              pose: str | Path | None = None, cameras: str | Path | None = None,
              progress: Callable | None = None, log: Callable[[str], None] | None = None,
              tracks: list[Track] | None = None) -> FitRunResult:
    """Fit ``media`` (video / image, or a folder of per-camera media with ``cameras``) and write
    fit.npz, fit_metrics.json and the overlay into ``out_dir``. ``pose``: a pose.json to take landmarks
    and the rigid init from (monocular); otherwise landmarks are detected here. ``tracks``: precomputed
    Track per view (tests/benchmarks). Returns FitRunResult."""
    from headgen.stages.fit.basis import landmark_function
    from headgen.stages.fit.metrics import inner_lip_distance, nme_mean, nme_per_frame, pearson
    from headgen.stages.fit.optimize import Observations, config_for_model, fit_landmarks

    opts = opts or FitOptions()
    log = log or (lambda m: None)
    media = Path(media)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    device = resolve_device(opts.device)

    # ---- landmark targets per view --------------------------------------------------------------
    cams = load_cameras(cameras) if cameras is not None else None
    if tracks is None:
        if cams is not None:
            files = _multiview_media(media, cams)
            tracks = [detect_track(f, opts.max_frames, iris=opts.gaze and i == 0) for i, f in enumerate(files)]
        elif pose is not None:
            tracks = [track_from_pose(pose, media)]
            if opts.max_frames:
                tracks = [_truncate(tracks[0], opts.max_frames)]
        else:
            if not media.exists():
                raise InputError(f"{media}: no such file")
            if media.is_dir():
                raise InputError(f"{media}: is a folder; give one video or image (or --cameras for multi-view)")
            tracks = [detect_track(media, opts.max_frames, iris=opts.gaze)]
    if opts.gaze and tracks[0].iris is None:     # pose.json carries no iris: one more landmark pass
        src = tracks[0].source if tracks[0].source is not None and Path(tracks[0].source).is_file() else media
        extra = detect_track(src, len(tracks[0].valid), iris=True)
        n = min(len(extra.valid), len(tracks[0].valid))
        tracks[0].iris = np.full((len(tracks[0].valid), 2, 2), np.nan, np.float32)
        tracks[0].iris[:n] = extra.iris[:n]
        tracks[0].seconds += extra.seconds
    lm_seconds = float(sum(t.seconds for t in tracks))
    T = min(len(t.valid) for t in tracks)
    tracks = [_truncate(t, T) for t in tracks]
    if cams is None:
        tr = tracks[0]
        w, h = tr.size
        if w <= 0 or h <= 0:
            w, h = _probe_size(media)
            tr.size = (w, h)
        cams = [Camera(K=tr.K, image_size=(w, h)) if tr.K is not None else default_camera(w, h, opts.fov)]
    elif len(cams) != len(tracks):
        raise InputError(f"{cameras}: {len(cams)} cameras but {len(tracks)} media files")
    if not any(t.valid.any() for t in tracks):
        raise InputError(f"{media}: no face found in any frame")
    log(f"{T} frame(s), {len(tracks)} view(s), {int(sum(t.valid.sum() for t in tracks))} with a face")

    # ---- model and problem ----------------------------------------------------------------------
    t_setup = time.perf_counter()
    model = load_model(opts, device)
    lmfun = landmark_function(model, device=device)
    setup_s = time.perf_counter() - t_setup
    over = {}
    if opts.iters_rigid is not None:
        over["iters_rigid"] = int(opts.iters_rigid)
    if opts.iters_full is not None:
        over["iters_full"] = int(opts.iters_full)
    cfg = config_for_model(model, optimize_focal=opts.fit_focal, **over)

    dt = torch.float32
    f = lambda x: torch.as_tensor(np.asarray(x), dtype=dt, device=device)
    lm468 = np.stack([cam.undistort_points(t.lm468[..., :2]) for cam, t in zip(cams, tracks)])
    lm68 = np.stack([cam.undistort_points(t.lm68) for cam, t in zip(cams, tracks)])
    z = np.stack([t.lm468[..., 2] for t in tracks])
    has_z = bool(np.isfinite(z[np.stack([t.valid for t in tracks])]).all())
    init_R = init_t = None
    if tracks[0].init_R is not None and len(tracks) == 1:
        init_R, init_t = f(tracks[0].init_R), f(tracks[0].init_t)
    obs = Observations(lm68=f(lm68), valid=torch.as_tensor(np.stack([t.valid for t in tracks]), device=device),
                       K=f(np.stack([c.K for c in cams])), R_cam=f(np.stack([c.R for c in cams])),
                       t_cam=f(np.stack([c.t for c in cams])), lm468=f(lm468), lm468_z=f(z) if has_z else None,
                       init_rotation=init_R, init_translation=init_t)
    t_fit = time.perf_counter()
    res = fit_landmarks(lmfun, obs, cfg, progress=progress)
    if opts.photometric:
        from headgen.stages.fit.photometric import photometric_refine
        res = photometric_refine(model, lmfun, obs, cfg, res, [t.source for t in tracks], log=log)
    eyes = iris_err = None
    if opts.gaze:
        eyes, iris_err = _fit_gaze(model, res, tracks[0], cams[0], obs, log)
    if device.type == "cuda":
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - t_fit
    log(f"fit: {T} frame(s) in {fit_s:.2f} s ({T / max(fit_s, 1e-9):.1f} frames/s)")

    # ---- metrics and artifacts -------------------------------------------------------------------
    p68 = res.landmarks68_2d.cpu().numpy()
    nme = nme_per_frame(p68[0], lm68[0])
    nme[~tracks[0].valid] = np.nan
    names = list(getattr(model, "expression_names", []))
    E = res.expression.cpu().numpy()
    corr = None
    if "jawOpen" in names and T >= 3 and tracks[0].valid.sum() >= 3:
        c = pearson(np.where(tracks[0].valid, E[:, names.index("jawOpen")], np.nan), inner_lip_distance(lm468[0]))
        corr = None if not np.isfinite(c) else round(c, 4)
    valid_t = res.valid
    K0 = res.K[0].cpu().numpy()
    arrays = dict(
        model=np.array(opts.model), shape=res.shape.cpu().numpy().astype(np.float32),
        expression=E.astype(np.float32), expression_names=np.array(names, dtype=str),
        rotation=res.rotation.cpu().numpy().astype(np.float32),
        translation=res.translation.cpu().numpy().astype(np.float32),
        focal=np.float32(K0[0, 0]), K=K0.astype(np.float32),
        image_size=np.array(cams[0].image_size, np.int32),
        landmarks_2d_fit=p68[0].astype(np.float32), landmarks_2d_target=lm68[0].astype(np.float32),
        nme=nme.astype(np.float32), valid=np.asarray(tracks[0].valid if len(tracks) == 1 else valid_t, bool),
        fps=np.float32(tracks[0].fps), times=tracks[0].times.astype(np.float32),
        frame_index=tracks[0].index.astype(np.int32))
    if res.landmarks468_2d is not None:
        arrays["landmarks468_2d_fit"] = res.landmarks468_2d[0].cpu().numpy().astype(np.float32)
    for k, v in res.extra.items():
        arrays[k] = v.cpu().numpy().astype(np.float32)
    if eyes is not None:
        arrays["eyes"] = eyes.cpu().numpy().astype(np.float32)
        arrays["iris_error"] = iris_err.cpu().numpy().astype(np.float32)
    if len(tracks) > 1:
        arrays.update(camera_names=np.array([c.name for c in cams], dtype=str),
                      cameras_K=res.K.cpu().numpy().astype(np.float32),
                      cameras_R=np.stack([c.R for c in cams]).astype(np.float32),
                      cameras_t=np.stack([c.t for c in cams]).astype(np.float32),
                      landmarks_2d_fit_views=p68.astype(np.float32),
                      valid_views=np.stack([t.valid for t in tracks]))
    fit_npz = out_dir / "fit.npz"
    _save_npz_atomic(fit_npz, arrays)
    metrics = {
        "nme_mean": _num(nme_mean(nme)), "nme": [_num(v) for v in nme],
        "fps": round(T / max(fit_s, 1e-9), 3), "fit_seconds": round(fit_s, 4),
        "landmark_seconds": round(lm_seconds, 4), "setup_seconds": round(setup_s, 4),
        "n_frames": int(T), "n_valid": int(np.asarray(arrays["valid"]).sum()), "n_views": len(tracks),
        "model": opts.model, "photometric": bool(opts.photometric), "device": str(device),
        "jaw_lip_correlation": corr,
        "photometric_error": list(getattr(res, "photometric_error", ())) or None,
        "gaze": eyes is not None,
        "iris_error_px": _num(np.nanmean(iris_err.cpu().numpy())) if iris_err is not None
        and np.isfinite(iris_err.cpu().numpy()).any() else None,
    }
    metrics_json = out_dir / "fit_metrics.json"
    tmp = metrics_json.with_name(metrics_json.name + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=1))
    os.replace(tmp, metrics_json)

    overlay = None
    if opts.overlay:
        src = tracks[0].source if tracks[0].source is not None and Path(tracks[0].source).is_file() else media
        overlay = write_overlay(model, res, src, out_dir, kind=tracks[0].kind, max_frames=T)
    return FitRunResult(fit_npz=fit_npz, metrics_json=metrics_json, overlay=overlay, metrics=metrics)


def _fit_gaze(model, res, track: Track, cam: Camera, obs, log):
    """Eyeball rotations (T, 2, 3) and pupil reprojection errors (T, 2) px for the first view, or
    (None, None) when the model has no eyes."""
    from headgen.stages.fit.gaze import eye_rig, fit_gaze

    rig = eye_rig(model)
    if rig is None:
        log(f"gaze: the {getattr(model, 'model_name', 'head')} model has no eyes; skipped")
        return None, None
    T = res.rotation.shape[0]
    iris = np.full((T, 2, 2), np.nan, np.float32)
    if track.iris is not None:
        n = min(T, len(track.iris))
        iris[:n] = cam.undistort_points(track.iris[:n])
    eyes, err = fit_gaze(rig, res, iris, res.K[0], obs.R_cam[0], obs.t_cam[0])
    e = err.cpu().numpy()
    log(f"gaze: irises seen in {int(np.isfinite(e).all(-1).sum())}/{T} frames, pupil error "
        f"{np.nanmean(e) if np.isfinite(e).any() else float('nan'):.2f} px")
    return eyes, err


def _num(v) -> float | None:
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None


def _truncate(t: Track, n: int) -> Track:
    if len(t.valid) <= n:
        return t
    cut = lambda a: None if a is None else a[:n]
    return Track(lm468=t.lm468[:n], lm68=t.lm68[:n], valid=t.valid[:n], times=t.times[:n], index=t.index[:n],
                 fps=t.fps, size=t.size, K=t.K, init_R=cut(t.init_R), init_t=cut(t.init_t), seconds=t.seconds,
                 source=t.source, kind=t.kind, iris=cut(t.iris))


def _probe_size(media: Path) -> tuple[int, int]:
    if media_kind(media) == "image":
        from headgen.io.images import read_image
        im = read_image(media)
        return im.shape[1], im.shape[0]
    from headgen.io.video import probe_video
    info = probe_video(media)
    return info.width, info.height


def _save_npz_atomic(path: Path, arrays: dict) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def write_overlay(model, res, src: Path, out_dir: Path, kind: str = "video", max_frames: int | None = None,
                  alpha: float = 0.55, chunk: int = 16) -> Path:
    """Shade the fitted mesh over the input (first view): ``fit_overlay.mp4`` with the input's fps and
    audio for a video; ``fit_overlay.png`` plus a one-frame ``fit_overlay.mp4`` for an image."""
    from headgen.io.images import read_image, write_image
    from headgen.io.video import VideoWriter
    from headgen.render.overlay import blend_mesh, overlay_video
    from headgen.stages.fit.optimize import fitted_vertices

    faces = model.faces.cpu()
    K = res.K[0].cpu()
    T = res.rotation.shape[0]
    cache: dict = {}

    def verts_for(i: int) -> torch.Tensor:
        if i not in cache:
            cache.clear()
            a = (i // chunk) * chunk
            b = min(T, a + chunk)
            v = fitted_vertices(model, res, slice(a, b)).cpu()
            for j in range(a, b):
                cache[j] = v[j - a]
        return cache[i]

    def draw(frame, i):
        if i >= T:
            return frame
        return blend_mesh(frame, verts_for(i)[None], faces, K, alpha=alpha)

    if kind == "image":
        img = read_image(src)
        out = draw(img, 0)
        png = out_dir / "fit_overlay.png"
        write_image(png, out)
        with VideoWriter(out_dir / "fit_overlay.mp4", 1.0) as w:
            w.write(out)
        return png
    dst = out_dir / "fit_overlay.mp4"
    overlay_video(src, dst, draw, keep_audio=True, max_frames=max_frames)
    return dst
