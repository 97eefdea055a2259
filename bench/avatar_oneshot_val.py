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


def smooth_options(spec: str | None) -> dict:
    """``"POSE,EXPRESSION"`` smoothing half-widths in frames -> AvatarOptions keyword arguments ({} for None)."""
    if not spec:
        return {}
    a, b = (float(v) for v in spec.split(","))
    return dict(smooth_pose=a, smooth_expression=b)


def validate(clips, tag: str, prefix: str, fit_for, options, baseline: str, extra=lambda m: "") -> None:
    """Run the avatar stage on each GRID clip with ``options`` and print one line per clip: face / mouth box PSNR of
    the avatar and of the stage's baseline (printed as ``baseline``), then ``extra(metrics)``. Fits come from
    ``fit_for(clip)`` or, where it gives None, bench/cache/avatar/<clip>/fit/fit.npz; outputs go to
    bench/cache/avatar/<prefix>_<tag>_<clip>/."""
    sys.path.insert(0, str(ROOT))
    from headgen.assets import resolve
    from headgen.stages.avatar.run import run_avatar

    work = ROOT / "bench" / "cache" / "avatar"
    for c in clips:
        t = time.perf_counter()
        fit = fit_for(c) or work / c / "fit" / "fit.npz"
        m = run_avatar(resolve(f"video/{c}.mpg"), fit, work / f"{prefix}_{tag}_{c}", options)
        h = m["heldout"]
        print(f"{tag} {c}: face avatar {h['avatar']['face']['psnr']:.2f} {baseline} {h['retrieval']['face']['psnr']:.2f} | "
              f"mouth avatar {h['avatar']['mouth']['psnr']:.2f} {baseline} {h['retrieval']['mouth']['psnr']:.2f}"
              f"{extra(m)} | {time.perf_counter() - t:.0f} s", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tag")
    ap.add_argument("--clips", default=CLIPS)
    ap.add_argument("--fits", default=None, help="Read the fits from DIR/<clip>/fit.npz.")
    ap.add_argument("--smooth", default=None, help="POSE,EXPRESSION smoothing sigmas in frames (default: the stage's).")
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE: a constant of headgen.stages.avatar.run "
                    "(e.g. ONE_SHOT_INPAINT_DILATE=0, ONE_SHOT_FRINGE='{\"reach\": 0.1}'), for variants.")
    ap.add_argument("--extra", default="{}", help="TrainOptions overrides as JSON (e.g. iterations, lr_scales).")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from headgen.stages.avatar.run import AvatarOptions

    import headgen.stages.avatar.run as R
    for kv in args.set:
        k, v = kv.split("=", 1)
        cur = getattr(R, k)
        setattr(R, k, json.loads(v) if cur is None else type(cur)(json.loads(v)))
    validate(args.clips.split(","), args.tag, "val",
             lambda c: Path(args.fits) / c / "fit.npz" if args.fits else None,
             AvatarOptions(holdout="5:31", one_shot=True, device="cpu", lpips=False,
                           extra=json.loads(args.extra), **smooth_options(args.smooth)),
             "copy0", lambda m: f" | frame-0 face {m['train_view']['face']['psnr']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
