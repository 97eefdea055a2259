"""Image score distillation (DreamFusion / HeadSculpt style) through a user-supplied Stable Diffusion model.

The head (ICT "face" part, shape + expression coefficients) is rendered with the project's differentiable
rasteriser (``headgen.render.render_mesh``, analytic silhouette anti-aliasing) from random views around it
(front / side / back, with ", front view" / ", side view" / ", back view" appended to the prompt). A *score
function* turns the renders into a surrogate loss whose gradient w.r.t. the images is the score-distillation
gradient; :func:`optimize_head` follows it with Adam, plus a Gaussian prior on the identity coefficients.

* :class:`StableDiffusionScore`: ``diffusers`` pipeline loaded from a local folder (``--diffusion PATH``);
  ``loss = sum(w(t) (eps_cfg(z_t, t, y) - eps).detach() * z)`` with ``z`` the VAE latents of the renders.
* :class:`TargetScore`: the analytic score of a Gaussian around a known target image (``loss = 0.5 |x -
  target|^2``): the tests use it to check that the optimisation reaches the head that rendered the target.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from headgen.errors import InputError
from headgen.stages.sculpt.text import MissingDependencyError

ANTIALIAS = True
VIEWS = ((0.0, "front view"), (90.0, "side view"), (-90.0, "side view"), (180.0, "back view"))


def check_sd_path(path) -> Path:
    """Cheap check of a ``--diffusion`` folder (exists, has model_index.json) -> Path; InputError otherwise."""
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"--diffusion {p}: no such folder (expected a local diffusers Stable Diffusion model)")
    if not (p / "model_index.json").is_file():
        raise InputError(f"--diffusion {p}: not a diffusers model folder (no model_index.json)")
    return p


def load_sd_pipeline(path, device="cpu", dtype=torch.float32):
    """A diffusers StableDiffusionPipeline from a local folder (model_index.json, unet/, vae/, text_encoder/,
    tokenizer/, scheduler/). Missing folder or malformed model -> one-line InputError naming the path."""
    p = check_sd_path(path)
    try:
        import diffusers
        from diffusers import StableDiffusionPipeline
    except ImportError:
        raise MissingDependencyError("--diffusion needs `pip install diffusers transformers`") from None
    try:
        diffusers.utils.logging.set_verbosity_error()
        diffusers.utils.logging.disable_progress_bar()
        pipe = StableDiffusionPipeline.from_pretrained(str(p), local_files_only=True, safety_checker=None,
                                                       requires_safety_checker=False, dtype=dtype)
    except Exception as e:  # diffusers raises many types for a broken folder
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"--diffusion {p}: cannot load a Stable Diffusion pipeline ({type(e).__name__}: {msg[:200]})"
                         ) from None
    return pipe.to(device)


class StableDiffusionScore:
    """SDS through a diffusers pipeline: ``loss(images (B, H, W, 3) in [0, 1], prompts list[str])`` -> scalar
    whose gradient w.r.t. the images is the SDS gradient. guidance: CFG scale; t_range: timestep fraction."""

    def __init__(self, pipe, guidance: float = 50.0, t_range=(0.02, 0.98), seed: int = 0, size: int | None = None):
        self.pipe = pipe
        self.unet, self.vae = pipe.unet, pipe.vae
        for m in (self.unet, self.vae, pipe.text_encoder):
            m.requires_grad_(False)
            m.eval()
        self.sched = pipe.scheduler
        self.T = int(self.sched.config.num_train_timesteps)
        self.ac = self.sched.alphas_cumprod.to(pipe.device)
        self.guidance, self.t_range = guidance, t_range
        self.device = pipe.device
        self.dtype = self.unet.dtype
        self.g = torch.Generator(device="cpu").manual_seed(seed)
        self.vae_scale = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.size = size or int(self.unet.config.sample_size) * self.vae_scale
        self._emb: dict[str, torch.Tensor] = {}

    def _embed(self, prompts: list[str]) -> torch.Tensor:
        out = []
        for p in prompts:
            if p not in self._emb:
                tok = self.pipe.tokenizer([p], padding="max_length", max_length=self.pipe.tokenizer.model_max_length,
                                          truncation=True, return_tensors="pt")
                with torch.no_grad():
                    self._emb[p] = self.pipe.text_encoder(tok.input_ids.to(self.device))[0]
            out.append(self._emb[p])
        return torch.cat(out)

    def loss(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """SDS surrogate loss of a batch of renders (B, H, W, 3) and their prompts (one per image)."""
        B = images.shape[0]
        x = images.permute(0, 3, 1, 2).to(self.device, self.dtype)
        if x.shape[-1] != self.size:
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        lat = self.vae.encode(2 * x - 1).latent_dist.mean * self.vae.config.scaling_factor
        lo, hi = int(self.t_range[0] * self.T), int(self.t_range[1] * self.T)
        t = torch.randint(lo, max(lo + 1, hi), (B,), generator=self.g).to(self.device)
        noise = torch.randn(lat.shape, generator=self.g).to(self.device, lat.dtype)
        with torch.no_grad():
            zt = self.sched.add_noise(lat, noise, t)
            cond = self._embed(prompts)
            unc = self._embed([""] * B)
            eps = self.unet(torch.cat([zt, zt]), torch.cat([t, t]), encoder_hidden_states=torch.cat([cond, unc])).sample
            e_c, e_u = eps.chunk(2)
            e = e_u + self.guidance * (e_c - e_u)
            w = (1 - self.ac[t]).view(B, 1, 1, 1).to(lat.dtype)
            grad = torch.nan_to_num(w * (e - noise))
        return (grad * lat).sum() / B


class TargetScore:
    """Analytic score of N(target, I): ``loss = 0.5 |images - target|^2`` (mean over pixels, sum over
    channels). targets: (V, H, W, 3) one per view, indexed by the view id passed to ``loss``."""

    def __init__(self, targets: torch.Tensor, blur: int = 1):
        self.targets, self.blur = targets, int(blur)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if self.blur <= 1:
            return x
        return torch.nn.functional.avg_pool2d(x.permute(0, 3, 1, 2), self.blur, 1, self.blur // 2).permute(0, 2, 3, 1)

    def loss(self, images: torch.Tensor, prompts: list[str], views: list[int] | None = None) -> torch.Tensor:
        """0.5 |pool(images) - pool(targets[views])|^2 (x100, mean over pixels): its negative gradient is the
        score of a Gaussian around the (box-blurred with ``blur`` px, like SD's 8x latents) target."""
        tg = self.targets[torch.as_tensor(views if views is not None else list(range(len(images))))]
        return 0.5 * (self._pool(images) - self._pool(tg.to(images))).square().sum(-1).mean() * 100.0


def view_cameras(verts_model: torch.Tensor, yaw_deg: torch.Tensor, size: int, fov_deg: float = 25.0,
                 elevation_deg: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """verts_model (V, 3) or (B, V, 3) model frame -> (verts_cam (B, V, 3) for each yaw (B,), K (3, 3)), the
    head centred at a fixed point (the neutral head's bounding-box centre, so coefficients may move it)."""
    from headgen.geometry.camera import default_intrinsics
    from headgen.geometry.conventions import HEAD_TO_OPENCV
    B = yaw_deg.shape[0]
    v = verts_model if verts_model.dim() == 3 else verts_model.unsqueeze(0).expand(B, -1, -1)
    y = torch.deg2rad(yaw_deg.to(v))
    c, s = torch.cos(y), torch.sin(y)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    Ry = torch.stack([c, z, s, z, o, z, -s, z, c], -1).view(B, 3, 3)
    e = math.radians(elevation_deg)
    Rx = torch.tensor([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]], dtype=v.dtype)
    R = torch.as_tensor(HEAD_TO_OPENCV, dtype=v.dtype) @ Rx @ Ry
    dist = 1.1 * 0.16 / math.sin(math.radians(fov_deg) / 2)
    vc = torch.einsum("bij,bvj->bvi", R, v) + torch.tensor([0.0, 0.0, dist], dtype=v.dtype)
    return vc, default_intrinsics(size, size, fov_deg).to(v)


def render_views(model, shape: torch.Tensor, expression: torch.Tensor, yaws: torch.Tensor, size: int,
                 centre: torch.Tensor, colors: torch.Tensor | None = None) -> torch.Tensor:
    """Differentiable lambert renders (B, size, size, 3) in [0, 1] on white of the head (shape (S,),
    expression (E,)) seen from each yaw (degrees, (B,)); centre (3,) subtracted from the model-frame vertices."""
    from headgen.render.shading import render_mesh
    out = model(shape=shape[None], expression=expression[None])
    v = out.vertices_model[0] - centre
    vc, K = view_cameras(v.float(), yaws.float(), size)
    return render_mesh(vc, model.faces, K, size, size, colors=colors, background=(1.0, 1.0, 1.0), antialias=ANTIALIAS)


def optimize_head(model, score, prompt: str, shape0: torch.Tensor, expr0: torch.Tensor, *, directions=None,
                  iters: int = 200, lr: float = 0.05, size: int = 64, views_per_iter: int = 2, prior: float = 1e-3,
                  seed: int = 0, fixed_views: list[int] | None = None, expr_lr: float = 0.2, log=None
                  ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Optimise a head so that its renders score well.

    Variables: expression (E,) in [0, 1] and, with ``directions`` (S, K) (the sculpt space's edit directions
    ``SculptSpace.D``), attribute offsets a (K,) with ``shape = shape0 + directions @ a`` (the identity stays
    the input's except along the attribute directions); without it the S identity coefficients themselves.
    score: StableDiffusionScore or TargetScore (``loss(images, prompts[, views])``); views drawn from VIEWS
    (``fixed_views``: always those ids). Adam with cosine decay; ``prior`` weighs |a|^2 (or |shape|^2).
    -> (shape (S,), expression (E,), stats: iterations/s and the loss curve)."""
    g = torch.Generator().manual_seed(seed)
    dt = model.template_soa.dtype
    shape0 = shape0.clone().to(dt)
    if directions is not None:
        Dm = torch.as_tensor(directions, dtype=dt)
        var = torch.zeros(Dm.shape[1], dtype=dt, requires_grad=True)
    else:
        Dm = None
        var = shape0.clone().requires_grad_(True)
    expr = expr0.clone().to(dt).requires_grad_(True)
    # expression weights move vertices by centimetres per unit, attribute offsets by ~1 mm per unit: the
    # expression step is 5x smaller (per-coordinate Adam steps otherwise random-walk the 53 weights)
    opt = torch.optim.Adam([{"params": [var], "lr": lr}, {"params": [expr], "lr": lr * expr_lr}])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, iters))
    with torch.no_grad():
        centre = model.neutral().vertices_model[0]
        centre = (centre.max(0).values + centre.min(0).values) / 2
    losses = []
    t0 = time.perf_counter()
    for it in range(iters):
        if fixed_views is not None:
            vid = list(fixed_views)
        else:
            vid = torch.randint(0, len(VIEWS), (views_per_iter,), generator=g).tolist()
        yaws = torch.tensor([VIEWS[i][0] for i in vid])
        yaws = yaws + (0 if fixed_views is not None else torch.randn(len(vid), generator=g) * 10)
        shape = shape0 + Dm @ var if Dm is not None else var
        img = render_views(model, shape, expr.clamp(0, 1), yaws, size, centre)
        prompts = [f"{prompt}, {VIEWS[i][1]}" for i in vid]
        if isinstance(score, TargetScore):
            loss = score.loss(img, prompts, vid)
        else:
            loss = score.loss(img, prompts)
        total = loss + prior * var.square().sum()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            expr.clamp_(0, 1)
        losses.append(float(loss.detach()))
        if log is not None and (it + 1) % max(1, iters // 5) == 0:
            log(f"sds {it + 1}/{iters}: loss {np.mean(losses[-10:]):.4f}")
    secs = time.perf_counter() - t0
    with torch.no_grad():
        shape = shape0 + Dm @ var if Dm is not None else var
    return shape.detach(), expr.detach(), {"iters": iters, "seconds": secs, "it_per_s": iters / max(secs, 1e-9),
                                           "losses": losses}


def render_avatar_views(avatar, vertices_model: torch.Tensor, yaws: torch.Tensor, size: int, centre: torch.Tensor,
                        colors: torch.Tensor | None = None) -> torch.Tensor:
    """Renders (B, size, size, 3) on white of a Gaussian avatar on its mesh ``vertices_model`` (V, 3) (model
    frame) from each yaw (degrees, (B,)), cameras as :func:`view_cameras`; colors (N, 3) sRGB: replaces the
    Gaussians' degree-0 colour (differentiable; view-dependent bands dropped)."""
    from dataclasses import replace

    from headgen.avatar import render_vertices, rgb_to_sh0
    av = avatar
    if colors is not None:
        av = replace(avatar, sh=rgb_to_sh0(colors).to(avatar.sh.dtype)[:, None, :])
    vc, K = view_cameras((vertices_model - centre).float(), yaws.float(), size)
    return render_vertices(av, vc, K, (size, size), background=(1.0, 1.0, 1.0))["rgb"]


def optimize_avatar_colors(avatar, vertices_model: torch.Tensor, score, prompt: str, *, iters: int = 100,
                           lr: float = 0.05, size: int = 64, views_per_iter: int = 2, seed: int = 0,
                           fixed_views: list[int] | None = None, mask: torch.Tensor | None = None, log=None):
    """Score-distil the prompt into the Gaussians' colours (``--avatar`` with ``--diffusion``).

    The variables are the degree-0 colours of the Gaussians in ``mask`` (N,) bool (default: all), as logits
    of sRGB (so they stay in [0, 1]); geometry, opacity and binding are fixed, so the result stays rigged.
    Views / prompts / score as :func:`optimize_head` (TargetScore for the analytic tests). Adam with cosine
    decay. -> (avatar with the new colours (view-dependent SH bands zeroed where colours changed), stats)."""
    from dataclasses import replace

    from headgen.avatar import rgb_to_sh0
    from headgen.avatar.appearance import gaussian_colors
    g = torch.Generator().manual_seed(seed)
    base = gaussian_colors(avatar).detach().float().clamp(1e-3, 1 - 1e-3)
    m = torch.ones(avatar.n, dtype=torch.bool) if mask is None else mask.bool().cpu()
    logit = torch.logit(base[m]).clone().requires_grad_(True)
    opt = torch.optim.Adam([logit], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, iters))
    v = vertices_model.detach().float()
    centre = (v.max(0).values + v.min(0).values) / 2
    losses = []
    t0 = time.perf_counter()
    for it in range(iters):
        vid = list(fixed_views) if fixed_views is not None else \
            torch.randint(0, len(VIEWS), (views_per_iter,), generator=g).tolist()
        yaws = torch.tensor([VIEWS[i][0] for i in vid], dtype=torch.float32)
        if fixed_views is None:
            yaws = yaws + torch.randn(len(vid), generator=g) * 10
        cols = base.clone()
        cols[m] = torch.sigmoid(logit)
        img = render_avatar_views(avatar, v, yaws, size, centre, colors=cols)
        prompts = [f"{prompt}, {VIEWS[i][1]}" for i in vid]
        loss = score.loss(img, prompts, vid) if isinstance(score, TargetScore) else score.loss(img, prompts)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log is not None and (it + 1) % max(1, iters // 5) == 0:
            log(f"sds colours {it + 1}/{iters}: loss {np.mean(losses[-10:]):.4f}")
    secs = time.perf_counter() - t0
    with torch.no_grad():
        sh = avatar.sh.clone()
        sh[m, 0] = rgb_to_sh0(torch.sigmoid(logit)).to(sh.dtype)
        if sh.shape[1] > 1:
            sh[m, 1:] = 0
    return replace(avatar, sh=sh), {"iters": iters, "seconds": secs, "it_per_s": iters / max(secs, 1e-9),
                                    "losses": losses}


def sds_sculpt(prompt: str, diffusion_path, model, shape0, expr0, *, seed: int = 0, iters: int = 200,
               n_samples: int = 1, device: str = "cpu", size: int | None = None, log=print, avatar: bool = False):
    """``--diffusion``: score-distil the prompt into the head. -> (SculptResult-like, SculptSpace, colours)
    for the stage runner (every candidate uses its own seed); colours: None, or with ``avatar`` a function
    ``(Avatar, shape) -> Avatar`` that score-distils the prompt into the avatar's skin and hair colours on
    the re-shaped mesh (:func:`optimize_avatar_colors`, same pipeline, ``iters`` iterations)."""
    from headgen.device import resolve_device
    from headgen.stages.sculpt.core import SculptResult, Understanding
    from headgen.stages.sculpt.space import SculptSpace
    dev = resolve_device(device)
    pipe = load_sd_pipeline(diffusion_path, device=dev)
    S, E = model.n_shape, model.n_expression
    space = SculptSpace(model)
    s0 = torch.zeros(S) if shape0 is None else torch.as_tensor(np.asarray(shape0)[:S])
    e0 = torch.zeros(E) if expr0 is None else torch.as_tensor(np.asarray(expr0))
    shapes, exprs = [], []
    t0 = time.perf_counter()
    for i in range(n_samples):
        score = StableDiffusionScore(pipe, seed=seed + i)
        render_size = size or min(score.size, 128)
        s, e, st = optimize_head(model, score, prompt, s0, e0, directions=space.D, iters=iters, size=render_size,
                                 seed=seed + i, log=log)
        log(f"sds sample {i}: {st['it_per_s']:.2f} it/s")
        shapes.append(s.double().cpu().numpy())
        exprs.append(e.double().cpu().numpy())
    u = Understanding(prompt, {}, [], True)
    res = SculptResult(np.stack(shapes), np.stack(exprs), u, [], time.perf_counter() - t0)
    colours = None
    if avatar:
        def colours(av, shape):
            from headgen.avatar.appearance import appearance_regions
            from headgen.stages.sculpt.run import _avatar_vertices
            score = StableDiffusionScore(pipe, seed=seed)
            reg = appearance_regions(av)
            out, st = optimize_avatar_colors(av, _avatar_vertices(av, shape), score, prompt, iters=iters,
                                             size=size or min(score.size, 128), seed=seed,
                                             mask=reg["skin"] | reg["hair"], log=log)
            log(f"sds colours: {st['it_per_s']:.2f} it/s")
            return out
    return res, space, colours
