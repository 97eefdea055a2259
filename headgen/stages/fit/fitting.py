"""Fit a head model to a video / image (or a calibrated multi-view set) and write the fit artifacts:
:func:`fit_media` (landmark targets from ``tracks``, the batched fit from ``optimize``, the overlay from
``overlay``).

Outputs in ``out_dir``:

``fit.npz``: schema in :mod:`headgen.artifacts.fit` (written with ``write_fit``).

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

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from headgen.artifacts.fit import write_fit
from headgen.device import resolve_device
from headgen.errors import InputError
from headgen.geometry.rig import Camera, default_camera, load_cameras
from headgen.io.atomic import write_json_atomic
from headgen.io.media import Media, folder_media
from headgen.stages.fit.params import FitParams
from headgen.stages.fit.tracks import Track, detect_track, track_from_pose


@dataclass
class FitRunResult:
    """Paths written and headline numbers."""

    fit_npz: Path
    metrics_json: Path
    overlay: Path | None
    metrics: dict = field(default_factory=dict)


def _check_pose_media(pose, track: Track, media) -> None:
    """InputError when ``pose``'s track (``track``) was made on other media than ``media``: frames of another
    size, or a source file that still exists and holds other bytes (a pose.json of another video / photo would
    otherwise be fitted silently, to that other media). A source that no longer exists is not checked."""
    if media is None or not Path(media).is_file():
        return
    size = tuple(int(v) for v in Media(media, cache_bytes=0).size)
    if track.size != (0, 0) and tuple(track.size) != size:
        raise InputError(f"{pose}: made on {track.size[0]}x{track.size[1]} frames of {Path(str(track.source)).name}, "
                         f"but {Path(media).name} is {size[0]}x{size[1]}")
    src = Path(str(track.source)) if track.source is not None else None
    if src is not None and src.is_file() and not _same_bytes(src, Path(media)):
        raise InputError(f"{pose}: made on {src}, not on {media} (run pose on {Path(media).name}, or fit without --pose)")


def _same_bytes(a: Path, b: Path) -> bool:
    """Whether files ``a`` and ``b`` are the same file or hold the same bytes."""
    import filecmp
    import os

    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def load_model(opts: FitParams, device):
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
    files = folder_media(media)
    by_stem = {p.stem: p for p in files}
    if all(c.name in by_stem for c in cams):
        return [by_stem[c.name] for c in cams]
    if len(files) == len(cams):
        return files
    raise InputError(f"{media}: {len(files)} media file(s) for {len(cams)} camera(s); name them after the "
                     f"cameras ({', '.join(c.name for c in cams)})")


def fit_media(media: str | Path, out_dir: str | Path, opts: FitParams | None = None,
              pose: str | Path | None = None, cameras: str | Path | None = None,
              progress: Callable | None = None, log: Callable[[str], None] | None = None,
              tracks: list[Track] | None = None, overlay: bool = True, threads: int | None = None) -> FitRunResult:
    """Fit ``media`` (video / image, or a folder of per-camera media with ``cameras``) with the options
    ``opts`` (:class:`FitParams`) and write fit.npz, fit_metrics.json and (``overlay``) the overlay into
    ``out_dir``. ``pose``: a pose.json to take landmarks and the rigid init from (monocular); otherwise
    landmarks are detected here. ``tracks``: precomputed Track per view (tests/benchmarks). ``threads``:
    torch CPU threads (None: leave as is). The first view's clip is decoded once for every pass over it
    (landmarks, iris, photometric term, overlay) when it fits in memory. Returns FitRunResult."""
    from headgen.stages.fit.basis import landmark_function
    from headgen.stages.fit.metrics import inner_lip_distance, nme_mean, nme_per_frame, pearson
    from headgen.stages.fit.optimize import Observations, config_for_model, fit_landmarks

    opts = opts or FitParams()
    log = log or (lambda m: None)
    media = Path(media)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(int(threads))
    device = resolve_device(opts.device)

    # ---- landmark targets per view; the first view's clip, opened once ---------------------------
    cams = load_cameras(cameras) if cameras is not None else None
    clip: Media | None = None
    if tracks is None:
        if cams is not None:
            files = _multiview_media(media, cams)
            clip = Media(files[0], max_frames=opts.max_frames)
            tracks = [detect_track(clip if i == 0 else f, opts.max_frames, iris=opts.gaze and i == 0)
                      for i, f in enumerate(files)]
        elif pose is not None:
            tracks = [track_from_pose(pose, media)]
            _check_pose_media(pose, tracks[0], media)
            if opts.max_frames:
                tracks = [tracks[0].truncate(opts.max_frames)]
        else:
            if not media.exists():
                raise InputError(f"{media}: no such file")
            if media.is_dir():
                raise InputError(f"{media}: is a folder; give one video or image (or --cameras for multi-view)")
            clip = Media(media, max_frames=opts.max_frames)
            tracks = [detect_track(clip, iris=opts.gaze)]

    def first_clip() -> Media:
        nonlocal clip
        if clip is None:
            src = tracks[0].source if tracks[0].source is not None and Path(tracks[0].source).is_file() else media
            clip = Media(src, max_frames=len(tracks[0]))
        return clip

    if opts.gaze and tracks[0].iris is None:     # pose.json carries no iris: one more landmark pass
        extra = detect_track(first_clip(), iris=True)
        n = min(len(extra), len(tracks[0]))
        tracks[0].iris = np.full((len(tracks[0]), 2, 2), np.nan, np.float32)
        tracks[0].iris[:n] = extra.iris[:n]
        tracks[0].seconds += extra.seconds
    lm_seconds = float(sum(t.seconds for t in tracks))
    T = min(len(t) for t in tracks)
    tracks = [t.truncate(T) for t in tracks]
    if cams is None:
        tr = tracks[0]
        if tr.size[0] <= 0 or tr.size[1] <= 0:
            tr.size = first_clip().size
        w, h = tr.size
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
        res = photometric_refine(model, lmfun, obs, cfg, res, first_clip(), log=log)
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
    fit_npz = write_fit(out_dir / "fit.npz", arrays)
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
    metrics_json = write_json_atomic(out_dir / "fit_metrics.json", metrics, indent=1)

    overlay_path = None
    if overlay:
        from headgen.stages.fit.overlay import write_overlay
        overlay_path = write_overlay(model, res, first_clip(), out_dir, max_frames=T)
    return FitRunResult(fit_npz=fit_npz, metrics_json=metrics_json, overlay=overlay_path, metrics=metrics)


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
