"""``headgen demo``: the default job on the sample inputs - portrait + speech in, talking-head video out.

Runs ``configs/demo.yaml`` through the pipeline runner (so a second run is served from the cache) with a
real portrait and a real speech clip from the assets (``headgen.assets``) unless others are given.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from headgen.assets import REPO_ROOT

DEMO_PIPELINE = REPO_ROOT / "configs" / "demo.yaml"
DEFAULT_PORTRAIT = "faces/codait_luciano.png"


def demo_command(
    out: Path = typer.Option(Path("demo_out"), "-o", "--out", help="Output folder."),
    portrait: Optional[Path] = typer.Option(None, "--portrait", help="A photo with a face (default: a sample)."),
    speech: Optional[Path] = typer.Option(None, "--speech", help="Speech audio (default: a CMU ARCTIC clip)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Portrait + speech -> talking-head preview video (OUT/preview/preview.mp4), via configs/demo.yaml."""
    from headgen import assets
    from headgen.pipeline.runner import raise_for_failures, run_pipeline

    portrait = portrait or assets.resolve(DEFAULT_PORTRAIT)
    speech = speech or assets.sample_speech()
    result = run_pipeline(DEMO_PIPELINE, out, inputs=[f"portrait={portrait}", f"speech={speech}"], quiet=quiet)
    raise_for_failures(result)
    video = Path(out) / "preview" / "preview.mp4"
    if video.exists():
        typer.echo(f"talking-head preview: {video}")


def register(app: typer.Typer) -> None:
    """Add ``headgen demo`` to the app."""
    app.command("demo")(demo_command)
