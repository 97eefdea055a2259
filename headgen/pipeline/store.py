"""Content-addressed artifact store with atomic, crash-safe commits.

Layout (``root`` is ``OUT/.cache`` or ``--cache DIR``; may be shared by concurrent runs and machines)::

    root/<key>/meta.json          # completion marker + provenance (written before the directory appears)
    root/<key>/out/<output path>  # the stage's declared outputs (files made read-only)
    root/.tmp/<key>.<host>.<pid>.<random>/   # private work dirs of running stages

A stage writes into a private temp dir; the runner then writes ``meta.json`` (tmp file + rename) and
renames the whole temp dir to ``root/<key>`` in one ``os.rename``. So ``root/<key>`` either does not
exist or is complete: a run killed at any moment leaves at most an orphan temp dir (removed later when its
process is gone), never a half-written artifact. If two runs race on one key, the second rename fails
because the (non-empty) final dir exists: the loser discards its copy and uses the winner's.

Cache key = sha256 of canonical JSON {stage, version, params (all, defaults included), input digests}.
Digest of a file = sha256 of its bytes; of a directory = sha256 over sorted (relative path, file digest).
Digests of big user inputs are remembered in root/.digests (keyed by path, size, mtime, ctime, inode).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import stat
import threading
import uuid
from pathlib import Path
from typing import Any

from headgen.io.atomic import write_json_atomic as _write_json_atomic, write_text_atomic

KEY_SCHEMA = "headgen-cache-v1"
META = "meta.json"
_CHUNK = 1 << 20
PERSIST_DIGEST_MIN_BYTES = 1 << 20

_digest_cache: dict[tuple, str] = {}
_digest_lock = threading.Lock()


def _file_digest(path: Path, st: os.stat_result | None = None) -> str:
    st = st or os.stat(path)
    ck = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    with _digest_lock:
        hit = _digest_cache.get(ck)
    if hit is not None:
        return hit
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(_CHUNK)
            if not b:
                break
            h.update(b)
    d = h.hexdigest()
    with _digest_lock:
        if len(_digest_cache) > 100_000:
            _digest_cache.clear()
        _digest_cache[ck] = d
    return d


def digest_path(path: str | Path, file_digest=None) -> str:
    """Content digest of a file ("f:<sha256>") or a directory tree ("d:<sha256>" of relative paths and
    file digests; empty directories count). Raises FileNotFoundError if ``path`` does not exist.
    ``file_digest(path, stat)`` -> sha256 hex may replace the plain (in-process cached) file hash."""
    path = Path(path)
    file_digest = file_digest or _file_digest
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        return "f:" + file_digest(path, st)
    h = hashlib.sha256()
    entries: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, path)
        if rel_dir != "." and not filenames and not dirnames:
            entries.append((rel_dir.replace(os.sep, "/") + "/", "dir"))
        for fn in filenames:
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            entries.append((rel, file_digest(Path(full), os.stat(full))))
    for rel, d in sorted(entries):
        h.update(rel.encode())
        h.update(b"\0")
        h.update(d.encode())
        h.update(b"\n")
    return "d:" + h.hexdigest()


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) used for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def cache_key(stage: str, version: str, params: dict, input_digests: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of everything that determines a stage's outputs."""
    blob = canonical_json({"schema": KEY_SCHEMA, "stage": stage, "version": str(version),
                           "params": params, "inputs": input_digests})
    return hashlib.sha256(blob.encode()).hexdigest()


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON (indented, final newline) to ``path`` atomically (``headgen.io.atomic``)."""
    _write_json_atomic(path, obj, indent=2, newline=True)


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """A content-addressed artifact directory; see the module docstring for the layout and guarantees."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()
        self.tmp_root = self.root / ".tmp"
        self.tmp_root.mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname().replace(".", "_")

    def digest_input(self, path: str | Path) -> str:
        """digest_path for user inputs, remembering digests of big files (>= 1 MiB) across runs in
        ``root/.digests`` keyed by (resolved path, size, mtime_ns, ctime_ns, inode, device): a second run
        over large videos does not re-read them; any change to the file changes ctime and the key."""
        return digest_path(path, file_digest=self._remembered_file_digest)

    def _remembered_file_digest(self, path: Path, st: os.stat_result) -> str:
        if st.st_size < PERSIST_DIGEST_MIN_BYTES:
            return _file_digest(path, st)
        ident = canonical_json([str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                                st.st_ino, st.st_dev])
        rec = self.root / ".digests" / hashlib.sha256(ident.encode()).hexdigest()
        try:
            d = rec.read_text().strip()
            if len(d) == 64 and all(c in "0123456789abcdef" for c in d):
                return d
        except OSError:
            pass
        d = _file_digest(path, st)
        try:
            write_text_atomic(rec, d)
        except OSError:  # read-only cache: just do not remember
            pass
        return d

    def final_dir(self, key: str) -> Path:
        """Directory of a committed artifact (may not exist)."""
        return self.root / key

    def out_dir(self, key: str) -> Path:
        """Where a committed artifact's outputs live."""
        return self.root / key / "out"

    def lookup(self, key: str) -> dict | None:
        """Meta dict of the committed artifact ``key``, or None if absent/incomplete (a corrupt entry,
        e.g. damaged by hand, is moved aside so it gets recomputed)."""
        d = self.final_dir(key)
        try:
            with open(d / META) as f:
                meta = json.load(f)
        except FileNotFoundError:
            if d.exists():
                self._quarantine(d)
            return None
        except (OSError, ValueError):
            self._quarantine(d)
            return None
        out = d / "out"
        for o in (meta.get("outputs") or {}).values():
            if not (out / o["path"]).exists():
                self._quarantine(d)
                return None
        return meta

    def _quarantine(self, d: Path) -> None:
        aside = self.tmp_root / f"corrupt.{d.name}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(d, aside)
            shutil.rmtree(aside, ignore_errors=True)
        except OSError:
            pass

    def new_tmp(self, key: str) -> Path:
        """A fresh private temp dir for computing ``key`` (contains an empty ``out/``)."""
        tmp = self.tmp_root / f"{key}.{self._host}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        (tmp / "out").mkdir(parents=True)
        return tmp

    def commit(self, tmp: Path, key: str, meta: dict) -> tuple[dict, bool]:
        """Mark ``tmp`` complete (meta.json) and rename it to the key dir. Returns (meta of the committed
        artifact, True if ours won; False if another run committed the key first and ours was discarded)."""
        for dirpath, _dirs, files in os.walk(tmp / "out"):
            for fn in files:
                p = os.path.join(dirpath, fn)
                try:
                    if not os.path.islink(p):
                        os.chmod(p, os.stat(p).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
                except OSError:
                    pass
        write_json_atomic(tmp / META, meta)
        final = self.final_dir(key)
        try:
            os.rename(tmp, final)
            return meta, True
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR):
                raise
        self.discard(tmp)
        other = self.lookup(key)
        if other is None:  # the existing dir was corrupt and got moved aside: nothing to do but fail loudly
            raise RuntimeError(f"cache entry {final} appeared but is incomplete")
        return other, False

    def discard(self, tmp: Path) -> None:
        """Remove a temp dir (best effort)."""
        shutil.rmtree(tmp, ignore_errors=True)

    def cleanup_stale(self) -> int:
        """Remove temp dirs left by dead processes on this host; returns how many were removed."""
        n = 0
        try:
            entries = list(os.scandir(self.tmp_root))
        except FileNotFoundError:
            return 0
        for e in entries:
            parts = e.name.split(".")
            if parts[0] == "corrupt" or (len(parts) == 4 and parts[1] == self._host and parts[2].isdigit()
                                         and not pid_alive(int(parts[2]))):
                shutil.rmtree(e.path, ignore_errors=True)
                n += 1
        return n


def materialize(src: Path, dst: Path) -> None:
    """Place ``src`` (file or dir tree) at ``dst`` using hard links (copies across file systems)."""
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            target = dst if rel == "." else dst / rel
            for d in dirnames:
                (target / d).mkdir(exist_ok=True)
            for fn in filenames:
                _link_or_copy(Path(dirpath) / fn, target / fn)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(src, dst)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
