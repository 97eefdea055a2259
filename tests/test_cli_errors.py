"""headgen.cli.main: user errors become one line + exit code; a bug in a command surfaces as itself."""
import errno

import pytest
import typer

import headgen.cli as cli
from headgen.errors import InputError


def _app(exc):
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.command()
    def boom():
        raise exc

    @app.command()
    def other():
        pass
    return app


def test_input_error_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "app", _app(InputError("clip.mp4: no face found")))
    assert cli.main(["boom"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["headgen: error: clip.mp4: no face found"]


def test_unexpected_error_is_not_masked(monkeypatch):
    # before: the usage-error handler itself failed with AttributeError (typer's vendored click has no Abort)
    monkeypatch.setattr(cli, "app", _app(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["boom"])


def test_usage_error_exit_code_and_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "app", _app(RuntimeError("unused")))
    assert cli.main(["boom", "--no-such-option"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("headgen: error: ") and "--no-such-option" in err[0]
    assert "--help" in err[0]                      # where to look
    assert cli.main(["no-such-command"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-command" in err[0]


@pytest.mark.parametrize("exc, line", [
    (PermissionError(errno.EACCES, "Permission denied", "/ro/out/pose.json"), "/ro/out/pose.json: Permission denied"),
    (FileExistsError(errno.EEXIST, "File exists", "/out/pfile"), "/out/pfile: File exists"),
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
])
def test_os_error_is_one_line(monkeypatch, capsys, exc, line):
    # before: any OSError but FileNotFoundError left main() as a traceback (pose -o FILE, an unwritable -o)
    monkeypatch.setattr(cli, "app", _app(exc))
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"headgen: error: {line}"), err


def test_os_error_without_a_file_is_not_masked(monkeypatch):
    monkeypatch.setattr(cli, "app", _app(OSError(errno.EIO, "Input/output error")))
    with pytest.raises(OSError):
        cli.main(["boom"])


def test_input_warning_is_one_line_and_the_command_goes_on(monkeypatch, capsys):
    import warnings

    from headgen.errors import InputWarning

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.command()
    def warn():
        warnings.warn("speech.wav: decoded 0.30 s of audio, but the file declares 3.00 s (truncated?)", InputWarning)

    @app.command()
    def other():
        pass
    monkeypatch.setattr(cli, "app", app)
    before = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert cli.main(["warn"]) == 0
    assert capsys.readouterr().err.strip().splitlines() == [
        "headgen: warning: speech.wav: decoded 0.30 s of audio, but the file declares 3.00 s (truncated?)"]
    assert warnings.showwarning is before
