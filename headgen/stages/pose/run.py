"""Run head pose estimation over images, folders and videos and write ``pose.json`` (+ viz).

pose.json schema (version 1)::

    {
      "version": 1,
      "convention": "<one line: frames and angle convention>",
      "sources": [                       # one per readable input, in input order
        {"path": str, "kind": "image" | "video", "width": int, "height": int,
         "fps": float | null, "n_frames": int, "intrinsics": [[fx,0,cx],[0,fy,cy],[0,0,1]]}
      ],
      "frames": [                        # every processed frame of every source, in order
        {"source": str,                  # the input path as given (folders expanded to files)
         "index": int,                   # frame number in the source (0 for an image)
         "time": float,                  # seconds from the source's first frame (0.0 for an image)
         "heads": [                      # empty list when no face is found (not an error)
           {"track_id": int,             # stable across the frames of one video; 0.. per image
            "bbox": [x0, y0, x1, y1],    # pixels, tight box of the 468 landmarks
            "score": float,              # face-detector confidence in [0, 1]
            "rotation": [[...],[...],[...]],  # 3x3 head -> OpenCV camera (X_cam = R X_head + t)
            "translation": [x, y, z],    # metres, OpenCV camera frame (+x right, +y down, +z forward)
            "yaw": float, "pitch": float, "roll": float,   # degrees, 300W-LP / AFLW2000 convention
            "landmarks_468": [[x, y], ...],   # 468 pixel points, MediaPipe face-mesh order
            "landmarks_68": [[x, y], ...]}    # 68 pixel points, iBUG order
         ]}
      ],
      "errors": [{"source": str, "error": str}]    # inputs that could not be read
    }

Head-model frame: MediaPipe's canonical face in metres (+x subject's left, +y up, +z out of the face,
origin 7.6 cm behind the nose tip, about mid-head). Angles: ``R_view = Rx(pitch) Ry(yaw)
Rz(roll)`` with the benchmark's (clockwise-positive) axis matrices, for the head rotation seen
along the line of sight to the head (see ``headgen.geometry.headpose``): yaw > 0 nose towards the
image left, pitch > 0 looking up, roll > 0 head turned clockwise in the image; a mirrored image
negates yaw and roll. Translation/rotation depend on the assumed intrinsics (``fov``, default 50
degrees across the longer side, principal point at the image centre) unless given.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from headgen.errors import InputError
from headgen.geometry.conventions import DEFAULT_FOV_DEG
from headgen.stages.pose.estimator import HeadEstimate, HeadPoseEstimator
from headgen.stages.pose.sources import Source, expand_inputs

__all__ = ["PoseOptions", "PoseRunResult", "estimate_poses", "head_to_json", "raise_for_errors", "camera_matrix",
           "CONVENTION"]

SCHEMA_VERSION = 1
CONVENTION = ("rotation/translation: X_cam = R @ X_head + t, OpenCV camera (+x right, +y down, +z forward), "
              "metres; head frame: MediaPipe canonical face (+x subject's left, +y up, +z out of the face); "
              "yaw/pitch/roll: degrees, 300W-LP/AFLW2000 convention (R_view = Rx(pitch) Ry(yaw) Rz(roll), "
              "view-relative: yaw>0 nose to image left, pitch>0 up, roll>0 clockwise)")


@dataclass
class PoseOptions:
    """Options of a pose run.

    max_faces: faces per frame. refine_landmarks: MediaPipe attention mesh. smooth: One-Euro
    smoothing in videos. fov: assumed field of view (degrees, across the longer image side) when
    ``intrinsics`` (fx, fy, cx, cy in px, for every input) is not given. viz: write annotated
    images / mp4s under ``out/viz``. max_frames: per video (None = all).
    min_detection_confidence: face detector threshold.
    """
    max_faces: int = 4
    refine_landmarks: bool = False
    smooth: bool = True
    fov: float = DEFAULT_FOV_DEG
    intrinsics: tuple[float, float, float, float] | None = None
    viz: bool = False
    max_frames: int | None = None
    min_detection_confidence: float = 0.5


@dataclass
class PoseRunResult:
    """What a run produced: pose.json path, viz files, per-input errors, frame count, timings (s)."""
    pose_json: Path
    viz_files: list[Path] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    n_frames: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def camera_matrix(width: int, height: int, opts: PoseOptions) -> np.ndarray:
    """(3, 3) intrinsics for an image: user-given ``intrinsics`` or the assumed ``fov`` model
    (square pixels, principal point at the centre, as ``headgen.geometry.default_intrinsics``)."""
    if opts.intrinsics is not None:
        fx, fy, cx, cy = (float(v) for v in opts.intrinsics)
    else:
        fx = fy = 0.5 * max(width, height) / math.tan(math.radians(opts.fov) / 2.0)   # = focal_from_fov
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


def _write_json_atomic(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)


def estimate_poses(inputs, out_dir, opts: PoseOptions | None = None,
                   progress: Callable[[int, int | None, str | None], None] | None = None,
                   log: Callable[[str], None] | None = None) -> PoseRunResult:
    """Process every input (image files, folders of images/videos, video files) and write
    ``out_dir/pose.json`` (schema: module doc) and, with ``opts.viz``, ``out_dir/viz/``.

    Unreadable inputs do not stop the run: they are listed in ``result.errors`` (and in pose.json's
    "errors") as (path, message); the caller decides how to report them.
    """
    from headgen.io.images import read_image, write_image
    from headgen.io.video import VideoReader, VideoWriter
    from headgen.landmarks.mediapipe_backend import FaceLandmarker
    from headgen.stages.pose.viz import draw_heads

    opts = opts or PoseOptions()
    out_dir = Path(out_dir)
    viz_dir = out_dir / "viz"
    out_dir.mkdir(parents=True, exist_ok=True)
    if opts.viz:
        viz_dir.mkdir(parents=True, exist_ok=True)
    sources, bad = expand_inputs(inputs)
    errors = [(str(p), m) for p, m in bad]
    result = PoseRunResult(pose_json=out_dir / "pose.json")
    timings = {"decode": 0.0, "detect": 0.0, "landmarks": 0.0, "pose": 0.0, "smoothing": 0.0, "viz": 0.0}
    frames_out, sources_out = [], []
    used_names: set[str] = set()
    lm_kw = dict(max_faces=opts.max_faces, refine_landmarks=opts.refine_landmarks,
                 min_detection_confidence=opts.min_detection_confidence)
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
            try:
                if src.kind == "image":
                    t0 = time.perf_counter()
                    img = read_image(src.path)
                    timings["decode"] += time.perf_counter() - t0
                    h, w = img.shape[:2]
                    K = camera_matrix(w, h, opts)
                    est = HeadPoseEstimator(K, video=False, smooth=False, landmarker=landmarker(False))
                    heads = est.process(img, 0.0)
                    _add_timings(timings, est.timings)
                    frames_out.append({"source": str(src.path), "index": 0, "time": 0.0,
                                       "heads": [head_to_json(hd) for hd in heads]})
                    sources_out.append(_source_json(src, w, h, None, 1, K))
                    if opts.viz:
                        t0 = time.perf_counter()
                        p = viz_dir / _unique_name(src.path.stem, ".png", used_names)
                        write_image(p, draw_heads(img, heads, K))
                        result.viz_files.append(p)
                        timings["viz"] += time.perf_counter() - t0
                else:
                    reader = VideoReader(src.path, max_frames=opts.max_frames)
                    w, h = reader.size
                    K = camera_matrix(w, h, opts)
                    est = HeadPoseEstimator(K, video=True, smooth=opts.smooth, landmarker=landmarker(True))
                    writer = None
                    if opts.viz:
                        vp = viz_dir / _unique_name(src.path.stem, ".mp4", used_names)
                        writer = VideoWriter(vp, reader.fps, audio=src.path if reader.has_audio else None)
                    n = 0
                    src_frames = []
                    try:
                        it = iter(reader)
                        while True:
                            t0 = time.perf_counter()
                            frame = next(it, None)
                            timings["decode"] += time.perf_counter() - t0
                            if frame is None:
                                break
                            t = reader.timestamps_for(n)
                            heads = est.process(frame, t)
                            src_frames.append({"source": str(src.path), "index": n, "time": round(t, 6),
                                               "heads": [head_to_json(hd) for hd in heads]})
                            if writer is not None:
                                t0 = time.perf_counter()
                                writer.write(draw_heads(frame, heads, K))
                                timings["viz"] += time.perf_counter() - t0
                            n += 1
                            if progress and n % 25 == 0:
                                progress(si + min(n / max(len(reader), 1), 0.99), total, src.path.name)
                    except BaseException:
                        if writer is not None:
                            writer.abort()
                        raise
                    if writer is not None:
                        t0 = time.perf_counter()
                        result.viz_files.append(writer.close())
                        timings["viz"] += time.perf_counter() - t0
                    _add_timings(timings, est.timings)
                    frames_out.extend(src_frames)
                    sources_out.append(_source_json(src, w, h, reader.fps, n, K))
            except (InputError, OSError) as e:
                msg = str(e)
                prefix = f"{src.path}: "
                errors.append((str(src.path), msg[len(prefix):] if msg.startswith(prefix) else msg))
                if log:
                    log(f"skipped {src.path}: {msg}")
    finally:
        for lm in landmarkers.values():
            lm.close()
    if progress:
        progress(total, total, None)
    doc = {"version": SCHEMA_VERSION, "convention": CONVENTION, "sources": sources_out,
           "frames": frames_out, "errors": [{"source": s, "error": m} for s, m in errors]}
    _write_json_atomic(result.pose_json, doc)
    result.errors = errors
    result.n_frames = len(frames_out)
    result.timings = timings
    return result


def _add_timings(acc: dict, t: dict) -> None:
    for k, v in t.items():
        acc[k] = acc.get(k, 0.0) + v


def _source_json(src: Source, w: int, h: int, fps, n: int, K) -> dict:
    return {"path": str(src.path), "kind": src.kind, "width": int(w), "height": int(h),
            "fps": None if fps is None else float(fps), "n_frames": int(n), "intrinsics": _r(K, 4)}


def raise_for_errors(result: PoseRunResult) -> None:
    """Raise InputError summarising ``result.errors`` (no-op when there are none)."""
    if result.errors:
        listing = "; ".join(f"{s}: {m}" for s, m in result.errors)
        raise InputError(f"{len(result.errors)} input(s) could not be processed: {listing}")

