"""Benchmark: head-pose accuracy on known-pose renders, per texture and per solver variant.

Usage: ``python bench/pose_known.py [--grid-textures 3] [--out bench/results/pose_known_cpu.md]``.

The ICT head is textured from each frontal sample photo (and from the first frame of GRID clips),
rendered at the 27 poses of ``headgen.testing.known_pose.KNOWN_POSES`` and run through
MediaPipe once (image mode, as ``headgen pose`` on images). The landmarks are then solved with
several variants of the pose solver, so the variants meet identical landmarks:

- ``default``: Procrustes + PnP + left/right pair depths (what ``headgen pose`` runs);
- ``pnp``: Procrustes + PnP on the 2D landmarks only;
- ``procrustes``: the weak-perspective 3D Procrustes fit alone (uses all of MediaPipe's depth);
- ``depth-all w1`` / ``w3``: PnP plus the centred depths of all PnP landmarks (weight 1 / 3);
- ``ict points``: the default solver with the ICT head's own MediaPipe-468 points (its embedding,
  rigidly aligned to the canonical face) as the model instead of MediaPipe's canonical face.

For each variant it prints the known-pose MAE (yaw / pitch / roll, degrees) for |yaw| <= 45 and
<= 60 per texture, and the two real-image checks of the pose issue that such changes can break:
mirror consistency on the sample photos (max |angle(flipped) - mirrored angle| per photo, limit 2)
and raw frame-to-frame jitter (std of the change of each angle) on GRID clips in video mode.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

PHOTOS = ("codait_luciano", "codait_bryan", "astronaut_eileen_collins")


def ict_points_face():
    """MediaPipe's canonical face with its 468 vertices replaced by the ICT mean head's embedded
    MediaPipe points, rigidly aligned (no scale) to the canonical ones on the Procrustes landmarks."""
    from dataclasses import replace

    from headgen.landmarks.canonical import load_canonical_face
    from headgen.models import load_head_model
    from headgen.geometry.procrustes import umeyama

    face = load_canonical_face()
    P = load_head_model("ict", parts="face", mediapipe=True)().landmarks468[0].double().numpy()
    ids = face.procrustes_ids
    _, R, t = umeyama(P[ids], face.vertices[ids], with_scale=False)
    return replace(face, vertices=P @ R.T + t)


def variants():
    from headgen.stages.pose.solver import HeadPoseSolver

    ict = ict_points_face()
    return {
        "default": lambda K: HeadPoseSolver(K),
        "pnp": lambda K: HeadPoseSolver(K, depth_weight=0.0),
        "procrustes": lambda K: HeadPoseSolver(K, refine=False),
        "depth-all w1": lambda K: HeadPoseSolver(K, depth_mode="all", depth_weight=1.0),
        "depth-all w3": lambda K: HeadPoseSolver(K, depth_mode="all", depth_weight=3.0),
        "ict points": lambda K: HeadPoseSolver(K, face=ict),
    }


def textures(n_grid: int) -> dict:
    """name -> RGB uint8 image of a face to texture the head from."""
    from headgen.assets import sample_faces, sample_videos
    from headgen.io.images import read_image
    from headgen.io.video import read_video

    faces = {p.stem: p for p in sample_faces()}
    out = {name: read_image(faces[name]) for name in PHOTOS}
    for clip in sample_videos()[:n_grid]:
        frames, _ = read_video(clip, max_frames=1)
        out[f"grid_{clip.stem}"] = frames[0]
    return out


def collect(n_grid: int, n_jitter: int) -> dict:
    """Run MediaPipe once on everything the variants are measured on; returns landmarks and sizes."""
    from headgen.assets import sample_videos
    from headgen.io.video import read_video
    from headgen.landmarks.mediapipe_backend import FaceLandmarker
    from headgen.testing import known_pose
    from headgen.stages.pose.estimate import camera_matrix
    from headgen.stages.pose.params import PoseParams

    K = camera_matrix(known_pose.RENDER_SIZE, known_pose.RENDER_SIZE, PoseParams(fov=known_pose.RENDER_FOV))
    data = {"K": K, "renders": {}, "mirror": {}, "jitter": {}}

    def first(faces):
        return faces[0].landmarks_468 if faces else None

    with FaceLandmarker(max_faces=1) as lm:
        for name, img in textures(n_grid).items():
            found = lm.detect(img)
            if not found:
                print(f"  {name}: no face, skipped")
                continue
            head = known_pose.textured_ict_head(img, found[0].landmarks_68)
            data["renders"][name] = {pose: first(lm.detect(r)) for pose, r in known_pose.render_known_poses(head, K)}
            if name in PHOTOS:
                data["mirror"][name] = (img.shape[:2], first(found),
                                        first(lm.detect(np.ascontiguousarray(img[:, ::-1]))))
    with FaceLandmarker(max_faces=1, video=True) as lm:
        for clip in sample_videos()[:n_jitter]:
            frames, _ = read_video(clip, max_frames=75)
            lm.reset()
            data["jitter"][clip.stem] = (frames[0].shape[:2], [first(lm.detect(f)) for f in frames])
    return data


def evaluate(make, data) -> dict:
    """Scores of one solver variant on the collected landmarks."""
    from headgen.testing import known_pose
    from headgen.stages.pose.estimate import camera_matrix
    from headgen.stages.pose.params import PoseParams

    solver = make(data["K"])
    out = {"mae45": {}, "mae60": {}, "missed": {}, "mirror": {}, "jitter": []}
    for name, per_pose in data["renders"].items():
        est = {p: (solver.solve(L).rotation if L is not None else None) for p, L in per_pose.items()}
        out["missed"][name] = sum(r is None for r in est.values())
        if est.get((0, 0, 0)) is None:
            continue
        out["mae45"][name] = known_pose.mean_abs_error(est, 45)
        out["mae60"][name] = known_pose.mean_abs_error(est, 60)
    sign = np.array([-1.0, 1.0, -1.0])
    for name, ((h, w), a, b) in data["mirror"].items():
        if a is None or b is None:
            continue
        s = make(camera_matrix(w, h, PoseParams()))
        out["mirror"][name] = float(np.abs(s.solve(b).ypr - sign * s.solve(a).ypr).max())
    for (h, w), seq in data["jitter"].values():
        s = make(camera_matrix(w, h, PoseParams()))
        ypr = np.array([s.solve(L).ypr for L in seq if L is not None])
        out["jitter"].append(np.diff(ypr, axis=0).std(0))
    out["jitter"] = np.mean(out["jitter"], 0) if out["jitter"] else np.full(3, np.nan)
    return out


def fmt(v) -> str:
    return " / ".join(f"{x:.2f}" for x in v)


def report(results: dict, data: dict) -> str:
    names = list(data["renders"])
    lines = ["# Known-pose accuracy per texture and solver variant (bench/pose_known.py)", "",
             "MAE yaw / pitch / roll in degrees over the 27 renders of `known_pose.KNOWN_POSES` "
             "(|yaw| <= 45: 21 renders); the test (tests/test_pose_known.py) uses the codait_luciano texture.", ""]
    lines += ["| variant | texture | MAE \\|yaw\\| <= 45 | MAE \\|yaw\\| <= 60 | missed |", "|---|---|---|---|---|"]
    for v, r in results.items():
        for n in names:
            if n in r["mae60"]:
                lines.append(f"| {v} | {n} | {fmt(r['mae45'][n])} | {fmt(r['mae60'][n])} | {r['missed'][n]} |")
        all60 = np.mean([r["mae60"][n] for n in names if n in r["mae60"]], 0)
        all45 = np.mean([r["mae45"][n] for n in names if n in r["mae45"]], 0)
        lines.append(f"| {v} | **mean** | {fmt(all45)} | {fmt(all60)} | |")
    lines += ["", "Real-image checks (limit for mirror consistency: 2 degrees):", "",
              "| variant | mirror max per photo (" + ", ".join(data["mirror"]) + ") | GRID raw jitter yaw / pitch / roll |",
              "|---|---|---|"]
    for v, r in results.items():
        lines.append(f"| {v} | {', '.join(f'{x:.2f}' for x in r['mirror'].values())} | {fmt(r['jitter'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid-textures", type=int, default=3, help="GRID clips whose first frame textures a head")
    ap.add_argument("--jitter-clips", type=int, default=3, help="GRID clips for the jitter column")
    ap.add_argument("--out", default=None, help="also write the tables to this markdown file")
    ap.add_argument("--cores", type=int, default=2, help="CPU cores to pin the process to")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    t0 = time.perf_counter()
    data = collect(args.grid_textures, args.jitter_clips)
    t1 = time.perf_counter()
    results = {name: evaluate(make, data) for name, make in variants().items()}
    text = report(results, data)
    print(text)
    print(f"landmarks {t1 - t0:.1f} s, solves {time.perf_counter() - t1:.1f} s")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
