"""``headgen demo``: the default job on the sample inputs - a portrait + speech in, the portrait talking out.

Runs ``configs/demo.yaml`` (pose -> fit -> one-shot avatar -> animate -> talking_head) through the pipeline
runner (a second run is served from the cache) with a real portrait and a real speech clip from the assets
(``headgen.assets``) unless others are given. The video: ``OUT/talking_head.mp4``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from headgen.assets import REPO_ROOT

DEMO_PIPELINE = REPO_ROOT / "configs" / "demo.yaml"
DEFAULT_PORTRAIT = "faces/codait_luciano.png"


def run_demo(out: Path, portrait: Optional[Path] = None, speech: Optional[Path] = None, text: Optional[str] = None,
             quiet: bool = True, sets: tuple = ()) -> Path:
    """Run the demo pipeline -> path of OUT/talking_head.mp4 (InputError / PipelineRunError on
    failure, one line)."""
    from headgen import assets
    from headgen.jobs import talking_head

    portrait = portrait or assets.resolve(DEFAULT_PORTRAIT)
    speech = speech or assets.sample_speech()
    return talking_head(portrait, speech, out, text=text, pipeline=DEMO_PIPELINE, sets=sets, quiet=quiet)


def demo_command(
    out: Path = typer.Option(Path("demo_out"), "-o", "--out", help="Output folder."),
    portrait: Optional[Path] = typer.Option(None, "--portrait", help="A photo with a face (default: a sample)."),
    speech: Optional[Path] = typer.Option(None, "--speech", help="Speech audio (default: a CMU ARCTIC clip)."),
    text: Optional[str] = typer.Option(None, "--text", help="Transcript of the speech (default: transcribed)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Portrait + speech -> the portrait talking (OUT/talking_head.mp4), via configs/demo.yaml."""
    video = run_demo(out, portrait, speech, text, quiet=quiet)
    info = Path(video).parent / "talking_head" / "talking_head.json"
    if info.exists():
        for w in json.loads(info.read_text()).get("warnings", []):
            typer.echo(f"headgen: warning: {w}", err=True)
    typer.echo(f"talking head: {video}")


def register(app: typer.Typer) -> None:
    """Add ``headgen demo`` to the app."""
    app.command("demo")(demo_command)
