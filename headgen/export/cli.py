"""``headgen export PATH -o OUT.glb|OUT.obj|OUT.ply``: a thin CLI over :func:`headgen.export.export_clip`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def export_command(
    path: Path = typer.Argument(..., metavar="PATH", help="animation.npz, fit.npz, avatar folder or pipeline output folder."),
    out: Path = typer.Option(..., "-o", "--out", help="OUT.glb (animated morph-target head), OUT.obj or OUT.ply."),
    frame: int = typer.Option(0, "--frame", help="Frame for .obj/.ply mesh exports."),
    node: Optional[str] = typer.Option(None, "--node", help="Pipeline folder: which node output to export."),
    parts: str = typer.Option("head", "--parts", help="ICT parts: face, head or full."),
    mesh: bool = typer.Option(False, "--mesh", help="Avatar -> .ply: write the head mesh, not the Gaussians."),
) -> None:
    """Export a fit / animation / avatar to glTF (.glb with 52 ARKit morph targets + animation), OBJ or PLY."""
    from headgen.errors import InputError
    from headgen.export import export_clip
    if parts not in ("face", "head", "full"):
        raise InputError(f"--parts {parts!r}: choose face, head or full")
    res = export_clip(path, out, frame=frame, node=node, parts=parts, mesh_ply=mesh)
    print(f"wrote {res} ({res.stat().st_size / 1e6:.1f} MB)")


def register(app: typer.Typer) -> None:
    """Add ``headgen export`` to the app."""
    app.command("export")(export_command)
