"""Rasteriser backends. Each is ``fn(verts_screen (B,V,3) float, faces (F,3) long, H, W, znear)
-> (tri_id (B,H,W) int, depth (B,H,W), bary (B,H,W,3))`` with the conventions of
``headgen.render.raster``. Names as in ``headgen.splat``: "cpu" / "cuda" (our extension, ``ext``),
"torch" (the pure-torch reference), plus "pytorch3d" and "nvdiffrast" when installed ("builtin" is an
old name of our extension on the tensors' device). Optional packages are imported lazily."""
from __future__ import annotations

import importlib.util

import torch

from headgen import ext as headgen_ext

NAMES = ("cpu", "cuda", "torch", "pytorch3d", "nvdiffrast")


def available(name: str, device: torch.device | str = "cpu") -> bool:
    """Whether backend ``name`` can run here (the optional package is installed / our extension for
    ``device`` builds; "cuda" implies a CUDA device)."""
    if name in ("pytorch3d", "nvdiffrast"):
        return importlib.util.find_spec(name) is not None
    if name == "torch":
        return True
    cuda = name == "cuda" or (name == "builtin" and torch.device(device).type == "cuda")
    return headgen_ext.build_once("cuda" if cuda else "cpu", lambda: headgen_ext.ops(cuda)) is not None


def _load(name: str):
    if name in ("cpu", "cuda", "builtin"):
        from headgen.render.backends import ext
        return ext.raster
    if name == "torch":
        from headgen.render.backends import torch_ref
        return torch_ref.raster
    if name == "pytorch3d":
        from headgen.render.backends import p3d
        return p3d.raster
    if name == "nvdiffrast":
        from headgen.render.backends import nvdr
        return nvdr.raster
    raise ValueError(f"unknown rasteriser backend {name!r}; choose one of auto, {', '.join(NAMES)}")


def get_backend(name: str, device: torch.device):
    """Resolve ``name`` ("auto" or one of NAMES) to a backend function for tensors on ``device``.
    auto: nvdiffrast on CUDA when installed, else our extension for the device; falls back to the torch
    reference (with one warning) when the extension cannot be built (``headgen.ext.build_once``)."""
    cuda = torch.device(device).type == "cuda"
    if name in ("cpu", "cuda") and (name == "cuda") != cuda:
        raise ValueError(f"rasteriser backend {name!r} needs {name.upper()} tensors (got tensors on {device})")
    if name != "auto":
        return _load(name)
    if cuda and available("nvdiffrast"):
        return _load("nvdiffrast")
    ours = "cuda" if cuda else "cpu"
    if headgen_ext.build_once(ours, lambda: headgen_ext.ops(cuda), "the pure-torch reference rasteriser") is not None:
        return _load(ours)
    return _load("torch")
