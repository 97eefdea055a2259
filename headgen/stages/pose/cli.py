"""``headgen pose INPUT... -o OUT [--viz]``: head pose for images, folders and videos.

Writes OUT/pose.json (schema: ``headgen.artifacts.pose``) and with ``--viz`` OUT/viz/ (annotated
PNGs for images, mp4 with the source audio for videos). Unreadable inputs are reported one line
each on stderr; the others are still processed; the exit code is then 1. The options are declared
once, on ``PoseParams`` (``headgen.stages.pose.params``).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from headgen.pipeline.params import build_params, option
from headgen.stages.pose.params import PoseParams as P


def _parse_intrinsics(text: Optional[str]):
    from headgen.errors import InputError
    if text is None:
        return None
    try:
        vals = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise InputError(f"--intrinsics {text!r}: expected 'fx,fy,cx,cy' in pixels with fx, fy > 0")
    return tuple(vals)


def pose_command(
    inputs: List[Path] = typer.Argument(..., metavar="INPUT...", help="Images, folders of images, videos."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (pose.json, viz/)."),
    viz: bool = option(P, "viz"),
    max_faces: int = option(P, "max_faces"),
    no_smooth: bool = typer.Option(False, "--no-smooth", help="No temporal smoothing in videos."),
    refine_landmarks: bool = option(P, "refine_landmarks"),
    fov: float = option(P, "fov"),
    intrinsics: Optional[str] = option(P, "intrinsics", metavar="FX,FY,CX,CY"),
    max_frames: Optional[int] = option(P, "max_frames"),
) -> None:
    """Estimate head pose (yaw/pitch/roll, rotation, translation, landmarks) -> OUT/pose.json."""
    from headgen.errors import InputError
    from headgen.stages.pose.estimate import estimate_poses

    params = build_params(P, {"smooth": "--no-smooth"}, max_faces=max_faces, refine_landmarks=refine_landmarks,
                          smooth=not no_smooth, fov=fov, intrinsics=_parse_intrinsics(intrinsics), viz=viz,
                          max_frames=max_frames)
    result = estimate_poses(inputs, out, params)
    for e in result.errors:
        print(f"headgen: error: {e[0]}: {e[1]}", file=sys.stderr)
    print(f"{result.n_frames} frame(s) from {len(inputs)} input(s) -> {result.pose_json}"
          + (f", {len(result.viz_files)} viz file(s)" if viz else ""))
    if result.errors:
        err = InputError(f"{len(result.errors)} input(s) could not be read (listed above); "
                         f"the others are in {result.pose_json}")
        err.exit_code = 1
        raise err


def register(app: typer.Typer) -> None:
    """Add ``headgen pose`` to the app."""
    app.command("pose")(pose_command)
