"""Appearance attributes of a Gaussian avatar: measurements on its colours and colour edits (a library shared
by the sculpt stage, its tests and its benchmark; no CLI).

Colours: the degree-0 SH term of each Gaussian (``sh0_to_rgb(avatar.sh[:, 0])``, clamped to [0, 1]), read as
sRGB (the avatar is trained on video frames) and converted to CIELAB (D65, :func:`rgb_to_lab`). Averages are
weighted by opacity. View-dependent SH bands are left as they are by the edits.

Regions (:func:`appearance_regions`, per Gaussian, from the triangle it is bound to; ICT avatars): ``hair`` =
skin-surface triangles (ICT ``face`` + ``head_and_neck``) above the top-of-forehead landmark (MediaPipe 10)
or, behind the ears, above eye level (scalp); ``hair_candidate`` = those and the temples above eye level;
``skin`` = the skin-surface triangles not in ``hair`` (face, ears, neck); ``skin_sample`` = skin triangles
within 15 mm of cheek, forehead, nose-bridge and chin landmarks (what skin tone is measured on: away from
brows, lips, eyes and the hairline); ``hair_weight`` (float) = how much each Gaussian is hair
(:func:`hair_weights`: candidates that differ in colour from the skin sample, so a high forehead or a bald
scalp stays skin; the geometric ``hair`` region when the colours do not tell them apart). Hair measurements
and hair edits are weighted by it, skin edits by one minus it.

Measurements (:func:`measure_appearance`, name -> value; :data:`APPEARANCE_ATTRIBUTES` has units/ranges):

* ``skin lightness``: CIELAB L* of the skin sample (0 black .. 100 white);
* ``skin tone``: the individual typology angle ITA = atan2(L* - 50, b*) in degrees on the skin sample (the
  dermatological skin-colour scale: > 55 very light, 41-55 light, 28-41 intermediate, 10-28 tan, -30-10 brown,
  < -30 dark);
* ``hair lightness``: L* of the hair region; ``hair colour``: its mean Lab (a*, b*, chroma, hue) and the
  nearest named colour of :data:`HAIR_COLOURS` (``hair colour`` in the dict is that name; ``hair colour
  distance`` its CIE76 delta E);
* ``lightness``: L* over skin and hair together (the avatar's overall "lighter / darker").

Edits (:func:`edit_appearance`): lightness changes shift L* of every Gaussian of the region by the same
amount (texture kept); a hair colour moves the hair region's mean Lab to the named colour's Lab (each
Gaussian keeps its deviation from the mean, L* deviations scaled by the lightness ratio within 0.5-2; the
mean is re-centred after sRGB gamut clipping), blended by the intensity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from headgen.errors import InputError

__all__ = ["AppearanceAttribute", "APPEARANCE_ATTRIBUTES", "HAIR_COLOURS", "rgb_to_lab", "lab_to_rgb",
           "appearance_regions", "gaussian_colors", "measure_appearance", "edit_appearance", "L_PER_INTENSITY",
           "appearance_values", "hair_weights"]

#: L* change per unit of a signed lightness intensity (the sculpt reader's scale: +-0.5 slightly, +-1, +-1.5 very)
L_PER_INTENSITY = 10.0

#: named hair colours: CIELAB (L*, a*, b*) of typical hair of that colour (mean of measured hair swatch
#: ranges: black ~15, dark brown ~25, brown ~35, blond ~65, red/auburn ~40 with high a*, grey ~60, white ~85)
HAIR_COLOURS: dict[str, tuple[float, float, float]] = {
    "black": (16.0, 1.0, 2.0),
    "dark brown": (25.0, 5.0, 10.0),
    "brown": (36.0, 9.0, 18.0),
    "blond": (66.0, 6.0, 32.0),
    "red": (42.0, 30.0, 35.0),
    "grey": (62.0, 0.0, 3.0),
    "white": (86.0, 0.0, 4.0),
}


@dataclass(frozen=True)
class AppearanceAttribute:
    """One appearance attribute of the sculpt vocabulary: ``name``, ``kind`` ("signed": a lightness with a
    direction; "colour": a named hair colour, weight 0..1), ``unit``, ``range`` (for the 10 % cross-talk
    check), phrases for more / less (captions), held-out paraphrases (never used by the captioner)."""
    name: str
    kind: str
    unit: str
    range: float
    more: tuple[str, ...]
    less: tuple[str, ...] = ()
    paraphrase_more: str = ""
    paraphrase_less: str = ""


APPEARANCE_ATTRIBUTES: tuple[AppearanceAttribute, ...] = (
    AppearanceAttribute("skin lightness", "signed", "L*", 40.0,
                        ("light skin", "pale skin", "fair skin", "light complexion"),
                        ("dark skin", "tanned skin", "dark complexion", "deep skin tone"),
                        "a porcelain complexion", "a sun-baked complexion"),
    AppearanceAttribute("hair lightness", "signed", "L*", 60.0, ("light hair", "fair hair"), ("dark hair",),
                        "hair bleached by the sun", "hair as dark as night"),
    AppearanceAttribute("lightness", "signed", "L*", 40.0, ("light colouring", "light overall look"),
                        ("dark colouring", "dark overall look"), "brighter all over", "dimmer all over"),
    AppearanceAttribute("blond hair", "colour", "weight", 1.0, ("blond hair", "blonde hair", "golden hair"), (),
                        "hair like ripe wheat"),
    AppearanceAttribute("black hair", "colour", "weight", 1.0, ("black hair", "jet-black hair"), (), "raven locks"),
    AppearanceAttribute("brown hair", "colour", "weight", 1.0, ("brown hair", "brunette hair", "chestnut hair"), (),
                        "hair the shade of coffee"),
    AppearanceAttribute("red hair", "colour", "weight", 1.0, ("red hair", "ginger hair", "auburn hair"), (),
                        "a fiery mane"),
    AppearanceAttribute("grey hair", "colour", "weight", 1.0, ("grey hair", "gray hair", "silver hair"), (),
                        "hair gone the colour of ash"),
    AppearanceAttribute("white hair", "colour", "weight", 1.0, ("white hair", "snow-white hair"), (),
                        "hair like fresh snow"),
)
APPEARANCE_NAMES: tuple[str, ...] = tuple(a.name for a in APPEARANCE_ATTRIBUTES)
_COLOUR_OF = {"blond hair": "blond", "black hair": "black", "brown hair": "brown", "red hair": "red",
              "grey hair": "grey", "white hair": "white"}

# ----------------------------------------------------------------------------------------------------------
# colour space (sRGB <-> CIELAB, D65), differentiable
_M_RGB2XYZ = torch.tensor([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                           [0.0193339, 0.1191920, 0.9503041]], dtype=torch.float64)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)


def _srgb_to_linear(c: Tensor) -> Tensor:
    return torch.where(c <= 0.04045, c / 12.92, ((c.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: Tensor) -> Tensor:
    return torch.where(c <= 0.0031308, 12.92 * c, 1.055 * c.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB (..., 3) in [0, 1] (clamped) -> CIELAB (..., 3) (L* 0..100, a*, b*), D65. Differentiable."""
    c = _srgb_to_linear(rgb.clamp(0, 1))
    xyz = c @ _M_RGB2XYZ.to(c).T / _WHITE.to(c)
    e = 216 / 24389
    f = torch.where(xyz > e, xyz.clamp(min=e) ** (1 / 3), (24389 / 27 * xyz + 16) / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return torch.stack([L, a, b], -1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """CIELAB (..., 3) -> sRGB (..., 3) clamped to [0, 1] (inverse of :func:`rgb_to_lab`)."""
    L, a, b = lab.unbind(-1)
    fy = (L + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200
    f = torch.stack([fx, fy, fz], -1)
    e = 6 / 29
    xyz = torch.where(f > e, f ** 3, 3 * e * e * (f - 4 / 29)) * _WHITE.to(lab)
    lin = xyz @ torch.linalg.inv(_M_RGB2XYZ).to(lab).T
    return _linear_to_srgb(lin.clamp(0, 1)).clamp(0, 1)


# ----------------------------------------------------------------------------------------------------------
_SKIN_SAMPLE_POINTS = (50, 280, 205, 425, 151, 108, 337, 6, 199)    # cheeks, forehead, nose bridge, chin
_SKIN_COMPONENTS = ("face", "head_and_neck")


def appearance_regions(avatar, model=None) -> dict[str, Tensor]:
    """Per-Gaussian bool masks (N,) ``hair``, ``skin``, ``skin_sample`` of an ICT avatar (module docstring).
    model: the avatar's head model with the MediaPipe embedding (default: loaded). Landmarks are taken on the
    avatar's neutral mesh (its identity)."""
    from headgen.avatar import load_avatar_model
    if avatar.model != "ict":
        raise InputError(f"appearance attributes need an ICT avatar (this one is rigged to {avatar.model})")
    if model is None:
        model = load_avatar_model(avatar, mediapipe=True)
    if not model.has_landmarks("mediapipe"):
        raise InputError("appearance_regions: the model needs the MediaPipe embedding (mediapipe=True)")
    dev = avatar.binding.device
    with torch.no_grad():
        shape = None
        if avatar.shape is not None and avatar.shape.numel():
            shape = avatar.shape.to(model.device, model.template_soa.dtype)[None]
        out = model(shape=shape)
        v = out.vertices_model[0].double().cpu()
        lm = out.landmarks468[0].double().cpu()
    if avatar.neutral_vertices is not None and avatar.neutral_vertices.shape[0] == v.shape[0]:
        v = avatar.neutral_vertices.double().cpu()
    faces = avatar.faces.long().cpu()
    if int(faces.max()) >= v.shape[0]:
        raise InputError("appearance_regions: the avatar's faces do not index its head model's vertices")
    regs = model.regions
    skin_v = torch.zeros(v.shape[0], dtype=torch.bool)
    for c in _SKIN_COMPONENTS:
        if c in regs:
            skin_v[regs[c].cpu()] = True
    tri_skin = skin_v[faces].all(1)
    cen = v[faces].mean(1)                                     # (F, 3) model frame, metres (+y up, +z front)
    y_top, y_eye = float(lm[10, 1]), float(lm[[33, 263], 1].mean())
    z_ear = float(lm[[234, 454], 2].mean())
    x_eye = float(lm[[33, 263], 0].abs().mean())
    hair_t = tri_skin & ((cen[:, 1] > y_top) | ((cen[:, 2] < z_ear) & (cen[:, 1] > y_eye)))
    # where hair may grow besides: temples above eye level (not the central forehead)
    cand_t = hair_t | (tri_skin & (cen[:, 1] > y_eye + 0.015) & (cen[:, 0].abs() > x_eye))
    skin_t = tri_skin & ~hair_t
    pts = lm[list(_SKIN_SAMPLE_POINTS)]
    d = torch.cdist(cen, pts).min(1).values
    sample_t = skin_t & (d < 0.015)
    b = avatar.binding.long().cpu()
    out = {"hair": hair_t[b].to(dev), "skin": skin_t[b].to(dev), "skin_sample": sample_t[b].to(dev),
           "hair_candidate": cand_t[b].to(dev)}
    out["hair_weight"] = hair_weights(avatar, out)
    return out


def hair_weights(avatar, regions: dict[str, Tensor], colors: Tensor | None = None) -> Tensor:
    """(N,) weight 0..1 of each Gaussian being hair: on the hair candidates (scalp, back of the head above eye
    level, temples), a ramp on its CIE76 distance to the skin sample's mean colour (12 -> 24 delta E), so
    skin-coloured Gaussians there (a high forehead, a bald scalp) count as skin. When hair and skin cannot be
    told apart by colour (fewer than 5 % of the candidates past the ramp's middle: similar colours, or an
    avatar not yet coloured), the geometric hair region with weight 1."""
    rgb = gaussian_colors(avatar) if colors is None else colors
    lab = rgb_to_lab(rgb.double())
    w_op = torch.sigmoid(avatar.opacity_logits.double())
    cand = regions["hair_candidate"]
    ref = regions["skin_sample"] if bool(regions["skin_sample"].any()) else regions["skin"]
    skin_ref = _mean_lab(lab, w_op, ref)
    d = torch.linalg.norm(lab - skin_ref, dim=-1)
    w = ((d - 12.0) / 12.0).clamp(0, 1) * cand.to(d)
    if float((w[cand] > 0.5).sum()) < 0.05 * max(int(cand.sum()), 1) or bool(torch.isnan(skin_ref).any()):
        w = regions["hair"].to(d)
    return w


def gaussian_colors(avatar) -> Tensor:
    """(N, 3) base sRGB colour of each Gaussian in [0, 1] (degree-0 SH)."""
    from headgen.avatar import sh0_to_rgb
    return sh0_to_rgb(avatar.sh[:, 0]).clamp(0, 1)


def _mean_lab(lab: Tensor, w: Tensor, mask: Tensor) -> Tensor:
    """Weighted mean Lab (3,) over ``mask`` (bool or weights 0..1) x opacity ``w``; NaN when empty."""
    ww = w * mask.to(w)
    s = ww.sum()
    if float(s) <= 0:
        return torch.full((3,), float("nan"), dtype=lab.dtype, device=lab.device)
    return (lab * ww[:, None]).sum(0) / s


def _hair_w(regions: dict[str, Tensor]) -> Tensor:
    """Hair weights of a regions dict (``hair_weight`` when present, else the geometric hair mask)."""
    w = regions.get("hair_weight")
    return regions["hair"].double() if w is None else w.double()


def appearance_values(avatar, regions: dict[str, Tensor], colors: Tensor | None = None) -> dict[str, Tensor]:
    """Differentiable core of :func:`measure_appearance`: name -> scalar tensor (``skin lightness``, ``skin
    tone``, ``hair lightness``, ``lightness``) plus ``skin lab`` / ``hair lab`` (3,). colors: (N, 3) sRGB
    to measure instead of the avatar's own (e.g. a tensor being optimised)."""
    rgb = gaussian_colors(avatar) if colors is None else colors
    lab = rgb_to_lab(rgb.double())
    w = torch.sigmoid(avatar.opacity_logits.double())
    skin = _mean_lab(lab, w, regions["skin_sample"] if bool(regions["skin_sample"].any()) else regions["skin"])
    hw = _hair_w(regions)
    hair = _mean_lab(lab, w, hw)
    both = _mean_lab(lab, w, regions["hair"] | regions["skin"] | (hw > 0))
    ita = torch.rad2deg(torch.atan2(skin[0] - 50.0, skin[2]))
    return {"skin lightness": skin[0], "skin tone": ita, "hair lightness": hair[0], "lightness": both[0],
            "skin lab": skin, "hair lab": hair}


def measure_appearance(avatar, regions: dict[str, Tensor] | None = None, model=None) -> dict:
    """Appearance measurements of an avatar (module docstring) -> dict: ``skin lightness`` (L*), ``skin tone``
    (ITA degrees), ``hair lightness`` (L*), ``lightness`` (L*), ``skin lab`` / ``hair lab`` [L*, a*, b*],
    ``hair chroma``, ``hair hue`` (degrees), ``hair colour`` (nearest name of HAIR_COLOURS), ``hair colour
    distance`` (delta E76 to it) and per named colour ``hair delta E <name>``. Plain floats / lists."""
    regions = regions if regions is not None else appearance_regions(avatar, model)
    with torch.no_grad():
        v = appearance_values(avatar, regions)
    hl = v["hair lab"]
    out = {k: float(v[k]) for k in ("skin lightness", "skin tone", "hair lightness", "lightness")}
    out["skin lab"] = [float(x) for x in v["skin lab"]]
    out["hair lab"] = [float(x) for x in hl]
    out["hair chroma"] = float(torch.hypot(hl[1], hl[2]))
    out["hair hue"] = float(torch.rad2deg(torch.atan2(hl[2], hl[1])))
    dists = {n: float(torch.linalg.norm(hl - torch.tensor(c, dtype=hl.dtype))) for n, c in HAIR_COLOURS.items()}
    for n, dv in dists.items():
        out[f"hair delta E {n}"] = dv
    best = min(dists, key=dists.get) if not math.isnan(out["hair lightness"]) else ""
    out["hair colour"] = best
    out["hair colour distance"] = dists.get(best, float("nan"))
    return out


def edit_appearance(avatar, changes: dict[str, float], regions: dict[str, Tensor] | None = None, model=None):
    """A copy of ``avatar`` with its colours edited. changes: attribute name of :data:`APPEARANCE_ATTRIBUTES`
    -> intensity (signed lightness: +-0.5 slightly .. +-1.5 very, L* shift = intensity x L_PER_INTENSITY;
    hair colour: weight 0..1 of the move to the named colour). Only the degree-0 SH of the Gaussians in the
    attribute's region change (skin lightness: skin; hair lightness and colours: hair; lightness: both);
    binding, geometry and opacity are untouched, so the avatar stays rigged. Unknown names -> InputError."""
    from headgen.avatar import rgb_to_sh0
    bad = [n for n in changes if n not in APPEARANCE_NAMES]
    if bad:
        raise InputError(f"edit_appearance: unknown appearance attributes {bad}; known: {list(APPEARANCE_NAMES)}")
    regions = regions if regions is not None else appearance_regions(avatar, model)
    rgb = gaussian_colors(avatar).double()
    lab = rgb_to_lab(rgb)
    w = torch.sigmoid(avatar.opacity_logits.double())
    hw = _hair_w(regions).to(lab.device)
    hair = hw > 0
    skin_w = (regions["skin"].to(lab.device).double() + regions["hair_candidate"].to(lab.device).double()
              if "hair_candidate" in regions else regions["skin"].to(lab.device).double()).clamp(max=1) * (1 - hw)
    touched = torch.zeros_like(hair)
    for name, amount in changes.items():
        amount = float(amount)
        if name in _COLOUR_OF:
            if not bool(hair.any()):
                continue
            tgt = torch.tensor(HAIR_COLOURS[_COLOUR_OF[name]], dtype=lab.dtype, device=lab.device)
            mean = _mean_lab(lab, w, hw)
            t = min(max(amount, 0.0), 1.0)
            new_mean = mean + t * (tgt - mean)
            shift = new_mean - mean
            lab_h = lab[hair] + hw[hair, None] * shift
            wh = w[hair] * hw[hair]
            wh = wh / wh.sum()
            for _ in range(3):          # re-centre what survives the sRGB gamut clipping on the new mean
                eff = rgb_to_lab(lab_to_rgb(lab_h))
                lab_h = lab_h + hw[hair, None] * (new_mean - (eff * wh[:, None]).sum(0))
            lab[hair] = lab_h
            touched |= hair
            continue
        dl = amount * L_PER_INTENSITY
        wt = {"skin lightness": skin_w, "hair lightness": hw, "lightness": (skin_w + hw).clamp(max=1)}[name]
        lab[:, 0] = lab[:, 0] + dl * wt
        touched |= wt > 0
    lab[:, 0] = lab[:, 0].clamp(0.0, 100.0)
    new_rgb = lab_to_rgb(lab)
    sh = avatar.sh.clone()
    sh[touched, 0] = rgb_to_sh0(new_rgb[touched]).to(sh.dtype)
    return replace(avatar, sh=sh)
