"""``headgen animate SPEECH -o OUT`` and ``headgen train-audio FIT.npz... --media VIDEO... -o MODEL.pt``.

animate: speech (any audio/video file) -> OUT/animation.npz, OUT/animation_arkit.csv (Live Link Face layout),
OUT/video.mp4 (head mesh or avatar, with the speech). Options build ``AnimateStage.Params``.
train-audio: trains the audio->ARKit network on fitted talking videos (their fit.npz + the videos' audio).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def animate_command(
    speech: Path = typer.Argument(..., metavar="SPEECH", help="Audio or video file (its audio track)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    text: Optional[str] = typer.Option(None, "--text", help="Transcript of the speech."),
    text_file: Optional[Path] = typer.Option(None, "--text-file", help="File with the transcript."),
    avatar: Optional[Path] = typer.Option(None, "--avatar", help="Avatar folder (avatar_rig.npz) to render."),
    model: str = typer.Option("ict", "--model", help="Head model to render / target: ict or flame."),
    flame: Optional[Path] = typer.Option(None, "--flame", help="FLAME generic_model.pkl (for --model flame)."),
    style: Optional[Path] = typer.Option(None, "--style", help="fit.npz of a talking video (with --style-media) or a style npz."),
    style_media: Optional[Path] = typer.Option(None, "--style-media", help="The video that --style's fit.npz was fitted to."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Audio->ARKit model from `headgen train-audio`."),
    phones: Optional[Path] = typer.Option(None, "--phones", help="Phone labels (ARCTIC .lab or tsv) instead of timing."),
    fps: float = typer.Option(25.0, "--fps", help="Output frame rate."),
    seed: int = typer.Option(0, "--seed", help="Seed of blinks, saccades and head drift."),
    size: int = typer.Option(384, "--size", help="Video size in pixels."),
    method: str = typer.Option("auto", "--method", help="Phone timing: auto, align, whisper+align, allphone, hama, hama+align."),
    no_video: bool = typer.Option(False, "--no-video", help="Curves and CSV only."),
) -> None:
    """Speech -> OUT/animation.npz, OUT/animation_arkit.csv, OUT/video.mp4."""
    import pydantic

    from headgen.errors import InputError
    from headgen.stages.animate.stage import AnimateStage, run_animate

    if text is not None and text_file is not None:
        raise InputError("give --text or --text-file, not both")
    try:
        params = AnimateStage.Params(text=text, model=model, flame_path=str(flame) if flame else None, fps=fps,
                                     seed=seed, size=size, method=method)
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        raise InputError(f"--{'-'.join(str(x) for x in err['loc']) or 'options'}: {err['msg']}") from None
    inputs = {"speech": speech}
    for k, v in (("text_file", text_file), ("phones", phones), ("style", style), ("style_media", style_media),
                 ("weights", weights), ("avatar", avatar)):
        if v is not None:
            inputs[k] = v
    res = run_animate(inputs, params, out, log=print, video=not no_video)
    print(f"{res.n_frames} frames -> {res.animation.parent}")


def train_audio_command(
    fits: List[Path] = typer.Argument(..., metavar="FIT.npz...", help="fit.npz files of talking videos."),
    media: List[Path] = typer.Option(..., "--media", help="The fitted videos (or their audio), same order."),
    out: Path = typer.Option(..., "-o", "--out", help="Output weights (.pt)."),
    steps: int = typer.Option(400, "--steps", min=1, help="Training steps (full batch)."),
    width: int = typer.Option(64, "--width", min=4, help="Channels of the network."),
    seed: int = typer.Option(0, "--seed", help="Seed."),
) -> None:
    """Train the audio->ARKit network on (audio, fitted curves) pairs from the fit stage -> MODEL.pt."""
    from headgen.errors import InputError
    from headgen.stages.animate.training import train_from_fits

    from headgen.io.atomic import check_output_file
    if len(fits) != len(media):
        raise InputError(f"{len(fits)} fit files but {len(media)} --media files: give one video per fit")
    check_output_file(out)   # a bad -o fails now, not after the training
    train_from_fits(fits, media, out, steps=steps, width=width, seed=seed, log=print)
    print(f"weights -> {out}")


def register(app: typer.Typer) -> None:
    """Add ``headgen animate`` and ``headgen train-audio`` to the app."""
    app.command("animate")(animate_command)
    app.command("train-audio")(train_audio_command)
