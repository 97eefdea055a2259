"""``headgen fit INPUT -o OUT [--model ict|flame --flame PATH] [--photometric] [--cameras cams.json]``.

Fits one identity and per-frame expression + rigid pose to a video or image (landmarks detected here
with MediaPipe unless ``--pose pose.json`` from ``headgen pose`` is given), or to a folder of per-camera
videos with ``--cameras`` (schema in ``headgen.geometry.rig``). Writes OUT/fit.npz (schema in
``headgen.artifacts.fit``), OUT/fit_metrics.json and OUT/fit_overlay.mp4 (``headgen.stages.fit.fitting``).
The fit's options are declared once, on ``FitParams`` (``headgen.stages.fit.stage``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from headgen.pipeline.params import build_params, option
from headgen.stages.fit.params import FitParams as P


def fit_command(
    input: Path = typer.Argument(..., metavar="INPUT", help="Video or image (a folder of per-camera media with --cameras)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (fit.npz, fit_metrics.json, fit_overlay.mp4)."),
    model: str = option(P, "model"),
    flame: Optional[Path] = option(P, "flame_path", "--flame"),
    photometric: bool = option(P, "photometric"),
    cameras: Optional[Path] = typer.Option(None, "--cameras", help="Multi-view camera JSON (OpenCV K, R, t, dist, image_size)."),
    pose: Optional[Path] = typer.Option(None, "--pose", help="pose.json from `headgen pose` (skips landmark detection)."),
    fit_focal: bool = option(P, "fit_focal"),
    fov: float = option(P, "fov"),
    device: str = option(P, "device"),
    max_frames: Optional[int] = option(P, "max_frames"),
    no_overlay: bool = typer.Option(False, "--no-overlay", help="Skip the overlay video."),
    gaze: bool = option(P, "gaze"),
) -> None:
    """Fit a 3D head model to a video / image -> OUT/fit.npz, OUT/fit_metrics.json, OUT/fit_overlay.mp4."""
    from headgen.errors import InputError
    from headgen.stages.fit.fitting import fit_media

    params = build_params(P, {"flame_path": "--flame"}, model=model, flame_path=str(flame) if flame else None,
                          photometric=photometric, device=device, fit_focal=fit_focal, fov=fov,
                          max_frames=max_frames, gaze=gaze)
    if cameras is not None and pose is not None:
        raise InputError("--pose and --cameras cannot be combined (multi-view fitting detects landmarks per camera)")
    if pose is not None and not pose.is_file():
        raise InputError(f"{pose}: no such pose file")
    res = fit_media(input, out, params, pose=pose, cameras=cameras, log=lambda m: print(m), overlay=not no_overlay)
    m = res.metrics
    nme = m["nme_mean"]
    print(f"NME {'n/a' if nme is None else f'{100 * nme:.2f}%'} over {m['n_valid']}/{m['n_frames']} frame(s); "
          f"fit {m['fit_seconds']:.2f} s ({m['fps']:.1f} frames/s) -> {res.fit_npz.parent}")


def register(app: typer.Typer) -> None:
    """Add ``headgen fit`` to the app."""
    app.command("fit")(fit_command)
