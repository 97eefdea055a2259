"""The ``headgen`` command: a thin typer app; each part contributes its subcommands.

Every module in ``COMMAND_MODULES`` exposes ``register(app: typer.Typer) -> None``.
User errors (:class:`headgen.errors.HeadgenError`, missing files, bad YAML) are printed as
one line on stderr with a non-zero exit code, never as a traceback.
"""
from __future__ import annotations

import errno
import importlib
import sys
import warnings

import typer

from headgen.errors import HeadgenError

COMMAND_MODULES = [
    "headgen.pipeline.cli",      # headgen run
    "headgen.assets.cli",        # headgen assets ...
    "headgen.stages.pose.cli",   # headgen pose
    "headgen.stages.fit.cli",    # headgen fit
    "headgen.stages.avatar.cli",  # headgen avatar
    "headgen.stages.animate.cli",  # headgen animate, headgen train-audio
    "headgen.stages.sculpt.cli",   # headgen sculpt, headgen train-sculpt
    "headgen.stages.talking_head.cli",  # headgen talking-head
    "headgen.demo",              # headgen demo
    "headgen.export.cli",        # headgen export
    "headgen.viewer.cli",        # headgen view
]

app = typer.Typer(help="headgen: photos, video and speech to 3D heads and talking-head videos.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _root() -> None:
    """headgen: photos, video and speech to 3D head avatars and talking-head animations."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:   # that part is not built in this checkout
                continue
            raise
        module.register(app)


_register_all()


_USER_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EEXIST, errno.ENOTDIR,
                errno.EISDIR}


def _os_error_line(e: OSError) -> str:
    """'PATH: problem' for an OSError (its file names first, like the other one-line errors)."""
    what = e.strerror or type(e).__name__
    if e.errno in (errno.EEXIST, errno.ENOTDIR):
        what += " (a file is where a folder should be)"
    if e.filename is None:
        return what
    return f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 is not None else "") + f": {what}"


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: runs the app, turning user errors into one line + exit code, and headgen's
    InputWarning (usable but damaged input) into one line ``headgen: warning: ...`` (other warnings unchanged)."""
    from headgen.errors import InputWarning
    show = warnings.showwarning

    def one_line(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, InputWarning):
            print(f"headgen: warning: {message}", file=file or sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = one_line
    try:
        return _main(argv)
    finally:
        warnings.showwarning = show


def _main(argv: list[str] | None) -> int:
    """:func:`main` without the warning format."""
    try:
        app(args=argv, standalone_mode=False)
    except HeadgenError as e:
        print(f"headgen: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 1)
    except FileNotFoundError as e:
        print(f"headgen: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:   # an output path the OS refuses (a file where a folder goes, no permission, disk full)
        if e.filename is None and e.errno not in _USER_ERRNOS:
            raise
        print(f"headgen: error: {_os_error_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("headgen: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except Exception as e:  # click's usage errors (typer >= 0.2x vendors click as typer._click)
        for modname in ("click.exceptions", "typer._click.exceptions"):
            try:
                exc = importlib.import_module(modname)
            except ImportError:
                continue
            click_error, abort = getattr(exc, "ClickException", None), getattr(exc, "Abort", None)
            if click_error is not None and isinstance(e, click_error):   # one line, like every other error
                ctx = getattr(e, "ctx", None)
                path = getattr(ctx, "command_path", None)
                where = f"{path}: " if path else ""
                usage = getattr(exc, "UsageError", None)
                hint = f" (see '{path} --help')" if path and usage is not None and isinstance(e, usage) else ""
                print(f"headgen: error: {where}{e.format_message()}{hint}", file=sys.stderr)
                return e.exit_code
            if abort is not None and isinstance(e, abort):   # typer's vendored click has no Abort
                return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
