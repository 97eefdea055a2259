"""One-shot avatar validation on frames the issue-13 bench never scores: built from frame 0 of each GRID clip, driven
by the clip's fit on frames 5-30 (``--holdout 5:31``), compared with copying frame 0 on the same pixels. The one-shot
settings (steps, what the photo fit may change, seeding) were chosen on these numbers, never on frames 35-54.

    python bench/avatar_oneshot_val.py TAG [--clips a,b] [--extra '{"iterations": 60}'] [--fits DIR]

Prints one line per clip (face / mouth box PSNR of the avatar and of copying frame 0, the avatar's own frame-0 face
PSNR) and writes the metrics to bench/cache/avatar/val_TAG_<clip>/. Fits: bench/cache/avatar/<clip>/fit/fit.npz as
bench/avatar.py caches them, or DIR/<clip>/fit.npz with ``--fits DIR`` (e.g. fits made by another landmark version).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIPS = "bbaf2n,brbk7n,id2_vcd_swwp2s,lbax4n,lbbc2a,lwbsza,sbia1a,swiz3n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tag")
    ap.add_argument("--clips", default=CLIPS)
    ap.add_argument("--fits", default=None, help="Read the fits from DIR/<clip>/fit.npz.")
    ap.add_argument("--smooth", default=None, help="POSE,EXPRESSION smoothing sigmas in frames (default: the stage's).")
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE: a constant of headgen.stages.avatar.run "
                    "(e.g. ONE_SHOT_INPAINT_DILATE=0), for variants.")
    ap.add_argument("--extra", default="{}", help="TrainOptions overrides as JSON (e.g. iterations, lr_scales).")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from headgen.assets import resolve
    from headgen.stages.avatar.run import AvatarOptions, run_avatar

    import headgen.stages.avatar.run as R
    for kv in args.set:
        k, v = kv.split("=", 1)
        setattr(R, k, type(getattr(R, k))(json.loads(v)))
    smooth = {}
    if args.smooth:
        a, b = (float(v) for v in args.smooth.split(","))
        smooth = dict(smooth_pose=a, smooth_expression=b)
    for c in args.clips.split(","):
        t = time.perf_counter()
        work = ROOT / "bench" / "cache" / "avatar"
        fit = Path(args.fits) / c / "fit.npz" if args.fits else work / c / "fit" / "fit.npz"
        m = run_avatar(resolve(f"video/{c}.mpg"), fit, work / f"val_{args.tag}_{c}",
                       AvatarOptions(holdout="5:31", one_shot=True, device="cpu", lpips=False,
                                     extra=json.loads(args.extra), **smooth))
        h = m["heldout"]
        print(f"{args.tag} {c}: face avatar {h['avatar']['face']['psnr']:.2f} copy0 {h['retrieval']['face']['psnr']:.2f} | "
              f"mouth avatar {h['avatar']['mouth']['psnr']:.2f} copy0 {h['retrieval']['mouth']['psnr']:.2f} | "
              f"frame-0 face {m['train_view']['face']['psnr']:.2f} | {time.perf_counter() - t:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
