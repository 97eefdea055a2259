"""Benchmark: head pose on the GRID clips (decode + detection + landmarks + pose solve + smoothing).

Usage: ``python bench/pose.py [--clips N] [--cores 2]``. Runs every clip through the video path
(MediaPipe face-mesh tracking, detector only when tracking is lost, One-Euro smoothing) and, as the
baseline in the same process, through the image path (detector + mesh on every frame, no
smoothing). Prints frames/s, per-step milliseconds per frame, and the speed-up ratio.
Target: >= 60 frames/s for the video path on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import time


def run(clips, video: bool, smooth: bool) -> dict:
    from headgen.io.video import VideoReader
    from headgen.landmarks.mediapipe_backend import FaceLandmarker
    from headgen.stages.pose.estimator import HeadPoseEstimator
    from headgen.stages.pose.estimate import camera_matrix
    from headgen.stages.pose.params import PoseParams

    totals = {"decode": 0.0, "detect": 0.0, "landmarks": 0.0, "pose": 0.0, "smoothing": 0.0}
    n = 0
    with FaceLandmarker(max_faces=1, video=video) as lm:
        t_all = time.perf_counter()
        for clip in clips:
            reader = VideoReader(clip)
            w, h = reader.size
            est = HeadPoseEstimator(camera_matrix(w, h, PoseParams()), video=video, smooth=smooth, landmarker=lm)
            it = iter(reader)
            i = 0
            while True:
                t0 = time.perf_counter()
                frame = next(it, None)
                totals["decode"] += time.perf_counter() - t0
                if frame is None:
                    break
                est.process(frame, i / reader.fps)
                i += 1
            for k, v in est.timings.items():
                totals[k] += v
            n += i
        wall = time.perf_counter() - t_all
    return {"frames": n, "wall": wall, **totals}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=8, help="number of GRID clips (default all 8)")
    ap.add_argument("--cores", type=int, default=2, help="CPU cores to pin the process to")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cpus)
    import cv2

    cv2.setNumThreads(args.cores)
    from headgen.assets import sample_videos

    clips = sample_videos()[: args.clips]
    run(clips[:1], video=True, smooth=True)        # warm-up: graph creation, page cache
    results = {"image mode (baseline)": run(clips, video=False, smooth=False),
               "video mode (tracking + smoothing)": run(clips, video=True, smooth=True)}
    print(f"GRID clips: {len(clips)}, cores: {args.cores}")
    print(f"{'mode':36s} {'frames':>6s} {'fps':>7s}  ms/frame: {'decode':>7s} {'detect':>7s} {'landmk':>7s} "
          f"{'pose':>7s} {'smooth':>7s} {'other':>7s}")
    for name, r in results.items():
        n = max(r["frames"], 1)
        steps = [r[k] for k in ("decode", "detect", "landmarks", "pose", "smoothing")]
        other = r["wall"] - sum(steps)
        print(f"{name:36s} {r['frames']:6d} {n / r['wall']:7.1f}            "
              + " ".join(f"{1000 * s / n:7.2f}" for s in steps + [other]))
    base, fast = results["image mode (baseline)"], results["video mode (tracking + smoothing)"]
    ratio = (fast["frames"] / fast["wall"]) / (base["frames"] / base["wall"])
    fps = fast["frames"] / fast["wall"]
    print(f"speed-up video/image mode: {ratio:.2f}x; video mode {fps:.1f} frames/s "
          f"({'meets' if fps >= 60 else 'below'} the 60 frames/s target)")


if __name__ == "__main__":
    main()
