"""Pick the torch device once, for every stage: ``"auto" | "cpu" | "cuda[:N]"``."""
from __future__ import annotations

import torch

from headgen.errors import InputError


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda when available else cpu; otherwise torch.device(device). Raises InputError when
    CUDA is asked for but not available."""
    device = str(device or "auto")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    try:
        return torch.device(device)
    except RuntimeError:
        raise InputError(f"device {device!r}: expected auto, cpu or cuda") from None


def wants_gpu(device: str | None) -> bool:
    """Whether a stage run with this device setting takes a GPU when one exists (for resource requests:
    ``cuda*`` always, ``auto`` when this process sees CUDA)."""
    d = str(device or "auto")
    return d.startswith("cuda") or (d == "auto" and torch.cuda.is_available())
