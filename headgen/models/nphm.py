"""Neural Parametric Head Model (NPHM; Giebenhain et al., CVPR 2023), written from the paper.

Two networks:

* identity SDF ``F_id(x; z_id)``: an ensemble of small DeepSDF-style MLPs, one per facial anchor
  (plus one "background" member in the global frame). Member k sees ``x - a_k`` (x mirrored for the
  second member of each symmetric anchor pair, whose weights it shares with the first) concatenated
  with ``[z_glob, z_k]``. Anchor positions are a mean template plus an MLP offset predicted from
  ``z_glob``. The member outputs are blended with normalised Gaussian weights ``exp(-|x - a_k|^2 / s^2)``;
  the background member gets the constant weight ``exp(-d_bg^2 / s^2)``.
* expression deformation ``F_ex(x; z_id, z_ex)``: one MLP that maps a point of the posed (expression)
  space to an offset ``delta`` so that ``x + delta`` is in canonical (neutral) space. It is conditioned
  on ``z_ex`` and on a compressed identity code (a linear map of ``z_id`` and the anchors).

``sdf(x) = F_id(x + F_ex(x; z_id, z_ex); z_id)``.

Module and parameter names follow the public checkpoint layout of github.com/SimonGiebenhain/NPHM
(``ensembled_deep_sdf.lin{i}.weight`` ..., ``mlp_pos.{0,2,4}``, ``defDeepSDF.lin{i}``, ``compressor.0``),
so a ``decoder_state_dict`` from that repository loads with :func:`load_nphm_checkpoint`. The anchor
template (``anchors_39.npy`` there) is not part of the checkpoint and must be passed in.

Coordinates are the checkpoint's own frame (+y up, +z out of the face); ``NPHMConfig.metres_per_unit``
records its scale for callers that need metres.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from headgen.errors import InputError

__all__ = [
    "NPHMConfig", "EnsembleLinear", "LocalEnsembleSDF", "DeformationField", "NPHM",
    "config_from_state_dicts", "load_nphm_checkpoint", "extract_mesh", "fit_sdf", "FitResult",
    "sphere_anchors",
]


# ----------------------------------------------------------------------------------------------------------
# configuration
@dataclass
class NPHMConfig:
    """Architecture hyper-parameters (defaults = the published NPHM model)."""

    lat_dim_glob: int = 64          # global identity code
    lat_dim_loc: int = 32           # per-anchor identity code (n_loc + 1 of them, the last for the background)
    n_loc: int = 39                 # number of facial anchors
    n_symm_pairs: int = 16          # symmetric anchor pairs, listed first as (a, mirror(a)) in the anchor list
    hidden_dim: int = 200           # width of each local MLP
    n_layers: int = 4               # hidden layers of each local MLP
    pos_mlp_dim: int = 128          # width of the anchor-offset MLP
    expr_lat_dim: int = 200         # expression code
    expr_id_dim: int = 32           # compressed identity code seen by the deformation MLP
    expr_hidden_dim: int = 512
    expr_n_layers: int = 6
    expr_mode: str = "compress"     # "compress" | "glob_only" | "expr_only"
    blend_std: float = 0.1          # std of the Gaussian blending kernel (units of the frame)
    background_dist2: float = 0.2   # squared distance that gives the background member its weight
    background_sdf: Optional[float] = 1.0   # in eval mode the background member outputs this (None: its MLP)
    softplus_beta: float = 100.0
    metres_per_unit: float = 1.0    # scale of the model frame (informational)

    @property
    def lat_dim_id(self) -> int:
        """Length of the full identity code [z_glob, z_1 .. z_{n_loc+1}]."""
        return self.lat_dim_glob + (self.n_loc + 1) * self.lat_dim_loc

    def validate(self) -> None:
        """Raise InputError on inconsistent values."""
        if self.n_loc < 1 or self.n_symm_pairs < 0 or 2 * self.n_symm_pairs > self.n_loc:
            raise InputError(f"NPHMConfig: need n_loc >= 1 and 0 <= 2*n_symm_pairs <= n_loc "
                             f"(got n_loc={self.n_loc}, n_symm_pairs={self.n_symm_pairs})")
        if self.n_layers < 1 or self.expr_n_layers < 1:
            raise InputError("NPHMConfig: n_layers and expr_n_layers must be >= 1")
        if self.expr_mode not in ("compress", "glob_only", "expr_only"):
            raise InputError(f"NPHMConfig: unknown expr_mode {self.expr_mode!r}")


# ----------------------------------------------------------------------------------------------------------
# layers
class EnsembleLinear(nn.Module):
    """``n_members`` independent linear layers evaluated with one batched matmul.

    The first ``2 * n_shared_pairs`` members come in pairs that share one weight set, so the parameters
    hold ``n_members - n_shared_pairs`` sets: ``weight`` (M', out, in), ``bias`` (M', out).
    Input (M, P, in) -> output (M, P, out).
    """

    def __init__(self, n_members: int, n_shared_pairs: int, in_features: int, out_features: int):
        super().__init__()
        self.n_members, self.n_shared_pairs = n_members, n_shared_pairs
        self.in_features, self.out_features = in_features, out_features
        m = n_members - n_shared_pairs
        self.weight = nn.Parameter(torch.empty(m, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(m, out_features))
        bound = 1.0 / math.sqrt(in_features)
        with torch.no_grad():  # the usual nn.Linear init, per member
            self.weight.uniform_(-bound, bound)
            self.bias.uniform_(-bound, bound)

    def _expand(self, p: torch.Tensor) -> torch.Tensor:
        s = self.n_shared_pairs
        return torch.cat([p[:s].repeat_interleave(2, dim=0), p[s:]], dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self._expand(self.weight), self._expand(self.bias)
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


class _SkipMLP(nn.Module):
    """DeepSDF-style MLP: ``n_layers`` hidden layers, input re-injected (scaled 1/sqrt2) at layer n_layers//2.

    Layers are attributes ``lin0 .. lin{n_layers}``; ``make_linear(in, out)`` builds each one.
    """

    def __init__(self, d_in: int, hidden: int, n_layers: int, d_out: int, beta: float,
                 make_linear: Callable[[int, int], nn.Module]):
        super().__init__()
        self.skip = n_layers // 2
        self.n_lin = n_layers + 1
        dims = [d_in] + [hidden] * n_layers + [d_out]
        for i in range(self.n_lin):
            out = dims[i + 1] - d_in if i + 1 == self.skip else dims[i + 1]
            setattr(self, f"lin{i}", make_linear(dims[i], out))
        self.act = nn.Softplus(beta=beta)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = inp
        for i in range(self.n_lin):
            if i == self.skip and i > 0:
                x = torch.cat([x, inp], dim=-1) * (1.0 / math.sqrt(2.0))
            x = getattr(self, f"lin{i}")(x)
            if i < self.n_lin - 1:
                x = self.act(x)
        return x


def _check_points(points: torch.Tensor, what: str = "points") -> torch.Tensor:
    if not torch.is_tensor(points):
        raise InputError(f"{what}: expected a torch tensor, got {type(points).__name__}")
    if points.dim() == 2:
        points = points.unsqueeze(0)
    if points.dim() != 3 or points.shape[-1] != 3:
        raise InputError(f"{what}: expected shape (B,N,3) or (N,3), got {tuple(points.shape)}")
    if not torch.isfinite(points).all():
        raise InputError(f"{what}: contains NaN or infinite values")
    return points


def _check_code(code: torch.Tensor, batch: int, dim: int, what: str) -> torch.Tensor:
    if not torch.is_tensor(code):
        raise InputError(f"{what}: expected a torch tensor, got {type(code).__name__}")
    if code.dim() == 1:
        code = code.unsqueeze(0)
    if code.dim() == 3 and code.shape[1] == 1:
        code = code[:, 0]
    if code.dim() != 2 or code.shape[-1] != dim or code.shape[0] not in (1, batch):
        raise InputError(f"{what}: expected shape ({batch},{dim}), got {tuple(code.shape)}")
    if not torch.isfinite(code).all():
        raise InputError(f"{what}: contains NaN or infinite values")
    return code.expand(batch, dim)


# ----------------------------------------------------------------------------------------------------------
# identity network
class LocalEnsembleSDF(nn.Module):
    """Identity SDF: ensemble of local MLPs at facial anchors, blended by Gaussian weights.

    ``anchors_mean`` (n_loc, 3): the anchor template; the first 2*n_symm_pairs rows are symmetric pairs
    (a_k, a_k mirrored in x), the mirrored one second.
    """

    def __init__(self, cfg: NPHMConfig, anchors_mean: torch.Tensor | np.ndarray):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        a = torch.as_tensor(np.asarray(anchors_mean, dtype=np.float32)).reshape(-1, 3)
        if a.shape[0] != cfg.n_loc:
            raise InputError(f"anchors: expected ({cfg.n_loc},3) anchor positions, got {tuple(a.shape)}")
        # not part of the official checkpoint -> non-persistent buffer
        self.register_buffer("anchors_mean", a, persistent=False)
        n_members = cfg.n_loc + 1
        d_in = 3 + cfg.lat_dim_glob + cfg.lat_dim_loc
        self.ensembled_deep_sdf = _SkipMLP(
            d_in, cfg.hidden_dim, cfg.n_layers, 1, cfg.softplus_beta,
            lambda i, o: EnsembleLinear(n_members, cfg.n_symm_pairs, i, o))
        self.mlp_pos = nn.Sequential(
            nn.Linear(cfg.lat_dim_glob, cfg.pos_mlp_dim), nn.ReLU(),
            nn.Linear(cfg.pos_mlp_dim, cfg.pos_mlp_dim), nn.ReLU(),
            nn.Linear(cfg.pos_mlp_dim, cfg.n_loc * 3))

    @property
    def lat_dim(self) -> int:
        return self.cfg.lat_dim_id

    def anchors(self, z_id: torch.Tensor) -> torch.Tensor:
        """(B, lat_dim) identity codes -> (B, n_loc, 3) anchor positions."""
        z_glob = z_id[:, :self.cfg.lat_dim_glob]
        off = self.mlp_pos(z_glob).view(z_id.shape[0], self.cfg.n_loc, 3)
        return off + self.anchors_mean

    def forward(self, points: torch.Tensor, z_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SDF of ``points`` (B,N,3) for identity codes ``z_id`` (B, lat_dim) -> (sdf (B,N), anchors (B,n_loc,3))."""
        points = _check_points(points)
        B, N, _ = points.shape
        z_id = _check_code(z_id, B, self.lat_dim, "identity code z_id")
        cfg = self.cfg
        K = cfg.n_loc + 1
        anchors = self.anchors(z_id)                                              # B,n_loc,3
        centres = torch.cat([anchors, anchors.new_zeros(B, 1, 3)], dim=1)         # B,K,3 (background: origin)
        local = points.unsqueeze(1) - centres.unsqueeze(2)                        # B,K,N,3
        sign = torch.ones(K, 1, 3, dtype=points.dtype, device=points.device)
        sign[1:2 * cfg.n_symm_pairs:2, :, 0] = -1.0                               # mirror 2nd member of pairs
        local = local * sign
        z_glob = z_id[:, :cfg.lat_dim_glob]
        z_loc = z_id[:, cfg.lat_dim_glob:].view(B, K, cfg.lat_dim_loc)
        cond = torch.cat([z_glob.unsqueeze(1).expand(B, K, -1), z_loc], dim=-1)  # B,K,C
        inp = torch.cat([local, cond.unsqueeze(2).expand(B, K, N, cond.shape[-1])], dim=-1)
        inp = inp.permute(1, 0, 2, 3).reshape(K, B * N, -1)
        sdf_k = self.ensembled_deep_sdf(inp).view(K, B, N).permute(1, 2, 0)     # B,N,K
        if not self.training and cfg.background_sdf is not None:
            sdf_k = torch.cat([sdf_k[..., :-1], torch.full_like(sdf_k[..., -1:], cfg.background_sdf)], -1)
        # Gaussian blending weights (softmax of -d^2/s^2 == normalised exp weights, numerically safe)
        d2 = ((points.unsqueeze(2) - anchors.unsqueeze(1)) ** 2).sum(-1)          # B,N,n_loc
        d2 = torch.cat([d2, d2.new_full((B, N, 1), cfg.background_dist2)], dim=-1)
        w = torch.softmax(-d2 / cfg.blend_std ** 2, dim=-1)
        return (w * sdf_k).sum(-1), anchors


# ----------------------------------------------------------------------------------------------------------
# expression network
class DeformationField(nn.Module):
    """Backward deformation: posed-space point -> offset to canonical space, conditioned on (z_id, z_ex)."""

    def __init__(self, cfg: NPHMConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        if cfg.expr_mode == "compress":
            d_id_in = cfg.lat_dim_id + 3 * cfg.n_loc
            self.compressor = nn.Sequential(nn.Linear(d_id_in, cfg.expr_id_dim))
            cond = cfg.expr_id_dim + cfg.expr_lat_dim
        elif cfg.expr_mode == "glob_only":
            cond = cfg.lat_dim_glob + cfg.expr_lat_dim
        else:
            cond = cfg.expr_lat_dim
        self.defDeepSDF = _SkipMLP(3 + cond, cfg.expr_hidden_dim, cfg.expr_n_layers, 3, cfg.softplus_beta,
                                   lambda i, o: nn.Linear(i, o))
        last = getattr(self.defDeepSDF, f"lin{cfg.expr_n_layers}")
        with torch.no_grad():  # start near the identity deformation (training from scratch)
            last.weight.mul_(0.1)
            last.bias.zero_()

    def forward(self, points: torch.Tensor, z_id: torch.Tensor, z_ex: torch.Tensor,
                anchors: torch.Tensor) -> torch.Tensor:
        """points (B,N,3), z_id (B,lat_id), z_ex (B,lat_ex), anchors (B,n_loc,3) -> offsets (B,N,3)."""
        B, N, _ = points.shape
        cfg = self.cfg
        if cfg.expr_mode == "compress":
            c = self.compressor(torch.cat([z_id, anchors.reshape(B, -1)], dim=-1))
        elif cfg.expr_mode == "glob_only":
            c = z_id[:, :cfg.lat_dim_glob]
        else:
            c = z_id[:, :0]
        cond = torch.cat([c, z_ex], dim=-1)
        inp = torch.cat([points, cond.unsqueeze(1).expand(B, N, cond.shape[-1])], dim=-1)
        return self.defDeepSDF(inp)


class NPHM(nn.Module):
    """Identity SDF + optional expression deformation. ``identity`` / ``expression`` are the two networks."""

    def __init__(self, cfg: NPHMConfig, anchors_mean, with_expression: bool = True):
        super().__init__()
        self.cfg = cfg
        self.identity = LocalEnsembleSDF(cfg, anchors_mean)
        self.expression = DeformationField(cfg) if with_expression else None

    @property
    def lat_dim_id(self) -> int:
        return self.cfg.lat_dim_id

    @property
    def lat_dim_ex(self) -> int:
        return self.cfg.expr_lat_dim

    def zero_codes(self, batch: int = 1, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero identity (B, lat_dim_id) and expression (B, lat_dim_ex) codes."""
        device = device or self.identity.anchors_mean.device
        return (torch.zeros(batch, self.lat_dim_id, device=device),
                torch.zeros(batch, self.lat_dim_ex, device=device))

    def to_canonical(self, points: torch.Tensor, z_id: torch.Tensor, z_ex: torch.Tensor) -> torch.Tensor:
        """Map posed-space points (B,N,3) to canonical space with the expression field -> (B,N,3)."""
        if self.expression is None:
            raise InputError("NPHM: this model has no expression network (load an expression checkpoint)")
        points = _check_points(points)
        B = points.shape[0]
        z_id = _check_code(z_id, B, self.lat_dim_id, "identity code z_id")
        z_ex = _check_code(z_ex, B, self.lat_dim_ex, "expression code z_ex")
        anchors = self.identity.anchors(z_id)
        return points + self.expression(points, z_id, z_ex, anchors)

    def sdf(self, points: torch.Tensor, z_id: torch.Tensor, z_ex: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Signed distance (B,N) of posed-space ``points`` (B,N,3) (or (N,3) -> (1,N)); z_ex None = neutral."""
        points = _check_points(points)
        if z_ex is not None:
            points = self.to_canonical(points, z_id, z_ex)
        return self.identity(points, z_id)[0]

    def forward(self, points, z_id, z_ex=None):
        return self.sdf(points, z_id, z_ex)

    #: grid bounds of the public NPHM scripts (their normalised head frame)
    DEFAULT_BOUNDS = ((-0.55, -0.5, -0.95), (0.55, 0.75, 0.4))

    def mesh(self, z_id: torch.Tensor, z_ex: Optional[torch.Tensor] = None, bounds_min=None, bounds_max=None,
             resolution: int = 128, batch_points: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Marching-cubes mesh of the head for codes z_id (1,lat_id) and optional z_ex (1,lat_ex) (posed space).

        Bounds default to :attr:`DEFAULT_BOUNDS`. Returns (vertices (V,3) float32 frame units, faces (F,3)).
        """
        lo = self.DEFAULT_BOUNDS[0] if bounds_min is None else bounds_min
        hi = self.DEFAULT_BOUNDS[1] if bounds_max is None else bounds_max
        was_training = self.training
        self.eval()
        try:
            return extract_mesh(lambda p: self.sdf(p, z_id, z_ex), lo, hi, resolution, batch_points,
                                device=self.identity.anchors_mean.device)
        finally:
            self.train(was_training)


def sphere_anchors(n_loc: int, n_symm_pairs: int, radius: float) -> np.ndarray:
    """Anchor template on a sphere with the symmetric-pair layout: pairs (p, p mirrored in x) first.

    For tests and toy models; returns (n_loc, 3) float32.
    """
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n_symm_pairs):
        v = rng.normal(size=3)
        v[0] = abs(v[0]) + 0.3
        v = v / np.linalg.norm(v) * radius
        out += [v, v * np.array([-1.0, 1.0, 1.0])]
    n_rest = n_loc - 2 * n_symm_pairs
    for i in range(n_rest):  # on the symmetry plane x = 0
        t = 2 * np.pi * i / max(n_rest, 1)
        out.append(np.array([0.0, np.cos(t), np.sin(t)]) * radius)
    return np.asarray(out, np.float32).reshape(n_loc, 3)


# ----------------------------------------------------------------------------------------------------------
# checkpoints
def _mlp_depth(sd: dict, prefix: str) -> int:
    n = 0
    while f"{prefix}lin{n}.weight" in sd:
        n += 1
    return n


def config_from_state_dicts(id_sd: dict, ex_sd: Optional[dict] = None, **overrides) -> NPHMConfig:
    """Infer an :class:`NPHMConfig` from official-layout state dicts (identity and optional expression).

    Raises InputError when the identity dict is not an NPHM local-ensemble decoder.
    """
    need = ["ensembled_deep_sdf.lin0.weight", "mlp_pos.0.weight", "mlp_pos.4.weight"]
    missing = [k for k in need if k not in id_sd]
    if missing:
        raise InputError(f"identity checkpoint: not an NPHM local-ensemble decoder (missing keys {missing}; "
                         f"has e.g. {sorted(id_sd)[:5]})")
    n_lin = _mlp_depth(id_sd, "ensembled_deep_sdf.")
    n_layers = n_lin - 1
    w0 = id_sd["ensembled_deep_sdf.lin0.weight"]
    w_last = id_sd[f"ensembled_deep_sdf.lin{n_lin - 1}.weight"]
    lat_glob = id_sd["mlp_pos.0.weight"].shape[1]
    pos_dim = id_sd["mlp_pos.0.weight"].shape[0]
    n_loc = id_sd["mlp_pos.4.weight"].shape[0] // 3
    n_symm = n_loc + 1 - w0.shape[0]
    lat_loc = w0.shape[2] - 3 - lat_glob
    kw = dict(lat_dim_glob=lat_glob, lat_dim_loc=lat_loc, n_loc=n_loc, n_symm_pairs=n_symm,
              hidden_dim=w_last.shape[2], n_layers=n_layers, pos_mlp_dim=pos_dim)
    if ex_sd is not None:
        if "defDeepSDF.lin0.weight" not in ex_sd:
            raise InputError(f"expression checkpoint: not an NPHM deformation decoder (no 'defDeepSDF.lin0.weight';"
                             f" has e.g. {sorted(ex_sd)[:5]})")
        e_lin = _mlp_depth(ex_sd, "defDeepSDF.")
        d_in = ex_sd["defDeepSDF.lin0.weight"].shape[1]
        kw.update(expr_n_layers=e_lin - 1, expr_hidden_dim=ex_sd[f"defDeepSDF.lin{e_lin - 1}.weight"].shape[1])
        if "compressor.0.weight" in ex_sd:
            id_dim = ex_sd["compressor.0.weight"].shape[0]
            kw.update(expr_mode="compress", expr_id_dim=id_dim, expr_lat_dim=d_in - 3 - id_dim)
        else:
            kw.update(expr_mode=overrides.pop("expr_mode", "glob_only"))
            kw["expr_lat_dim"] = d_in - 3 - (lat_glob if kw["expr_mode"] == "glob_only" else 0)
    kw.update(overrides)
    return NPHMConfig(**kw)


def _load_strict(module: nn.Module, sd: dict, what: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
           for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:6]}{' ...' if len(missing) > 6 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:6]}{' ...' if len(unexpected) > 6 else ''}")
        if bad:
            parts.append("shape mismatch " + "; ".join(bad[:4]))
        raise InputError(f"{what}: checkpoint does not match the NPHM architecture: " + ", ".join(parts))
    module.load_state_dict(sd, strict=True)


def _read_ckpt(path) -> tuple[dict, Optional[torch.Tensor]]:
    """-> (decoder state dict, latent code table or None) from a file path or an in-memory dict."""
    if isinstance(path, dict):
        ck = path
        name = "checkpoint"
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: NPHM checkpoint not found")
        try:
            ck = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # corrupt / pickled objects we refuse to execute
            raise InputError(f"{p}: cannot read NPHM checkpoint ({type(e).__name__}: {e})") from e
        name = str(p)
    if not isinstance(ck, dict):
        raise InputError(f"{name}: expected a dict checkpoint, got {type(ck).__name__}")
    sd = ck.get("decoder_state_dict", ck)
    if not isinstance(sd, dict) or not all(torch.is_tensor(v) for v in sd.values()):
        raise InputError(f"{name}: no 'decoder_state_dict' of tensors in the checkpoint")
    lat = ck.get("latent_codes_state_dict", {}).get("weight") if isinstance(ck.get("latent_codes_state_dict"),
                                                                          dict) else None
    return sd, lat


def load_nphm_checkpoint(identity_ckpt, anchors_mean, expression_ckpt=None, device="cpu",
                         **config_overrides) -> tuple[NPHM, dict]:
    """Build an :class:`NPHM` from official-layout checkpoints.

    identity_ckpt / expression_ckpt: path to a ``torch.save`` dict with ``decoder_state_dict`` (optionally
    ``latent_codes_state_dict``), or such a dict. anchors_mean: (n_loc,3) array or a path to ``.npy``.
    Returns (model in eval mode, extras) with extras ``{"id_codes": (S,lat) or None, "ex_codes": ...}``.
    Raises InputError naming the file and the mismatch when the checkpoint does not fit.
    """
    if isinstance(anchors_mean, (str, Path)):
        ap = Path(anchors_mean)
        if not ap.is_file():
            raise InputError(f"{ap}: NPHM anchor template not found")
        anchors_mean = np.load(ap)
    id_sd, id_codes = _read_ckpt(identity_ckpt)
    ex_sd, ex_codes = (None, None) if expression_ckpt is None else _read_ckpt(expression_ckpt)
    cfg = config_from_state_dicts(id_sd, ex_sd, **config_overrides)
    anchors_mean = np.asarray(anchors_mean, np.float32).reshape(-1, 3)
    model = NPHM(cfg, anchors_mean, with_expression=ex_sd is not None)
    _load_strict(model.identity, id_sd, f"{identity_ckpt if not isinstance(identity_ckpt, dict) else 'identity'}")
    if ex_sd is not None:
        _load_strict(model.expression, ex_sd,
                     f"{expression_ckpt if not isinstance(expression_ckpt, dict) else 'expression'}")
    return model.to(device).eval(), {"id_codes": id_codes, "ex_codes": ex_codes}


# ----------------------------------------------------------------------------------------------------------
# mesh extraction
@torch.no_grad()
def extract_mesh(sdf_fn: Callable[[torch.Tensor], torch.Tensor], bounds_min, bounds_max, resolution: int = 128,
                 batch_points: int = 8192, device="cpu", level: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Zero level set of ``sdf_fn`` by marching cubes on a regular grid evaluated in batches.

    sdf_fn: (N,3) float tensor -> (N,) or (1,N) SDF (negative inside). bounds_min/max: 3 floats (frame units).
    batch_points: grid points per call (the published NPHM size needs ~(n_loc+1) x batch x 200 floats per layer).
    Returns (vertices (V,3) float32 in frame units, faces (F,3) int64, outward-facing counter-clockwise).
    Raises InputError when the grid has no sign change.
    """
    from skimage.measure import marching_cubes

    lo = np.asarray(bounds_min, np.float64).reshape(3)
    hi = np.asarray(bounds_max, np.float64).reshape(3)
    if not (hi > lo).all() or resolution < 2:
        raise InputError(f"extract_mesh: need bounds_max > bounds_min and resolution >= 2 (got {lo}, {hi}, "
                         f"{resolution})")
    axes = [torch.linspace(float(lo[i]), float(hi[i]), resolution, device=device) for i in range(3)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
    vals = torch.empty(grid.shape[0], device=device)
    for s in range(0, grid.shape[0], batch_points):
        vals[s:s + batch_points] = sdf_fn(grid[s:s + batch_points]).reshape(-1).float()
    vol = vals.reshape(resolution, resolution, resolution).cpu().numpy()
    if not (vol.min() < level < vol.max()):
        raise InputError(f"extract_mesh: the SDF has no zero crossing in the grid (range {vol.min():.3g}.."
                         f"{vol.max():.3g})")
    spacing = tuple((hi - lo) / (resolution - 1))
    verts, faces, _, _ = marching_cubes(vol, level=level, spacing=spacing, gradient_direction="descent")
    return (verts + lo).astype(np.float32), faces.astype(np.int64)


# ----------------------------------------------------------------------------------------------------------
# fitting
@dataclass
class FitResult:
    """Output of :func:`fit_sdf`: fitted codes and the loss history."""
    z_id: torch.Tensor
    z_ex: Optional[torch.Tensor]
    losses: list = field(default_factory=list)


def _eikonal(model: NPHM, pts: torch.Tensor, z_id, z_ex) -> torch.Tensor:
    pts = pts.detach().requires_grad_(True)
    s = model.sdf(pts, z_id, z_ex)
    (g,) = torch.autograd.grad(s.sum(), pts, create_graph=True)
    return ((g.norm(dim=-1) - 1.0) ** 2).mean()


def fit_sdf(model: NPHM, surface_points: torch.Tensor, *, space_points: Optional[torch.Tensor] = None,
            space_sdf: Optional[torch.Tensor] = None, z_id: Optional[torch.Tensor] = None,
            z_ex: Optional[torch.Tensor] = None, fit_identity: bool = True, fit_expression: bool = False,
            optimize_network: bool = False,
            network_parts: tuple = ("identity", "expression"),
            n_steps: int = 300, lr: float = 5e-3, lr_network: float = 1e-3, batch_size: int = 4096,
            w_surface: float = 1.0, w_space: float = 1.0, w_eikonal: float = 0.1, w_reg_id: float = 1e-4,
            w_reg_ex: float = 1e-4, eikonal_bounds: float = 1.0, seed: int = 0) -> FitResult:
    """Fit latent codes (and optionally the network) so that the SDF vanishes on ``surface_points``.

    surface_points: (N,3) points on the surface (point cloud / back-projected depth), frame units.
    space_points / space_sdf: optional (M,3) / (M,) points with known signed distance (e.g. free-space
    samples along camera rays, or an analytic SDF); fitted with an L1 loss.
    Loss = w_surface*|SDF(surface)| + w_space*|SDF(space)-target| + w_eikonal*(|grad SDF|-1)^2 (on surface
    points and uniform samples in [-eikonal_bounds, eikonal_bounds]^3) + w_reg_*|z|^2. Adam, minibatches.
    fit_identity / fit_expression: which codes move (z_ex needs an expression network).
    optimize_network: also optimise the weights of the networks named in ``network_parts``
    ("identity", "expression"); otherwise only the codes move.
    Returns FitResult(z_id (1,lat_id), z_ex (1,lat_ex) or None, losses). The model is in train mode
    only while fitting; afterwards it is in eval mode.
    """
    surface_points = _check_points(surface_points, "surface_points")[0]
    if space_points is not None or space_sdf is not None:
        if space_points is None or space_sdf is None:
            raise InputError("fit_sdf: give both space_points and space_sdf, or neither")
        space_points = _check_points(space_points, "space_points")[0]
        space_sdf = torch.as_tensor(space_sdf, dtype=space_points.dtype, device=space_points.device).reshape(-1)
        if space_sdf.shape[0] != space_points.shape[0] or not torch.isfinite(space_sdf).all():
            raise InputError(f"fit_sdf: space_sdf must be ({space_points.shape[0]},) finite values, "
                             f"got {tuple(space_sdf.shape)}")
    device = surface_points.device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    z_id0, z_ex0 = model.zero_codes(1, device)
    z_id = (z_id0 if z_id is None else _check_code(z_id, 1, model.lat_dim_id, "z_id")).detach().clone()
    params = []
    if fit_identity:
        z_id.requires_grad_(True)
        params.append({"params": [z_id], "lr": lr})
    if fit_expression:
        z_ex = (z_ex0 if z_ex is None else _check_code(z_ex, 1, model.lat_dim_ex, "z_ex")).clone()
        z_ex.requires_grad_(True)
        params.append({"params": [z_ex], "lr": lr})
    elif z_ex is not None:
        z_ex = _check_code(z_ex, 1, model.lat_dim_ex, "z_ex").detach()
    unknown = set(network_parts) - {"identity", "expression"}
    if unknown:
        raise InputError(f"fit_sdf: unknown network_parts {sorted(unknown)} (use 'identity', 'expression')")
    net_params = list(model.parameters())
    train_params = [p for part in network_parts if getattr(model, part) is not None
                    for p in getattr(model, part).parameters()] if optimize_network else []
    for p in net_params:
        p.requires_grad_(False)
    for p in train_params:
        p.requires_grad_(True)
    if train_params:
        params.append({"params": train_params, "lr": lr_network})
    if not params:
        raise InputError("fit_sdf: nothing to optimise (fit_identity, fit_expression and optimize_network all off)")
    if fit_expression and model.expression is None:
        raise InputError("fit_sdf: fit_expression needs a model with an expression network")
    opt = torch.optim.Adam(params)
    model.train()
    losses = []
    n_s = surface_points.shape[0]
    try:
        for _ in range(n_steps):
            idx = torch.randint(0, n_s, (min(batch_size, n_s),), generator=gen).to(device)
            sp = surface_points[idx].unsqueeze(0)
            loss = w_surface * model.sdf(sp, z_id, z_ex).abs().mean()
            if space_points is not None:
                j = torch.randint(0, space_points.shape[0], (min(batch_size, space_points.shape[0]),),
                                  generator=gen).to(device)
                pred = model.sdf(space_points[j].unsqueeze(0), z_id, z_ex)[0]
                loss = loss + w_space * (pred - space_sdf[j]).abs().mean()
            if w_eikonal > 0:
                u = (torch.rand(sp.shape[1] // 2, 3, generator=gen) * 2 - 1).to(device) * eikonal_bounds
                eik_pts = torch.cat([sp[0, : sp.shape[1] // 2], u], 0).unsqueeze(0)
                loss = loss + w_eikonal * _eikonal(model, eik_pts, z_id, z_ex)
            if fit_identity:
                loss = loss + w_reg_id * (z_id ** 2).sum()
            if fit_expression:
                loss = loss + w_reg_ex * (z_ex ** 2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    finally:
        for p in net_params:
            p.requires_grad_(True)
        model.eval()
    return FitResult(z_id.detach(), None if z_ex is None else z_ex.detach(), losses)
