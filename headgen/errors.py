"""User-facing error type: anything raised as HeadgenError is printed by the CLI as one line."""


class HeadgenError(Exception):
    """A problem with the user's input or environment, reported as one line (no traceback)."""


class InputError(HeadgenError, ValueError):
    """Bad input data: the message names the file (or argument) and the problem."""


class InputWarning(UserWarning):
    """Input that can be used but looks damaged (e.g. a truncated file): the message names the file; the CLI
    prints it as one line ``headgen: warning: ...``."""


class MissingDependencyError(HeadgenError, ImportError):
    """An optional dependency is needed; the message says what to install."""


def require(module: str, extra: str, feature: str):
    """Import and return ``module`` or raise MissingDependencyError naming ``pip install headgen[extra]``."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - exercised by environments without the extra
        raise MissingDependencyError(
            f"{feature} needs the optional package '{module}': pip install 'headgen[{extra}]' ({e})") from e
