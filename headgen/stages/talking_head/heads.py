"""The moving head of each frame, before it is blended into the still.

- :class:`MeshHead` ("mesh" mode): the still itself carried by the fitted mesh (``warp.PhotoWarp``); in the
  mouth, the still's own gap held to the skull and flat colours where the jaw opens beyond it
  (``PhotoWarp.mouth``). Cheap and exact at rest; the opened cavity is schematic.
- :class:`AvatarHead` ("avatar" mode): the Gaussian avatar (``headgen.avatar``) rendered with the same
  model inputs in the output view, colour-matched to the still once (on the skin at rest), over the
  mesh-warped still (which shows through wherever the avatar is translucent), plus ``detail`` x the still's
  residual over that rest composite, carried by the mesh (detail transfer: the photo's fine texture, which a
  one-shot avatar blurs, moves with the face), and the mouth as ``PhotoWarp.mouth``: the still's gap held to
  the skull; where the jaw opens beyond it, the avatar's own interior when the avatar was trained on several
  frames (it has seen the mouth open), else flat interior colours - a one-shot avatar's interior Gaussians
  took whatever the photo showed between the lips (teeth, on a smile), so its opened mouth renders as teeth,
  not as an opening.

Both return ``(fg (B,H,W,3) float [0,1], alpha (B,H,W) float)`` for a batch of frames.
"""
from __future__ import annotations

import numpy as np
import torch


class MeshHead:
    """The still warped by the mesh. background: (H,W,3) float [0,1] tensor in the output view."""

    mode = "mesh"

    def __init__(self, warp, background: torch.Tensor):
        self.warp = warp
        self.bg = background

    def frames(self, inputs: dict, r: dict):
        """Model inputs + the warp's raster of B frames -> window-sized (fg (B,h,w,3), alpha (B,h,w) ones)."""
        fg = self.warp.mouth(self.warp.sample(self.bg, r), self.bg, r)
        return fg, torch.ones(fg.shape[:3], device=fg.device)


class AvatarHead:
    """A Gaussian avatar (folder with ``avatar_rig.npz``) rendered in the output view.

    warp: the still's :class:`PhotoWarp` (same view); rest: model inputs of the still (batch 1);
    background (H,W,3) float; detail: weight of the still carried onto the avatar (residual and mouth gap; 0 =
    the avatar's own pixels only);
    backend: splat backend. ``rest_rgb`` / ``gain`` / ``bias`` are kept for inspection."""

    mode = "avatar"

    def __init__(self, avatar_dir, warp, rest: dict, background: torch.Tensor, detail: float = 1.0,
                 backend: str = "auto"):
        from headgen.avatar import load_avatar, load_avatar_model
        from headgen.errors import InputError

        from headgen.stages.talking_head.blend import colour_transfer

        dev = warp.dev
        self.avatar = load_avatar(avatar_dir, device=dev)
        if self.avatar.model != "ict":
            raise InputError(f"{avatar_dir}: talking_head drives ICT avatars; this one is rigged to "
                             f"{self.avatar.model!r}")
        self.model = load_avatar_model(self.avatar, device=dev)
        self.warp, self.bg, self.detail, self.backend = warp, background, float(detail), backend
        meta = self.avatar.meta or {}
        #: whether the avatar saw the mouth in several frames (then its interior is its own, learned)
        self.knows_mouth = meta.get("mode") != "one_shot" and len(meta.get("train_frames") or []) > 1
        rgb, alpha = self._render(rest)
        self.rest_rgb, self.rest_alpha = rgb[0], alpha[0]
        bg_win = warp.crop(background)
        skin = warp.rest["skin"][0] & (alpha[0] > 0.95)
        self.gain, self.bias = colour_transfer(rgb[0], bg_win, _erode(skin, 3))
        fg_rest = self._over_mesh(rgb, alpha, warp.rest)[0]
        self.residual = torch.zeros_like(background)      # registered with the whole view, 0 off the head
        warp.crop(self.residual)[...] = (bg_win - fg_rest) * warp.rest["cover"][0][..., None]

    def _render(self, inputs: dict):
        from headgen.avatar import render

        kw = dict(inputs)
        if self.avatar.shape is not None and self.avatar.shape.numel():
            B = kw["expression"].shape[0]
            kw["shape"] = self.avatar.shape.to(self.warp.dev)[None].expand(B, -1)
        with torch.no_grad():
            out = render(self.avatar, self.model, kw, self.warp.K_win, self.warp.win_size, backend=self.backend)
        return out["rgb"], out["alpha"]

    def _over_mesh(self, rgb: torch.Tensor, alpha: torch.Tensor, r: dict) -> torch.Tensor:
        """The colour-matched avatar (rgb premultiplied by alpha, as rendered on black) over the mesh-warped
        still, which fills the avatar's translucent gaps."""
        base = self.warp.sample(self.bg, r) * r["face"][..., None] + self.warp.interior(r)
        a = alpha[..., None]
        return self.gain * rgb + a * self.bias + (1 - a) * base

    def frames(self, inputs: dict, r: dict):
        """Model inputs + the warp's raster of B frames -> window-sized (fg (B,h,w,3), alpha (B,h,w) ones):
        the avatar over the warped still plus the carried residual, its mouth as ``PhotoWarp.mouth``; mixed
        with the avatar's own pixels as ``detail`` says."""
        rgb, alpha = self._render(inputs)
        own = self._over_mesh(rgb, alpha, r)
        fg = own
        if self.detail:
            carried = own + self.warp.sample(self.residual, r)
            fg = self.warp.mouth(carried, self.bg, r, cavity=own if self.knows_mouth else None)
            fg = (1 - self.detail) * own + self.detail * fg
        return fg.clamp(0, 1), torch.ones(fg.shape[:3], device=fg.device)


def _erode(mask: torch.Tensor, px: int) -> torch.Tensor:
    """(H,W) bool eroded by a (2px+1)^2 square."""
    if px <= 0:
        return mask
    m = (~mask).float()[None, None]
    return ~(torch.nn.functional.max_pool2d(m, 2 * px + 1, stride=1, padding=px)[0, 0] > 0)


def to_float_image(img: np.ndarray, device) -> torch.Tensor:
    """(H,W,3) uint8 -> float tensor [0,1] on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(img), device=device).float() / 255.0
