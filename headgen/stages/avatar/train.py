"""Photometric training of a rigged Gaussian avatar on a clip with fitted head-model parameters.

Per iteration: one training frame, the head model posed with its fitted (and jointly refined) parameters,
the avatar rendered into the crop around the head over the static background, loss = (1 - l) L1 + l D-SSIM
(+ small regularisers: local position/scale bounds as GaussianAvatars, refinement deltas towards 0).
Adaptive density control every ``densify_every`` iterations: Gaussians with large screen-space gradients are
cloned (small ones) or split in two (large ones); children keep their parent's triangle; nearly transparent
ones are pruned. A checkpoint (``ckpt.pt``: tensors only, loaded with ``weights_only=True``) is written every
``checkpoint_every`` iterations; a run restarted with the same inputs and options resumes from it.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from headgen.avatar import Avatar, build_avatar, render_vertices
from headgen.avatar.avatar import SH_C0
from headgen.stages.avatar.data import Clip, model_inputs

PER_G = Avatar.PER_GAUSSIAN[1:]   # learnable per-Gaussian tensors (binding is not)


@dataclass
class TrainOptions:
    """iterations: optimiser steps (one frame each); n_gaussians: seeds (>= one per triangle);
    max_gaussians: densification cap; lambda_dssim: D-SSIM weight; refine: jointly refine per-frame expression
    deltas; refine_pose: with refine, per-frame rotation / translation deltas too; densify: adaptive density control;
    backend: splat backend;
    mouth_weight: loss weight inside the training frames' lip boxes (1 = none); frozen_parts: model parts
    (``colors.triangle_parts`` names) whose Gaussians keep their seeded parameters; color_range_weight: penalty on
    degree-0 colours outside [0, 1] (Adam moves barely visible Gaussians as fast as visible ones, so without it the
    colours of Gaussians hidden behind others drift far out of range and show when the mesh reveals them)."""
    iterations: int = 1500
    n_gaussians: int = 25000
    max_gaussians: int = 90000
    lambda_dssim: float = 0.2
    refine: bool = True
    refine_pose: bool = True
    densify: bool = True
    densify_from: int = 150
    densify_every: int = 150
    densify_until: float = 0.7
    grad_threshold: float = 0.0002
    split_scale: float = 0.5
    min_opacity: float = 0.005
    checkpoint_every: int = 100
    mouth_weight: float = 3.0
    backend: str = "auto"
    seed: int = 0
    lr_offsets: float = 3e-3
    lr_scales: float = 0.01
    lr_rotations: float = 1e-3
    lr_sh: float = 5e-3
    lr_opacity: float = 0.05
    lr_expression: float = 1e-3
    lr_rotation_delta: float = 1e-4
    lr_translation_delta: float = 1e-5
    frozen_parts: tuple = ()
    color_range_weight: float = 0.0


def options_key(opts: TrainOptions, extra: dict) -> str:
    """Digest of the options + inputs identity: a checkpoint is resumed only when it matches."""
    d = dict(asdict(opts), **extra)
    d.pop("checkpoint_every", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Params:
    """The trainable tensors: per-Gaussian parameters + per-frame refinement deltas, and their Adam."""

    def __init__(self, avatar: Avatar, T: int, E: int, opts: TrainOptions, device):
        self.avatar = avatar
        self.opts = opts
        self.g = {k: torch.nn.Parameter(getattr(avatar, k).detach().clone()) for k in PER_G}
        self.d = {"expression": torch.nn.Parameter(torch.zeros(T, E, device=device)),
                  "rotation": torch.nn.Parameter(torch.zeros(T, 3, device=device)),
                  "translation": torch.nn.Parameter(torch.zeros(T, 3, device=device))}
        lr = {"offsets": opts.lr_offsets, "log_scales": opts.lr_scales, "rotations": opts.lr_rotations,
              "sh": opts.lr_sh, "opacity_logits": opts.lr_opacity, "expression": opts.lr_expression,
              "rotation": opts.lr_rotation_delta, "translation": opts.lr_translation_delta}
        groups = [{"params": [p], "lr": lr[k], "name": k} for k, p in self.g.items()]
        if opts.refine:
            groups += [{"params": [p], "lr": lr[k], "name": k} for k, p in self.d.items()
                       if k == "expression" or opts.refine_pose]
        try:
            self.opt = torch.optim.Adam(groups, eps=1e-15, fused=True)
        except (RuntimeError, TypeError, ValueError):   # torch builds without a fused Adam for this device
            self.opt = torch.optim.Adam(groups, eps=1e-15)
        self.base_lr = {gr["name"]: gr["lr"] for gr in groups}

    def current(self) -> Avatar:
        a = self.avatar
        for k, p in self.g.items():
            setattr(a, k, p)
        return a

    def set_lr(self, it: int, total: int) -> None:
        """Exponential decay of the position learning rate to 1 % at the end."""
        for gr in self.opt.param_groups:
            if gr["name"] == "offsets":
                gr["lr"] = self.base_lr["offsets"] * (0.01 ** min(1.0, it / max(total, 1)))

    def replace(self, src: torch.Tensor, new_values: dict, binding: torch.Tensor) -> None:
        """New Gaussian set: row i comes from old row src[i] (-1: new, zero Adam moments)."""
        keep = src >= 0
        for gr in self.opt.param_groups:
            k = gr["name"]
            if k not in self.g:
                continue
            old = gr["params"][0]
            p = torch.nn.Parameter(new_values[k].detach().clone())
            st = self.opt.state.pop(old, None)
            if st:
                for sk in ("exp_avg", "exp_avg_sq"):
                    v = torch.zeros_like(p)
                    v[keep] = st[sk][src[keep]]
                    st[sk] = v
                self.opt.state[p] = st
            gr["params"][0] = p
            self.g[k] = p
        self.avatar.binding = binding


def _ssim_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    from headgen.metrics import ssim

    return 1.0 - ssim(pred, gt)


@torch.no_grad()
def densify_and_prune(P: _Params, grad_acc: torch.Tensor, grad_cnt: torch.Tensor, opts: TrainOptions,
                      gen: torch.Generator) -> dict:
    """One adaptive density control step (clone / split / prune, bindings kept) -> counts."""
    a = P.current()
    N = a.n
    avg = grad_acc / grad_cnt.clamp_min(1)
    big = avg > opts.grad_threshold
    sc = torch.exp(P.g["log_scales"]).max(-1).values
    room = max(0, opts.max_gaussians - N)
    cand = torch.nonzero(big).flatten()
    if cand.numel() > room:
        cand = cand[torch.argsort(avg[cand], descending=True)[:room]]
    sel = torch.zeros(N, dtype=torch.bool, device=avg.device)
    sel[cand] = True
    clone = sel & (sc <= opts.split_scale)
    split = sel & (sc > opts.split_scale)
    opac = torch.sigmoid(P.g["opacity_logits"])
    keep = (opac >= opts.min_opacity) & ~split
    vals = {k: [P.g[k][keep]] for k in PER_G}
    binding = [a.binding[keep]]
    src = [torch.nonzero(keep).flatten()]
    # clones: exact copies (they separate under the next gradients)
    ci = torch.nonzero(clone).flatten()
    for k in PER_G:
        vals[k].append(P.g[k][ci])
    binding.append(a.binding[ci])
    src.append(torch.full((ci.numel(),), -1, dtype=torch.long, device=avg.device))
    # splits: two children sampled from the parent's local Gaussian, scales / 1.6
    si = torch.nonzero(split).flatten()
    if si.numel():
        from headgen.geometry.rotations import quaternion_to_matrix

        R = quaternion_to_matrix(P.g["rotations"][si])
        s = torch.exp(P.g["log_scales"][si])
        for _ in range(2):
            z = torch.randn(si.numel(), 3, generator=gen).to(avg.device)
            vals["offsets"].append(P.g["offsets"][si] + torch.einsum("nij,nj->ni", R, s * z))
            vals["log_scales"].append(P.g["log_scales"][si] - math.log(1.6))
            for k in ("rotations", "sh", "opacity_logits"):
                vals[k].append(P.g[k][si])
            binding.append(a.binding[si])
            src.append(torch.full((si.numel(),), -1, dtype=torch.long, device=avg.device))
    new = {k: torch.cat(v) for k, v in vals.items()}
    P.replace(torch.cat(src), new, torch.cat(binding))
    return dict(cloned=int(ci.numel()), split=int(si.numel()), pruned=int((~keep & ~split).sum()), n=P.current().n)


def _save_ckpt(path: Path, P: _Params, it: int, key: str, grad_acc, grad_cnt, gen: torch.Generator, elapsed: float,
               order: torch.Tensor):
    from headgen.io.atomic import atomic_path

    a = P.current()
    state = dict(key=key, iteration=it, elapsed=elapsed, binding=a.binding.cpu(),
                 g={k: v.detach().cpu() for k, v in P.g.items()}, d={k: v.detach().cpu() for k, v in P.d.items()},
                 opt=P.opt.state_dict(), grad_acc=grad_acc.cpu(), grad_cnt=grad_cnt.cpu(), rng=gen.get_state(),
                 order=order.cpu())
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_ckpt(path: Path, key: str):
    if not path.exists():
        return None
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    return st if st.get("key") == key else None


def train_avatar(clip: Clip, model, avatar: Avatar, background: torch.Tensor, crop: tuple, opts: TrainOptions,
                 ckpt_path: Path | None = None, key: str = "", mouth_boxes: dict | None = None,
                 log=lambda m: None, progress=None) -> tuple[Avatar, dict, dict]:
    """Optimise ``avatar`` (seeded on ``model``'s mesh) on ``clip.train_ids``.

    background (H,W,3) float [0,1] on the device; crop (x0,y0,x1,y1) px: the region the loss looks at;
    mouth_boxes {frame: (x0,y0,x1,y1)} px: regions weighted ``opts.mouth_weight``.
    -> (trained avatar (detached), refinement deltas {expression (T,E), rotation (T,3), translation (T,3)},
    stats dict(iterations, seconds, n_gaussians, resumed_from, densify: [...], final_loss, train_psnr)).
    """
    dev = background.device
    torch.manual_seed(opts.seed)
    gen = torch.Generator().manual_seed(opts.seed)
    x0, y0, x1, y1 = crop
    w, h = x1 - x0, y1 - y0
    Kc = clip.K.clone()
    Kc[0, 2] -= x0
    Kc[1, 2] -= y0
    bg = background[y0:y1, x0:x1].contiguous()
    ids = torch.as_tensor(clip.train_ids, dtype=torch.long)
    gts = torch.as_tensor(clip.frames[clip.train_ids, y0:y1, x0:x1]).to(dev).float() / 255.0
    wmaps = None
    if mouth_boxes and opts.mouth_weight != 1.0:
        wmaps = torch.ones(len(ids), h, w, 1, device=dev)
        for j, f in enumerate(clip.train_ids):
            b = mouth_boxes.get(int(f))
            if b is not None:
                bx0, by0, bx1, by1 = b
                wmaps[j, max(0, by0 - y0):max(0, by1 - y0), max(0, bx0 - x0):max(0, bx1 - x0)] = opts.mouth_weight
    T, E = clip.params["expression"].shape
    P = _Params(avatar, T, E, opts, dev)
    start, elapsed, dens_log = 0, 0.0, []
    grad_acc = torch.zeros(avatar.n, device=dev)
    grad_cnt = torch.zeros(avatar.n, device=dev)
    st = _load_ckpt(ckpt_path, key) if ckpt_path is not None else None
    if st is not None:
        P.replace(torch.full((st["binding"].shape[0],), -1, dtype=torch.long), {k: v.to(dev) for k, v in st["g"].items()},
                  st["binding"].to(dev))
        for k, v in st["d"].items():
            P.d[k].data.copy_(v.to(dev))
        P.opt.load_state_dict(st["opt"])
        grad_acc, grad_cnt = st["grad_acc"].to(dev), st["grad_cnt"].to(dev)
        gen.set_state(st["rng"])
        start, elapsed = int(st["iteration"]), float(st["elapsed"])
        log(f"resuming from the checkpoint at iteration {start}")
    resumed_from = start
    frozen = _frozen_mask(model, P.current().binding, opts.frozen_parts)
    t0 = time.perf_counter() - elapsed
    order = st["order"] if st is not None else torch.randperm(len(ids), generator=gen)
    last_loss, l1_ema = float("nan"), None
    dens_until = int(opts.densify_until * opts.iterations)
    for it in range(start, opts.iterations):
        j = int(order[it % len(ids)])
        if (it + 1) % len(ids) == 0:
            order = torch.randperm(len(ids), generator=gen)
        P.set_lr(it, opts.iterations)
        a = P.current()
        f = ids[j:j + 1].to(dev)
        kw = model_inputs(clip.params, f, P.d if opts.refine else None)
        verts = model(**kw).vertices
        out = render_vertices(a, verts, Kc, (w, h), background=bg, backend=opts.backend, retain_means2d=opts.densify)
        pred, gt = out["rgb"], gts[j:j + 1]
        l1 = (pred - gt).abs()
        l1 = (l1 * wmaps[j:j + 1]).sum() / (wmaps[j:j + 1].sum() * 3) if wmaps is not None else l1.mean()
        loss = (1 - opts.lambda_dssim) * l1 + opts.lambda_dssim * _ssim_loss(pred, gt).mean()
        loss = loss + 0.01 * torch.relu(P.g["offsets"].norm(dim=-1) - 1.0).mean()
        loss = loss + 1.0 * torch.relu(torch.exp(P.g["log_scales"]).max(-1).values - 4.0).mean()
        if opts.color_range_weight > 0:
            c0 = P.g["sh"][:, 0] * SH_C0 + 0.5
            loss = loss + opts.color_range_weight * (torch.relu(c0 - 1.0) + torch.relu(-c0)).pow(2).mean()
        if opts.refine:
            loss = loss + 1e-2 * P.d["expression"][f].pow(2).sum() + 1.0 * P.d["rotation"][f].pow(2).sum() \
                + 10.0 * P.d["translation"][f].pow(2).sum()
        P.opt.zero_grad(set_to_none=True)
        loss.backward()
        if frozen is not None:
            _freeze_rows(P, frozen)
        if opts.densify and it < dens_until:
            g2 = out["means2d"][0].grad
            if g2 is not None:
                g = g2[0].detach() * torch.tensor([w / 2.0, h / 2.0], device=dev)
                vis = out["radii"][0] > 0
                grad_acc += torch.where(vis, g.norm(dim=-1), torch.zeros_like(grad_acc))
                grad_cnt += vis.float()
        P.opt.step()
        last_loss = float(loss.detach())
        l1_ema = float(l1.detach()) if l1_ema is None else 0.95 * l1_ema + 0.05 * float(l1.detach())
        done = it + 1
        if opts.densify and done >= opts.densify_from and done % opts.densify_every == 0 and done <= dens_until:
            d = densify_and_prune(P, grad_acc, grad_cnt, opts, gen)
            d["iteration"] = done
            dens_log.append(d)
            grad_acc = torch.zeros(P.current().n, device=dev)
            grad_cnt = torch.zeros(P.current().n, device=dev)
            frozen = _frozen_mask(model, P.current().binding, opts.frozen_parts)
            log(f"iteration {done}: +{d['cloned']} cloned, {d['split']} split, -{d['pruned']} pruned -> {d['n']} Gaussians")
        if done % 100 == 0:
            log(f"iteration {done}/{opts.iterations}: loss {last_loss:.4f}, L1 {l1_ema:.4f}, {P.current().n} Gaussians, "
                f"{time.perf_counter() - t0:.0f} s")
        if progress is not None:
            progress(done, opts.iterations, "training")
        if ckpt_path is not None and done % opts.checkpoint_every == 0 and done < opts.iterations:
            _save_ckpt(ckpt_path, P, done, key, grad_acc, grad_cnt, gen, time.perf_counter() - t0, order)
    seconds = time.perf_counter() - t0
    a = P.current()
    final = Avatar(**{**{k: getattr(a, k) for k in ("model", "parts", "faces", "shape", "neutral_vertices", "meta")},
                      **{k: getattr(a, k).detach().clone() for k in Avatar.PER_GAUSSIAN}})
    deltas = {k: v.detach().clone() for k, v in P.d.items()}
    return final, deltas, dict(iterations=opts.iterations, seconds=seconds, n_gaussians=final.n, resumed_from=resumed_from,
                               densify=dens_log, final_loss=last_loss, train_l1=l1_ema)


def _frozen_mask(model, binding: torch.Tensor, parts: tuple) -> torch.Tensor | None:
    """(N,) bool: Gaussians bound to triangles of ``parts`` (None when there are none)."""
    if not parts:
        return None
    from headgen.stages.avatar.colors import triangle_parts

    tri = torch.as_tensor(np.isin(triangle_parts(model), list(parts)), device=binding.device)
    m = tri[binding]
    return m if bool(m.any()) else None


def _freeze_rows(P: _Params, rows: torch.Tensor) -> None:
    """Zero the gradients of the Gaussians ``rows`` (bool (N,)): Adam then leaves them unchanged."""
    for p in P.g.values():
        if p.grad is not None:
            p.grad[rows] = 0


def seed_avatar(clip: Clip, model, opts: TrainOptions, frame: int | None = None,
                min_facing: float | None = None, coverage: float = 0.6, keep_defaults: tuple = ()) -> Avatar:
    """An avatar on the fitted identity, seeded with the colours of one training frame (default the first);
    min_facing, keep_defaults: see ``seed_triangle_colors``."""
    from headgen.stages.avatar.colors import seed_triangle_colors

    f = int(clip.train_ids[0] if frame is None else frame)
    p = clip.params
    with torch.no_grad():
        shape = p["shape"][None] if p["shape"].numel() else None
        neutral = model(shape=shape).vertices[0]
        kw = model_inputs(p, torch.tensor([f], device=model.device))
        verts = model(**kw).vertices[0]
    col, _ = seed_triangle_colors(model, verts, clip.frames[f], clip.K, min_facing=min_facing,
                                  keep_defaults=keep_defaults)
    return build_avatar(model, vertices=neutral, shape=p["shape"], n_gaussians=opts.n_gaussians,
                        face_weights=part_density(model), colors=col.to(model.device), coverage=coverage,
                        seed=opts.seed)


#: seed density (Gaussians per unit area, relative) of the model's parts: the back of the head and the hidden
#: halves of the eyes get fewer, the small mouth interior more
PART_DENSITY = {"face": 1.0, "head_and_neck": 0.25, "mouth_socket": 1.0, "gums_and_tongue": 1.5, "teeth": 2.0,
                "eyeball_left": 1.0, "eyeball_right": 1.0, "eye_socket_left": 0.5, "eye_socket_right": 0.5}


def part_density(model) -> torch.Tensor:
    """(F,) seed density per triangle from :data:`PART_DENSITY` (1 for unlisted parts)."""
    from headgen.stages.avatar.colors import triangle_parts

    parts = triangle_parts(model)
    return torch.tensor([PART_DENSITY.get(p, 1.0) for p in parts], dtype=torch.float32)
