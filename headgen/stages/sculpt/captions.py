"""Training data for the sculpt model: heads sampled from the head model's prior, described in words.

Caption first, then heads: a caption *spec* picks 0-3 shape attributes (direction and intensity) and 0-2
expressions (everyday groups such as "smiling" or single ARKit shapes, with an intensity, or negated:
"not smiling"); the caption is written from templates with synonyms; then ``heads_per_caption`` heads are
drawn that satisfy it: identity ``x ~ N(0, I)`` with each mentioned attribute moved along its edit direction
to a z-score inside the intensity's bin; expression weights set for the mentioned shapes.

Intensity bins (z-scores of shape attributes, weights of expressions)::

    slightly / a bit / somewhat      |z| in [0.7, 1.4)    weight in [0.15, 0.4)    reader target 0.5 / w
    (no adverb)                      |z| in [1.4, 2.1)    weight in [0.4, 0.75)    reader target 1.0 / w
    very / much / extremely          |z| in [2.1, 3.0)    weight in [0.75, 1.0]    reader target 1.5 / w
    (comparatives: "slightly/a bit wider", "wider", "much/a lot wider" share the bins)
    negated ("not smiling")          -                    weight 0                  reader target -1

The *reader target* (one value per attribute, 0 = not mentioned) trains the prompt reader that reports what
was understood and decides which coordinates an edit may change.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from headgen.avatar.appearance import APPEARANCE_ATTRIBUTES, APPEARANCE_NAMES
from headgen.models.attributes import SHAPE_ATTRIBUTES
from headgen.stages.sculpt import vocab

SHAPE_BINS = ((0.7, 1.4, 0.5, ("slightly", "a bit", "somewhat", "a little")),
              (1.4, 2.1, 1.0, ("",)),
              (2.1, 3.0, 1.5, ("very", "much", "extremely", "really")))
EXPR_BINS = ((0.15, 0.4, ("slightly", "a little", "faintly")),
             (0.4, 0.75, ("",)),
             (0.75, 1.0, ("broadly", "very", "strongly", "fully")))
PREFIXES = ("", "", "a person with ", "a head with ", "someone with ", "a man with ", "a woman with ",
            "a face with ", "give them ", "sculpt ", "make a head with ", "portrait of a person with ")


@dataclass
class Dataset:
    """z (N, K+E) float32 diffusion coordinates; caption_id (N,) int64 into captions; captions (C,) str;
    targets (C, n_attr) float32 reader targets per caption."""
    z: np.ndarray
    caption_id: np.ndarray
    captions: list[str]
    targets: np.ndarray


#: comparative forms of the adjectives that start attribute phrases ("long face" -> "longer face")
COMPARATIVE = {"long": "longer", "short": "shorter", "wide": "wider", "broad": "broader", "narrow": "narrower",
               "thin": "thinner", "slim": "slimmer", "tall": "taller", "big": "bigger", "large": "larger",
               "small": "smaller", "thick": "thicker", "full": "fuller", "plump": "plumper", "high": "higher",
               "low": "lower", "flat": "flatter", "heavy": "heavier", "round": "rounder", "weak": "weaker",
               "compact": "more compact", "prominent": "more prominent", "angular": "more angular",
               "light": "lighter", "dark": "darker", "pale": "paler", "fair": "fairer", "deep": "deeper"}
COMPARATIVE_ADVERBS = (("slightly", "a bit", "a little"), ("",), ("much", "a lot", "far"))


def comparative(phrase: str) -> str | None:
    """"long face" -> "longer face" (None when the first word has no entry in COMPARATIVE)."""
    w = phrase.split(" ", 1)
    if w[0] not in COMPARATIVE or len(w) < 2:
        return None
    return f"{COMPARATIVE[w[0]]} {w[1]}"


def _relative_form(phrase: str, adverb: str) -> str | None:
    """"long face", "slightly" -> "a face that is slightly long"; "thin lips", "much" -> "lips that are much
    thin"(comparatives: "lips that are much thinner"). None for phrases that are not "<adjective...> <noun>"
    ("eyes far apart")."""
    w = phrase.split()
    if len(w) < 2 or w[0] in ("eyes",):
        return None
    noun, adj = w[-1], " ".join(w[:-1])
    plural = noun.endswith("s") and not noun.endswith("ss")
    body = f"{noun} that {'are' if plural else 'is'} {adverb} {adj}".replace("  ", " ")
    return body if plural else f"a {body}"


def _with_article(phrase: str, adverb: str) -> str:
    p = f"{adverb} {phrase}".strip()
    plural = phrase.split()[-1].endswith("s") and not phrase.endswith("ss")
    return p if plural else f"a {p}"


def _expr_phrase(phrase: str, adverb: str) -> str:
    return f"{adverb} {phrase}".strip()


def make_dataset(space, n_captions: int = 4000, heads_per_caption: int = 6, seed: int = 0,
                 appearance: bool = True, relative: float = 0.0, rich: float = 0.0,
                 exclude: tuple[str, ...] = ()) -> Dataset:
    """Sample ``n_captions`` caption specs x ``heads_per_caption`` heads (see the module docstring) in the
    coordinates of ``space`` (a SculptSpace). appearance: also mention avatar appearance attributes
    (``headgen.avatar.appearance``; reader targets after the shape and expression attributes; they do not
    change the heads). relative: share of shape phrases worded as a relative clause ("a face that is
    slightly long", "lips that are much thinner"; own random stream, the heads do not change).
    rich: share of phrases (and of prefixes / joiners) worded by ``vocab`` instead of the attribute
    libraries' phrases (own random stream: heads and reader targets are those of the plain wording).
    exclude: phrases that must not occur in a rich caption: a rich caption whose content words
    (``vocab.content_words``) contain one of theirs in sequence is re-worded (up to 20 draws, then the plain
    caption is kept)."""
    rng = np.random.default_rng(seed)
    rng_app = np.random.default_rng(seed + 7919)     # own stream: shape/expression captions and heads unchanged
    rng_rel = np.random.default_rng(seed + 104729)   # own stream for the relative-clause wording
    rng_rich = np.random.default_rng(seed + 1299709)  # own stream for the rich wording
    excl = [tuple(vocab.content_words(p)) for p in exclude if vocab.content_words(p)]
    K, E = space.K, space.E
    names = space.attribute_names()
    app_offset = len(names)
    if appearance:
        names = names + list(APPEARANCE_NAMES)
    eattrs = space.expr_attrs
    groups = [i for i, ea in enumerate(eattrs) if not ea.name.startswith("arkit:")]
    singles = [i for i, ea in enumerate(eattrs) if ea.name.startswith("arkit:")]
    captions, targets = [], np.zeros((n_captions, len(names)), np.float32)
    zs, cid = [], []
    D = space.D.numpy()
    Jz = space.Jz.numpy()
    a0 = space.a0.numpy()
    for c in range(n_captions):
        parts_shape, parts_expr = [], []
        spec_parts, spec_expr = [], []
        n_sh = rng.choice(4, p=[0.3, 0.4, 0.22, 0.08])
        n_ex = rng.choice(3, p=[0.45, 0.43, 0.12])
        if c % 12 == 0:      # unconditional captions
            n_sh, n_ex = 0, 0
        sh_ids = rng.choice(K, size=n_sh, replace=False)
        shape_targets = []
        for k in sh_ids:
            spec = SHAPE_ATTRIBUTES[k]
            sign = rng.choice([-1, 1])
            b = rng.choice(3, p=[0.35, 0.35, 0.3])
            lo, hi, lvl, adverbs = SHAPE_BINS[b]
            words = spec.more if sign > 0 else spec.less
            word = str(rng.choice(words))
            comp = comparative(word)
            if comp is not None and rng.random() < 0.35:     # "a much longer face", "a slightly wider nose"
                adv, ph = str(rng.choice(COMPARATIVE_ADVERBS[b])), comp
            else:
                adv, ph = str(rng.choice(adverbs)), word
            rel = _relative_form(ph, adv) if relative > 0 and rng_rel.random() < relative else None
            parts_shape.append(rel or _with_article(ph, adv))
            spec_parts.append(("shape", spec.name, int(sign), int(b)))
            targets[c, k] = sign * lvl
            shape_targets.append((k, sign, lo, hi))
        expr_set = []
        for _ in range(n_ex):
            if rng.random() < 0.75:
                i = int(rng.choice(groups))
            else:
                i = int(rng.choice(singles))
            if i in [e[0] for e in expr_set]:
                continue
            ea = eattrs[i]
            if ea.less and rng.random() < 0.15:
                parts_expr.append(str(rng.choice(ea.less)))
                spec_expr.append(("expr", ea.name, 0, None))
                targets[c, K + i] = -1.0
                expr_set.append((i, 0.0, 0.0))
                continue
            b = rng.choice(3, p=[0.3, 0.35, 0.35])
            lo, hi, adverbs = EXPR_BINS[b]
            parts_expr.append(_expr_phrase(str(rng.choice(ea.more)), str(rng.choice(adverbs))))
            spec_expr.append(("expr", ea.name, 1, int(b)))
            expr_set.append((i, lo, hi))
            targets[c, K + i] = (lo + hi) / 2
        parts = parts_shape + parts_expr
        specs = spec_parts + spec_expr
        order = list(range(len(parts)))
        rng.shuffle(order)
        parts, specs = [parts[j] for j in order], [specs[j] for j in order]
        prefix = ""
        if not parts:
            text = ""
        else:
            joiner = rng.choice([", ", " and ", ", "])
            body = joiner.join(parts) if len(parts) < 3 else ", ".join(parts[:-1]) + " and " + parts[-1]
            prefix = rng.choice(PREFIXES)
            text = f"{prefix}{body}"
        app_specs: list = []
        if appearance and c % 12 != 0:
            text = _add_appearance(text, rng_app, targets[c], app_offset, app_specs)
        if rich > 0 and (parts or app_specs):
            text = _reword(text, prefix, parts, specs, app_specs, rich, rng_rich, excl)
        captions.append(text)
        # heads satisfying the caption
        x = rng.standard_normal((heads_per_caption, space.S))
        for k, sign, lo, hi in shape_targets:
            a = a0[k] + x @ Jz[k]
            tgt = sign * rng.uniform(lo, hi, heads_per_caption)
            x = x + (tgt - a)[:, None] * D[:, k][None]
        e = np.zeros((heads_per_caption, E))
        # unmentioned background expression: mostly neutral, sometimes a little of something
        bg = rng.random(heads_per_caption) < 0.25
        for h in np.nonzero(bg)[0]:
            j = int(rng.choice(groups))
            if j not in [s[0] for s in expr_set]:
                e[h, list(eattrs[j].columns)] = rng.uniform(0.05, 0.5)
        for i, lo, hi in expr_set:
            cols = list(eattrs[i].columns)
            w = rng.uniform(lo, hi, heads_per_caption) if hi > 0 else np.zeros(heads_per_caption)
            e[:, cols] = np.clip(w[:, None] * (1 + rng.uniform(-0.08, 0.08, (heads_per_caption, len(cols)))), 0, 1)
        z = space.to_z(torch.from_numpy(x), torch.from_numpy(e)).numpy()
        zs.append(z)
        cid.append(np.full(heads_per_caption, c))
    return Dataset(np.concatenate(zs).astype(np.float32), np.concatenate(cid).astype(np.int64), captions, targets)


#: probability that a (non-empty-spec) caption also mentions an appearance attribute, and a second one
P_APPEARANCE, P_APPEARANCE_2 = 0.3, 0.08


def _appearance_phrase(rng, a) -> tuple[str, float]:
    """One phrase for appearance attribute ``a`` and its reader target (signed lightness: +-0.5/1/1.5 by
    intensity; hair colour: 1)."""
    if a.kind == "colour":
        return str(rng.choice(a.more)), 1.0
    sign = int(rng.choice([-1, 1]))
    b = int(rng.choice(3, p=[0.35, 0.35, 0.3]))
    words = a.more if sign > 0 else a.less
    word = str(rng.choice(words))
    comp = comparative(word)
    lvl = SHAPE_BINS[b][2]
    if comp is not None and rng.random() < 0.4:
        adv = str(rng.choice(COMPARATIVE_ADVERBS[b]))
        return f"{adv} {comp}".strip(), sign * lvl
    adv = str(rng.choice(SHAPE_BINS[b][3]))
    return _with_article(word, adv) if not word.endswith(("skin", "hair")) else f"{adv} {word}".strip(), sign * lvl


def _add_appearance(text: str, rng, target_row: np.ndarray, offset: int, specs: list | None = None) -> str:
    """Maybe add appearance phrases to a caption (own random stream); writes their reader targets and appends
    (name, sign, level, phrase) of each phrase to ``specs``."""
    if rng.random() >= P_APPEARANCE:
        return text
    n = 2 if rng.random() < P_APPEARANCE_2 else 1
    idx = rng.choice(len(APPEARANCE_ATTRIBUTES), size=n, replace=False)
    colours = [i for i in idx if APPEARANCE_ATTRIBUTES[i].kind == "colour"]
    if len(colours) > 1:            # one hair colour per caption
        idx = [i for i in idx if i not in colours[1:]]
    phrases = []
    for i in idx:
        p, t = _appearance_phrase(rng, APPEARANCE_ATTRIBUTES[i])
        phrases.append(p)
        target_row[offset + i] = t
        if specs is not None:
            lvl = {0.5: 0, 1.0: 1, 1.5: 2}[abs(float(t))]
            specs.append((APPEARANCE_ATTRIBUTES[i].name, 1 if t > 0 else -1, lvl, p))
    app = " and ".join(phrases)
    if not text:
        return f"{rng.choice(PREFIXES)}{app}"
    if rng.random() < 0.25:
        return f"{app}, {text}"
    return f"{text}{rng.choice([', ', ' and ', ' with '])}{app}"


def _contains(words: list[str], excl: list[tuple[str, ...]]) -> bool:
    n = len(words)
    for e in excl:
        m = len(e)
        if any(tuple(words[i:i + m]) == e for i in range(n - m + 1)):
            return True
    return False


def _reword(plain: str, prefix: str, parts: list[str], specs: list, app_specs: list, rich: float, rng, excl) -> str:
    """The rich wording of a caption (``vocab``): each phrase re-worded with probability ``rich`` from its spec
    (kind, name, sign, level), the appearance phrases likewise, a rich prefix and joiners; re-drawn while it
    contains an excluded phrase (see make_dataset), the plain caption after 20 tries."""
    for _ in range(20):
        out = []
        for p, (kind, name, sign, level) in zip(parts, specs):
            q = None
            if rng.random() < rich:
                if kind == "shape":
                    q = vocab.shape_phrase(name, sign, level, rng)
                elif name in vocab.EXPR_LEX:
                    q = vocab.expression_phrase(name, None if sign == 0 else level, rng)
            out.append(q or p)
        apps = []
        for name, sign, level, p in app_specs:
            q = vocab.appearance_phrase(name, sign, level, rng) if rng.random() < rich else None
            apps.append(q or p)
        items = out + apps
        if not items:
            return plain
        if rng.random() < 0.5 and len(items) > 1:
            rng.shuffle(items)
        if len(items) == 1:
            body = items[0]
        elif rng.random() < 0.5:
            body = ", ".join(items[:-1]) + str(rng.choice([" and ", ", and ", ", ", " with "])) + items[-1]
        else:
            body = str(rng.choice(vocab.JOINERS)).join(items)
        text = f"{rng.choice(vocab.PREFIXES_RICH) if rng.random() < rich else prefix}{body}"
        if not _contains(vocab.content_words(text), excl):
            return text
    return plain
