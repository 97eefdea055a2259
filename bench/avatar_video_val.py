"""Video avatar validation on frames the issue-13 bench never scores: frames 10-29 held out, frames 35-54 (the bench's
hold-out) neither trained on nor evaluated, training on the other 35 frames; compared with the retrieval baseline on
the same pixels. Video-mode settings that change training or driving are chosen on these numbers, never on 35-54.

    python bench/avatar_video_val.py TAG [--clips a,b] [--iterations 600] [--smooth POSE,EXPRESSION] [--fits DIR]
        [--refine [--transfer K]] [--extra JSON]

Prints one line per clip (face / mouth box PSNR of the avatar and of retrieval) and writes the metrics to
bench/cache/avatar/vval_TAG_<clip>/. Fits: bench/cache/avatar/<clip>/fit/fit.npz as bench/avatar.py caches them, or
DIR/<clip>/fit.npz with ``--fits DIR`` (e.g. fits made by another fit version, to compare two on the same frames).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tag")
    ap.add_argument("--clips", default="id2_vcd_swwp2s,brbk7n")
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--fits", default=None, help="Read the fits from DIR/<clip>/fit.npz.")
    ap.add_argument("--smooth", default=None, help="POSE,EXPRESSION smoothing sigmas in frames (default: the stage's).")
    ap.add_argument("--refine", action="store_true", help="Joint refinement of the per-frame parameters.")
    ap.add_argument("--transfer", type=int, default=3, help="With --refine: held-out frames take the refined "
                    "expression deltas of their k landmark-nearest training frames (0: the fit alone).")
    ap.add_argument("--extra", default="{}", help="TrainOptions overrides as JSON.")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from headgen.stages.avatar.run import AvatarOptions
    from avatar_oneshot_val import smooth_options, validate

    validate(args.clips.split(","), args.tag, "vval", lambda c: Path(args.fits) / c / "fit.npz" if args.fits else None,
             AvatarOptions(iterations=args.iterations, holdout="10:30", exclude="35:55", device="cpu",
                           lpips=False, refine=args.refine, refine_transfer=args.transfer,
                           extra=json.loads(args.extra), **smooth_options(args.smooth)),
             "retrieval", lambda m: f" | {len(m['train_frames'])} training frames" + (
                 f" | fit-driven face {m['heldout']['avatar_fit_driven']['face']['psnr']:.2f} mouth "
                 f"{m['heldout']['avatar_fit_driven']['mouth']['psnr']:.2f}" if "avatar_fit_driven" in m["heldout"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
