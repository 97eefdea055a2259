"""Phonemes -> visemes -> ARKit targets, and the per-viseme coarticulation parameters.

Each ARPAbet phone (``headgen.audio.phones``) maps to one of 19 visemes. A viseme has an ARKit target (the
52 weights of the mouth shape at the phone's centre, loudness 1) and Cohen-Massaro dominance parameters
(``alpha``: how strongly it holds its target against neighbours; ``tau``: seconds over which its dominance
decays outside the phone). Diphthongs (AY, AW, OY, EY, OW) are split into their two
visemes (:data:`DIPHTHONGS`). Sibilants and alveolars hold the jaw high (tongue-tip contact needs a close
jaw). Bilabials (p/b/m) close the lips (``closure`` = 1; the curve generator then
sets ``mouthClose`` to the jaw opening so the lips meet), labiodentals (f/v) roll the lower lip under the
upper teeth, rounded sounds (w, uw, ow, r) pucker/funnel. ``pre`` is the anticipatory opening: the last
:data:`PRE_SPEECH_S` (100 ms) of a pause that is followed by speech, where the jaw starts towards the first
phone (coarticulation, not an open mouth in silence: the rest of the pause stays closed). ``breath`` is an
audible in-breath detected in a pause before speech (:mod:`.breath`): the mouth opens to inhale. The lip shapes are hand-set from phonetics; the default's jaw openings are calibrated on fitted talking
videos (:mod:`headgen.stages.animate.calibration`); ``--style`` re-fits them per speaker
(:mod:`headgen.stages.animate.style`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headgen.models.arkit import ARKIT_NAMES

SIL = "SIL"

#: phone -> viseme name
PHONE_TO_VISEME: dict[str, str] = {
    "P": "PP", "B": "PP", "M": "PP",
    "F": "FF", "V": "FF",
    "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD", "N": "DD", "L": "DD",
    "K": "KK", "G": "KK", "NG": "KK",
    "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH",
    "S": "SS", "Z": "SS",
    "R": "RR", "ER": "ER",
    "W": "WW", "UW": "UW", "UH": "UH",
    "Y": "II", "IY": "II", "IH": "IH", "EY": "EH", "EH": "EH",
    "AE": "AE", "AA": "AA", "AH": "AH", "AY": "AA", "AW": "AA",
    "AO": "OO", "OW": "OO", "OY": "OO",
    "HH": "HH",
    SIL: "sil",
    "BREATH": "breath",
}


@dataclass(frozen=True)
class Viseme:
    """ARKit target (dict name -> weight at loudness 1), dominance ``alpha`` / ``tau`` (s), ``closure`` (1 for
    lip closures), ``loud`` (1: amplitude follows loudness; 0: fixed, e.g. closures and rest)."""
    target: dict
    alpha: float
    tau: float
    closure: float = 0.0
    loud: float = 1.0


def _s(**kw):
    """Symmetric helper: ``smile=0.2`` -> mouthSmileLeft/Right 0.2 (also stretch, press, lowerDown, upperUp)."""
    out = {}
    for k, v in kw.items():
        if k in ("smile", "stretch", "press", "lowerDown", "upperUp", "dimple", "frown"):
            base = "mouth" + k[0].upper() + k[1:]
            out[base + "Left"] = v
            out[base + "Right"] = v
        else:
            out[k] = v
    return out


VISEMES: dict[str, Viseme] = {
    "sil": Viseme({}, alpha=1.0, tau=0.06, loud=0.0),
    "PP": Viseme(_s(jawOpen=0.04, press=0.25, mouthRollLower=0.1, mouthRollUpper=0.05), alpha=6.0, tau=0.035,
                 closure=1.0, loud=0.0),
    "FF": Viseme(_s(jawOpen=0.07, mouthRollLower=0.55, upperUp=0.15, mouthShrugUpper=0.1), alpha=4.0, tau=0.035,
                 loud=0.3),
    "TH": Viseme(_s(jawOpen=0.1, tongueOut=0.3, stretch=0.05), alpha=1.5, tau=0.04),
    "DD": Viseme(_s(jawOpen=0.08, stretch=0.05), alpha=1.5, tau=0.04),
    "KK": Viseme(_s(jawOpen=0.12, stretch=0.05), alpha=0.8, tau=0.04),
    "CH": Viseme(_s(jawOpen=0.07, mouthFunnel=0.45, mouthPucker=0.2, upperUp=0.1), alpha=2.5, tau=0.04),
    "SS": Viseme(_s(jawOpen=0.04, stretch=0.2, smile=0.1), alpha=2.5, tau=0.04),
    "RR": Viseme(_s(jawOpen=0.1, mouthPucker=0.35, mouthFunnel=0.2), alpha=1.2, tau=0.05),
    "ER": Viseme(_s(jawOpen=0.18, mouthPucker=0.25, mouthFunnel=0.25), alpha=1.0, tau=0.06),
    "WW": Viseme(_s(jawOpen=0.06, mouthPucker=0.8, mouthFunnel=0.3), alpha=3.0, tau=0.05),
    "UW": Viseme(_s(jawOpen=0.12, mouthPucker=0.7, mouthFunnel=0.35), alpha=1.5, tau=0.06),
    "UH": Viseme(_s(jawOpen=0.2, mouthPucker=0.35, mouthFunnel=0.2), alpha=1.0, tau=0.06),
    "II": Viseme(_s(jawOpen=0.12, smile=0.25, stretch=0.25), alpha=1.0, tau=0.06),
    "IH": Viseme(_s(jawOpen=0.2, smile=0.15, stretch=0.15), alpha=1.0, tau=0.06),
    "EH": Viseme(_s(jawOpen=0.3, stretch=0.15, smile=0.1), alpha=1.0, tau=0.06),
    "AE": Viseme(_s(jawOpen=0.38, stretch=0.2, lowerDown=0.15), alpha=1.0, tau=0.06),
    "AA": Viseme(_s(jawOpen=0.48, lowerDown=0.15), alpha=1.0, tau=0.06),
    "AH": Viseme(_s(jawOpen=0.32, lowerDown=0.1), alpha=1.0, tau=0.06),
    "OO": Viseme(_s(jawOpen=0.32, mouthFunnel=0.45, mouthPucker=0.25), alpha=1.0, tau=0.06),
    "HH": Viseme(_s(jawOpen=0.25), alpha=0.15, tau=0.04),
    "pre": Viseme(_s(jawOpen=0.1), alpha=1.0, tau=0.02, loud=0.0),
    "breath": Viseme(_s(jawOpen=0.15), alpha=4.0, tau=0.04, loud=0.0),
}
#: seconds at the end of a pause before speech that take the ``pre`` viseme: the anticipatory jaw lowering
#: before the first phone (~100 ms in articulatory studies), with a short dominance tail (tau 20 ms) so it does
#: not reach back into the pause. Longer windows (0.15-0.5 s) correlate better with the GRID fits, whose speakers
#: open the mouth well before speaking, but open the mouth in silence, which issues 14/16 rule out
#: (bench/results/animate_pre.md)
PRE_SPEECH_S = 0.1
#: seconds at the start of a pause after speech that take the ``pre`` viseme (the release towards rest); 0: the
#: jaw returns to rest through the last phone's own dominance tail (bench/results/animate_variants.md)
POST_SPEECH_S = 0.0
#: vowel undershoot (short vowels open less): None = off, or (reference s, exponent, min, max): a vowel's target
#: is scaled by clip((duration / reference) ** exponent, min, max) (bench/results/animate_variants.md)
VOWEL_UNDERSHOOT: tuple[float, float, float, float] | None = None
#: the vowel visemes (undershoot applies to them)
VOWEL_VISEMES = frozenset({"ER", "UW", "UH", "II", "IH", "EH", "AE", "AA", "AH", "OO"})

VISEME_NAMES: tuple[str, ...] = tuple(VISEMES)
#: diphthongs glide from one viseme to another: (first, second, fraction of the phone spent on the first);
#: the jaw closes in the second half of AY, AW, OY, EY, OW
DIPHTHONGS: dict[str, tuple[str, str, float]] = {
    "AY": ("AA", "II", 0.6), "AW": ("AA", "UW", 0.6), "OY": ("OO", "II", 0.6), "EY": ("EH", "II", 0.6),
    "OW": ("OO", "UW", 0.6),
}
#: ARKit columns the viseme targets drive (the mouth); everything else comes from prosody/blinks/gaze
MOUTH_COLUMNS: tuple[int, ...] = tuple(i for i, n in enumerate(ARKIT_NAMES)
                                       if n.startswith(("jaw", "mouth", "tongue")) and n not in ("jawLeft", "jawRight"))


def viseme_of(phone: str) -> str:
    """ARPAbet phone (normalised, ``SIL`` for silence) -> viseme name; unknown labels -> ``sil``."""
    return PHONE_TO_VISEME.get(str(phone).upper(), "sil")


def viseme_table(visemes: dict[str, Viseme] | None = None):
    """-> (targets (V,52) float64, alpha (V,), tau (V,), closure (V,), loud (V,)) in :data:`VISEME_NAMES` order
    (the hand-set targets; the default curves use :func:`..calibration.default_targets`)."""
    vs = visemes or VISEMES
    targets = np.zeros((len(VISEME_NAMES), 52))
    for i, name in enumerate(VISEME_NAMES):
        for k, w in vs[name].target.items():
            targets[i, ARKIT_NAMES.index(k)] = w
    get = lambda attr: np.array([getattr(vs[n], attr) for n in VISEME_NAMES], np.float64)  # noqa: E731
    return targets, get("alpha"), get("tau"), get("closure"), get("loud")
