"""``headgen view PATH [--port 8080] [--audio SPEECH]`` and ``headgen view --headless PATH --screenshot OUT.png``:
a thin CLI over :mod:`headgen.viewer`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def view_command(
    path: Path = typer.Argument(..., metavar="PATH", help="Avatar folder, fit.npz, animation.npz or pipeline output folder."),
    port: int = typer.Option(8080, "--port", help="Port of the web page (0 = any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to serve on (0.0.0.0 for other machines)."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="Speech to play with an animation."),
    media: Optional[Path] = typer.Option(None, "--media", help="Video for a fit's backdrop (default: the pipeline's input)."),
    avatar: Optional[Path] = typer.Option(None, "--avatar", help="Avatar folder to drive with a fit.npz / animation.npz."),
    node: Optional[str] = typer.Option(None, "--node", help="Pipeline folder: which node output to show first."),
    parts: str = typer.Option("head", "--parts", help="ICT mesh parts: face, head or full."),
    headless: bool = typer.Option(False, "--headless", help="Draw in headless Chromium and exit (with --screenshot)."),
    shot: Optional[Path] = typer.Option(None, "--screenshot", help="--headless: write the drawn frame to this PNG."),
    frame: int = typer.Option(0, "--frame", help="--headless: frame to draw."),
    size: str = typer.Option("800x600", "--size", help="--headless: image size WxH."),
) -> None:
    """Interactive 3D viewer in the browser (viser): splats, meshes, camera, playback, ARKit sliders."""
    from headgen.errors import InputError
    if parts not in ("face", "head", "full"):
        raise InputError(f"--parts {parts!r}: choose face, head or full")
    for p, what in ((audio, "--audio"), (media, "--media")):
        if p is not None and not p.is_file():
            raise InputError(f"{what} {p}: no such file")
    if not 0 <= port <= 65535:
        raise InputError(f"--port {port}: choose 0..65535 (0 = any free port)")
    if audio is not None:   # unreadable speech: say so now, not in the page of a server that runs on
        from headgen.io.audio import probe_audio
        probe_audio(audio)
    if media is not None:
        from headgen.io.media import media_kind
        if media_kind(media) == "video":
            from headgen.io.video import probe_video
            probe_video(media)
        else:
            from headgen.io.images import read_image
            read_image(media)
    source = path
    if avatar is not None:
        from headgen.export.sources import load_clip
        source = load_clip(path, node=node, media=media, audio=audio, avatar=avatar)
    if headless or shot is not None:
        if not (headless and shot is not None):
            raise InputError("--headless and --screenshot OUT.png go together")
        try:
            w, h = (int(x) for x in size.lower().split("x"))
        except ValueError:
            raise InputError(f"--size {size!r}: expected WxH, e.g. 800x600") from None
        if w < 1 or h < 1:
            raise InputError(f"--size {size!r}: width and height must be positive pixels, e.g. 800x600")
        from headgen.viewer import screenshot
        r = screenshot(source, shot, size=(w, h), frame=frame, parts=parts, node=node, media=media)
        print(f"wrote {r['path']} (first frame {r['first_frame_s']:.1f} s after the browser started)")
        return
    from headgen.viewer import Viewer
    viewer = Viewer(source, host=host, port=port, parts=parts, audio=audio, media=media, node=node,
                    screenshot_dir=Path.cwd())
    print(f"headgen view: {viewer.url}  (Ctrl-C to stop)", flush=True)
    try:
        viewer.server.sleep_forever()
    finally:
        viewer.close()


def register(app: typer.Typer) -> None:
    """Add ``headgen view`` to the app."""
    app.command("view")(view_command)
