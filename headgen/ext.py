"""Build and load the C++/CUDA extension whose sources live in ``<repo>/cuda_ext``.

The per-element math lives in ``cuda_ext/include/*.h`` as ``HG_HD`` (``__host__ __device__``)
functions, compiled twice: by g++ with OpenMP into the CPU extension ``headgen_ops_cpu`` (always
available where a compiler is) and, with nvcc, into ``headgen_ops_cuda`` (when torch has CUDA). Both
register the same op names (``cuda_ext/bindings.cpp``: Gaussian splatting and the triangle
rasteriser); the CUDA build also runs the CPU ops on CPU tensors. :func:`ops` returns the module;
:func:`build_once` is the one place that remembers a failed build (never retried in the process) so
``headgen.splat`` and ``headgen.render`` fall back to their torch references. Builds go through
``torch.utils.cpp_extension.load`` (ninja, cached under ``~/.cache/headgen/ext``), once per source
digest, on first use.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable

from headgen.assets import REPO_ROOT, cache_dir
from headgen.errors import HeadgenError

EXT_ROOT = REPO_ROOT / "cuda_ext"
INCLUDE_DIR = EXT_ROOT / "include"
#: sources of the two builds (relative to cuda_ext/); the CUDA build compiles with -DHG_WITH_CUDA
CPU_SOURCES = ("bindings.cpp", "cpu/splat_cpu.cpp", "cpu/raster_cpu.cpp")
CUDA_SOURCES = CPU_SOURCES + ("cuda/splat_cuda.cu", "cuda/raster_cuda.cu", "cuda/torch_ops.cpp")
#: the plain-CUDA kernel files, compile-checked with nvcc where torch has no CUDA (nvcc_compile_check)
CUDA_KERNEL_SOURCES = ("cuda/splat_cuda.cu",)
_FAILED: dict[str, Exception] = {}   # backend key -> the exception of its failed build (this process)


class ExtensionBuildError(HeadgenError):
    """The extension could not be compiled; the message carries the compiler's last lines."""


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(set(paths)):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _included_headers(paths: list[Path]) -> list[Path]:
    """Headers of INCLUDE_DIR reachable through ``#include "x.h"`` from ``paths`` (recursively), so an
    extension rebuilds when, and only when, a header it uses changes."""
    seen: set[Path] = set()
    todo = list(paths)
    while todo:
        for name in re.findall(r'#include\s+"([^"]+)"', todo.pop().read_text(errors="ignore")):
            h = INCLUDE_DIR / name
            if h.exists() and h not in seen:
                seen.add(h)
                todo.append(h)
    return sorted(seen)


def extension_build_dir(name: str, sources: tuple[str, ...]) -> Path:
    """The cache folder of one build of extension ``name`` from ``sources`` (relative to ``cuda_ext/``): named by the
    digest of the sources and the headers they include, so an edit gets a fresh build."""
    src = [EXT_ROOT / s for s in sources]
    return cache_dir() / "ext" / f"{name}_{_digest(src + _included_headers(src))}"


@lru_cache(maxsize=None)
def load_extension(name: str, sources: tuple[str, ...], cuda: bool = False, verbose: bool = False):
    """Compile (once, cached) and import a torch extension.

    name: python module name of the extension, e.g. ``"headgen_splat_cpu"``.
    sources: paths relative to ``cuda_ext/`` (``.cpp`` for CPU, ``.cu`` + ``.cpp`` for CUDA).
    cuda: build with nvcc (requires a CUDA build of torch and ``CUDA_HOME``).
    Returns the imported module; raises ExtensionBuildError with the compiler output on failure.
    """
    from torch.utils import cpp_extension

    src = [EXT_ROOT / s for s in sources]
    missing = [str(s) for s in src if not s.exists()]
    if missing:
        raise ExtensionBuildError(f"extension '{name}': source files missing: {', '.join(missing)}")
    build_dir = extension_build_dir(name, sources)
    build_dir.mkdir(parents=True, exist_ok=True)
    cflags = ["-O3", "-fopenmp", "-DHG_WITH_OPENMP"] + (["-DHG_WITH_CUDA"] if cuda else [])  # torch picks the std
    kwargs = dict(name=name, sources=[str(s) for s in src], extra_include_paths=[str(INCLUDE_DIR)],
                  extra_cflags=cflags, extra_ldflags=["-fopenmp"], build_directory=str(build_dir),
                  verbose=verbose)
    if cuda:
        kwargs["extra_cuda_cflags"] = ["-O3", "--use_fast_math", "-std=c++17", "-lineinfo", "-DHG_WITH_CUDA"]
    if not os.environ.get("MAX_JOBS"):
        os.environ["MAX_JOBS"] = str(max(1, (os.cpu_count() or 2)))
    try:
        with _build_lock(build_dir):
            return cpp_extension.load(**kwargs)
    except Exception as e:  # compiler errors come back as RuntimeError/CalledProcessError
        msg = str(e).strip().splitlines()
        raise ExtensionBuildError(f"building extension '{name}' failed: {' | '.join(msg[-8:])}") from e


@contextlib.contextmanager
def _build_lock(build_dir: Path):
    """Hold an exclusive ``flock`` on ``build_dir/.headgen.flock`` while torch builds or loads the extension.

    torch marks a build in progress with a plain file ``build_dir/lock`` and makes every other process wait until
    it is deleted; a build killed midway (Ctrl-C, a time limit) leaves it behind, and every later run would wait
    forever. The kernel drops a ``flock`` when its process dies, so a ``lock`` file found while this lock is held
    belongs to no running headgen build: it is removed. Where ``fcntl`` is missing (not POSIX) nothing is done."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - POSIX only
        yield
        return
    with open(build_dir / ".headgen.flock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            stale = build_dir / "lock"
            if stale.exists():
                warnings.warn(f"headgen: removing {stale}, left by an extension build that was interrupted")
                stale.unlink(missing_ok=True)
            with _one_ninja():
                yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _one_ninja():
    """Put the ``ninja`` of the Python package ``ninja`` (installed with headgen) first on PATH for the build.

    torch runs whichever ``ninja`` PATH finds first; ninja 1.12 changed the hash it keeps of each command line, so a
    build directory used alternately by the system's ninja (an interpreter started without its environment's bin/
    on PATH) and the package's saw every command as changed and recompiled everything, each time."""
    try:
        import ninja as ninja_pkg
        bin_dir = str(getattr(ninja_pkg, "BIN_DIR", ""))
    except ImportError:
        bin_dir = ""
    if not bin_dir or not (Path(bin_dir) / "ninja").exists():
        yield
        return
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = bin_dir + os.pathsep + old
    try:
        yield
    finally:
        os.environ["PATH"] = old


def ops(cuda: bool = False):
    """The headgen extension module for CPU (``cuda=False``) or CUDA tensors (built once, cached): ops
    project_fwd/bwd, sh_fwd/bwd, bin_tiles, raster_fwd/bwd (splatting) and mesh_raster (triangles).
    Raises ExtensionBuildError when it cannot be built."""
    if cuda:
        return load_extension("headgen_ops_cuda", CUDA_SOURCES, cuda=True)
    return load_extension("headgen_ops_cpu", CPU_SOURCES)


def build_once(key: str, build: Callable, fallback: str | None = None):
    """``build()`` (an extension loader such as ``lambda: ops(True)``) unless a build under ``key`` already
    failed in this process -> the module, or None when it fails now or failed before. The first failure
    is remembered (not retried: a failing compile is slow) and, with ``fallback`` (what the caller uses
    instead), reported once as a warning."""
    if key in _FAILED:
        return None
    try:
        return build()
    except Exception as e:  # ExtensionBuildError, missing compiler / nvcc / CUDA torch
        _FAILED[key] = e
        if fallback:
            warnings.warn(f"headgen: the {key} extension is unavailable ({e}); using {fallback}")
        return None


def build_error(key: str) -> Exception | None:
    """The remembered failure of the ``key`` build in this process (None: not failed or not tried)."""
    return _FAILED.get(key)


def nvcc_compile_check(cu_files: list[str], out_dir: str | Path, extra_flags: list[str] | None = None) -> list[Path]:
    """Compile ``.cu`` files (relative to ``cuda_ext/``) to object files with nvcc directly against
    torch's headers, without a CUDA torch: proves the CUDA sources compile on a GPU-less machine.
    Returns the object paths; raises ExtensionBuildError with nvcc's output on failure."""
    import sysconfig

    from torch.utils.cpp_extension import include_paths

    nvcc = shutil.which("nvcc") or (Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / "nvcc")
    if not Path(str(nvcc)).exists():
        raise ExtensionBuildError("nvcc not found: install the CUDA toolkit or set CUDA_HOME")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    incs = [f"-I{p}" for p in include_paths()] + [f"-I{INCLUDE_DIR}", f"-I{sysconfig.get_paths()['include']}"]
    objs = []
    for cu in cu_files:
        obj = out_dir / (Path(cu).stem + ".o")
        cmd = [str(nvcc), "-c", str(EXT_ROOT / cu), "-o", str(obj), "-std=c++17", "-O3",
               "-DTORCH_EXTENSION_NAME=headgen_check", "--expt-relaxed-constexpr",
               "-Xcompiler", "-fPIC", *incs, *(extra_flags or [])]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            tail = " | ".join((r.stderr or r.stdout).strip().splitlines()[-10:])
            raise ExtensionBuildError(f"nvcc failed on {cu}: {tail}")
        objs.append(obj)
    return objs
