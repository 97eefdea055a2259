"""``headgen run PIPELINE.yaml -o OUT [...]``: run a pipeline (see headgen.pipeline.spec for the YAML)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

_HANDLER_FLAG = "_headgen_pipeline_handler"


def _setup_logging(level_name: str, quiet: bool) -> int:
    from headgen.pipeline.spec import PipelineError
    level = logging.getLevelName(level_name.upper())
    if not isinstance(level, int):
        raise PipelineError(f"--log-level {level_name}: unknown level (use DEBUG, INFO, WARNING, ERROR)")
    logger = logging.getLogger("headgen")
    for h in list(logger.handlers):
        if getattr(h, _HANDLER_FLAG, False):
            logger.removeHandler(h)
    if quiet:
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        from rich.console import Console
        from rich.logging import RichHandler
        handler = RichHandler(console=Console(stderr=True), show_path=False)
    setattr(handler, _HANDLER_FLAG, True)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return level


def run_command(
    pipeline: Path = typer.Argument(..., help="Pipeline YAML file.", exists=False),
    out: Path = typer.Option(..., "-o", "--out", help="Output directory (manifest.json, one dir per node)."),
    input_: Optional[List[str]] = typer.Option(None, "--input", "-i", metavar="NAME=PATH",
                                               help="Pipeline input; repeat or use a glob to fan out."),
    set_: Optional[List[str]] = typer.Option(None, "--set", metavar="NODE.PARAM=VALUE",
                                             help="Override a node parameter (VALUE parsed as YAML)."),
    executor: str = typer.Option("local", "--executor", help="local (thread pool) or ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (--executor ray)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Parallel nodes (default: CPUs/2, 2..8)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Artifact cache dir (default OUT/.cache); "
                                                               "share it between runs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    log_level: str = typer.Option("WARNING", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run a pipeline of stages: validate, then execute the DAG with caching; writes OUT/manifest.json."""
    from headgen.pipeline.runner import raise_for_failures, run_pipeline
    level = _setup_logging(log_level, quiet)
    result = run_pipeline(pipeline, out, inputs=list(input_ or []), sets=list(set_ or []), executor=executor,
                          workers=workers, cache=cache, address=address, quiet=quiet, log_level=level)
    raise_for_failures(result)
    if not quiet:
        counts: dict[str, int] = {}
        for s in result.statuses().values():
            counts[s] = counts.get(s, 0) + 1
        typer.echo(f"headgen: {', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}; "
                   f"manifest: {result.manifest_path}", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to the headgen CLI."""
    app.command("run")(run_command)


def main(argv: list[str] | None = None) -> int:
    """Standalone ``run`` command without the rest of the headgen CLI (fast start-up: no torch import);
    ``python -m headgen.pipeline.cli run PIPELINE.yaml -o OUT ...``. Returns the exit code."""
    import sys

    import click

    from headgen.errors import HeadgenError
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)

    @app.callback()
    def _root() -> None:
        """headgen pipeline runner."""

    register(app)
    try:
        app(args=argv, standalone_mode=False)
    except HeadgenError as e:
        print(f"headgen: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 1)
    except KeyboardInterrupt:
        print("headgen: interrupted", file=sys.stderr)
        return 130
    except click.exceptions.ClickException as e:
        e.show()
        return e.exit_code
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
