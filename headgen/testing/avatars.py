"""A painted avatar: an ICT avatar whose skin and hair Gaussians have known colours, for the appearance tests
and the sculpt benchmark."""
from __future__ import annotations

import torch

SKIN_RGB = (0.85, 0.65, 0.55)
HAIR_RGB = (0.2, 0.13, 0.08)   # dark brown


def painted_avatar(rest_rgb=(0.5, 0.5, 0.5), skin_rgb=SKIN_RGB, hair_rgb=HAIR_RGB, zero_shape: bool = False):
    """-> (model, avatar, regions): the ICT avatar model (MediaPipe embedding loaded), an avatar built on it
    (the mean head; ``zero_shape`` passes explicit zero identity coefficients, stored in the rig) whose base colours (sRGB in [0, 1]) are
    ``skin_rgb`` on :func:`headgen.avatar.appearance.appearance_regions`' skin, ``hair_rgb`` on its hair and
    ``rest_rgb`` elsewhere (eyes, mouth), and that regions dict (bool (N,) masks)."""
    from headgen.avatar import build_avatar, load_avatar_model, rgb_to_sh0
    from headgen.avatar.appearance import appearance_regions
    m = load_avatar_model("ict", mediapipe=True)
    av = build_avatar(m, shape=torch.zeros(m.n_shape)) if zero_shape else build_avatar(m)
    reg = appearance_regions(av, m)
    col = torch.tensor(rest_rgb, dtype=torch.float32).repeat(av.n, 1)
    col[reg["skin"]] = torch.tensor(skin_rgb, dtype=torch.float32)
    col[reg["hair"]] = torch.tensor(hair_rgb, dtype=torch.float32)
    av.sh[:, 0] = rgb_to_sh0(col).to(av.sh.dtype)
    return m, av, reg
