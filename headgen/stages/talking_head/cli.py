"""``headgen talking-head PHOTO SPEECH -o OUT [--text T] [--size 512|native] [--frame N] ...``.

Without ``--fit``/``--animation``: runs the whole job (``configs/talking_head.yaml``: pose -> fit -> one-shot
avatar -> animate -> talking_head) into OUT, like ``headgen.talking_head()``; the video is
OUT/talking_head.mp4 (the pipeline's node folders beside it). With ``--fit FIT.npz --animation ANIMATION.npz`` (and optionally
``--avatar DIR``): only the compositing stage, into OUT/talking_head.mp4. The stage's options are declared
once, on ``TalkingHeadParams`` (``headgen.stages.talking_head.stage``).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from headgen.pipeline.params import build_params, option
from headgen.stages.talking_head.stage import TalkingHeadParams as P


def _size(v: str):
    return v if str(v) == "native" else (int(v) if str(v).isdigit() else v)


def talking_head_command(
    photo: Path = typer.Argument(..., metavar="PHOTO", help="A photo with a face (or a video: --frame picks the still)."),
    speech: Path = typer.Argument(..., metavar="SPEECH", help="Speech audio (any format ffmpeg reads)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    text: Optional[str] = typer.Option(None, "--text", help="Transcript of the speech (else it is transcribed)."),
    size: str = typer.Option("512", "--size", help=P.model_fields["size"].description),
    frame: int = option(P, "frame"),
    mode: str = option(P, "mode"),
    detail: float = option(P, "detail"),
    motion: float = option(P, "motion"),
    device: str = option(P, "device"),
    fit: Optional[Path] = typer.Option(None, "--fit", help="fit.npz of PHOTO (with --animation: compositing only)."),
    animation: Optional[Path] = typer.Option(None, "--animation", help="animation.npz of SPEECH (with --fit)."),
    avatar: Optional[Path] = typer.Option(None, "--avatar", help="Avatar folder (compositing only)."),
    pose: Optional[Path] = typer.Option(None, "--pose", help="pose.json of PHOTO (warns about several faces)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Photo + speech -> the photo talking (H.264 + AAC mp4)."""
    from headgen.errors import InputError

    params = build_params(P, None, size=_size(size), frame=frame, mode=mode, detail=detail, motion=motion,
                          device=device)
    if (fit is None) != (animation is None):
        raise InputError("--fit and --animation go together (compositing only); give both or neither")
    if fit is None:
        if avatar is not None or pose is not None:
            raise InputError("--avatar/--pose need --fit and --animation (compositing only)")
        from headgen.jobs import talking_head
        sets = [f"talking_head.{k}={v}" for k, v in (("mode", mode), ("detail", detail), ("motion", motion),
                                                       ("device", device))]
        video = talking_head(photo, speech, out, text=text, size=params.size, frame=frame, sets=tuple(sets),
                             quiet=quiet)
    else:
        from headgen.jobs import check_inputs
        from headgen.stages.talking_head.stage import run_talking_head
        if text:
            raise InputError("--text is for the whole job (without --fit/--animation)")
        check_inputs(photo, speech, frame)
        inputs = {"media": photo, "fit": fit, "animation": animation, "speech": speech}
        if avatar is not None:
            inputs["avatar"] = avatar
        if pose is not None:
            inputs["pose"] = pose
        run_talking_head(inputs, params, out, log=lambda m: None if quiet else print(m),
                         warn=lambda m: print(f"headgen: warning: {m}", file=sys.stderr))
        video = Path(out) / "talking_head.mp4"
    typer.echo(f"talking head: {video}")


def register(app: typer.Typer) -> None:
    """Add ``headgen talking-head`` to the app."""
    app.command("talking-head")(talking_head_command)
