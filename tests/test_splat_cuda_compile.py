"""The CUDA sources of the splatting backend compile (nvcc; bindings syntax-checked with g++).
Results are cached by source digest under the headgen cache, so re-runs are instant."""
import hashlib
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from headgen.assets import cache_dir
from headgen.ext import EXT_ROOT, INCLUDE_DIR, nvcc_compile_check

CUDA_HOME = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda"))


def _nvcc():
    return shutil.which("nvcc") or (str(CUDA_HOME / "bin" / "nvcc") if (CUDA_HOME / "bin" / "nvcc").exists() else None)


def _stamp(tag, files):
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).read_bytes())
    d = cache_dir() / "ext" / f"splat_check_{tag}_{h.hexdigest()[:12]}"
    return d


def _sources():
    return [EXT_ROOT / "cuda" / "splat_cuda.cu", INCLUDE_DIR / "splat_cuda.h", INCLUDE_DIR / "splat_math.h",
            INCLUDE_DIR / "hg_common.h"]


def test_nvcc_compiles_splat_kernels():
    if _nvcc() is None:
        pytest.skip("nvcc not found")
    d = _stamp("nvcc", _sources())
    if (d / "ok").exists():
        return
    objs = nvcc_compile_check(["cuda/splat_cuda.cu"], d)
    assert objs[0].exists() and objs[0].stat().st_size > 1000
    (d / "ok").write_text("ok")


@pytest.mark.slow  # ~1 min uncached on 2 cores (parses all torch headers); cached by digest afterwards
def test_cuda_bindings_syntax():
    """The torch bindings (built only with a CUDA torch) parse against torch + CUDA headers."""
    if not (CUDA_HOME / "include" / "cuda_runtime_api.h").exists():
        pytest.skip("CUDA headers not found")
    from torch.utils.cpp_extension import include_paths

    srcs = [EXT_ROOT / "bindings.cpp", EXT_ROOT / "cuda" / "torch_ops.cpp"]
    d = _stamp("bind", _sources() + srcs + [INCLUDE_DIR / "ops.h", INCLUDE_DIR / "raster_api.h"])
    if (d / "ok").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    stub = d / "stub" / "c10" / "cuda" / "impl"
    stub.mkdir(parents=True, exist_ok=True)  # generated header absent from CPU torch wheels
    (stub / "cuda_cmake_macros.h").write_text("#pragma once\n")
    cmd = ["c++", "-fsyntax-only", "-std=c++17", "-w", *[f"-I{p}" for p in include_paths()],
           f"-I{sysconfig.get_paths()['include']}", f"-I{INCLUDE_DIR}", f"-I{CUDA_HOME / 'include'}",
           f"-I{d / 'stub'}", "-DTORCH_EXTENSION_NAME=headgen_check", "-DHG_WITH_CUDA"]
    for src in srcs:
        r = subprocess.run(cmd + [str(src)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
    (d / "ok").write_text("ok")
