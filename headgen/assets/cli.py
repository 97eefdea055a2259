"""``headgen assets list|where|fetch|convert-ict``: the CLI over :mod:`headgen.assets.fetch`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from headgen import assets
from headgen.assets import fetch as af
from headgen.assets import ict
from headgen.errors import InputError


def register(app) -> None:
    """Add the ``headgen assets`` sub-app (fetch / list / where) to the main typer app."""
    import typer

    sub = typer.Typer(help="Third-party data: list what is needed, where it is searched, download it.",
                      no_args_is_help=True, add_completion=False)

    @sub.command("fetch")
    def fetch_cmd(
        groups: Optional[list[str]] = typer.Argument(
            None, help=f"groups to fetch: {', '.join(af.GROUPS)} or all (default: all)"),
        dest: Optional[Path] = typer.Option(None, "--dest", help="asset root to fill (default: user cache)"),
        force: bool = typer.Option(False, "--force", help="download again even if present"),
        timeout: float = typer.Option(af.DEFAULT_TIMEOUT, "--timeout", help="seconds per network operation"),
        keep_downloads: bool = typer.Option(False, "--keep-downloads",
                                            help="keep ICT-FaceKit's OBJs after conversion"),
    ) -> None:
        """Download upstream sources (sha256-checked) into the user cache (or --dest)."""
        for g in groups or []:
            if g != "all":
                af.group_files(g)      # validates the name before any download
        af.fetch(groups, dest, force=force, timeout=timeout, keep_downloads=keep_downloads, log=typer.echo)

    @sub.command("list")
    def list_cmd(
        groups: Optional[list[str]] = typer.Argument(None, help="groups to list (default: all)"),
        verify: bool = typer.Option(False, "--verify", help="also check sha256 / array digests"),
    ) -> None:
        """What each asset is, where it was found, found/missing."""
        names = list(af.GROUPS) if not groups or "all" in groups else groups
        missing = 0
        for g in names:
            typer.echo(f"[{g}]")
            for a in af.group_files(g):
                status, p = af.asset_status(a, verify)
                missing += status != "found"
                typer.echo(f"  {status:<12} {a.path:<52} {a.what}" + (f"\n{'':15}at {p}" if p else ""))
        if missing:
            typer.echo(f"{missing} asset file(s) not found: run `headgen assets fetch` (or set HEADGEN_ASSETS); "
                       f"search roots: `headgen assets where`")

    @sub.command("convert-ict")
    def convert_ict_cmd(
        kit: Path = typer.Argument(..., help="an ICT-FaceKit checkout (or its FaceXModel folder)"),
        dest: Optional[Path] = typer.Option(None, "--dest", help="asset root to write (default: user cache)"),
        no_verify: bool = typer.Option(False, "--no-verify",
                                       help="skip the reference-digest check (modified or partial kits)"),
    ) -> None:
        """Convert a local ICT-FaceKit checkout into <dest>/ict_facekit/ict_facekit.npz (no network)."""
        obj_dir = kit / "FaceXModel" if (kit / "FaceXModel").is_dir() else kit
        if not (obj_dir / ict.NEUTRAL_OBJ).is_file():
            raise InputError(f"{kit}: no FaceXModel/{ict.NEUTRAL_OBJ} here (expected an ICT-FaceKit "
                             f"checkout, github.com/ICT-VGL/ICT-FaceKit @ {af.ICT_COMMIT[:7]})")
        out = (dest.expanduser() if dest else af.default_dest()) / "ict_facekit" / "ict_facekit.npz"
        ict.convert_ict_facekit(obj_dir, out, verify=False if no_verify else True, progress=None)
        lic = obj_dir.parent / "LICENSE"
        if lic.is_file():
            af._write_verified(lic.read_bytes(), out.parent / "LICENSE", None, "LICENSE", str(lic))
        typer.echo(f"wrote {out}")

    @sub.command("where")
    def where_cmd() -> None:
        """The asset search roots, in order, and the download cache."""
        env = os.environ.get("HEADGEN_ASSETS")
        typer.echo("asset search roots (first match wins):")
        for i, r in enumerate(assets.search_roots(), 1):
            note = "exists" if r.is_dir() else "absent"
            typer.echo(f"  {i}. {r}  [{note}]")
        typer.echo(f"HEADGEN_ASSETS={env or '(unset)'}; `headgen assets fetch` writes to {af.default_dest()} "
                   f"(set HEADGEN_CACHE to move it)")

    app.add_typer(sub, name="assets")
