"""The rigged Gaussian avatar: Gaussians bound to head-mesh triangles, deformed with the mesh, rendered
with ``headgen.splat.rasterize``.

Frames: the avatar's local parameters are relative to its triangles (``headgen.avatar.binding``); the
vertices passed to :func:`deform` / :func:`render_vertices` may be in any frame (the model frame for the
neutral PLY, the OpenCV camera frame for rendering: the fit's rotation/translation put the head there).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from headgen.avatar.binding import frame_quaternions, quat_multiply, to_local, triangle_frames
from headgen.errors import InputError

SH_C0 = 0.28209479177387814
#: ICT components an avatar is built on: the skin (face + back of head and neck), the mouth interior
#: (socket, gums and tongue, teeth) and the eyes (sockets, eyeballs).
ICT_AVATAR_PARTS = ("face", "head_and_neck", "mouth_socket", "eye_socket_left", "eye_socket_right",
                    "gums_and_tongue", "teeth", "eyeball_left", "eyeball_right")


def rgb_to_sh0(rgb: Tensor) -> Tensor:
    """RGB (..., 3) in [0, 1] -> degree-0 SH coefficient (..., 3) (colour = C0 * sh + 0.5)."""
    return (rgb - 0.5) / SH_C0


def sh0_to_rgb(sh0: Tensor) -> Tensor:
    """Degree-0 SH coefficient (..., 3) -> RGB (..., 3) (not clamped)."""
    return sh0 * SH_C0 + 0.5


@dataclass
class Avatar:
    """Gaussians bound to the triangles of one head-model mesh (N Gaussians, F triangles, V vertices).

    model: "ict" | "flame"; parts: the model's part list (what ``load_avatar_model`` loads); faces (F,3) long;
    binding (N,) long triangle ids; offsets (N,3) local means (triangle-size units); rotations (N,4) local
    wxyz quaternions (unnormalised allowed); log_scales (N,3) local log std-devs (triangle-size units);
    sh (N,K,3) SH coefficients (K = (d+1)^2); opacity_logits (N,); shape (S,) identity coefficients and
    neutral_vertices (V,3) (model frame) of the fitted head; meta: JSON-able training parameters.
    """
    model: str
    parts: list
    faces: Tensor
    binding: Tensor
    offsets: Tensor
    rotations: Tensor
    log_scales: Tensor
    sh: Tensor
    opacity_logits: Tensor
    shape: Tensor | None = None
    neutral_vertices: Tensor | None = None
    meta: dict = field(default_factory=dict)

    PER_GAUSSIAN = ("binding", "offsets", "rotations", "log_scales", "sh", "opacity_logits")

    @property
    def n(self) -> int:
        """Number of Gaussians."""
        return int(self.binding.shape[0])

    @property
    def sh_degree(self) -> int:
        """SH degree d of ``sh`` ((d+1)^2 coefficients)."""
        return int(round(math.sqrt(self.sh.shape[1]))) - 1

    @property
    def device(self) -> torch.device:
        return self.offsets.device

    def to(self, device) -> "Avatar":
        """A copy with every tensor on ``device``."""
        mv = lambda t: None if t is None else t.to(device)
        return replace(self, faces=mv(self.faces), binding=mv(self.binding), offsets=mv(self.offsets),
                       rotations=mv(self.rotations), log_scales=mv(self.log_scales), sh=mv(self.sh),
                       opacity_logits=mv(self.opacity_logits), shape=mv(self.shape),
                       neutral_vertices=mv(self.neutral_vertices))

    def subset(self, index) -> "Avatar":
        """The Gaussians ``index`` (bool mask or index tensor) as a new avatar (detached copies)."""
        kw = {k: getattr(self, k)[index].detach().clone() for k in self.PER_GAUSSIAN}
        return replace(self, **kw)

    def opacities(self) -> Tensor:
        """(N,) opacities in [0, 1]."""
        return torch.sigmoid(self.opacity_logits)


def concat(avatars: list[Avatar]) -> Avatar:
    """Gaussians of avatars on the same mesh, concatenated (mesh/meta from the first)."""
    kw = {k: torch.cat([getattr(a, k).detach() for a in avatars]) for k in Avatar.PER_GAUSSIAN}
    return replace(avatars[0], **kw)


def load_avatar_model(avatar_or_name, parts=None, flame_path=None, device="cpu", mediapipe: bool = False):
    """The head model an avatar is rigged to: ``load_head_model(avatar.model, parts=avatar.parts)``
    (ICT default parts: :data:`ICT_AVATAR_PARTS`; FLAME needs ``flame_path``)."""
    from headgen.models import load_head_model

    name = avatar_or_name.model if isinstance(avatar_or_name, Avatar) else str(avatar_or_name)
    if parts is None:
        parts = list(avatar_or_name.parts) if isinstance(avatar_or_name, Avatar) else None
    if name == "ict":
        return load_head_model("ict", parts=list(parts or ICT_AVATAR_PARTS), device=device, mediapipe=mediapipe)
    if name == "flame":
        if flame_path is None:
            raise InputError("this avatar is rigged to FLAME: pass the FLAME model path (flame_path=)")
        p = "full" if not parts or list(parts) == ["full"] else parts
        return load_head_model("flame", path=flame_path, parts=p, device=device, mediapipe=mediapipe)
    raise InputError(f"unknown avatar model {name!r} (ict or flame)")


def model_parts(model) -> list:
    """The part list of a loaded head model as stored in the rig (ICT: component names; FLAME: its parts)."""
    comps = getattr(model, "components", None)
    if comps is not None:
        return [str(c) for c in comps]
    p = getattr(model, "parts", "full")
    return [p] if isinstance(p, str) else [str(x) for x in p]


def triangle_areas(vertices: Tensor, faces: Tensor) -> Tensor:
    """vertices (V,3), faces (F,3) -> (F,) areas."""
    v = vertices[faces]
    return 0.5 * torch.linalg.norm(torch.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=-1), dim=-1)


def build_avatar(model, vertices: Tensor | None = None, shape: Tensor | None = None, n_gaussians: int | None = None,
                 face_mask: Tensor | None = None, face_weights: Tensor | None = None, colors: Tensor | None = None,
                 sh_degree: int = 0, opacity: float = 0.9, flatness: float = 0.3, coverage: float = 0.6,
                 seed: int = 0) -> Avatar:
    """Seed an avatar on ``model``'s mesh.

    vertices (V,3): the mesh to seed on (model frame; default the model with ``shape`` at neutral expression).
    n_gaussians: None = exactly one Gaussian per triangle at its centroid; otherwise that many Gaussians at
    uniform random points, spread in proportion to triangle area x ``face_weights`` (F,) (a density per
    triangle, default 1; with n_gaussians >= F every triangle gets at least one). face_mask (F,) bool: only
    those triangles. colors: None (mid grey), (3,) or (F,3) per-triangle RGB in [0, 1]. The seeds are flat
    discs (normal std-dev ``flatness`` x tangential) whose tangential std-dev is ``coverage`` x the side of
    their share of the surface (0.6: neighbours just touch; larger: overlapping, no holes between random seeds).
    -> :class:`Avatar` (tensors on the model's device, float32).
    """
    dev = model.device
    faces = model.faces.long().to(dev)
    if shape is not None:
        shape = torch.as_tensor(shape, dtype=torch.float32, device=dev).reshape(-1)
    if vertices is None:
        with torch.no_grad():
            vertices = model(shape=None if shape is None or not shape.numel() else shape[None]).vertices[0]
    vertices = torch.as_tensor(vertices, dtype=torch.float32, device=dev)
    F = faces.shape[0]
    fm = torch.ones(F, dtype=torch.bool, device=dev) if face_mask is None else torch.as_tensor(face_mask, device=dev).bool()
    ids = torch.nonzero(fm).flatten()
    if ids.numel() == 0:
        raise InputError("build_avatar: no triangles selected")
    area = triangle_areas(vertices, faces)[ids].clamp_min(1e-14)
    dens = torch.ones_like(area) if face_weights is None else \
        torch.as_tensor(face_weights, dtype=torch.float32, device=dev)[ids].clamp_min(1e-6)
    g = torch.Generator(device="cpu").manual_seed(seed)
    cen, R, k = triangle_frames(vertices, faces)
    if n_gaussians is None:
        counts = torch.ones(ids.numel(), dtype=torch.long)
        share = area.cpu()
    else:
        n_gaussians = int(n_gaussians)
        w = (area * dens / (area * dens).sum()).cpu().double()
        base = 1 if n_gaussians >= ids.numel() else 0
        counts = torch.full((ids.numel(),), base, dtype=torch.long)
        rem = n_gaussians - int(counts.sum())
        counts += torch.floor(w * rem).long()
        rem = n_gaussians - int(counts.sum())
        if rem > 0:
            counts += torch.bincount(torch.multinomial(w, rem, replacement=True, generator=g), minlength=len(counts))
        # surface per Gaussian at this triangle's density
        share = ((area * dens).sum() / n_gaussians / dens).cpu()
    binding = torch.repeat_interleave(ids.cpu(), counts).to(dev)
    N = binding.numel()
    if n_gaussians is None:
        pts = cen[binding]
    else:   # uniform random points inside each triangle
        u = torch.rand(N, 2, generator=g).to(dev)
        flip = u.sum(1) > 1
        u[flip] = 1 - u[flip]
        tri = vertices[faces[binding]]
        pts = tri[:, 0] + u[:, :1] * (tri[:, 1] - tri[:, 0]) + u[:, 1:] * (tri[:, 2] - tri[:, 0])
    offsets = to_local(pts, cen[binding], R[binding], k[binding])
    side = coverage * torch.sqrt(share).to(dev)                          # std-dev covering each seed's patch (m)
    tang = (side / k[ids].clamp_min(1e-9)).clamp(1e-3, 20.0)        # in triangle-size units
    tang = torch.repeat_interleave(tang.cpu(), counts).to(dev)
    log_scales = torch.log(torch.stack([tang, tang, tang * flatness], -1))
    rotations = torch.zeros(N, 4, device=dev)
    rotations[:, 0] = 1
    K = (sh_degree + 1) ** 2
    sh = torch.zeros(N, K, 3, device=dev)
    if colors is None:
        rgb = torch.full((N, 3), 0.5, device=dev)
    else:
        c = torch.as_tensor(colors, dtype=torch.float32, device=dev)
        rgb = c.expand(N, 3) if c.dim() == 1 else c[binding]
    sh[:, 0] = rgb_to_sh0(rgb)
    logit = math.log(opacity / (1 - opacity))
    return Avatar(model=model.model_name, parts=model_parts(model), faces=faces, binding=binding, offsets=offsets,
                  rotations=rotations, log_scales=log_scales, sh=sh,
                  opacity_logits=torch.full((N,), logit, device=dev),
                  shape=shape, neutral_vertices=vertices.detach().clone())


def deform(avatar: Avatar, vertices: Tensor, rotation_grad: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Gaussians of ``avatar`` on a posed mesh: vertices (B,V,3) (or (V,3)) in any frame ->
    means (B,N,3) (same frame), quats (B,N,4) unit wxyz, scales (B,N,3) std-devs (same units as vertices).
    Pure batched torch; differentiable in the avatar's parameters and, for means and scales, in the vertices
    (the triangles' rotations reach the quaternions without a gradient unless ``rotation_grad``: the matrix
    to quaternion conversion of every Gaussian costs more than the rest of the deformation on a CPU)."""
    squeeze = vertices.dim() == 2
    if squeeze:
        vertices = vertices[None]
    faces = avatar.faces.to(vertices.device)
    used = avatar.binding
    cen, R, k = triangle_frames(vertices, faces[used])  # frames of each Gaussian's triangle (B,N,...)
    means = cen + k[..., None] * torch.einsum("bnij,nj->bni", R, avatar.offsets)
    q_local = torch.nn.functional.normalize(avatar.rotations, dim=-1)
    with torch.set_grad_enabled(rotation_grad and torch.is_grad_enabled()):
        q_tri = frame_quaternions(R if rotation_grad else R.detach())
    quats = quat_multiply(q_tri, q_local)  # (B,N,4) x (N,4) broadcasts
    scales = torch.exp(avatar.log_scales) * k[..., None]
    if squeeze:
        return means[0], quats[0], scales[0]
    return means, quats, scales


def _background(background, B: int, H: int, W: int, ref: Tensor) -> Tensor | None:
    if background is None:
        return None
    bg = torch.as_tensor(background, device=ref.device)
    bg = bg.float() / 255.0 if bg.dtype == torch.uint8 else bg.to(ref.dtype)
    if bg.dim() == 1:
        return bg.view(1, 1, 1, -1).expand(B, H, W, bg.shape[0])
    if bg.dim() == 3:
        return bg[None].expand(B, H, W, bg.shape[-1])
    return bg


def render_vertices(avatar: Avatar, vertices: Tensor, K: Tensor, image_size, background=None, backend: str = "auto",
                    sh_degree: int | None = None, retain_means2d: bool = False) -> dict:
    """Render the avatar on posed meshes seen by pinhole cameras at the origin (OpenCV camera frame).

    vertices (B,V,3) camera frame metres; K (B,3,3) or (3,3) px; image_size (w, h); background: None (black),
    an RGB triple, an image (H,W,3) or images (B,H,W,3) (float [0,1] or uint8) composited behind.
    sh_degree: SH bands used (default all of ``avatar.sh``).
    -> dict(rgb (B,H,W,3), alpha (B,H,W), means2d: list of the rasteriser's (1,N,2) screen means per frame
    (``retain_grad`` called when ``retain_means2d``: gradients for densification), radii (B,N)).
    """
    if vertices.dim() == 2:
        vertices = vertices[None]
    B = vertices.shape[0]
    W, H = int(image_size[0]), int(image_size[1])
    K = torch.as_tensor(K, dtype=vertices.dtype, device=vertices.device)
    K = K.expand(B, 3, 3) if K.dim() == 2 else K
    if K.shape[0] != B:
        raise InputError(f"render: K has {K.shape[0]} cameras for {B} frames")
    from headgen.splat import rasterize

    means, quats, scales = deform(avatar, vertices)
    deg = avatar.sh_degree if sh_degree is None else min(int(sh_degree), avatar.sh_degree)
    opac = torch.sigmoid(avatar.opacity_logits)
    vm = torch.eye(4, dtype=vertices.dtype, device=vertices.device)[None]
    rgbs, alphas, m2d, radii = [], [], [], []
    for b in range(B):
        img, alpha, meta = rasterize(means[b], quats[b], scales[b], opac, avatar.sh, vm, K[b:b + 1], W, H,
                                     backend=backend, sh_degree=deg)
        if retain_means2d and meta["means2d"].requires_grad:
            meta["means2d"].retain_grad()
        rgbs.append(img[0])
        alphas.append(alpha[0, ..., 0])
        m2d.append(meta["means2d"])
        radii.append(meta["radii"][0])
    rgb, alpha = torch.stack(rgbs), torch.stack(alphas)
    bg = _background(background, B, H, W, rgb)
    if bg is not None:
        rgb = rgb + (1 - alpha[..., None]) * bg
    return dict(rgb=rgb, alpha=alpha, means2d=m2d, radii=torch.stack(radii))


def render(avatar: Avatar, model, model_params: dict, K: Tensor, image_size, background=None,
           backend: str = "auto", sh_degree: int | None = None) -> dict:
    """Pose ``model`` with ``model_params`` (batched keyword inputs of the head model: shape, expression,
    rotation, translation, jaw, eyes; the rigid pose maps the model into the OpenCV camera frame) and
    render the avatar -> dict(rgb (B,H,W,3), alpha (B,H,W), ...) as :func:`render_vertices`.
    ``shape`` defaults to the avatar's fitted identity."""
    params = dict(model_params)
    if params.get("shape") is None and avatar.shape is not None and avatar.shape.numel():
        params["shape"] = avatar.shape.to(model.device)[None]
    verts = model(**params).vertices
    return render_vertices(avatar, verts, K, image_size, background=background, backend=backend,
                           sh_degree=sh_degree)


def neutral_gaussians(avatar: Avatar) -> dict:
    """The Gaussians at the neutral pose (``avatar.neutral_vertices``, model frame) in 3DGS file terms:
    dict(means (N,3), quats (N,4), log_scales (N,3), sh (N,K,3), opacity_logits (N,)) numpy float32."""
    if avatar.neutral_vertices is None:
        raise InputError("avatar has no neutral_vertices")
    with torch.no_grad():
        m, q, s = deform(avatar, avatar.neutral_vertices.float())
        f = lambda t: t.detach().cpu().float().numpy()
        return dict(means=f(m), quats=f(q), log_scales=f(torch.log(s.clamp_min(1e-12))), sh=f(avatar.sh),
                    opacity_logits=f(avatar.opacity_logits))


def save_avatar(out_dir, avatar: Avatar, extra: dict | None = None):
    """Write ``out_dir/avatar.ply`` (neutral pose, standard 3DGS layout) and ``out_dir/avatar_rig.npz``
    (schema: ``headgen.artifacts.avatar``) -> (ply path, rig path). extra: more numpy arrays for the rig."""
    from headgen.artifacts.avatar import write_avatar

    f = lambda t: t.detach().cpu().numpy()
    shape = avatar.shape if avatar.shape is not None else torch.zeros(0)
    rig = dict(model=avatar.model, model_parts=list(avatar.parts), faces=f(avatar.faces),
               neutral_vertices=f(avatar.neutral_vertices), shape=f(shape), binding=f(avatar.binding),
               local_offsets=f(avatar.offsets), local_rotations=f(avatar.rotations),
               local_log_scales=f(avatar.log_scales), sh=f(avatar.sh), opacity_logits=f(avatar.opacity_logits),
               training_params=avatar.meta, **(extra or {}))
    return write_avatar(out_dir, rig, neutral_gaussians(avatar))


def avatar_from_rig(rig: dict, device="cpu") -> Avatar:
    """An :class:`Avatar` from the numpy arrays of ``avatar_rig.npz`` (``headgen.artifacts.avatar.read_rig``)."""
    t = lambda k, dt=torch.float32: torch.as_tensor(np.asarray(rig[k]), dtype=dt, device=device)
    return Avatar(model=rig["model"], parts=list(rig["model_parts"]), faces=t("faces", torch.long),
                  binding=t("binding", torch.long), offsets=t("local_offsets"), rotations=t("local_rotations"),
                  log_scales=t("local_log_scales"), sh=t("sh"), opacity_logits=t("opacity_logits"),
                  shape=t("shape"), neutral_vertices=t("neutral_vertices"), meta=dict(rig.get("training_params") or {}))


def load_avatar(path, device="cpu") -> Avatar:
    """Read an avatar folder (``avatar_rig.npz``; the PLY is a viewer export) -> :class:`Avatar`."""
    from headgen.artifacts.avatar import read_avatar

    return avatar_from_rig(read_avatar(path, with_ply=False).rig, device=device)
