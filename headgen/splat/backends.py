"""Backend discovery for headgen.splat: our CPU (OpenMP) and CUDA extensions, gsplat, the torch reference."""
from __future__ import annotations

import importlib.util
import warnings
from functools import lru_cache

import torch

from headgen.errors import InputError

CPU_SOURCES = ("cpu/splat_cpu.cpp",)
CUDA_SOURCES = ("cuda/splat_cuda.cu", "splat_bindings_cuda.cpp")
CUDA_KERNEL_SOURCES = ("cuda/splat_cuda.cu",)  # compile-checked with nvcc on machines without a CUDA torch
BACKENDS = ("cuda", "cpu", "gsplat", "torch")
_BUILD_ERRORS: dict[str, Exception] = {}  # extensions whose build failed in this process


def cpu_ops():
    """The CPU extension module (built with OpenMP on first use, cached)."""
    from headgen.ext import load_extension
    return load_extension("headgen_splat_cpu", CPU_SOURCES)


@lru_cache(maxsize=None)
def cuda_ops():
    """The CUDA extension (needs a CUDA build of torch and nvcc)."""
    from headgen.ext import load_extension
    return load_extension("headgen_splat_cuda", CUDA_SOURCES, cuda=True)


def gsplat_available() -> bool:
    """gsplat importable and a GPU present (its CUDA rasteriser is what we wrap)."""
    return torch.cuda.is_available() and importlib.util.find_spec("gsplat") is not None


def resolve_backend(backend: str, device: torch.device) -> str:
    """Map ``"auto"`` (or a name) to a concrete backend for tensors on ``device``.

    auto: CUDA tensors -> our "cuda" extension (1.0-1.3x gsplat's speed on an H200, bench/results/gpu/),
    else "gsplat" when installed (e.g. no nvcc to build ours); CPU tensors -> our "cpu" extension
    (>= 20x faster than "torch", see bench/splat.py); "torch" (with a warning) when nothing else works.
    """
    if backend not in BACKENDS + ("auto",):
        raise InputError(f"rasterize: unknown backend '{backend}' (choose one of auto, {', '.join(BACKENDS)})")
    is_cuda = device.type == "cuda"
    if backend == "auto":
        ours = "cuda" if is_cuda else "cpu"
        if ours not in _BUILD_ERRORS:
            try:  # our extension for the device (a failed build is not retried in this process)
                cuda_ops() if is_cuda else cpu_ops()
                return ours
            except Exception as e:  # ExtensionBuildError, missing compiler / nvcc
                _BUILD_ERRORS[ours] = e
                if not (is_cuda and gsplat_available()):
                    warnings.warn(f"headgen.splat: {ours} extension unavailable ({e}); "
                                  "using the slow torch reference backend")
        return "gsplat" if is_cuda and gsplat_available() else "torch"
    if backend in ("cuda", "gsplat") and not is_cuda:
        raise InputError(f"rasterize: backend '{backend}' needs CUDA tensors (got tensors on {device})")
    if backend == "cpu" and is_cuda:
        raise InputError("rasterize: backend 'cpu' needs CPU tensors (got CUDA tensors)")
    if backend == "gsplat" and importlib.util.find_spec("gsplat") is None:
        raise InputError("rasterize: backend 'gsplat' requested but gsplat is not installed")
    return backend
