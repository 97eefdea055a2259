"""Measured head attributes: named measurements on a head mesh (millimetres or ratios) and on expressions.

A library shared by the sculpt stage, its tests and its benchmark (no CLI).

* **Shape attributes** (:data:`SHAPE_ATTRIBUTES`): measured on the MediaPipe-468 landmark points that
  ``headgen.models.embedding`` places on the model's surface (``out.landmarks468``, model frame, metres),
  on the *neutral-expression* head (identity only), so an expression never changes an identity measurement.
  Units: ``mm`` (distances, ``*_projection`` = depth along +z) or ``ratio`` (``roundness``: bulge of the jaw
  contour over the chord from jaw angle to chin, > 0 round, < 0 angular).
* **Expression attributes** (:func:`expression_attributes`): every ARKit blendshape by name
  (``arkit:mouthSmileLeft``; weight 0..1 = the model's column, ICT's split ``browInnerUp``/``cheekPuff``
  averaged) plus symmetric everyday groups (``smiling``, ``frowning``, ``mouth open``, ``raised eyebrows``,
  ...) measured as the mean weight of their columns.
* Each attribute carries phrases for its two directions (used by the sculpt captioner) and a *region*: the
  vertices an edit of it is allowed to move (:func:`attribute_regions`); the rest of the head must stay put.

Measurements are linear maps of vertices followed by distances, so :class:`LandmarkBasis` precomputes the
468 points as an affine function of (shape, expression) coefficients: measuring 10^4 heads is a matmul.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from headgen.errors import InputError

__all__ = ["AttributeSpec", "SHAPE_ATTRIBUTES", "SHAPE_NAMES", "measure_shape", "expression_attributes",
           "measure_expression", "LandmarkBasis", "attribute_regions", "all_attributes", "ExpressionAttribute"]


@dataclass(frozen=True)
class AttributeSpec:
    """One measured shape attribute: ``name``, ``unit`` ("mm" | "ratio"), phrases for a larger (``more``) and
    a smaller (``less``) value, the landmark ids it reads (``points``), the radius (mm) around them that
    bounds its region (``radius`` None = the whole face), and held-out paraphrases (``paraphrase_more`` /
    ``paraphrase_less``) that the captioner never uses (for measuring generalisation)."""
    name: str
    unit: str
    more: tuple[str, ...]
    less: tuple[str, ...]
    points: tuple[int, ...]
    radius: float | None
    paraphrase_more: str = ""
    paraphrase_less: str = ""


# MediaPipe-468 ids (canonical face mesh; pairs are mirror images)
_TOP, _CHIN_BOTTOM, _CHIN_FRONT = 10, 152, 175
_FACE_SIDE = (234, 454)
_JAW_ANGLE = (172, 397)
_JAW_MID = (150, 379)          # jaw contour midway between the jaw angle and the chin
_CHEEK = (116, 345)
_NASION, _SUBNASALE, _NOSE_TIP = 168, 2, 1
_ALA = (129, 358)
_EYE_OUT, _EYE_IN = (33, 263), (133, 362)
_LID_UP, _LID_DOWN = (159, 386), (145, 374)
_MOUTH = (61, 291)
_LIP_TOP, _LIP_IN_UP, _LIP_IN_DOWN, _LIP_BOTTOM = 0, 13, 14, 17
_BROW = (105, 334)
_GLABELLA = 9

SHAPE_ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("face length", "mm", ("long face", "elongated face", "tall face"), ("short face", "compact face"),
                  (_TOP, _CHIN_BOTTOM), None, "a face stretched out vertically", "a squat face"),
    AttributeSpec("face width", "mm", ("wide face", "broad face"), ("narrow face", "thin face", "slim face"),
                  _FACE_SIDE, None, "a face with a lot of breadth", "a skinny face"),
    AttributeSpec("jaw width", "mm", ("wide jaw", "broad jaw", "heavy jaw"), ("narrow jaw", "slender jaw"),
                  _JAW_ANGLE + (_CHIN_BOTTOM,), 45.0, "a massive lower face", "a delicate tapered jawline"),
    AttributeSpec("chin length", "mm", ("long chin", "tall chin"), ("short chin", "small chin"),
                  (_LIP_BOTTOM, _CHIN_BOTTOM, _CHIN_FRONT), 35.0, "lots of distance from lip to chin tip",
                  "barely any chin below the lip"),
    AttributeSpec("chin projection", "mm", ("protruding chin", "prominent chin", "jutting chin"),
                  ("receding chin", "weak chin"), (_CHIN_FRONT, _CHIN_BOTTOM), 35.0,
                  "a chin that sticks forward", "a chin that slopes back toward the neck"),
    AttributeSpec("cheekbone width", "mm", ("wide cheekbones", "broad cheekbones", "prominent cheekbones"),
                  ("narrow cheekbones", "flat cheekbones"), _CHEEK, 40.0,
                  "cheekbones set far out to the sides", "cheekbones close together"),
    AttributeSpec("nose length", "mm", ("long nose",), ("short nose",), (_NASION, _SUBNASALE, _NOSE_TIP), 30.0,
                  "a nose that reaches far down", "a stubby nose"),
    AttributeSpec("nose width", "mm", ("wide nose", "broad nose"), ("narrow nose", "thin nose"),
                  _ALA + (_NOSE_TIP,), 30.0, "flared nostrils", "a pinched slender nose"),
    AttributeSpec("nose projection", "mm", ("prominent nose", "projecting nose", "big nose"),
                  ("flat nose", "small nose"), (_NOSE_TIP, _SUBNASALE), 30.0,
                  "a nose that sticks far out", "a nose lying close to the face"),
    AttributeSpec("eye size", "mm", ("big eyes", "large eyes"), ("small eyes",),
                  _EYE_OUT + _EYE_IN + _LID_UP + _LID_DOWN, 22.0, "huge eyes", "tiny eyes"),
    AttributeSpec("eye spacing", "mm", ("wide-set eyes", "eyes far apart"), ("close-set eyes", "eyes close together"),
                  _EYE_OUT + _EYE_IN + (_NASION,), 35.0, "a large gap between the eyes",
                  "eyes crowding the bridge of the nose"),
    AttributeSpec("mouth width", "mm", ("wide mouth", "broad mouth"), ("narrow mouth", "small mouth"),
                  _MOUTH, 30.0, "a mouth that spans far across", "a tiny little mouth"),
    AttributeSpec("lip fullness", "mm", ("full lips", "thick lips", "plump lips"), ("thin lips",),
                  (_LIP_TOP, _LIP_IN_UP, _LIP_IN_DOWN, _LIP_BOTTOM), 28.0, "pouty lips", "lips like a line"),
    AttributeSpec("brow height", "mm", ("high-set eyebrows", "high brows"), ("low-set eyebrows", "low brows"),
                  _BROW + _LID_UP, 30.0, "brows sitting far above the eyes", "brows sitting right on the eyes"),
    AttributeSpec("forehead height", "mm", ("high forehead", "tall forehead", "big forehead"),
                  ("low forehead", "short forehead", "small forehead"), (_TOP, _GLABELLA), 45.0,
                  "a lofty brow line far below the hairline", "hairline close to the eyebrows"),
    AttributeSpec("head size", "mm", ("big head", "large head"), ("small head",), (), None,
                  "an oversized head", "a petite head"),
    AttributeSpec("roundness", "ratio", ("round face", "soft rounded jaw"),
                  ("angular face", "square jaw", "chiseled jaw"), _JAW_ANGLE + _JAW_MID + (_CHIN_BOTTOM,), None,
                  "a moon-shaped face", "a face with sharp corners"),
)
SHAPE_NAMES: tuple[str, ...] = tuple(a.name for a in SHAPE_ATTRIBUTES)


def _d(p: torch.Tensor, i: int, j: int) -> torch.Tensor:
    return (p[:, i] - p[:, j]).norm(dim=-1)


def _pair(p, pair_a, pair_b) -> torch.Tensor:
    """Mean over both sides of the distance between pair_a[k] and pair_b[k]."""
    return 0.5 * (_d(p, pair_a[0], pair_b[0]) + _d(p, pair_a[1], pair_b[1]))


def measure_shape(landmarks468: torch.Tensor) -> torch.Tensor:
    """Shape attributes of heads: landmarks468 (B, 468, 3) model frame, metres (+y up, +z out of the face),
    of the neutral-expression head -> (B, len(SHAPE_ATTRIBUTES)) in the order of SHAPE_NAMES (mm or ratio).
    Differentiable; works on any device/dtype."""
    p = landmarks468 * 1000.0
    if p.ndim != 3 or p.shape[1:] != (468, 3):
        raise InputError(f"measure_shape: expected landmarks (B, 468, 3), got {tuple(p.shape)}")
    y, z = p[..., 1], p[..., 2]
    out = {}
    out["face length"] = _d(p, _TOP, _CHIN_BOTTOM)
    out["face width"] = _d(p, *_FACE_SIDE)
    out["jaw width"] = _d(p, *_JAW_ANGLE)
    out["chin length"] = y[:, _LIP_BOTTOM] - y[:, _CHIN_BOTTOM]
    out["chin projection"] = z[:, _CHIN_FRONT] - 0.5 * (z[:, _MOUTH[0]] + z[:, _MOUTH[1]])
    out["cheekbone width"] = _d(p, *_CHEEK)
    out["nose length"] = y[:, _NASION] - y[:, _SUBNASALE]
    out["nose width"] = _d(p, *_ALA)
    out["nose projection"] = z[:, _NOSE_TIP] - 0.5 * (z[:, _ALA[0]] + z[:, _ALA[1]])
    width = _pair(p, _EYE_OUT, _EYE_IN)
    opening = _pair(p, _LID_UP, _LID_DOWN)
    out["eye size"] = (width * opening.clamp(min=1e-3)).sqrt()
    out["eye spacing"] = _d(p, *_EYE_IN)
    out["mouth width"] = _d(p, *_MOUTH)
    out["lip fullness"] = _d(p, _LIP_TOP, _LIP_IN_UP) + _d(p, _LIP_IN_DOWN, _LIP_BOTTOM)
    out["brow height"] = 0.5 * (y[:, _BROW[0]] - y[:, _LID_UP[0]] + y[:, _BROW[1]] - y[:, _LID_UP[1]])
    out["forehead height"] = y[:, _TOP] - y[:, _GLABELLA]
    c = p - p.mean(1, keepdim=True)
    out["head size"] = c.square().sum(-1).mean(1).sqrt()
    # roundness: distance of the mid-jaw contour point outside the chord jaw angle -> chin, / chord length
    r = []
    for k in range(2):
        a, b, m = p[:, _JAW_ANGLE[k]], p[:, _CHIN_BOTTOM], p[:, _JAW_MID[k]]
        ab = b - a
        L = ab.norm(dim=-1).clamp(min=1e-6)
        t = ((m - a) * ab).sum(-1, keepdim=True) / (L * L)[:, None]
        off = m - (a + t * ab)
        # outward = away from the face's vertical axis (x -> 0) and downwards
        outward = torch.stack([torch.sign(m[:, 0]) , -torch.ones_like(L), torch.zeros_like(L)], -1)
        outward = outward / outward.norm(dim=-1, keepdim=True)
        r.append((off * outward).sum(-1) / L)
    out["roundness"] = 0.5 * (r[0] + r[1])
    return torch.stack([out[n] for n in SHAPE_NAMES], 1)


# ----------------------------------------------------------------------------------------------------------
# expressions
#: symmetric everyday expression groups: name -> (ARKit names, phrases "more", phrases "less", paraphrase)
EXPRESSION_GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]] = {
    "smiling": (("mouthSmileLeft", "mouthSmileRight"), ("smiling", "a smile", "grinning"),
                ("not smiling",), "looking happy and cheerful"),
    "frowning": (("mouthFrownLeft", "mouthFrownRight"), ("frowning", "a frown", "downturned mouth"),
                 ("not frowning",), "looking sad and glum"),
    "mouth open": (("jawOpen",), ("mouth open", "open mouth", "jaw dropped"), ("mouth closed", "closed mouth"),
                   "gaping"),
    "raised eyebrows": (("browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
                        ("raised eyebrows", "eyebrows raised", "surprised brows"), ("eyebrows relaxed",),
                        "looking astonished"),
    "furrowed brows": (("browDownLeft", "browDownRight"), ("furrowed brows", "lowered eyebrows", "scowling"),
                       ("unfurrowed brows",), "an angry glare"),
    "eyes closed": (("eyeBlinkLeft", "eyeBlinkRight"), ("eyes closed", "closed eyes", "blinking"),
                    ("eyes open",), "asleep"),
    "squinting": (("eyeSquintLeft", "eyeSquintRight"), ("squinting", "narrowed eyes"), ("not squinting",),
                  "peering suspiciously"),
    "wide eyes": (("eyeWideLeft", "eyeWideRight"), ("wide open eyes", "wide eyes", "staring"), (),
                  "eyes popping"),
    "puckered lips": (("mouthPucker",), ("puckered lips", "pouting", "kissy lips"), (), "blowing a kiss"),
    "puffed cheeks": (("cheekPuff",), ("puffed cheeks", "cheeks puffed out"), (), "holding breath in the cheeks"),
    "sneering": (("noseSneerLeft", "noseSneerRight"), ("sneering", "wrinkled nose"), (), "looking disgusted"),
    "jaw forward": (("jawForward",), ("jaw pushed forward", "underbite jaw thrust"), (), "jutting the jaw out"),
    "lips pressed": (("mouthPressLeft", "mouthPressRight"), ("lips pressed together", "pressed lips"), (),
                     "lips clamped tight"),
    "mouth stretched": (("mouthStretchLeft", "mouthStretchRight"), ("stretched mouth", "grimacing"), (),
                        "a tense grimace"),
}


@dataclass(frozen=True)
class ExpressionAttribute:
    """An expression attribute: ``name`` ("smiling" or "arkit:jawOpen"), ``columns`` (ids into the model's
    expression vector, averaged), ``more``/``less`` phrases, ``paraphrase`` (held out of training)."""
    name: str
    columns: tuple[int, ...]
    more: tuple[str, ...]
    less: tuple[str, ...] = ()
    paraphrase: str = ""
    arkit: tuple[str, ...] = field(default=())


def _words(camel: str) -> str:
    import re
    s = re.sub(r"([A-Z])", r" \1", camel).lower().strip()
    return s


def expression_attributes(expression_names) -> list[ExpressionAttribute]:
    """Expression attributes of a model whose expression columns are named ``expression_names`` (ARKit names
    in any spelling, e.g. ICT's ``mouthSmile_L``): the groups of :data:`EXPRESSION_GROUPS`, then every ARKit
    shape the model has (``arkit:<name>``, phrases from its name: "mouth smile left"). ICT columns split in
    _L/_R where ARKit has one shape (browInnerUp, cheekPuff) are averaged."""
    from headgen.models.arkit import ARKIT_NAMES, normalize_arkit_name

    cols: dict[str, list[int]] = {}
    for i, n in enumerate(expression_names):
        key = normalize_arkit_name(n)
        if key is None:
            s = str(n)
            for suf in ("_L", "_R", "Left", "Right"):
                if s.endswith(suf):
                    key = normalize_arkit_name(s[: -len(suf)])
                    break
        if key is not None:
            cols.setdefault(key, []).append(i)
    out = []
    for g, (names, more, less, para) in EXPRESSION_GROUPS.items():
        c = tuple(i for n in names for i in cols.get(n, []))
        if c:
            out.append(ExpressionAttribute(g, c, more, less, para, names))
    for n in ARKIT_NAMES:
        if n in cols:
            w = _words(n)
            out.append(ExpressionAttribute(f"arkit:{n}", tuple(cols[n]), (n, w), (), "", (n,)))
    return out


def measure_expression(expression: torch.Tensor, attrs: list[ExpressionAttribute]) -> torch.Tensor:
    """expression (B, E) weights -> (B, len(attrs)) mean weight of each attribute's columns."""
    return torch.stack([expression[:, list(a.columns)].mean(1) for a in attrs], 1)


# ----------------------------------------------------------------------------------------------------------
class LandmarkBasis:
    """The MediaPipe-468 points of a head model as an affine function of its coefficients.

    ``model``: a HeadModel with the "mediapipe" embedding (``load_head_model(..., mediapipe=True)``) whose
    vertices are linear in (shape, expression) (ICT-FaceKit; FLAME without jaw/pose). Attributes: ``mean``
    (468, 3) metres, ``shape`` (S, 468, 3), ``expression`` (E, 468, 3), model frame.
    """

    def __init__(self, model):
        if not model.has_landmarks("mediapipe"):
            raise InputError("attribute measurement needs the model's MediaPipe-468 embedding "
                             "(load_head_model(..., mediapipe=True))")
        S, E = model.n_shape, model.n_expression
        dev, dt = model.device, model._float_dtype()
        with torch.no_grad():
            zero = model(shape=torch.zeros(1, S, device=dev, dtype=dt)).landmarks468[0]
            eye = torch.eye(S + E, device=dev, dtype=dt)
            outs = []
            for i in range(0, S + E, 64):
                blk = eye[i:i + 64]
                o = model(shape=blk[:, :S], expression=blk[:, S:]).landmarks468
                outs.append(o - zero)
        d = torch.cat(outs, 0)
        self.mean = zero
        self.shape, self.expression = d[:S], d[S:]
        self.n_shape, self.n_expression = S, E

    def __call__(self, shape: torch.Tensor | None = None, expression: torch.Tensor | None = None) -> torch.Tensor:
        """(B, S') shape and/or (B, E) expression coefficients -> landmarks (B, 468, 3) metres."""
        B = (shape if shape is not None else expression).shape[0]
        out = self.mean.expand(B, 468, 3)
        if shape is not None:
            S = shape.shape[1]
            out = out + torch.einsum("bs,spc->bpc", shape.to(self.mean), self.shape[:S])
        if expression is not None:
            out = out + torch.einsum("be,epc->bpc", expression.to(self.mean), self.expression)
        return out

    def measure(self, shape: torch.Tensor) -> torch.Tensor:
        """Shape attributes (B, len(SHAPE_NAMES)) of identities ``shape`` (B, S') on the neutral expression."""
        return measure_shape(self(shape=shape))


def attribute_regions(model, landmarks468: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """Per shape attribute, a bool mask (V,) of the vertices an edit of it may move: vertices within the
    attribute's ``radius`` (mm) of any of its landmark points on the neutral head (all vertices for the
    global attributes: face length/width, head size, roundness). For expression attributes the region is the
    set of vertices its blendshapes move by more than 0.5 mm at weight 1 (``"expr:" + name`` keys are not
    produced here; see ``expression_region``)."""
    with torch.no_grad():
        out = model(shape=torch.zeros(1, model.n_shape, device=model.device, dtype=model._float_dtype()))
    v = out.vertices[0].double().cpu().numpy() * 1000.0
    lm = (out.landmarks468[0] if landmarks468 is None else landmarks468).double().cpu().numpy() * 1000.0
    regions = {}
    for a in SHAPE_ATTRIBUTES:
        if a.radius is None or not a.points:
            regions[a.name] = np.ones(len(v), bool)
            continue
        pts = lm[list(a.points)]
        # symmetric: include mirror images of the points (x -> -x)
        pts = np.concatenate([pts, pts * np.array([-1.0, 1.0, 1.0])], 0)
        d = np.sqrt(((v[:, None, :] - pts[None]) ** 2).sum(-1)).min(1)
        regions[a.name] = d <= a.radius
    return regions


def expression_region(model, columns, threshold_mm: float = 0.5, expression_basis=None) -> np.ndarray:
    """Bool mask (V,) of vertices that the expression columns move by more than ``threshold_mm`` at weight 1.
    expression_basis: the model's (E, V, 3) expression blendshapes in metres when the caller has them (building
    them from the model costs a copy of the whole basis per call)."""
    if expression_basis is None:
        expression_basis = model.basis.view(model.basis.shape[0], -1, 3)[model.n_shape:]
    basis = expression_basis[list(columns)]  # (k, V, 3) metres
    return (basis.norm(dim=-1).max(0).values * 1000.0 > threshold_mm).cpu().numpy()


def all_attributes(expression_names) -> list[str]:
    """Names of every attribute: shape attributes then expression attributes."""
    return list(SHAPE_NAMES) + [a.name for a in expression_attributes(expression_names)]
