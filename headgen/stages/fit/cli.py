"""``headgen fit INPUT -o OUT [--model ict|flame --flame PATH] [--photometric] [--cameras cams.json]``.

Fits one identity and per-frame expression + rigid pose to a video or image (landmarks detected here
with MediaPipe unless ``--pose pose.json`` from ``headgen pose`` is given), or to a folder of per-camera
videos with ``--cameras`` (schema in ``headgen.stages.fit.cameras``). Writes OUT/fit.npz,
OUT/fit_metrics.json and OUT/fit_overlay.mp4 (schemas in ``headgen.stages.fit.run``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from headgen.geometry.conventions import DEFAULT_FOV_DEG


def fit_command(
    input: Path = typer.Argument(..., metavar="INPUT", help="Video or image (a folder of per-camera media with --cameras)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (fit.npz, fit_metrics.json, fit_overlay.mp4)."),
    model: str = typer.Option("ict", "--model", help="Head model: ict (shipped) or flame (needs --flame)."),
    flame: Optional[Path] = typer.Option(None, "--flame", help="FLAME 2020/2023 generic_model.pkl (or its folder)."),
    photometric: bool = typer.Option(False, "--photometric", help="Add a photometric term through the differentiable renderer."),
    cameras: Optional[Path] = typer.Option(None, "--cameras", help="Multi-view camera JSON (OpenCV K, R, t, dist, image_size)."),
    pose: Optional[Path] = typer.Option(None, "--pose", help="pose.json from `headgen pose` (skips landmark detection)."),
    fit_focal: bool = typer.Option(False, "--fit-focal", help="Also optimise the focal length."),
    fov: float = typer.Option(DEFAULT_FOV_DEG, "--fov", help="Assumed field of view, degrees across the longer side."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Frames per input (default all)."),
    no_overlay: bool = typer.Option(False, "--no-overlay", help="Skip the overlay video."),
    gaze: bool = typer.Option(False, "--gaze", help="Also fit eyeball rotations to MediaPipe's iris centres."),
) -> None:
    """Fit a 3D head model to a video / image -> OUT/fit.npz, OUT/fit_metrics.json, OUT/fit_overlay.mp4."""
    from headgen.errors import InputError
    from headgen.stages.fit.run import FitOptions, fit_media

    if model not in ("ict", "flame"):
        raise InputError(f"--model {model!r}: choose ict or flame")
    if not (1.0 < fov < 179.0):
        raise InputError(f"--fov {fov}: expected degrees in (1, 179)")
    if cameras is not None and pose is not None:
        raise InputError("--pose and --cameras cannot be combined (multi-view fitting detects landmarks per camera)")
    if pose is not None and not pose.is_file():
        raise InputError(f"{pose}: no such pose file")
    opts = FitOptions(model=model, flame_path=str(flame) if flame else None, photometric=photometric,
                      device=device, fit_focal=fit_focal, fov=fov, max_frames=max_frames, overlay=not no_overlay,
                      gaze=gaze)
    res = fit_media(input, out, opts, pose=pose, cameras=cameras, log=lambda m: print(m))
    m = res.metrics
    nme = m["nme_mean"]
    print(f"NME {'n/a' if nme is None else f'{100 * nme:.2f}%'} over {m['n_valid']}/{m['n_frames']} frame(s); "
          f"fit {m['fit_seconds']:.2f} s ({m['fps']:.1f} frames/s) -> {res.fit_npz.parent}")


def register(app: typer.Typer) -> None:
    """Add ``headgen fit`` to the app."""
    app.command("fit")(fit_command)
