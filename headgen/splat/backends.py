"""Backend discovery for headgen.splat: the headgen extension on CPU (OpenMP) and CUDA (``headgen.ext``),
gsplat, the torch reference."""
from __future__ import annotations

import importlib.util

import torch

from headgen import ext
from headgen.errors import InputError

BACKENDS = ("cuda", "cpu", "gsplat", "torch")


def cpu_ops():
    """The extension module for CPU tensors (built with OpenMP on first use, cached)."""
    return ext.ops(cuda=False)


def cuda_ops():
    """The extension module for CUDA tensors (needs a CUDA build of torch and nvcc)."""
    return ext.ops(cuda=True)


def gsplat_available() -> bool:
    """gsplat importable and a GPU present (its CUDA rasteriser is what we wrap)."""
    return torch.cuda.is_available() and importlib.util.find_spec("gsplat") is not None


def resolve_backend(backend: str, device: torch.device) -> str:
    """Map ``"auto"`` (or a name) to a concrete backend for tensors on ``device``.

    auto: CUDA tensors -> our "cuda" extension (1.0-1.3x gsplat's speed on an H200, bench/results/gpu/),
    else "gsplat" when installed (e.g. no nvcc to build ours); CPU tensors -> our "cpu" extension
    (>= 20x faster than "torch", see bench/splat.py); "torch" (with a warning) when nothing else works.
    A failed build is not retried in this process (``headgen.ext.build_once``).
    """
    if backend not in BACKENDS + ("auto",):
        raise InputError(f"rasterize: unknown backend '{backend}' (choose one of auto, {', '.join(BACKENDS)})")
    is_cuda = device.type == "cuda"
    if backend == "auto":
        ours = "cuda" if is_cuda else "cpu"
        fallback = None if is_cuda and gsplat_available() else "the slow torch reference backend"
        if ext.build_once(ours, cuda_ops if is_cuda else cpu_ops, fallback) is not None:
            return ours
        return "gsplat" if is_cuda and gsplat_available() else "torch"
    if backend in ("cuda", "gsplat") and not is_cuda:
        raise InputError(f"rasterize: backend '{backend}' needs CUDA tensors (got tensors on {device})")
    if backend == "cpu" and is_cuda:
        raise InputError("rasterize: backend 'cpu' needs CPU tensors (got CUDA tensors)")
    if backend == "gsplat" and importlib.util.find_spec("gsplat") is None:
        raise InputError("rasterize: backend 'gsplat' requested but gsplat is not installed")
    return backend
