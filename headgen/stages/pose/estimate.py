"""Head poses for images, folders and videos -> ``pose.json`` (+ viz): :func:`estimate_poses`.

pose.json: schema in :mod:`headgen.artifacts.pose` (written with ``write_pose``). Every input is a
``headgen.io.media.Media`` (an image is a one-frame video), so images and videos share one per-frame
path; videos get tracking and smoothing (``estimator``), images a second mesh pass per face.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from headgen.artifacts.pose import SCHEMA_VERSION, write_pose
from headgen.errors import InputError
from headgen.geometry.camera import default_focal
from headgen.io.media import Media, MediaFile, expand_inputs
from headgen.stages.pose.estimator import HeadEstimate, HeadPoseEstimator
from headgen.stages.pose.params import PoseParams

__all__ = ["PoseRunResult", "estimate_poses", "head_to_json", "raise_for_errors", "camera_matrix", "CONVENTION"]

CONVENTION = ("rotation/translation: X_cam = R @ X_head + t, OpenCV camera (+x right, +y down, +z forward), "
              "metres; head frame: MediaPipe canonical face (+x subject's left, +y up, +z out of the face); "
              "yaw/pitch/roll: degrees, 300W-LP/AFLW2000 convention (R_view = Rx(pitch) Ry(yaw) Rz(roll), "
              "view-relative: yaw>0 nose to image left, pitch>0 up, roll>0 clockwise)")


@dataclass
class PoseRunResult:
    """What a run produced: pose.json path, viz files, per-input errors, frame count, timings (s)."""
    pose_json: Path
    viz_files: list[Path] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    n_frames: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def camera_matrix(width: int, height: int, params: PoseParams) -> np.ndarray:
    """(3, 3) intrinsics for an image: the given ``intrinsics`` or the assumed ``fov`` model
    (``headgen.geometry.camera.default_focal``: square pixels, principal point at the centre)."""
    if params.intrinsics is not None:
        fx, fy, cx, cy = (float(v) for v in params.intrinsics)
    else:
        fx = fy = default_focal(width, height, params.fov)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _r(a, nd: int):
    return np.round(np.asarray(a, np.float64), nd).tolist()


def head_to_json(h: HeadEstimate) -> dict:
    """One HeadEstimate -> the pose.json head object (rounded: px 0.01, m 1e-5, deg 1e-3)."""
    yaw, pitch, roll = (round(float(v), 3) for v in h.ypr)
    return {"track_id": int(h.track_id), "bbox": _r(h.bbox, 2), "score": round(float(h.score), 4),
            "rotation": _r(h.rotation, 6), "translation": _r(h.translation, 5),
            "yaw": yaw, "pitch": pitch, "roll": roll,
            "landmarks_468": _r(h.landmarks_468[:, :2], 2), "landmarks_68": _r(h.landmarks_68[:, :2], 2)}


def _unique_name(stem: str, suffix: str, used: set[str]) -> str:
    name, k = f"{stem}{suffix}", 1
    while name in used:
        name, k = f"{stem}_{k}{suffix}", k + 1
    used.add(name)
    return name


def estimate_poses(inputs, out_dir, params: PoseParams | None = None,
                   progress: Callable[[int, int | None, str | None], None] | None = None,
                   log: Callable[[str], None] | None = None) -> PoseRunResult:
    """Process every input (image files, folders of images/videos, video files) and write
    ``out_dir/pose.json`` (schema: ``headgen.artifacts.pose``) and, with ``params.viz``, ``out_dir/viz/``
    (a PNG per image, an mp4 with the source audio per video).

    Unreadable inputs do not stop the run: they are listed in ``result.errors`` (and in pose.json's
    "errors") as (path, message); the caller decides how to report them. When no input could be read,
    InputError is raised and no pose.json is written (a previous one in ``out_dir`` stays).
    """
    from headgen.io.images import write_image
    from headgen.io.video import VideoWriter
    from headgen.landmarks.mediapipe_backend import FaceLandmarker
    from headgen.stages.pose.viz import draw_heads

    params = params or PoseParams()
    out_dir = Path(out_dir)
    viz_dir = out_dir / "viz"
    out_dir.mkdir(parents=True, exist_ok=True)
    if params.viz:
        viz_dir.mkdir(parents=True, exist_ok=True)
    sources, bad = expand_inputs(inputs)
    errors = [(str(p), m) for p, m in bad]
    result = PoseRunResult(pose_json=out_dir / "pose.json")
    timings = {"decode": 0.0, "detect": 0.0, "landmarks": 0.0, "pose": 0.0, "smoothing": 0.0, "viz": 0.0}
    frames_out, sources_out = [], []
    used_names: set[str] = set()
    lm_kw = dict(max_faces=params.max_faces, refine_landmarks=params.refine_landmarks,
                 min_detection_confidence=params.min_detection_confidence)
    landmarkers: dict[bool, FaceLandmarker] = {}

    def landmarker(video: bool) -> FaceLandmarker:
        if video not in landmarkers:
            landmarkers[video] = FaceLandmarker(video=video, **lm_kw)
        return landmarkers[video]

    total = len(sources)
    try:
        for si, src in enumerate(sources):
            if progress:
                progress(si, total, src.path.name)
            writer = None
            try:
                t0 = time.perf_counter()
                clip = Media(src.path, max_frames=params.max_frames, cache_bytes=0)   # streamed, not kept
                timings["decode"] += time.perf_counter() - t0
                video = clip.kind == "video"
                w, h = clip.size
                K = camera_matrix(w, h, params)
                est = HeadPoseEstimator(K, video=video, smooth=params.smooth, landmarker=landmarker(video))
                if params.viz:
                    vp = viz_dir / _unique_name(src.path.stem, ".mp4" if video else ".png", used_names)
                    if video:
                        writer = VideoWriter(vp, clip.fps, audio=src.path if clip.has_audio else None)
                src_frames = []
                n = 0
                it = iter(clip)
                while True:
                    t0 = time.perf_counter()
                    frame = next(it, None)
                    timings["decode"] += time.perf_counter() - t0
                    if frame is None:
                        break
                    t = n / clip.fps if video else 0.0
                    heads = est.process(frame, t)
                    src_frames.append({"source": str(src.path), "index": n, "time": round(t, 6),
                                       "heads": [head_to_json(hd) for hd in heads]})
                    if params.viz:
                        t0 = time.perf_counter()
                        drawn = draw_heads(frame, heads, K)
                        if writer is not None:
                            writer.write(drawn)
                        else:
                            result.viz_files.append(write_image(vp, drawn))
                        timings["viz"] += time.perf_counter() - t0
                    n += 1
                    if progress and n % 25 == 0:
                        progress(si + min(n / max(len(clip), 1), 0.99), total, src.path.name)
                if writer is not None:
                    t0 = time.perf_counter()
                    result.viz_files.append(writer.close())
                    writer = None
                    timings["viz"] += time.perf_counter() - t0
                _add_timings(timings, est.timings)
                frames_out.extend(src_frames)
                sources_out.append(_source_json(src, w, h, clip.fps if video else None, n, K))
            except (InputError, OSError) as e:
                msg = str(e)
                prefix = f"{src.path}: "
                errors.append((str(src.path), msg[len(prefix):] if msg.startswith(prefix) else msg))
                if log:
                    log(f"skipped {src.path}: {msg}")
            finally:
                if writer is not None:
                    writer.abort()
    finally:
        for lm in landmarkers.values():
            lm.close()
    if progress:
        progress(total, total, None)
    if errors and not sources_out:   # nothing read: no empty pose.json over a previous run's
        if len(errors) == 1:
            raise InputError(f"{errors[0][0]}: {errors[0][1]}")
        raise InputError(f"none of the {len(errors)} inputs could be read: "
                         + "; ".join(f"{s}: {m}" for s, m in errors))
    doc = {"version": SCHEMA_VERSION, "convention": CONVENTION, "sources": sources_out,
           "frames": frames_out, "errors": [{"source": s, "error": m} for s, m in errors]}
    write_pose(result.pose_json, doc)
    result.errors = errors
    result.n_frames = len(frames_out)
    result.timings = timings
    return result


def _add_timings(acc: dict, t: dict) -> None:
    for k, v in t.items():
        acc[k] = acc.get(k, 0.0) + v


def _source_json(src: MediaFile, w: int, h: int, fps, n: int, K) -> dict:
    return {"path": str(src.path), "kind": src.kind, "width": int(w), "height": int(h),
            "fps": None if fps is None else float(fps), "n_frames": int(n), "intrinsics": _r(K, 4)}


def raise_for_errors(result: PoseRunResult) -> None:
    """Raise InputError summarising ``result.errors`` (no-op when there are none)."""
    if result.errors:
        listing = "; ".join(f"{s}: {m}" for s, m in result.errors)
        raise InputError(f"{len(result.errors)} input(s) could not be processed: {listing}")

