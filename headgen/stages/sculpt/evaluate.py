"""Quality protocol of the sculpt model (issue 15), shared by the tests and ``bench/sculpt.py``.

For each shape attribute and direction, and each everyday expression group, prompts worded as in training
("a slightly longer face" / "a much longer face", or "slightly" / "very" where there is no comparative) and held-out paraphrases (``AttributeSpec.paraphrase_*``, never
used by the captioner) are applied to base heads; measured per edit:

* ``asked``: change of the asked attribute in prior standard deviations (shape) or weight (expression), signed
  so that > 0 is the asked direction;
* ``other_max_pct``: the largest change of any other attribute, in % of its range (4 prior std; 1 for
  weights) - target < 10 %;
* ``outside_rms_mm``: RMS displacement of the vertices outside the asked attribute's region - target < 1 mm.

Two held-out paraphrase sets: set A (one per attribute-direction, ``AttributeSpec.paraphrase_*``, the
expression groups' and appearance attributes' ``paraphrase``) and set B (:data:`PARAPHRASES_B`, two per
attribute-direction, written later from the attributes' meaning before the caption generator was extended).
:func:`caption_overlap` checks that none of them appears verbatim in the training captions and reports their
word n-gram overlap with the captions.
"""
from __future__ import annotations

import numpy as np
import torch

from headgen.models.attributes import SHAPE_ATTRIBUTES, SHAPE_NAMES
from headgen.stages.sculpt.captions import _with_article, comparative

#: second held-out paraphrase set (written 2026-12-03 from each attribute's measurement, before the caption
#: generator was extended; never used by the captioner): (attribute, sign) -> two prompts
PARAPHRASES_B: dict[tuple[str, int], tuple[str, str]] = {
    ("face length", 1): ("a horse-like face", "a lengthy visage from hairline to chin"),
    ("face length", -1): ("a stubby, compressed face", "a face with little height from forehead to chin"),
    ("face width", 1): ("a very broad-faced person", "an expansive visage from ear to ear"),
    ("face width", -1): ("a gaunt, narrow-faced look", "a face pinched in at the sides"),
    ("jaw width", 1): ("a jaw that flares out wide below the ears", "a heavy-set jawline"),
    ("jaw width", -1): ("a jaw that narrows to a point", "a dainty, slim jawline"),
    ("chin length", 1): ("a lengthy chin", "a chin that extends far below the mouth"),
    ("chin length", -1): ("a stubby chin", "very little chin beneath the mouth"),
    ("chin projection", 1): ("a chin that pokes out", "a pronounced, projecting chin"),
    ("chin projection", -1): ("a retreating chin", "a chin tucked back behind the lips"),
    ("cheekbone width", 1): ("cheekbones that stand out sharply", "widely spaced cheekbones"),
    ("cheekbone width", -1): ("cheekbones set close in", "a narrow span between the cheekbones"),
    ("nose length", 1): ("a long, drooping nose", "a nose with a lengthy bridge"),
    ("nose length", -1): ("a button nose", "a nose with a short bridge"),
    ("nose width", 1): ("a nose with wide-spread nostrils", "a fleshy, broad nose base"),
    ("nose width", -1): ("a slim nose", "narrow nostrils"),
    ("nose projection", 1): ("a beak-like nose", "a nose that protrudes a lot"),
    ("nose projection", -1): ("a flattened nose", "a nose that barely protrudes"),
    ("eye size", 1): ("enormous eyes", "large, doe-like eyes"),
    ("eye size", -1): ("beady little eyes", "very small eye openings"),
    ("eye spacing", 1): ("widely spaced eyes", "eyes positioned far from each other"),
    ("eye spacing", -1): ("narrowly spaced eyes", "eyes set near each other"),
    ("mouth width", 1): ("a generously wide mouth", "mouth corners far apart"),
    ("mouth width", -1): ("a narrow little mouth", "a mouth with its corners close together"),
    ("lip fullness", 1): ("voluminous lips", "lips with lots of volume"),
    ("lip fullness", -1): ("razor-thin lips", "lips with hardly any volume"),
    ("brow height", 1): ("eyebrows set high above the eyes", "lots of space between the brows and the eyelids"),
    ("brow height", -1): ("heavy, low-hanging brows", "little space between the eyebrows and the eyelids"),
    ("forehead height", 1): ("a tall, expansive forehead", "a big expanse of forehead above the brows"),
    ("forehead height", -1): ("a narrow strip of forehead", "a hairline that starts just above the brows"),
    ("head size", 1): ("a huge head", "a large cranium"),
    ("head size", -1): ("a tiny head", "a small skull"),
    ("roundness", 1): ("a soft curved jawline", "a full, circular face"),
    ("roundness", -1): ("a boxy, angular jawline", "a hard-edged, geometric face"),
    ("eyes closed", 1): ("eyelids shut", "with both eyes shut"),
    ("frowning", 1): ("mouth corners pulled downward", "a sorrowful expression"),
    ("furrowed brows", 1): ("knitted brows", "brows drawn together in concentration"),
    ("jaw forward", 1): ("lower jaw pushed out", "jaw thrust out in defiance"),
    ("lips pressed", 1): ("tight-lipped", "lips squeezed together"),
    ("mouth open", 1): ("mouth hanging open", "lips parted wide"),
    ("mouth stretched", 1): ("the mouth pulled wide and tense", "lips stretched sideways in fear"),
    ("puckered lips", 1): ("lips pushed out as if to kiss", "a duck face"),
    ("puffed cheeks", 1): ("cheeks full of air", "blowing out the cheeks"),
    ("raised eyebrows", 1): ("brows lifted high", "eyebrows arched upward in surprise"),
    ("smiling", 1): ("beaming", "a joyful, laughing face"),
    ("sneering", 1): ("a disdainful curl of the upper lip", "nose scrunched up in disgust"),
    ("squinting", 1): ("eyes narrowed to slits", "screwing up the eyes"),
    ("wide eyes", 1): ("a startled, wide-eyed stare", "eyes opened as far as they go"),
    ("skin lightness", 1): ("very fair-skinned", "an ivory complexion"),
    ("skin lightness", -1): ("a deep brown complexion", "richly dark skin"),
    ("hair lightness", 1): ("hair of a pale shade", "light tresses"),
    ("hair lightness", -1): ("very dark locks", "a deep dark hair colour"),
    ("lightness", 1): ("an overall paler look", "lighter tones everywhere"),
    ("lightness", -1): ("deeper, darker tones overall", "a shadowy, dark overall appearance"),
    ("blond hair", 1): ("flaxen hair", "golden locks"),
    ("black hair", 1): ("hair black as coal", "ebony hair"),
    ("brown hair", 1): ("chocolate-coloured locks", "a brunette"),
    ("red hair", 1): ("copper-coloured hair", "a redhead"),
    ("grey hair", 1): ("salt-and-pepper hair", "greying hair"),
    ("white hair", 1): ("pure white locks", "hair white as milk"),
}


#: DEVELOPMENT paraphrase set C (written 2026-12-03 13:55 UTC, before any measurement of the zero-shot reading;
#: wording kept different from sets A and B and from the training captions - :func:`set_c_overlap` checks it
#: word for word). Only this set may be used to choose thresholds of the prompt reading; sets A and B stay
#: test sets. (attribute, sign) -> two prompts, shape attributes both directions and every expression group.
#: Three prompts of the first version were found word for word in the training captions by the check and
#: replaced after the first development runs: "close-set eyes", "an underbite" (14:25 UTC) and "barely
#: visible lips" (14:33 UTC, in a rich caption beyond the first 2,000 that the test checks).
PARAPHRASES_C: dict[tuple[str, int], tuple[str, str]] = {
    ("face length", 1): ("a face much taller than it is wide", "a lanky, lengthened face"),
    ("face length", -1): ("a face squashed from top to bottom", "a face that is short in height"),
    ("face width", 1): ("a face that stretches from side to side", "a fat, broad visage"),
    ("face width", -1): ("a thin hatchet face", "a face squeezed narrow"),
    ("jaw width", 1): ("a wide jawbone", "a bulldog jaw"),
    ("jaw width", -1): ("a pointed, V-shaped jaw", "a narrow jawbone"),
    ("chin length", 1): ("a long stretch of chin under the mouth", "a chin that hangs low"),
    ("chin length", -1): ("hardly any chin at all", "a chin cut short under the lip"),
    ("chin projection", 1): ("a chin that juts like a shelf", "a forward-pointing chin"),
    ("chin projection", -1): ("a chin that disappears into the neck", "a backward-sloping chin"),
    ("cheekbone width", 1): ("high, wide cheekbones like a model", "cheekbones that flare outward"),
    ("cheekbone width", -1): ("cheekbones tucked in", "cheekbones squeezed toward the nose"),
    ("nose length", 1): ("a nose running far down the face", "a big long schnozz"),
    ("nose length", -1): ("a small snub nose", "a nose that ends early"),
    ("nose width", 1): ("a nose spread wide across the face", "a bulbous, wide nose"),
    ("nose width", -1): ("a thin, narrow-bridged nose", "a pencil-thin nose"),
    ("nose projection", 1): ("a Roman nose sticking out", "a nose jutting far from the face"),
    ("nose projection", -1): ("a pug nose pressed against the face", "a nose that sits flat on the face"),
    ("eye size", 1): ("big saucer eyes", "eyes like an anime character"),
    ("eye size", -1): ("pinhole eyes", "eyes like little dots"),
    ("eye spacing", 1): ("eyes spread far apart on the face", "a wide distance between the two eyes"),
    ("eye spacing", -1): ("eyes crammed together", "eyes bunched together near the nose"),
    ("mouth width", 1): ("a mouth stretching from cheek to cheek", "a large, wide mouth"),
    ("mouth width", -1): ("a small rosebud mouth", "a mouth that is narrow from corner to corner"),
    ("lip fullness", 1): ("thick, luscious lips", "lips swollen with fullness"),
    ("lip fullness", -1): ("lips thin as paper", "thin pencil lips"),
    ("brow height", 1): ("eyebrows perched high on the forehead", "brows far from the eyes"),
    ("brow height", -1): ("eyebrows hanging low over the eyes", "low-slung brows"),
    ("forehead height", 1): ("a high, domed forehead", "a fivehead"),
    ("forehead height", -1): ("a low, small forehead", "barely any forehead between hair and brows"),
    ("head size", 1): ("a big-headed person", "a head that is larger than normal"),
    ("head size", -1): ("a pin-sized head", "a head smaller than usual"),
    ("roundness", 1): ("a chubby, round-cheeked face", "a soft face with no corners"),
    ("roundness", -1): ("a chiseled, square-cut face", "sharp angular features"),
    ("eyes closed", 1): ("dozing off", "lids lowered over the eyes all the way"),
    ("frowning", 1): ("a downcast, unhappy mouth", "looking miserable"),
    ("furrowed brows", 1): ("brows knotted in anger", "a stern, glowering look"),
    ("jaw forward", 1): ("the lower jaw jutting past the upper teeth", "lower teeth pushed ahead of the upper ones"),
    ("lips pressed", 1): ("lips sealed tightly", "mouth shut in a thin hard line"),
    ("mouth open", 1): ("jaw hanging slack", "an open-mouthed look"),
    ("mouth stretched", 1): ("mouth corners pulled out sideways", "an awkward, strained mouth"),
    ("puckered lips", 1): ("lips pursed for a kiss", "pursing the lips"),
    ("puffed cheeks", 1): ("cheeks inflated like balloons", "a chipmunk face"),
    ("raised eyebrows", 1): ("eyebrows shot up", "a surprised look"),
    ("smiling", 1): ("a big toothy grin", "a happy, contented face"),
    ("sneering", 1): ("a contemptuous snarl", "a look of revulsion"),
    ("squinting", 1): ("eyes half shut against the sun", "peering through narrowed lids"),
    ("wide eyes", 1): ("eyes bulging in shock", "staring in terror"),
}


def paraphrase_set_a() -> dict[tuple[str, int], str]:
    """Set A: (attribute, sign) -> the one held-out paraphrase of the attribute libraries (shape attributes
    both directions, expression groups, appearance attributes)."""
    from headgen.avatar.appearance import APPEARANCE_ATTRIBUTES
    from headgen.models.attributes import EXPRESSION_GROUPS
    out = {}
    for a in list(SHAPE_ATTRIBUTES) + list(APPEARANCE_ATTRIBUTES):
        for sign, p in ((1, a.paraphrase_more), (-1, a.paraphrase_less)):
            if p:
                out[(a.name, sign)] = p
    for g, (_, _, _, p) in EXPRESSION_GROUPS.items():
        if p:
            out[(g, 1)] = p
    return out


def held_out_paraphrases() -> tuple[str, ...]:
    """Every held-out paraphrase (sets A and B): the rich caption wording is kept free of them."""
    return tuple(paraphrase_set_a().values()) + tuple(p for ps in PARAPHRASES_B.values() for p in ps)


def _norm_words(text: str) -> list[str]:
    import re
    return re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text.lower())


def caption_overlap(captions, paraphrases, ns=(2, 3), details: bool = True) -> dict:
    """Held-out check of paraphrases against training captions.

    captions: iterable of str; paraphrases: list of str. -> {"verbatim": [paraphrases contained word-for-word
    in some caption (must be empty)], "ngram": {n: mean over paraphrases of the share of their word n-grams
    that occur in any caption}, "longest": [(paraphrase, longest word n-gram it shares with the captions)]}.
    Words are lower-cased alphanumeric tokens (hyphenated words kept whole). details=False: the verbatim
    check only (fast; "ngram" and "longest" empty)."""
    if not details:
        ns = ()
    grams: dict[int, set] = {n: set() for n in (set(ns) | {1} if details else set())}
    texts = []
    for c in captions:
        w = _norm_words(c)
        texts.append(" " + " ".join(w) + " ")
        for n in grams:
            grams[n].update(tuple(w[i:i + n]) for i in range(len(w) - n + 1))
    corpus = "\n".join(texts)
    verbatim, share, longest = [], {n: [] for n in ns}, []
    for p in paraphrases:
        w = _norm_words(p)
        if " " + " ".join(w) + " " in corpus:
            verbatim.append(p)
        for n in ns:
            g = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
            if g:
                share[n].append(np.mean([x in grams[n] for x in g]))
        if not details:
            continue
        best = ""
        for n in range(len(w), 0, -1):
            hit = [" ".join(w[i:i + n]) for i in range(len(w) - n + 1)
                   if n in grams and tuple(w[i:i + n]) in grams[n]
                   or n not in grams and " " + " ".join(w[i:i + n]) + " " in corpus]
            if hit:
                best = hit[0]
                break
        longest.append((p, best))
    return {"verbatim": verbatim, "ngram": {n: float(np.mean(v)) if v else 0.0 for n, v in share.items()},
            "longest": longest}


def set_c_overlap(captions=()) -> dict:
    """Checks the development set C (:data:`PARAPHRASES_C`) is worded apart from the test sets and the
    training captions: -> {"in_ab": [C prompts that contain, or are contained in, a set A/B paraphrase word for
    word], "in_captions": [C prompts found word for word in ``captions``]} (both must be empty)."""
    c = [p for ps in PARAPHRASES_C.values() for p in ps]
    ab = held_out_paraphrases()
    norm = lambda t: " " + " ".join(_norm_words(t)) + " "      # noqa: E731
    in_ab = [p for p in c if any(norm(p) in norm(q) or norm(q) in norm(p) for q in ab)]
    return {"in_ab": in_ab, "in_captions": caption_overlap(captions, c, details=False)["verbatim"] if captions else []}


def prompts_for(space) -> list[dict]:
    """[{attribute, sign, style: "slightly" | "much" | "paraphrase" (set A) | "paraphrase B1" | "paraphrase B2",
    prompt}] over every shape attribute (both directions) and expression group."""
    rows = []
    for a in SHAPE_ATTRIBUTES:
        for sign, words, para in ((1, a.more, a.paraphrase_more), (-1, a.less, a.paraphrase_less)):
            comp = comparative(words[0])     # "a slightly longer face" / "a much longer face" where English has it
            rows.append({"attribute": a.name, "sign": sign, "style": "slightly",
                         "prompt": _with_article(comp or words[0], "slightly")})
            rows.append({"attribute": a.name, "sign": sign, "style": "much",
                         "prompt": _with_article(comp, "much") if comp else _with_article(words[0], "very")})
            if para:
                rows.append({"attribute": a.name, "sign": sign, "style": "paraphrase", "prompt": para})
    for ea in space.expr_attrs:
        if ea.name.startswith("arkit:"):
            continue
        rows.append({"attribute": ea.name, "sign": 1, "style": "slightly", "prompt": f"slightly {ea.more[0]}"})
        rows.append({"attribute": ea.name, "sign": 1, "style": "much", "prompt": f"very {ea.more[0]}"})
        if ea.paraphrase:
            rows.append({"attribute": ea.name, "sign": 1, "style": "paraphrase", "prompt": ea.paraphrase})
    keys = {(r["attribute"], r["sign"]) for r in rows}
    for (att, sign), ps in PARAPHRASES_B.items():
        if (att, sign) in keys:
            for i, p in enumerate(ps):
                rows.append({"attribute": att, "sign": sign, "style": f"paraphrase B{i + 1}", "prompt": p})
    return rows


def evaluate_edit(sculptor, prompt: str, attribute: str, sign: int, shape0: np.ndarray, expr0: np.ndarray,
                  seed: int = 0) -> dict:
    """One edit of a base head; the measurements listed in the module docstring (plus ``understood``,
    ``seconds``, ``error`` when the prompt was refused)."""
    from headgen.stages.sculpt.core import UnrelatedPromptError
    sp = sculptor.space
    try:
        r = sculptor.sculpt(prompt, shape0, expr0, seed=seed)
    except UnrelatedPromptError as e:
        return {"asked": 0.0, "other_max_pct": 0.0, "other_max_attr": "", "outside_rms_mm": 0.0,
                "understood": {}, "seconds": 0.0, "error": str(e)}
    b = sp.measure(torch.from_numpy(shape0[None]), torch.from_numpy(expr0[None]))
    a = sp.measure(torch.from_numpy(r.shapes[:1]), torch.from_numpy(r.expressions[:1]))
    scale = {n: (float(sp.sd[k]) if n in SHAPE_NAMES else 1.0) for k, n in enumerate(sp.attribute_names())}
    asked = sign * float(a[attribute][0] - b[attribute][0]) / scale[attribute]
    others = {n: 100.0 * abs(float(a[n][0] - b[n][0])) / sp.attribute_range(n) for n in b if n != attribute}
    # expression groups and their own ARKit shapes measure the same columns: not "other" attributes
    own = _same_columns(sp, attribute)
    others = {n: v for n, v in others.items() if n not in own}
    worst = max(others, key=others.get)
    with torch.no_grad():
        m = sp.model
        v0 = m(shape=torch.from_numpy(shape0[None]), expression=torch.from_numpy(expr0[None])).vertices_model[0]
        v1 = m(shape=torch.from_numpy(r.shapes[:1]), expression=torch.from_numpy(r.expressions[:1])).vertices_model[0]
    d = (v1 - v0).norm(dim=-1).numpy() * 1000.0
    outside = ~sp.regions[attribute]
    rms = float(np.sqrt(np.mean(d[outside] ** 2))) if outside.any() else 0.0
    return {"asked": asked, "other_max_pct": others[worst], "other_max_attr": worst, "outside_rms_mm": rms,
            "understood": r.understanding.intensities, "seconds": r.seconds, "error": None}


def _same_columns(space, attribute: str) -> set[str]:
    by = {ea.name: set(ea.columns) for ea in space.expr_attrs}
    if attribute not in by:
        return set()
    cols = by[attribute]
    return {n for n, c in by.items() if c & cols}


def base_heads(n: int = 3, seed: int = 100, S: int = 100, E: int = 53) -> list[tuple[np.ndarray, np.ndarray]]:
    """n base heads: the mean head, then prior draws (shape ~ N(0, 0.7^2 I)), neutral expression."""
    g = np.random.default_rng(seed)
    out = [(np.zeros(S), np.zeros(E))]
    for _ in range(n - 1):
        out.append((0.7 * g.standard_normal(S), np.zeros(E)))
    return out
