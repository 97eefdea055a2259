"""The text-conditioned denoiser over sculpt coordinates, its prompt reader, training and sampling.

* :class:`Denoiser`: MLP eps-predictor ``eps(z_t, t, c)`` over z (K + E dims), conditioned on
  ``c = [384-d sentence embedding, the reader's intensity per attribute]`` (zeros = no prompt, for
  classifier-free guidance; trained on the captions' true intensities plus noise), DDPM cosine schedule.
  Conditioning on the embedding alone was measured to follow the prompt poorly (README).
* :class:`Reader`: MLP embedding -> one signed intensity per attribute (what the prompt asks for; 0 = not
  mentioned) - decides which coordinates an edit may change and is what ``sculpt.json`` reports.
* :func:`sample`: DDIM (eta = 0) with classifier-free guidance, SDEdit start (``strength``: noise level the
  input is noised to) and inpainting of the known coordinates (replaced by the input noised to the current
  level at every step, RePaint-style without resampling). Deterministic for a given seed.
* :func:`train`: joint training of both networks on a :class:`~headgen.stages.sculpt.captions.Dataset`.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

T_STEPS = 1000


def alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal): t in [0, 1] -> cumulative signal fraction."""
    s = 0.008
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return (f / math.cos(s / (1 + s) * math.pi / 2) ** 2).clamp(1e-5, 1.0)


def _time_embedding(t: torch.Tensor, dim: int = 64) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=t.dtype, device=t.device) / half)
    a = t[:, None] * 1000.0 * freqs[None]
    return torch.cat([a.sin(), a.cos()], 1)


class Denoiser(nn.Module):
    """eps-prediction MLP: (z_t (B, D), t (B,) in [0, 1], cond (B, C)) -> (B, D)."""

    def __init__(self, dim: int, cond_dim: int = 384, hidden: int = 512, depth: int = 3):
        super().__init__()
        self.dim, self.cond_dim, self.hidden, self.depth = dim, cond_dim, hidden, depth
        self.inp = nn.Linear(dim + 64 + cond_dim, hidden)
        self.blocks = nn.ModuleList([nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, hidden))
                                     for _ in range(depth)])
        self.cond_film = nn.Linear(cond_dim + 64, 2 * hidden * depth)
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        te = _time_embedding(t)
        h = self.inp(torch.cat([z, te, cond], 1))
        film = self.cond_film(torch.cat([cond, te], 1)).chunk(2 * self.depth, 1)
        for i, blk in enumerate(self.blocks):
            h = h + blk(h) * (1 + film[2 * i]) + film[2 * i + 1]
        return self.out(h)


class Reader(nn.Module):
    """Prompt reader: sentence embedding (B, C) -> signed intensity per attribute (B, n_attr)."""

    def __init__(self, n_attr: int, cond_dim: int = 384, hidden: int = 256):
        super().__init__()
        self.n_attr, self.cond_dim, self.hidden = n_attr, cond_dim, hidden
        self.net = nn.Sequential(nn.Linear(cond_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, n_attr))

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return self.net(cond)


def train(dataset, embeddings: np.ndarray, dim: int, n_attr: int, *, steps: int = 6000, batch: int = 512,
          lr: float = 2e-3, hidden: int = 512, depth: int = 3, cond_drop: float = 0.15, seed: int = 0,
          reader_hidden: int = 256, reader_batch: int | None = None, reader_steps: int = 0,
          mention_weight: float = 4.0, log=None) -> tuple[Denoiser, Reader, dict]:
    """Train a Denoiser and a Reader. dataset: captions.Dataset; embeddings (C, 384) of its captions (an empty
    caption must be embedded as zeros). The denoiser's condition is [embedding, reader targets]. -> (denoiser, reader, stats dict with losses and seconds)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    z = torch.from_numpy(dataset.z).float()
    cid = torch.from_numpy(dataset.caption_id)
    emb = torch.from_numpy(embeddings).float()
    tgt = torch.from_numpy(dataset.targets).float()
    den = Denoiser(dim, emb.shape[1] + n_attr, hidden, depth)
    rd = Reader(n_attr, emb.shape[1], hidden=reader_hidden)
    rb = reader_batch or batch // 2
    params = list(den.parameters()) + list(rd.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    t0 = time.perf_counter()
    losses, rlosses = [], []
    N = z.shape[0]
    for step in range(steps):
        idx = torch.randint(0, N, (batch,), generator=g)
        z0 = z[idx]
        tg = tgt[cid[idx]]
        tg = tg + (tg != 0) * 0.15 * torch.randn(tg.shape, generator=g)   # robustness to reader errors
        c = torch.cat([emb[cid[idx]], tg], 1)
        drop = torch.rand(batch, generator=g) < cond_drop
        c = torch.where(drop[:, None], torch.zeros_like(c), c)
        t = torch.rand(batch, generator=g)
        ab = alpha_bar(t)[:, None]
        eps = torch.randn(z0.shape, generator=g)
        zt = ab.sqrt() * z0 + (1 - ab).sqrt() * eps
        loss = (den(zt, t, c) - eps).square().mean()
        # reader on unique caption embeddings of the batch (no dropout)
        ci = cid[idx[:rb]] if rb <= batch else cid[torch.randint(0, N, (rb,), generator=g)]
        rloss = (rd(emb[ci]) - tgt[ci]).square().mean() * 10.0
        opt.zero_grad(set_to_none=True)
        (loss + rloss).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        rlosses.append(float(rloss.detach()) / 10.0)
        if log is not None and (step + 1) % max(1, steps // 10) == 0:
            log(f"step {step + 1}/{steps}: denoise {np.mean(losses[-100:]):.4f}, reader {np.mean(rlosses[-100:]):.4f}")
    stats = {"denoise_loss": float(np.mean(losses[-200:])), "reader_loss": float(np.mean(rlosses[-200:])),
             "steps": steps, "batch": batch}
    if reader_steps:
        stats["joint_reader_loss"] = stats["reader_loss"]
        stats["reader_loss"] = train_reader(rd, emb, tgt, steps=reader_steps, seed=seed + 1,
                                            mention_weight=mention_weight, log=log)
    den.eval()
    rd.eval()
    return den, rd, stats | {"seconds": time.perf_counter() - t0}


def train_reader(rd: Reader, emb: torch.Tensor, tgt: torch.Tensor, *, steps: int = 8000, batch: int = 512,
                 lr: float = 1e-3, seed: int = 1, mention_weight: float = 4.0, log=None) -> float:
    """Reader-only phase after the joint training: ``rd`` fitted further on the captions' embeddings
    (C, 384) and reader targets (C, n_attr), squared error with the mentioned attributes (target != 0)
    weighted ``mention_weight`` (most targets are 0: unweighted, a small target such as "slightly" = 0.5 is
    pulled toward 0 and read below the mention threshold). Cosine learning rate. -> final mean loss (plain,
    unweighted squared error)."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(rd.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    rd.train()
    C = emb.shape[0]
    plain = []
    for step in range(steps):
        i = torch.randint(0, C, (batch,), generator=g)
        t = tgt[i]
        err = (rd(emb[i]) - t).square()
        w = 1.0 + (mention_weight - 1.0) * (t != 0).float()
        loss = (w * err).mean() * 10.0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        plain.append(float(err.detach().mean()))
        if log is not None and (step + 1) % max(1, steps // 4) == 0:
            log(f"reader step {step + 1}/{steps}: {np.mean(plain[-100:]):.4f}")
    rd.eval()
    return float(np.mean(plain[-200:]))


@torch.no_grad()
def sample(den: Denoiser, cond: torch.Tensor, n: int, seed: int, *, guidance: float = 1.5, steps: int = 40,
           known: torch.Tensor | None = None, free: torch.Tensor | None = None, strength: float = 1.0
           ) -> torch.Tensor:
    """Draw n samples z (n, D) for one condition ``cond`` (C,) = [embedding, intensities] (zeros: unconditional).

    known (D,) or (n, D): coordinates of the input head (edit mode); free (D,) bool: coordinates that may change
    (others are inpainted from ``known``); strength in (0, 1]: SDEdit noise level the free coordinates start
    from (1 = pure noise). Same seed -> same samples. Sample i uses noise stream i of the seed, so the first
    sample does not depend on n.
    """
    D = den.dim
    gens = [torch.Generator().manual_seed(int(seed) * 1000003 + i) for i in range(n)]
    noise0 = torch.stack([torch.randn(D, generator=g) for g in gens])
    fixed = torch.stack([torch.randn(D, generator=g) for g in gens])   # noise for the known coordinates
    strength = float(min(max(strength, 1e-3), 1.0))
    ts = torch.linspace(strength, 0.0, steps + 1)
    if known is not None:
        known = known.float().expand(n, D)
        ab = alpha_bar(ts[:1])
        z = ab.sqrt() * known + (1 - ab).sqrt() * noise0
    else:
        z = noise0 * (1 - alpha_bar(ts[:1])).sqrt() if strength < 1 else noise0
    free_f = None if free is None else free.float()[None]
    c = cond.float()[None].expand(n, -1)
    c0 = torch.zeros_like(c)
    for i in range(steps):
        t, tn = ts[i], ts[i + 1]
        if known is not None and free_f is not None:
            ab = alpha_bar(t.view(1))
            zk = ab.sqrt() * known + (1 - ab).sqrt() * fixed
            z = free_f * z + (1 - free_f) * zk
        tt = t.expand(n)
        eps = den(torch.cat([z, z]), torch.cat([tt, tt]), torch.cat([c, c0]))
        e_c, e_u = eps[:n], eps[n:]
        e = e_u + guidance * (e_c - e_u)
        ab, abn = alpha_bar(t.view(1)), alpha_bar(tn.view(1))
        x0 = (z - (1 - ab).sqrt() * e) / ab.sqrt()
        x0 = x0.clamp(-6, 6)
        z = abn.sqrt() * x0 + (1 - abn).sqrt() * e
    if known is not None and free_f is not None:
        z = free_f * z + (1 - free_f) * known
    return z
