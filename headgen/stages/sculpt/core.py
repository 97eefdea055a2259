"""Sculpt core: train the text -> head model (``train_sculpt``), load it (``Sculptor``), read a prompt and
edit / generate heads. Pure Python API (no files besides the weights); the stage runner writes artifacts.

Weights: one ``torch.save`` file (plain tensors/str/lists, loaded with ``weights_only=True``) holding the
denoiser, the reader (and, from recipe 8, the rich-wording reader), the sculpt space (attribute statistics and edit directions), the phrase bank used to
name the nearest attributes, and the recipe. Default location: ``$HEADGEN_CACHE/sculpt/`` (trained there on
first use by :func:`load_or_train`, ~10-15 minutes on 2 shared CPU cores); ``headgen train-sculpt -o PATH`` writes
one anywhere.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from headgen.errors import InputError

FORMAT = "headgen-sculpt-weights"
RECIPE_VERSION = "8"
#: recipe 8 = recipe 5 (denoiser and reader on the plain wording) + a second reader trained on the rich
#: wording of ``vocab`` (``rich_reader``: its caption recipe and reader-only training); prompts are read by
#: both (:meth:`Sculptor.read`)
RICH_READER = {"n_captions": 12000, "heads_per_caption": 3, "seed": 0, "appearance": True, "rich": 0.5,
               "hidden": 512, "steps": 12000, "lr": 3e-3, "mention_weight": 8.0}
DEFAULT_RECIPE = {"n_captions": 5000, "heads_per_caption": 6, "steps": 5000, "batch": 256, "hidden": 256,
                  "depth": 3, "lr": 2e-3, "seed": 0, "appearance": True, "relative": 0.0,
                  "rich_reader": RICH_READER}
TINY_RECIPE = {"n_captions": 240, "heads_per_caption": 4, "steps": 250, "batch": 128, "hidden": 64,
               "depth": 2, "lr": 3e-3, "seed": 0, "appearance": True, "reader_hidden": 64, "reader_batch": 64,
               "rich_reader": {"n_captions": 120, "heads_per_caption": 1, "seed": 0, "appearance": True, "rich": 0.5,
                               "hidden": 32, "steps": 60, "lr": 3e-3, "mention_weight": 8.0}}
#: reader output above which an attribute counts as asked for (shape: intensity units; expression: weight)
MENTION_SHAPE, MENTION_EXPR, NEGATION = 0.25, 0.1, -0.5
#: appearance: signed lightness reads count from |0.25| (as shape), a hair colour from 0.3 (targets are 1)
MENTION_COLOUR = 0.3
#: a prompt whose best cosine similarity to every attribute phrase is below this is "unrelated"
RELATED_COS = 0.3
#: in an edit, the most the vertices outside the prompt's region may move (RMS, mm; issue 15's bound)
MAX_OUTSIDE_MM = 1.0


#: a side reading of the other kind (expression next to a strongest shape read, or the reverse) is applied
#: from this ratio to the strongest read on (ramp; same-kind side readings: 0.25 -> 0.55)
CROSS_KIND_RATIO = (0.55, 0.85)
#: a rich-reader read weaker than this share of its strongest read (strength scale) is a side reading
RICH_SIDE = 0.5
#: composite prompts are also read clause by clause (:func:`split_clauses`, :meth:`Sculptor.read`)
CLAUSE_READING = True
#: a clause's read joins the prompt's only where it is that clause's strongest read and at least this strong
#: (strength scale of :func:`confidence_weights`: shape |intensity| / 1.5, expression weight)
CLAUSE_MIN_STRENGTH = 0.3
#: zero-shot reading (:meth:`Sculptor._zero_shot`): each clause is also compared with the descriptive phrases
#: of every shape attribute and everyday expression (:func:`zero_shot_bank`); an attribute-direction's score is
#: the mean cosine of its ZERO_SHOT_TOPK nearest phrases. The nearest attribute-direction is *confident* when
#: its score reaches ZERO_SHOT_MIN_COS, leads every other attribute's best by ZERO_SHOT_MARGIN and (shape) its
#: own opposite direction by ZERO_SHOT_DIR_MARGIN. A confident zero-shot read that is not the trained readers'
#: strongest read of the clause replaces the clause's reading: that attribute at the plain level (or the
#: readers' stronger read of it in the same direction), the clause's other shape / expression reads dropped
#: when ZERO_SHOT_DROP_OTHERS. Where both agree nothing changes (the readers' intensities are the calibrated
#: ones). Thresholds chosen on the development set C (``evaluate.PARAPHRASES_C``, ``bench/sculpt_dev.py``) only.
ZERO_SHOT = True
ZERO_SHOT_TOPK = 3
ZERO_SHOT_MIN_COS = 0.6
ZERO_SHOT_MARGIN = 0.03
ZERO_SHOT_DIR_MARGIN = 0.02
ZERO_SHOT_DROP_OTHERS = True
#: a side reading (not the text's strongest) whose attribute-direction scores more than this below the text's
#: best zero-shot score (itself >= ZERO_SHOT_MIN_COS) is dropped (None: side readings are left to
#: :func:`confidence_weights`). Set C: 0.1 -> 178/288 edits with other attributes < 10 %, 0.15 -> 172,
#: 0.25 -> 160, None -> 142; two-attribute clauses ("a long thin nose") keep both reads.
ZERO_SHOT_SIDE_GAP = 0.1
_CLAUSE_SPLIT = r"\s*(?:[,;]|\band also\b|\band\b|\bwith\b|\bplus\b|\bbut\b)\s*"


def split_clauses(prompt: str) -> list[str]:
    """"a long face, a wide nose and smiling" -> ["a long face", "a wide nose", "smiling"]: the prompt cut at
    commas, semicolons and the words and / with / plus / but; pieces without a letter are dropped."""
    import re
    return [c for c in (x.strip() for x in re.split(_CLAUSE_SPLIT, prompt.strip())) if re.search("[a-zA-Z]", c)]


#: the intensity levels of the training captions (``captions.SHAPE_BINS`` / ``EXPR_BINS``): reader target of
#: each level and the bin of z-scores (shape) or weights (expression) its heads were drawn from
def _levels():
    from headgen.stages.sculpt.captions import EXPR_BINS, SHAPE_BINS
    shape = tuple((float(t), (float(lo), float(hi))) for lo, hi, t, _ in SHAPE_BINS)
    expr = tuple(((lo + hi) / 2, (float(lo), float(hi))) for lo, hi, _ in EXPR_BINS)
    return shape, expr


SHAPE_LEVELS, EXPR_LEVELS = _levels()


def intensity_band(v: float, expression: bool = False) -> tuple[float, float]:
    """The band an asked attribute's written change must lie in, from its intensity |v| (shape: reader units,
    0.5 slightly / 1 plain / 1.5 very; expression: weight): the training bin of the level whose reader target
    v is (slightly: z-score 0.7-1.4 / weight 0.15-0.4, plain 1.4-2.1 / 0.4-0.75, very 2.1-3 / 0.75-1),
    interpolated linearly between the levels' targets, scaled down proportionally below the first target
    and the top bin above the last. -> (lo, hi) in std (shape) or weight (expression)."""
    lv = EXPR_LEVELS if expression else SHAPE_LEVELS
    v = abs(float(v))
    t = [x[0] for x in lv]
    if v <= t[0]:
        f = v / t[0]
        return lv[0][1][0] * f, lv[0][1][1] * f
    if v >= t[-1]:
        return lv[-1][1]
    i = int(np.searchsorted(t, v)) - 1
    f = (v - t[i]) / (t[i + 1] - t[i])
    (l0, h0), (l1, h1) = lv[i][1], lv[i + 1][1]
    return l0 + f * (l1 - l0), h0 + f * (h1 - h0)


def into_band(s: float, lo: float, hi: float, scale: float = 1.0) -> float:
    """A sampled magnitude s (std or weight, asked direction > 0) mapped into the band [lo, hi]: a logistic
    centred on the band, lo + (hi - lo) sigmoid((s - c) / scale), c its centre, ``scale`` one prior std of the
    coordinate (1 for shape z-scores, 0.5 for expression weights, w = (z + 1) / 2) - monotone, so samples
    (seeds) keep their order and stay apart inside the band instead of piling up at a clamp."""
    if hi <= lo:
        return float(lo)
    c = (lo + hi) / 2
    return float(lo + (hi - lo) / (1.0 + np.exp(-(s - c) / scale)))


def _degree_lexicon():
    """Degree words of the training captions by level (0 slightly, 1 plain, 2 very/much), separately for shape
    and expression phrases: ``captions`` (SHAPE_BINS, COMPARATIVE_ADVERBS, EXPR_BINS) and ``vocab`` (DEG, COMP,
    EXPR_DEG, EXPR_DEG_POST). -> {"shape": [(words tuple, level, comparative_only)], "expression": [...]};
    comparative-only words ("much", "far", "a lot" in "a lot wider") count only before a comparative."""
    from headgen.stages.sculpt import vocab
    from headgen.stages.sculpt.captions import COMPARATIVE_ADVERBS, EXPR_BINS, SHAPE_BINS

    def table(groups_free, groups_comp):
        free = {}
        for levels in groups_free:
            for lvl, words in enumerate(levels):
                for w in words:
                    if w.strip():
                        free.setdefault(tuple(w.split()), lvl)
        out = [(w, lvl, False) for w, lvl in free.items()]
        comp = {}
        for levels in groups_comp:
            for lvl, words in enumerate(levels):
                for w in words:
                    if w.strip() and tuple(w.split()) not in free:
                        comp.setdefault(tuple(w.split()), lvl)
        return out + [(w, lvl, True) for w, lvl in comp.items()]
    shape = table([[b[3] for b in SHAPE_BINS], vocab.DEG], [COMPARATIVE_ADVERBS, vocab.COMP])
    expr = table([[b[2] for b in EXPR_BINS], vocab.EXPR_DEG, vocab.EXPR_DEG_POST], [])
    return {"shape": shape, "expression": expr}


_DEGREE = None
_NEGATORS = frozenset({"not", "no", "never", "without", "nor"})


def _part_nouns() -> frozenset:
    from headgen.models.attributes import SHAPE_ATTRIBUTES
    return frozenset(p.split()[-1] for a in SHAPE_ATTRIBUTES for p in a.more + a.less)


def degree_level(text: str, kind: str = "shape") -> int | None:
    """The intensity level a clause's degree word asks for (0 slightly, 1 plain, 2 very/much; kind "shape" or
    "expression" picks the word list of :func:`_degree_lexicon`), None when it has none, or is negated ("not
    very"). In a shape phrase a degree word directly before a part noun ("a little mouth") is an adjective,
    not a degree (expression phrases put the degree before the noun: "very mouth open")."""
    import re
    global _DEGREE
    if _DEGREE is None:
        _DEGREE = (_degree_lexicon(), _part_nouns())
    lex, nouns = _DEGREE
    w = re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())
    if any(x in _NEGATORS or x.endswith("n't") for x in w):
        return None
    for i in range(len(w)):
        for words, lvl, comp_only in lex[kind]:
            n = len(words)
            if tuple(w[i:i + n]) != words:
                continue
            nxt = w[i + n] if i + n < len(w) else ""
            if kind == "shape" and nxt in nouns:
                continue
            if comp_only and not (nxt.endswith("er") or nxt in ("more", "less")):
                continue
            return lvl
    return None


class torch_threads:
    """Context manager: run torch with ``n`` intra-op threads (1 by default: these networks are small and on a
    shared machine extra threads spin-wait; measured 10-17x faster than 2 threads under load)."""

    def __init__(self, n: int = 1):
        self.n, self.old = n, None

    def __enter__(self):
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)
        return False


class UnrelatedPromptError(InputError):
    """The prompt does not ask for any attribute the model knows."""


def load_model_for_sculpt(name: str = "ict", path=None, device="cpu"):
    """The head model variant sculpt works with: ICT-FaceKit "face" part (12,223 vertices) + MediaPipe
    embedding. FLAME is not supported by the text model (its attribute space is ICT's)."""
    from headgen.models import load_head_model
    if str(name).lower() != "ict":
        raise InputError(f"sculpt: model {name!r} is not supported by the text model yet (trained on ICT-FaceKit); "
                         "use --model ict or an ICT fit")
    return load_head_model("ict", parts="face", path=path, device=device, mediapipe=True, dtype=torch.float64)


def default_weights_path(model) -> Path:
    """``$HEADGEN_CACHE/sculpt/sculpt_<model digest>_r<recipe>_<encoder>.pt``."""
    from headgen.assets import cache_dir
    from headgen.stages.sculpt.space import model_digest
    from headgen.stages.sculpt.text import DEFAULT_ENCODER
    return cache_dir() / "sculpt" / f"sculpt_{model_digest(model)}_r{RECIPE_VERSION}_{DEFAULT_ENCODER}.pt"


def phrase_bank(space, appearance: bool = True) -> tuple[list[str], list[str]]:
    """(phrases, attribute name of each) over every attribute's wording (both directions)."""
    from headgen.avatar.appearance import APPEARANCE_ATTRIBUTES
    from headgen.models.attributes import SHAPE_ATTRIBUTES
    texts, attrs = [], []
    for a in APPEARANCE_ATTRIBUTES if appearance else ():
        for p in a.more + a.less:
            texts.append(p)
            attrs.append(a.name)
    for a in SHAPE_ATTRIBUTES:
        for p in a.more + a.less:
            texts.append(p)
            attrs.append(a.name)
    for ea in space.expr_attrs:
        for p in ea.more + ea.less:
            texts.append(p)
            attrs.append(ea.name)
    return texts, attrs


def zero_shot_bank(space, per_direction: int = 40, seed: int = 0) -> tuple[list[str], list[tuple[str, int]]]:
    """Descriptive phrases of every shape attribute (both directions) and everyday expression group (its
    positive direction) at the plain level, for the zero-shot reading: the attribute library's phrases plus
    up to ``per_direction`` distinct phrases drawn (seeded) from the rich wording of ``vocab`` (adjectives x
    part nouns, relations derived from the measurement, expressions by action and by emotion). Phrases whose
    content words contain a held-out or development paraphrase's (sets A, B, C) in sequence are left out.
    -> (phrases, (attribute, sign) of each)."""
    from headgen.models.attributes import SHAPE_ATTRIBUTES
    from headgen.stages.sculpt import vocab
    from headgen.stages.sculpt.captions import _contains
    from headgen.stages.sculpt.evaluate import PARAPHRASES_C, held_out_paraphrases
    excl = [tuple(vocab.content_words(p)) for p in held_out_paraphrases() + tuple(q for ps in PARAPHRASES_C.values()
                                                                                   for q in ps)]
    excl = [e for e in excl if e]
    rng = np.random.default_rng(seed)
    texts, keys = [], []

    def add(phrases, key):
        seen = set()
        for p in phrases:
            p = " ".join(str(p).split())
            if p and p not in seen and not _contains(vocab.content_words(p), excl):
                seen.add(p)
                texts.append(p)
                keys.append(key)
    for a in SHAPE_ATTRIBUTES:
        for sign, lib in ((1, a.more), (-1, a.less)):
            drawn = [vocab.shape_phrase(a.name, sign, 1, rng) for _ in range(3 * per_direction)]
            drawn = list(dict.fromkeys(drawn))[:per_direction]
            add(list(lib) + drawn, (a.name, sign))
    for ea in space.expr_attrs:
        if ea.name.startswith("arkit:"):
            continue
        rich = [vocab._clean(t.replace("{d}", "")) for t in vocab.EXPR_LEX.get(ea.name, {}).get("more", ())]
        add(list(ea.more) + rich, (ea.name, 1))
    return texts, keys


def train_sculpt(out_path, *, model=None, recipe: dict | None = None, encoder: str | None = None, log=print
                 ) -> dict:
    """Generate the caption/head dataset, embed the captions, train denoiser + reader, write the weights
    atomically to ``out_path``. recipe: keys of DEFAULT_RECIPE (TINY_RECIPE for tests). -> stats dict
    (seconds per phase, losses, parameter count, file size in bytes)."""
    from headgen.io.atomic import atomic_path
    from headgen.stages.sculpt import captions as cap
    from headgen.stages.sculpt.diffusion import train
    from headgen.stages.sculpt.space import SculptSpace
    from headgen.stages.sculpt.text import DEFAULT_ENCODER

    with torch_threads(1):
        st = _train_sculpt(out_path, model=model, recipe=recipe, encoder=encoder or DEFAULT_ENCODER, log=log)
        rr = dict(DEFAULT_RECIPE, **(recipe or {})).get("rich_reader")
        if rr:
            st = st | add_rich_reader(out_path, out_path, rr, model=model, log=log)
            st["total_seconds"] += st["rich_reader_seconds"]
            st["bytes"] = Path(out_path).stat().st_size
        return st


def add_rich_reader(weights_in, weights_out, rr: dict, *, model=None, log=print) -> dict:
    """Train the second, rich-wording reader (``rr``: keys of RICH_READER) reader-only on the captions of
    ``captions.make_dataset(..., rich=rr["rich"])`` (held-out paraphrases excluded) and add it to a weights
    file (``reader_rich``; the recipe records ``rr``). -> stats (seconds, caption count, loss)."""
    from headgen.io.atomic import atomic_path
    from headgen.stages.sculpt.diffusion import Reader, train_reader
    with torch_threads(1):
        t0 = time.perf_counter()
        sc = Sculptor(weights_in, model=model)
        blob = sc.blob
        ds = training_captions(sc.space, dict(rr, relative=0.0, n_captions=rr["n_captions"]))
        uniq = sorted(set(c for c in ds.captions if c))
        E = _embed_cached(uniq, sc.encoder)
        lut = {c: i for i, c in enumerate(uniq)}
        emb = np.stack([E[lut[c]] if c else np.zeros(E.shape[1], np.float32) for c in ds.captions])
        torch.manual_seed(int(rr["seed"]) + 2)
        rd = Reader(len(sc.names), emb.shape[1], hidden=int(rr["hidden"]))
        log(f"rich reader: {len(uniq)} unique captions; training {rr['steps']} steps")
        loss = train_reader(rd, torch.from_numpy(emb).float(), torch.from_numpy(ds.targets).float(),
                            steps=int(rr["steps"]), lr=float(rr["lr"]), seed=int(rr["seed"]) + 1,
                            mention_weight=float(rr["mention_weight"]), log=log)
        blob["reader_rich"] = rd.state_dict()
        blob["reader_rich_cfg"] = {"n_attr": rd.n_attr, "cond_dim": rd.cond_dim, "hidden": rd.hidden}
        blob["recipe"] = dict(blob["recipe"], rich_reader=dict(rr))
        blob["recipe_version"] = RECIPE_VERSION
        sec = time.perf_counter() - t0
        blob["train_stats"] = dict(blob["train_stats"], rich_reader_seconds=sec, rich_reader_loss=loss)
        out = Path(weights_out)
        with atomic_path(out) as tmp:
            torch.save(blob, tmp)
    log(f"rich reader: loss {loss:.4f}, {sec:.0f} s")
    return {"rich_reader_seconds": sec, "rich_reader_captions": len(uniq), "rich_reader_loss": loss}


def training_captions(space, recipe: dict | None = None):
    """The caption dataset (``captions.Dataset``) of a recipe (keys of DEFAULT_RECIPE; missing keys take the
    default) - what :func:`train_sculpt` trains on and what the held-out checks compare the paraphrases with
    (the captions share a random stream with the heads, so they depend on every recipe key)."""
    from headgen.stages.sculpt import captions as cap
    from headgen.stages.sculpt.evaluate import held_out_paraphrases
    r = dict(DEFAULT_RECIPE, **(recipe or {}))
    rich = float(r.get("rich", 0.0))
    return cap.make_dataset(space, r["n_captions"], r["heads_per_caption"], seed=r["seed"],
                            appearance=bool(r.get("appearance", False)), relative=float(r.get("relative", 0.0)),
                            rich=rich, exclude=held_out_paraphrases() if rich > 0 else ())


def _train_sculpt(out_path, *, model, recipe, encoder, log) -> dict:
    from headgen.avatar.appearance import APPEARANCE_NAMES
    from headgen.io.atomic import atomic_path
    from headgen.stages.sculpt import captions as cap
    from headgen.stages.sculpt.diffusion import train
    from headgen.stages.sculpt.space import SculptSpace
    from headgen.stages.sculpt.text import encode

    r = dict(DEFAULT_RECIPE, **(recipe or {}))
    model = model or load_model_for_sculpt()
    t0 = time.perf_counter()
    space = SculptSpace(model)
    t_space = time.perf_counter() - t0
    ds = training_captions(space, {k: v for k, v in r.items() if k != "rich_reader"})
    names = space.attribute_names() + (list(APPEARANCE_NAMES) if r.get("appearance") else [])
    t_data = time.perf_counter() - t0 - t_space
    log(f"dataset: {len(ds.captions)} captions x {r['heads_per_caption']} heads ({t_data:.1f} s); embedding")
    uniq = sorted(set(c for c in ds.captions if c))
    t1 = time.perf_counter()
    E = _embed_cached(uniq, encoder)
    t_emb = time.perf_counter() - t1
    lut = {c: i for i, c in enumerate(uniq)}
    emb = np.stack([E[lut[c]] if c else np.zeros(E.shape[1], np.float32) for c in ds.captions])
    log(f"embedded {len(uniq)} unique captions with {encoder} ({t_emb:.1f} s); training")
    den, rd, st = train(ds, emb, space.dim, len(names), steps=r["steps"], batch=r["batch"],
                        lr=r["lr"], hidden=r["hidden"], depth=r["depth"], seed=r["seed"],
                        reader_hidden=int(r.get("reader_hidden", 256)), reader_batch=r.get("reader_batch"),
                        reader_steps=int(r.get("reader_steps", 0)), mention_weight=float(r.get("mention_weight", 4.0)),
                        log=log)
    texts, attrs = phrase_bank(space, appearance=bool(r.get("appearance")))
    bank = encode(texts, encoder)
    blob = {
        "format": FORMAT, "recipe_version": RECIPE_VERSION, "recipe": r, "encoder": encoder,
        "model": {"name": model.model_name, "parts": str(model.parts), "digest": space.digest},
        "space": space.state(), "attribute_names": names,
        "appearance_names": [n for n in names if n in APPEARANCE_NAMES],
        "denoiser": den.state_dict(), "denoiser_cfg": {"dim": den.dim, "cond_dim": den.cond_dim,
                                                         "hidden": den.hidden, "depth": den.depth},
        "reader": rd.state_dict(), "reader_cfg": {"n_attr": rd.n_attr, "cond_dim": rd.cond_dim, "hidden": rd.hidden},
        "bank_texts": texts, "bank_attrs": attrs, "bank_emb": torch.from_numpy(bank),
        "train_stats": {k: float(v) for k, v in st.items()},
    }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:
        torch.save(blob, tmp)
    n_params = sum(p.numel() for p in den.parameters()) + sum(p.numel() for p in rd.parameters())
    stats = {"space_seconds": t_space, "data_seconds": t_data, "embed_seconds": t_emb, "train_seconds": st["seconds"],
             "total_seconds": time.perf_counter() - t0, "n_unique_captions": len(uniq), "n_samples": len(ds.z),
             "params": n_params, "bytes": out_path.stat().st_size, "denoise_loss": st["denoise_loss"],
             "reader_loss": st["reader_loss"]}
    log(f"wrote {out_path} ({stats['bytes'] / 1e6:.1f} MB, {n_params / 1e6:.2f} M parameters) in "
        f"{stats['total_seconds']:.0f} s")
    return stats


def _embed_cached(texts: list[str], encoder: str, cache: str = "captions") -> np.ndarray:
    """Embeddings of texts (N, 384), reusing ``$HEADGEN_CACHE/sculpt/<cache>_<encoder>.npz`` (a plain cache of
    text -> embedding; deleting it only costs time)."""
    from headgen.assets import cache_dir
    from headgen.io.atomic import write_npz_atomic
    from headgen.stages.sculpt.text import encode
    if not texts:
        return np.zeros((0, 384), np.float32)
    path = cache_dir() / "sculpt" / f"{cache}_{encoder}.npz"
    known: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            known = dict(zip([str(t) for t in z["texts"]], z["emb"]))
    except (OSError, KeyError, ValueError):
        known = {}
    missing = [t for t in texts if t not in known]
    if missing:
        for t, e in zip(missing, encode(missing, encoder)):
            known[t] = e
        try:
            keys = sorted(known)
            write_npz_atomic(path, {"texts": np.array(keys), "emb": np.stack([known[k] for k in keys])})
        except OSError:
            pass
    return np.stack([known[t] for t in texts]).astype(np.float32)


@dataclass
class Understanding:
    """What a prompt asks for: ``intensities`` attribute -> signed intensity (shape: +-0.5 slightly, +-1, +-1.5
    very; expression: weight, -1 = negated), ``nearest`` [(attribute, cosine)] best first, ``related``."""
    prompt: str
    intensities: dict[str, float]
    nearest: list[tuple[str, float]]
    related: bool
    embedding: np.ndarray = field(repr=False, default=None)
    #: attribute -> intensity level (0 slightly, 1 plain, 2 very/much) named by a degree word of the training
    #: captions ("slightly", "much", "broadly", ...; :meth:`Sculptor.degree_levels`)
    levels: dict[str, int] = field(default_factory=dict)

    def asked(self, name: str, K_names) -> float:
        """The intensity an edit writes for attribute ``name``: the reader's read, or - where a degree word
        names the level - that level's reader target (shape 0.5 / 1 / 1.5, expression 0.275 / 0.575 / 0.875)
        in the read's direction. ``K_names``: the shape attribute names."""
        v = self.intensities[name]
        if name not in self.levels:
            return v
        lv = SHAPE_LEVELS if name in K_names else EXPR_LEVELS
        return float(np.sign(v) * lv[self.levels[name]][0])


@dataclass
class SculptResult:
    """Edited heads: ``shapes`` (N, S) identity, ``expressions`` (N, E) reference-frame expression (sample 0 =
    the main result), ``understanding``, ``free`` attribute names that could change, ``seconds``,
    ``weights`` (attribute -> confidence weight 0..1 its sampled change was applied with), ``edits``
    (per sample: the projection's info, e.g. ``scale`` < 1 when the locality limit shortened the change),
    ``appearance`` (appearance attribute -> amount, for an avatar's colours; see ``appearance_changes``)."""
    shapes: np.ndarray
    expressions: np.ndarray
    understanding: Understanding
    free: list[str]
    seconds: float
    weights: dict = field(default_factory=dict)
    edits: list = field(default_factory=list)
    appearance: dict = field(default_factory=dict)


def _ramp(v: float, lo: float, hi: float) -> float:
    return float(min(max((v - lo) / (hi - lo), 0.0), 1.0))


def confidence_weights(intensities: dict[str, float], K: int, names: list[str], other_top: float = 0.0
                       ) -> dict[str, float]:
    """Weight 0..1 of each attribute the reader found: how much of its sampled change is applied.

    Reads are put on one strength scale (shape |intensity| / 1.5, expression weight: 1 = "very/much"). The
    strongest read and negations ("not smiling") get 1; every other read gets the product of two ramps: its
    own magnitude (shape |intensity| 0.25 -> 0.45, expression weight 0.1 -> 0.2: reads just above the
    mention threshold are often side readings of a neighbouring attribute, "much smaller eyes" also reads
    forehead height +0.25) and its ratio to the strongest read (0.25 -> 0.55: "a much longer nose" also reads
    nose width -0.48 next to nose length +1.75); a read of the other kind than the strongest (an expression
    next to a shape read or the reverse) needs a ratio of ``CROSS_KIND_RATIO`` (0.55 -> 0.85): one word
    names both a shape and an expression ("very wide-set eyes" also reads wide eyes +0.36 at ratio 0.43, and
    the eyes opened by 28 % of the range), while a prompt that asks for both names each in its own clause,
    read at full strength by clause reading. other_top: the strongest read of attributes not weighted
    here (appearance, same scale), so a side reading of an appearance prompt ("much lighter colouring" also
    reads head size -0.29) is not the strongest by default."""
    strength = {n: (abs(v) / 1.5 if names.index(n) < K else v) for n, v in intensities.items()}
    top = max(max(strength.values(), default=0.0), float(other_top))
    top_kind = None
    if strength and max(strength.values()) >= float(other_top):
        top_kind = names.index(max(strength, key=strength.get)) < K
    out = {}
    for n, v in intensities.items():
        st = strength[n]
        if (names.index(n) >= K and v < 0) or st >= top:
            out[n] = 1.0
            continue
        own = _ramp(abs(v), MENTION_SHAPE, MENTION_SHAPE + 0.2) if names.index(n) < K else \
            _ramp(v, MENTION_EXPR, MENTION_EXPR + 0.1)
        ratio = (0.25, 0.55) if top_kind is None or (names.index(n) < K) == top_kind else CROSS_KIND_RATIO
        out[n] = own * _ramp(st / top, *ratio)
    return out


class Sculptor:
    """A loaded sculpt model (see :func:`load_or_train`): ``understand(prompt)``, ``sculpt(...)``."""

    def __init__(self, weights_path, model=None):
        from headgen.stages.sculpt.diffusion import Denoiser, Reader
        from headgen.stages.sculpt.space import SculptSpace, model_digest
        path = Path(weights_path)
        if not path.is_file():
            raise InputError(f"{path}: no such sculpt weights file")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise InputError(f"{path}: not a readable sculpt weights file ({type(e).__name__})") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise InputError(f"{path}: not a headgen sculpt weights file")
        self.path, self.blob = path, blob
        self.model = model or load_model_for_sculpt(blob["model"]["name"])
        if model_digest(self.model) != blob["model"]["digest"]:
            raise InputError(f"{path}: trained for another head model variant ({blob['model']}); retrain with "
                             "`headgen train-sculpt`")
        self.space = SculptSpace(self.model, state=blob["space"])
        self.encoder = blob["encoder"]
        self.den = Denoiser(**blob["denoiser_cfg"])
        self.den.load_state_dict(blob["denoiser"])
        self.rd = Reader(**blob["reader_cfg"])
        self.rd.load_state_dict(blob["reader"])
        self.rd_rich = None
        if "reader_rich" in blob:
            self.rd_rich = Reader(**blob["reader_rich_cfg"])
            self.rd_rich.load_state_dict(blob["reader_rich"])
            self.rd_rich.eval()
        self.den.eval()
        self.rd.eval()
        self.names = list(blob["attribute_names"])
        self.appearance_names = list(blob.get("appearance_names", []))
        self.n_geom = len(self.names) - len(self.appearance_names)
        from headgen.avatar.appearance import APPEARANCE_ATTRIBUTES
        self._app_kind = {a.name: a.kind for a in APPEARANCE_ATTRIBUTES}
        self._thresholds = np.array([MENTION_SHAPE if (i < self.space.K or (i >= self.n_geom and self._app_kind[n] == "signed"))
                                     else MENTION_COLOUR if i >= self.n_geom else MENTION_EXPR
                                     for i, n in enumerate(self.names)], np.float32)
        from headgen.stages.sculpt.text import _load
        _load(self.encoder)          # load the sentence encoder now: ``SculptResult.seconds`` times the edit only
        self.bank_emb = blob["bank_emb"].numpy()
        self.bank_attrs = list(blob["bank_attrs"])
        # the zero-shot reading's phrases (embedded once, cached in $HEADGEN_CACHE/sculpt/zeroshot_<enc>.npz)
        zt, zk = zero_shot_bank(self.space)
        self._zs_emb = _embed_cached(zt, self.encoder, cache="zeroshot")
        self._zs_texts = zt
        self._zs_keys = sorted(set(zk), key=zk.index)
        ki = {k: i for i, k in enumerate(self._zs_keys)}
        self._zs_of = np.array([ki[k] for k in zk])

    def embed(self, prompt: str) -> np.ndarray:
        """(384,) unit sentence embedding of the prompt."""
        from headgen.stages.sculpt.text import encode
        return encode([prompt], self.encoder)[0]

    def _read_embeddings(self, E: np.ndarray) -> np.ndarray:
        """Embeddings (n, 384) -> reads (n, A). With a rich-wording reader (recipe 8) both readers read: where
        the plain reader reads an attribute above its mention threshold and the rich one agrees in sign, the
        plain read stands (it was trained with the denoiser on the library phrases, its intensities are the
        calibrated ones: "slightly" vs "much"); elsewhere the read of larger magnitude (the rich reader knows
        the many other wordings), except the rich reader's side readings (weaker than ``RICH_SIDE`` times its
        strongest read of the same text: "much lighter skin" also reads face width -0.68 there)."""
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(E, np.float32))
            r = self.rd(x).numpy()
            if self.rd_rich is None:
                return r
            q = self.rd_rich(x).numpy()
        keep = (np.abs(r) >= self._thresholds) & (np.sign(r) == np.sign(q))
        # the rich reader's side readings (below RICH_SIDE of its strongest read of the same text) are not used
        sq = self._strength(q)
        side = sq < RICH_SIDE * sq.max(axis=-1, keepdims=True)
        return np.where(keep | side | (np.abs(r) >= np.abs(q)), r, q)

    def zero_shot_scores(self, E: np.ndarray) -> np.ndarray:
        """Embeddings (n, 384) -> (n, D) similarity to each attribute-direction ``self._zs_keys`` (attribute,
        sign): the mean cosine of its ``ZERO_SHOT_TOPK`` nearest phrases of :func:`zero_shot_bank`."""
        sims = np.asarray(E, np.float32) @ self._zs_emb.T
        out = np.empty((sims.shape[0], len(self._zs_keys)), np.float32)
        for d in range(len(self._zs_keys)):
            s = sims[:, self._zs_of == d]
            k = min(ZERO_SHOT_TOPK, s.shape[1])
            out[:, d] = np.sort(s, axis=1)[:, -k:].mean(axis=1)
        return out

    def _zero_shot(self, E: np.ndarray, R: np.ndarray, texts: list[str], min_words: int = 1) -> np.ndarray:
        """Reads (n, A) of texts with embeddings E (n, 384) combined with the zero-shot reading (see
        ``ZERO_SHOT``): where the nearest attribute-direction of :meth:`zero_shot_scores` is confident and is
        not the trained readers' strongest shape / expression read of the text (or they read none), that
        attribute is read at the plain level (shape intensity +-1, expression weight 0.575; a stronger read of
        it in the same direction is kept) and, with ``ZERO_SHOT_DROP_OTHERS``, the text's other shape /
        expression reads are dropped; otherwise side readings the wording does not support are dropped
        (:meth:`_drop_unsupported`, ``ZERO_SHOT_SIDE_GAP``). Negated texts ("not smiling") keep their reads:
        the phrases are positive. A text read most strongly as appearance is left alone, and appearance
        reads are never changed. ``min_words``: texts with fewer content words
        (``vocab.content_words``) are left alone - a clause of a composite prompt such as "a pointed" (from "a
        pointed, V-shaped jaw") qualifies its neighbour and names no attribute by itself."""
        import re

        from headgen.stages.sculpt.vocab import content_words
        if not ZERO_SHOT or not len(texts):
            return R
        R = np.array(R, copy=True)
        ng = self.n_geom
        st_all = np.abs(self._strength(R))
        read_all = np.abs(R) >= self._thresholds
        st, read = st_all[:, :ng], read_all[:, :ng]
        sc = self.zero_shot_scores(E)
        atts = np.array([k[0] for k in self._zs_keys])
        index = {k: d for d, k in enumerate(self._zs_keys)}
        for i, text in enumerate(texts):
            w = re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())
            if any(x in _NEGATORS or x.endswith("n't") for x in w) or len(content_words(text)) < min_words:
                continue
            if read_all[i].any() and int(np.argmax(np.where(read_all[i], st_all[i], -1.0))) >= ng:
                continue       # read most strongly as appearance ("slightly lighter skin"): no shape phrases there
            d = int(np.argmax(sc[i]))
            name, sign = self._zs_keys[d]
            other = sc[i][atts != name]
            opp = index.get((name, -sign))
            if ZERO_SHOT_SIDE_GAP is not None:
                self._drop_unsupported(R[i], sc[i], read[i], st[i], index)
            if (sc[i, d] < ZERO_SHOT_MIN_COS or (other.size and sc[i, d] - other.max() < ZERO_SHOT_MARGIN)
                    or (opp is not None and sc[i, d] - sc[i, opp] < ZERO_SHOT_DIR_MARGIN)):
                continue
            j = self.names.index(name)
            if read[i].any():
                t = int(np.argmax(np.where(read[i], st[i], -1.0)))
                if t == j and np.sign(R[i, t]) == sign:
                    continue                      # the trained readers agree: their calibrated read stands
            plain = SHAPE_LEVELS[1][0] if j < self.space.K else EXPR_LEVELS[1][0]
            v = max(abs(float(R[i, j])) if (read[i, j] and np.sign(R[i, j]) == sign) else 0.0, plain)
            if ZERO_SHOT_DROP_OTHERS:
                R[i, :ng] = 0.0
            R[i, j] = sign * v
        return R

    def _drop_unsupported(self, r, scores, read, st, index) -> None:
        """In place on one text's reads r (A,): a shape / expression read that is not the text's strongest
        and whose attribute-direction's zero-shot score is more than ``ZERO_SHOT_SIDE_GAP`` below the text's
        best score (reaching ``ZERO_SHOT_MIN_COS``) is dropped - a side reading the wording does not support."""
        best = float(scores.max())
        if best < ZERO_SHOT_MIN_COS or not read.any():
            return
        top = int(np.argmax(np.where(read, st, -1.0)))
        for b in np.flatnonzero(read):
            if b == top:
                continue
            sign = 1 if r[b] > 0 else -1
            d = index.get((self.names[b], sign))
            if d is not None and best - scores[d] > ZERO_SHOT_SIDE_GAP:
                r[b] = 0.0

    def _strength(self, r: np.ndarray) -> np.ndarray:
        """Reads (n, A) -> the common strength scale (shape / signed appearance |v| / 1.5, expression and hair
        colour v)."""
        s = np.array(r, np.float64, copy=True)
        for i, n in enumerate(self.names):
            signed = i < self.space.K or (i >= self.n_geom and self._app_kind[n] == "signed")
            s[..., i] = np.abs(s[..., i]) / 1.5 if signed else s[..., i]
        return s

    def read(self, prompt: str, embedding: np.ndarray | None = None, clauses: bool | None = None) -> np.ndarray:
        """The reader's signed intensity per attribute (A,) for a prompt. With clause reading
        (``CLAUSE_READING``; composite prompts only) each clause of :func:`split_clauses` is read too, and an
        attribute takes a clause's read where that read is the clause's strongest, at least
        ``CLAUSE_MIN_STRENGTH`` and stronger than the whole prompt's read of it (a long prompt's embedding
        dilutes each of its parts)."""
        return self._read_clauses(prompt, embedding, clauses)[0]

    def _read_clauses(self, prompt: str, embedding=None, clauses: bool | None = None):
        """:meth:`read` -> (reads (A,), clauses [str] (the prompt itself when it has one), their reads (n, A))."""
        e = self.embed(prompt) if embedding is None else embedding
        r = self._read_embeddings(np.asarray(e)[None])[0]
        parts = split_clauses(prompt) if (CLAUSE_READING if clauses is None else clauses) else []
        if len(parts) < 2:
            if len(parts) == 1 or len(split_clauses(prompt)) < 2:    # one clause (a composite prompt read
                r = self._zero_shot(np.asarray(e)[None], r[None], [prompt])[0]   # whole: trained readers only)
            return r, [prompt], r[None]
        from headgen.stages.sculpt.text import encode
        ec = encode(parts, self.encoder)
        rc = self._zero_shot(ec, self._read_embeddings(ec), parts, min_words=2)
        st, sw = self._strength(rc), self._strength(r)
        r = r.copy()
        for c in range(len(parts)):
            j = int(np.argmax(st[c]))
            if st[c, j] >= CLAUSE_MIN_STRENGTH and st[c, j] > sw[j]:
                r[j], sw[j] = rc[c, j], st[c, j]
        return r, parts, rc

    def degree_levels(self, clauses: list[str], reads: np.ndarray) -> dict[str, int]:
        """attribute -> intensity level (0 slightly, 1 plain, 2 very/much) asked by a degree word of the
        training captions (:func:`degree_level`) in a clause whose strongest read (strength scale) is that
        attribute (shape or expression; appearance keeps its read, and a clause read most strongly as
        appearance names no level). Where several clauses name the same
        attribute, the one that reads it strongest wins."""
        st = self._strength(reads)
        out, best = {}, {}
        for c, text in enumerate(clauses):
            j = int(np.argmax(st[c]))
            if st[c, j] <= 0 or j >= self.n_geom:   # an appearance clause ("much lighter colouring"): its
                continue                            # degree word is not passed to a shape side reading
            lvl = degree_level(text, "shape" if j < self.space.K else "expression")
            n = self.names[j]
            if lvl is not None and st[c, j] > best.get(n, -1.0):
                out[n], best[n] = lvl, float(st[c, j])
        return out

    def understand(self, prompt: str, embedding: np.ndarray | None = None) -> Understanding:
        """Read a prompt: the reader's signed intensity per attribute (kept where above the mention
        thresholds), nearest attributes by phrase similarity, and whether it relates to any attribute."""
        e = self.embed(prompt) if embedding is None else embedding
        r, parts, rc = self._read_clauses(prompt, e)
        K = self.space.K
        inten = {}
        for i, n in enumerate(self.names):
            v = float(r[i])
            if i >= self.n_geom:                 # appearance
                kind = self._app_kind[n]
                if (kind == "signed" and abs(v) >= MENTION_SHAPE) or (kind == "colour" and v >= MENTION_COLOUR):
                    inten[n] = round(v, 3)
            elif (i < K and abs(v) >= MENTION_SHAPE) or (i >= K and (v >= MENTION_EXPR or v <= NEGATION)):
                inten[n] = round(v, 3)
        cos = self.bank_emb @ e
        best: dict[str, float] = {}
        for a, c in zip(self.bank_attrs, cos):
            best[a] = max(best.get(a, -1.0), float(c))
        nearest = sorted(best.items(), key=lambda kv: -kv[1])[:5]
        related = bool(inten) and nearest[0][1] >= RELATED_COS
        levels = {n: lv for n, lv in self.degree_levels(parts, rc).items()
                  if n in inten and not (self.names.index(n) >= K and inten[n] <= NEGATION)}
        return Understanding(prompt, inten, [(n, round(c, 3)) for n, c in nearest], related, e, levels)

    def sculpt(self, prompt: str, shape0=None, expression0=None, *, seed: int = 0, n_samples: int = 1,
               strength: float = 1.0, guidance: float = 1.5, steps: int = 40,
               max_outside_mm: float | None = MAX_OUTSIDE_MM) -> SculptResult:
        """Edit (shape0 (S',), expression0 (E,) given) or generate (None: a random identity of the prior drawn
        from ``seed``, neutral expression) heads following ``prompt``. Only the coordinates of the attributes
        the reader finds in the prompt change (inpainting); they are resampled by the denoiser from noise
        level ``strength``, weighted by the reader's confidence (:func:`confidence_weights`) and written by the
        edit-time projection (:meth:`_write`); ``max_outside_mm``: in an edit, the most the vertices outside
        the prompt's region may move (RMS, mm; None/0 = no limit). Raises UnrelatedPromptError naming the
        nearest attributes when the prompt asks for nothing the model knows."""
        with torch_threads(1):
            return self._sculpt(prompt, shape0, expression0, seed=seed, n_samples=n_samples, strength=strength,
                                guidance=guidance, steps=steps, max_outside_mm=max_outside_mm)

    def _sculpt(self, prompt, shape0, expression0, *, seed, n_samples, strength, guidance, steps,
                max_outside_mm) -> SculptResult:
        from headgen.stages.sculpt.diffusion import sample
        t0 = time.perf_counter()
        u = self.understand(prompt)
        if not u.related:
            near = ", ".join(f"{n} ({c:.2f})" for n, c in u.nearest)
            raise UnrelatedPromptError(f"prompt {prompt!r} does not relate to any sculpt attribute; nearest: {near}")
        S, E = self.space.S, self.space.E
        fresh = shape0 is None
        if shape0 is None:
            g = torch.Generator().manual_seed(int(seed))
            shape0 = torch.randn(S, generator=g, dtype=torch.float64)
            strength = 1.0
        shape0 = torch.as_tensor(np.asarray(shape0), dtype=torch.float64).reshape(1, -1)
        expression0 = (torch.zeros(1, E, dtype=torch.float64) if expression0 is None else
                       torch.as_tensor(np.asarray(expression0), dtype=torch.float64).reshape(1, -1))
        if expression0.shape[1] != E:
            raise InputError(f"sculpt: expression has {expression0.shape[1]} columns, the model {E}")
        free_names = [n for n in u.intensities if n not in self.appearance_names]
        free = self.space.free_mask(free_names)
        known = self.space.to_z(shape0, expression0)[0]
        shape_names = self.names[: self.space.K]
        inten = np.zeros(len(self.names), np.float32)
        for n, v in u.intensities.items():     # the denoiser's condition: a degree word's level where named
            inten[self.names.index(n)] = u.asked(n, shape_names) if n not in self.appearance_names else v
        cond = torch.cat([torch.from_numpy(u.embedding).float(), torch.from_numpy(inten)])
        z = sample(self.den, cond, n_samples, seed, guidance=guidance, steps=steps,
                   known=known, free=free, strength=strength)
        geom = {n: u.asked(n, shape_names) for n in free_names}
        app_top = max([abs(v) / 1.5 if self._app_kind.get(n) == "signed" else v
                       for n, v in u.intensities.items() if n in self.appearance_names], default=0.0)
        weights = confidence_weights(geom, self.space.K, self.names, other_top=app_top)
        shapes, exprs, infos = self._write(shape0[0], expression0[0], known, z, geom, weights,
                                           edit=not fresh, max_outside_mm=max_outside_mm)
        return SculptResult(shapes.numpy(), exprs.numpy(), u, free_names, time.perf_counter() - t0,
                            weights=weights, edits=infos, appearance=self.appearance_changes(u))

    def appearance_changes(self, u: "Understanding") -> dict[str, float]:
        """Appearance edits a prompt asks for: attribute -> amount for ``headgen.avatar.appearance.edit_appearance``.
        Signed lightness: the read intensity weighted by a ramp on its magnitude (|v| 0.25 -> 0.45); when the
        overall ``lightness`` and a part (skin / hair lightness) are read in the same direction, the part wins
        (the prompt named it: "much lighter skin" also reads overall lightness). Hair colour: only the
        strongest colour, moved all the way once read with confidence (weight ramp 0.3 -> 0.6; targets are 1)."""
        out = {}
        signed = {n: v for n, v in u.intensities.items() if self._app_kind.get(n) == "signed"}
        colours = {n: v for n, v in u.intensities.items() if self._app_kind.get(n) == "colour"}
        if "lightness" in signed and any(np.sign(signed[p]) == np.sign(signed["lightness"])
                                         for p in ("skin lightness", "hair lightness") if p in signed):
            signed.pop("lightness")
        for n, v in signed.items():
            w = _ramp(abs(v), MENTION_SHAPE, MENTION_SHAPE + 0.2)
            if w > 0:
                out[n] = round(w * v, 4)
        if colours:
            n = max(colours, key=colours.get)
            w = _ramp(colours[n], MENTION_COLOUR, MENTION_COLOUR + 0.3)
            if w > 0:
                out[n] = round(w, 4)
        return out

    def _write(self, x0, e0, known, z, intensities, weights, *, edit: bool, max_outside_mm):
        """Write sampled coordinates z (n, K+E) into the head (x0 (S,), e0 (E,)) -> (shapes (n, S), expressions
        (n, E), per-sample projection info). ``intensities``: the asked intensity of each attribute
        (:meth:`Understanding.asked`). Shape attributes: the sample's z-score along the asked direction is mapped
        into the band of the asked intensity (:func:`intensity_band`: the training captions pair "slightly"
        with 0.7-1.4 std, no adverb 1.4-2.1, "much" 2.1-3; :func:`into_band`); in an edit that is the change
        ("a slightly longer face" = a bit longer than the input), a fresh head takes it as its value; times the
        confidence weight. Applied by :meth:`SculptSpace.edit_identity` (keeps the other attributes and the
        vertices outside the prompt's region within ``max_outside_mm`` RMS, mapping the asked change onto
        what that limit allows so a larger ask stays larger). Expressions: the sampled weights mapped into the
        band (slightly 0.15-0.4, plain 0.4-0.75, very 0.75-1), e0 + weight x (banded - e0), never against
        the asked direction."""
        sp = self.space
        K = sp.K
        names = self.names
        region = sp.region_mask([n for n, w in weights.items() if w >= 0.5])
        shapes, exprs, infos = [], [], []
        for i in range(z.shape[0]):
            zi = z[i].double()
            delta = torch.zeros(K, dtype=torch.float64)
            active = torch.zeros(K, dtype=torch.bool)
            for n, v in intensities.items():
                k = names.index(n)
                if k >= K or weights.get(n, 0.0) <= 0:
                    continue
                sgn = 1.0 if v > 0 else -1.0
                # the sample's z-score along the asked direction, mapped into the band of the asked intensity
                # (not clamped first: samples beyond the top of the band stay distinct, so do their heads)
                banded = sgn * into_band(sgn * float(zi[k]), *intensity_band(v))
                if edit:    # relative: that much more (less) than the input
                    d = banded
                else:       # a fresh head takes the (banded) sampled value
                    d = float(banded - known[k])
                delta[k] = weights[n] * d
                active[k] = True
            if bool(active.any()):
                x, info = sp.edit_identity(x0, delta, active, region if edit else None,
                                           max_outside_mm=max_outside_mm if edit else None)
            else:
                x, info = x0.clone(), {"scale": 1.0, "outside_rms_mm": 0.0}
            e = e0.clone()
            by = {ea.name: ea for ea in sp.expr_attrs}
            for n, v in intensities.items():
                if n not in by or weights.get(n, 0.0) <= 0:
                    continue
                cols = list(by[n].columns)
                new = (zi[[K + c for c in cols]] + 1) / 2
                if v > 0:           # the sampled weights mapped into the band of the asked intensity (not
                    lo, hi = intensity_band(v, expression=True)     # clamped first: seeds stay distinct)
                    new = torch.tensor([into_band(float(w), lo, hi, 0.5) for w in new], dtype=torch.float64)
                    new = torch.maximum(new, e0[cols])
                new = new.clamp(0, 1)
                e[cols] = e0[cols] + weights[n] * (new - e0[cols])
            shapes.append(x)
            exprs.append(e.clamp(0, 1))
            infos.append(info)
        return torch.stack(shapes), torch.stack(exprs), infos


def load_or_train(weights=None, *, model=None, log=print) -> Sculptor:
    """Sculptor from ``weights`` (a path) or from the user cache, training the default model there first when
    it is missing (logged; ~10-15 minutes on 2 shared CPU cores)."""
    if weights is not None:
        return Sculptor(weights, model=model)
    model = model or load_model_for_sculpt()
    path = default_weights_path(model)
    if not path.is_file():
        log(f"sculpt: no trained model in {path.parent}; training the default one (a few minutes, once)")
        train_sculpt(path, model=model, log=log)
    return Sculptor(path, model=model)
