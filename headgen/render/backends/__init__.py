"""Rasteriser backends. Each is ``fn(verts_screen (B,V,3) float, faces (F,3) long, H, W, znear)
-> (tri_id (B,H,W) int, depth (B,H,W), bary (B,H,W,3))`` with the conventions of
``headgen.render.raster``. Optional packages are imported lazily."""
from __future__ import annotations

import warnings

import torch

NAMES = ("builtin", "torch", "pytorch3d", "nvdiffrast")
_warned = False
_builtin_error: dict = {}  # cuda flag -> build exception or None


def available(name: str) -> bool:
    """Whether backend ``name`` can run here (imports the optional package / builds the extension)."""
    import importlib.util

    try:
        if name in ("pytorch3d", "nvdiffrast"):
            return importlib.util.find_spec(name) is not None
        if name == "builtin":
            from headgen.render.backends import builtin
            builtin.extension(False)
        else:
            _load(name)
        return True
    except Exception:
        return False


def _load(name: str):
    if name == "builtin":
        from headgen.render.backends import builtin
        return builtin.raster
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
    auto: nvdiffrast on CUDA when installed, else builtin; falls back to the torch reference
    (with a warning) when the builtin extension cannot be built."""
    global _warned
    if name != "auto":
        return _load(name)
    if torch.device(device).type == "cuda" and available("nvdiffrast"):
        return _load("nvdiffrast")
    cuda = torch.device(device).type == "cuda"
    if cuda not in _builtin_error:
        try:
            from headgen.render.backends import builtin
            builtin.extension(cuda)
            _builtin_error[cuda] = None
        except Exception as e:  # no compiler: keep working, slowly (and do not retry the build)
            _builtin_error[cuda] = e
    if _builtin_error[cuda] is None:
        return _load("builtin")
    if not _warned:
        warnings.warn(f"builtin rasteriser unavailable ({_builtin_error[cuda]}); using the pure-torch reference")
        _warned = True
    return _load("torch")
