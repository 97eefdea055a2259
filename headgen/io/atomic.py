"""Atomic file writes: write a temporary file beside the target, then ``os.replace`` it into place, so
a killed process never leaves a truncated file under the final name."""
from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def check_output_file(path: str | Path, create_parent: bool = False) -> Path:
    """Check that ``path`` can be an output file (not a folder; no file where its folder goes); with
    ``create_parent`` make its folder. Raises InputError naming ``path`` -> Path. For commands that work a
    long time before writing: call it first, so a bad ``-o`` fails before the work."""
    from headgen.errors import InputError

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name for this output")
    bad = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if bad is not None:
        raise InputError(f"{path}: cannot create its folder ({bad} is a file)")
    if create_parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Context manager yielding a temporary path in ``path``'s folder (same suffix); on a clean exit it
    is renamed to ``path``, on an exception it is removed. Creates the parent folder.
    Raises InputError (naming ``path``) before anything is written when ``path`` is a folder or its parent
    cannot be a folder (a file stands there)."""
    path = Path(path)
    check_output_file(path, create_parent=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically -> path."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically -> path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = None,
                      separators: tuple[str, str] | None = None, newline: bool = False) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (``newline``: end with a line break) -> path."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, separators=separators) + ("\n" if newline else ""))


def write_npz_atomic(path: str | Path, arrays: dict[str, Any], compressed: bool = False) -> Path:
    """``np.savez`` (``np.savez_compressed`` when ``compressed``) of ``arrays`` to ``path`` atomically -> path."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return Path(path)


def replace_dir(final: str | Path, fill, prefix: str | None = None) -> Path:
    """Build a folder with ``fill(tmp)`` in a temporary folder beside ``final``, then swap it in at ``final``
    (a previous ``final`` is renamed aside and removed), so ``final`` is never half-written. The temporary
    folder is removed when ``fill`` raises. prefix: names the temporaries ``.tmp-PREFIX-...``/``.old-PREFIX-...``
    (default: final's name). -> final."""
    import os
    import shutil

    final = Path(final)
    tag = f"{prefix or final.name}-{os.getpid()}"
    tmp = final.parent / f".tmp-{tag}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
        if final.exists() or final.is_symlink():
            old = final.parent / f".old-{tag}-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
