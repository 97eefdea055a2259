"""A small trainable audio -> ARKit network (the ``--weights`` path of animate, trained by ``train-audio``).

Input: per-video-frame log-mel spectrogram (``headgen.audio.features.log_mel``, 80 bands, torch.stft),
normalised per utterance (mean over time removed per band, divided by the global std). Network: a 1-D
temporal convolution stack (kernel 5, then residual dilated convolutions d = 1, 2, 4, 8: a receptive field of
~±0.6 s at 25 fps), a zero-initialised linear head for the ARKit mouth columns (clipped to [0,1] at inference), the speech movement relative to the
speaker's resting mouth. Trained with MSE (jawOpen weighted 4x) on (audio, fitted curves) pairs from the fit
stage. Deterministic for a seed; no weights ship with headgen.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from headgen.errors import InputError
from headgen.models.arkit import ARKIT_NAMES
from headgen.stages.animate.style import LEARNED_COLUMNS

N_MELS = 80


class AudioToArkit(nn.Module):
    """(B,T,80) normalised log-mel -> (B,T,M) mouth weights (M = len(columns)); zero-initialised linear head."""

    def __init__(self, n_in: int = N_MELS, width: int = 64, columns=LEARNED_COLUMNS, dilations=(1, 2, 4, 8)):
        super().__init__()
        self.columns = tuple(int(c) for c in columns)
        self.config = {"n_in": n_in, "width": width, "dilations": list(dilations)}
        self.inp = nn.Conv1d(n_in, width, 5, padding=2)
        self.blocks = nn.ModuleList([nn.Conv1d(width, width, 3, padding=d, dilation=d) for d in dilations])
        self.out = nn.Conv1d(width, len(self.columns), 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,T,n_in) -> (B,T,M) (linear output; :func:`predict_mouth` clips it to [0,1])."""
        h = torch.nn.functional.gelu(self.inp(x.transpose(1, 2)))
        for b in self.blocks:
            h = h + torch.nn.functional.gelu(b(h))
        return self.out(h).transpose(1, 2)


def audio_features(samples: np.ndarray, sr: int, fps: float, n_frames: int) -> torch.Tensor:
    """(n_frames, 80) normalised log-mel of the samples at ``fps``."""
    from headgen.audio.features import log_mel
    m = log_mel(samples, sr, fps, n_mels=N_MELS, n_frames=n_frames)
    m = m - m.mean(0, keepdim=True)
    return m / m.std().clamp_min(1e-3)


def train_audio_model(pairs: list[tuple[torch.Tensor, np.ndarray]], steps: int = 400, lr: float = 1e-3,
                      seed: int = 0, width: int = 64, log=lambda m: None) -> AudioToArkit:
    """pairs: (features (T,80), target (T,52) ARKit speech movement in [0,1]) -> trained AudioToArkit.
    Full-batch Adam over all clips (padded), MSE with jawOpen weighted 4x."""
    if not pairs:
        raise InputError("train-audio: no training pairs")
    torch.manual_seed(seed)
    model = AudioToArkit(width=width)
    cols = list(model.columns)
    Tm = max(p[0].shape[0] for p in pairs)
    X = torch.zeros(len(pairs), Tm, N_MELS)
    Y = torch.zeros(len(pairs), Tm, len(cols))
    M = torch.zeros(len(pairs), Tm, 1)
    for i, (f, y) in enumerate(pairs):
        T = min(f.shape[0], y.shape[0])
        X[i, :T] = f[:T]
        Y[i, :T] = torch.as_tensor(np.asarray(y)[:T][:, cols], dtype=torch.float32)
        M[i, :T] = 1
    w = torch.ones(len(cols))
    w[cols.index(ARKIT_NAMES.index("jawOpen"))] = 4.0
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        opt.zero_grad()
        loss = (((model(X) - Y) ** 2) * w * M).sum() / (M.sum() * w.sum())
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step}: loss {loss.item():.5f}")
    return model.eval()


def save_audio_model(path: str | Path, model: AudioToArkit, meta: dict | None = None) -> Path:
    """torch.save of the state dict + config (plain tensors/lists: loads with weights_only=True) -> path."""
    from headgen.io.atomic import atomic_path
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "config": model.config, "columns": list(model.columns),
                    "arkit_names": list(ARKIT_NAMES), "meta": dict(meta or {})}, tmp)
    return path


def load_audio_model(path: str | Path) -> AudioToArkit:
    """Read weights written by :func:`save_audio_model`; InputError naming the file otherwise."""
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
        m = AudioToArkit(n_in=d["config"]["n_in"], width=d["config"]["width"], columns=d["columns"],
                         dilations=d["config"]["dilations"])
        m.load_state_dict(d["state_dict"])
    except FileNotFoundError:
        raise InputError(f"{path}: no such weights file") from None
    except Exception as e:
        raise InputError(f"{path}: not a headgen audio model ({type(e).__name__}: {e})") from None
    return m.eval()


def predict_mouth(model: AudioToArkit, samples: np.ndarray, sr: int, fps: float, n_frames: int,
                  chunk_frames: int = 1500, context: int = 32) -> np.ndarray:
    """(n_frames,52) mouth curves from audio, in chunks of ``chunk_frames`` (+ ``context`` frames each side)."""
    feats = audio_features(samples, sr, fps, n_frames)
    out = np.zeros((n_frames, 52), np.float32)
    with torch.no_grad():
        for a in range(0, n_frames, chunk_frames):
            b = min(n_frames, a + chunk_frames)
            lo, hi = max(0, a - context), min(n_frames, b + context)
            y = model(feats[lo:hi][None])[0].numpy()
            out[a:b, list(model.columns)] = np.clip(y[a - lo:b - lo], 0.0, 1.0)
    return out
