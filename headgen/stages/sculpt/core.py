"""Sculpt core: train the text -> head model (``train_sculpt``), load it (``Sculptor``), read a prompt and
edit / generate heads. Pure Python API (no files besides the weights); the stage runner writes artifacts.

Weights: one ``torch.save`` file (plain tensors/str/lists, loaded with ``weights_only=True``) holding the
denoiser, the reader, the sculpt space (attribute statistics and edit directions), the phrase bank used to
name the nearest attributes, and the recipe. Default location: ``$HEADGEN_CACHE/sculpt/`` (trained there on
first use by :func:`load_or_train`, ~2-4 minutes on 2 CPU cores); ``headgen train-sculpt -o PATH`` writes
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
RECIPE_VERSION = "3"
DEFAULT_RECIPE = {"n_captions": 4000, "heads_per_caption": 6, "steps": 3000, "batch": 256, "hidden": 256,
                  "depth": 3, "lr": 2e-3, "seed": 0}
TINY_RECIPE = {"n_captions": 240, "heads_per_caption": 4, "steps": 250, "batch": 128, "hidden": 64,
               "depth": 2, "lr": 3e-3, "seed": 0}
#: reader output above which an attribute counts as asked for (shape: intensity units; expression: weight)
MENTION_SHAPE, MENTION_EXPR, NEGATION = 0.25, 0.1, -0.5
#: a prompt whose best cosine similarity to every attribute phrase is below this is "unrelated"
RELATED_COS = 0.3


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


def phrase_bank(space) -> tuple[list[str], list[str]]:
    """(phrases, attribute name of each) over every attribute's wording (both directions)."""
    from headgen.models.attributes import SHAPE_ATTRIBUTES
    texts, attrs = [], []
    for a in SHAPE_ATTRIBUTES:
        for p in a.more + a.less:
            texts.append(p)
            attrs.append(a.name)
    for ea in space.expr_attrs:
        for p in ea.more + ea.less:
            texts.append(p)
            attrs.append(ea.name)
    return texts, attrs


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
        return _train_sculpt(out_path, model=model, recipe=recipe, encoder=encoder or DEFAULT_ENCODER, log=log)


def _train_sculpt(out_path, *, model, recipe, encoder, log) -> dict:
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
    ds = cap.make_dataset(space, r["n_captions"], r["heads_per_caption"], seed=r["seed"])
    t_data = time.perf_counter() - t0 - t_space
    log(f"dataset: {len(ds.captions)} captions x {r['heads_per_caption']} heads ({t_data:.1f} s); embedding")
    uniq = sorted(set(c for c in ds.captions if c))
    t1 = time.perf_counter()
    E = _embed_cached(uniq, encoder)
    t_emb = time.perf_counter() - t1
    lut = {c: i for i, c in enumerate(uniq)}
    emb = np.stack([E[lut[c]] if c else np.zeros(E.shape[1], np.float32) for c in ds.captions])
    log(f"embedded {len(uniq)} unique captions with {encoder} ({t_emb:.1f} s); training")
    den, rd, st = train(ds, emb, space.dim, len(space.attribute_names()), steps=r["steps"], batch=r["batch"],
                        lr=r["lr"], hidden=r["hidden"], depth=r["depth"], seed=r["seed"], log=log)
    texts, attrs = phrase_bank(space)
    bank = encode(texts, encoder)
    blob = {
        "format": FORMAT, "recipe_version": RECIPE_VERSION, "recipe": r, "encoder": encoder,
        "model": {"name": model.model_name, "parts": str(model.parts), "digest": space.digest},
        "space": space.state(), "attribute_names": space.attribute_names(),
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


def _embed_cached(texts: list[str], encoder: str) -> np.ndarray:
    """Embeddings of texts (N, 384), reusing ``$HEADGEN_CACHE/sculpt/captions_<encoder>.npz`` (a plain cache of
    caption -> embedding; deleting it only costs time)."""
    from headgen.assets import cache_dir
    from headgen.io.atomic import write_npz_atomic
    from headgen.stages.sculpt.text import encode
    if not texts:
        return np.zeros((0, 384), np.float32)
    path = cache_dir() / "sculpt" / f"captions_{encoder}.npz"
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


@dataclass
class SculptResult:
    """Edited heads: ``shapes`` (N, S) identity, ``expressions`` (N, E) reference-frame expression (sample 0 =
    the main result), ``understanding``, ``free`` attribute names that could change, ``seconds``."""
    shapes: np.ndarray
    expressions: np.ndarray
    understanding: Understanding
    free: list[str]
    seconds: float


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
        self.den.eval()
        self.rd.eval()
        self.names = list(blob["attribute_names"])
        from headgen.stages.sculpt.text import _load
        _load(self.encoder)          # load the sentence encoder now: ``SculptResult.seconds`` times the edit only
        self.bank_emb = blob["bank_emb"].numpy()
        self.bank_attrs = list(blob["bank_attrs"])

    def embed(self, prompt: str) -> np.ndarray:
        """(384,) unit sentence embedding of the prompt."""
        from headgen.stages.sculpt.text import encode
        return encode([prompt], self.encoder)[0]

    def understand(self, prompt: str, embedding: np.ndarray | None = None) -> Understanding:
        """Read a prompt: the reader's signed intensity per attribute (kept where above the mention
        thresholds), nearest attributes by phrase similarity, and whether it relates to any attribute."""
        e = self.embed(prompt) if embedding is None else embedding
        with torch.no_grad():
            r = self.rd(torch.from_numpy(e).float()[None])[0].numpy()
        K = self.space.K
        inten = {}
        for i, n in enumerate(self.names):
            v = float(r[i])
            if (i < K and abs(v) >= MENTION_SHAPE) or (i >= K and (v >= MENTION_EXPR or v <= NEGATION)):
                inten[n] = round(v, 3)
        cos = self.bank_emb @ e
        best: dict[str, float] = {}
        for a, c in zip(self.bank_attrs, cos):
            best[a] = max(best.get(a, -1.0), float(c))
        nearest = sorted(best.items(), key=lambda kv: -kv[1])[:5]
        related = bool(inten) and nearest[0][1] >= RELATED_COS
        return Understanding(prompt, inten, [(n, round(c, 3)) for n, c in nearest], related, e)

    def sculpt(self, prompt: str, shape0=None, expression0=None, *, seed: int = 0, n_samples: int = 1,
               strength: float = 1.0, guidance: float = 1.5, steps: int = 40) -> SculptResult:
        """Edit (shape0 (S',), expression0 (E,) given) or generate (None: a random identity of the prior drawn
        from ``seed``, neutral expression) heads following ``prompt``. Only the coordinates of the attributes
        the reader finds in the prompt change (inpainting); they are resampled by the denoiser from noise
        level ``strength``. Raises UnrelatedPromptError naming the nearest attributes when the prompt asks
        for nothing the model knows."""
        with torch_threads(1):
            return self._sculpt(prompt, shape0, expression0, seed=seed, n_samples=n_samples, strength=strength,
                                guidance=guidance, steps=steps)

    def _sculpt(self, prompt, shape0, expression0, *, seed, n_samples, strength, guidance, steps) -> SculptResult:
        from headgen.stages.sculpt.diffusion import sample
        t0 = time.perf_counter()
        u = self.understand(prompt)
        if not u.related:
            near = ", ".join(f"{n} ({c:.2f})" for n, c in u.nearest)
            raise UnrelatedPromptError(f"prompt {prompt!r} does not relate to any sculpt attribute; nearest: {near}")
        S, E = self.space.S, self.space.E
        if shape0 is None:
            g = torch.Generator().manual_seed(int(seed))
            shape0 = torch.randn(S, generator=g, dtype=torch.float64)
            strength = 1.0
        shape0 = torch.as_tensor(np.asarray(shape0), dtype=torch.float64).reshape(1, -1)
        expression0 = (torch.zeros(1, E, dtype=torch.float64) if expression0 is None else
                       torch.as_tensor(np.asarray(expression0), dtype=torch.float64).reshape(1, -1))
        if expression0.shape[1] != E:
            raise InputError(f"sculpt: expression has {expression0.shape[1]} columns, the model {E}")
        free_names = list(u.intensities)
        free = self.space.free_mask(free_names)
        known = self.space.to_z(shape0, expression0)[0]
        inten = np.zeros(len(self.names), np.float32)
        for n, v in u.intensities.items():
            inten[self.names.index(n)] = v
        cond = torch.cat([torch.from_numpy(u.embedding).float(), torch.from_numpy(inten)])
        z = sample(self.den, cond, n_samples, seed, guidance=guidance, steps=steps,
                   known=known, free=free, strength=strength)
        shapes, exprs = self.space.apply(shape0.expand(n_samples, -1), expression0.expand(n_samples, -1), z, free)
        return SculptResult(shapes.numpy(), exprs.numpy(), u, free_names, time.perf_counter() - t0)


def load_or_train(weights=None, *, model=None, log=print) -> Sculptor:
    """Sculptor from ``weights`` (a path) or from the user cache, training the default model there first when
    it is missing (logged; ~2-4 minutes on 2 CPU cores)."""
    if weights is not None:
        return Sculptor(weights, model=model)
    model = model or load_model_for_sculpt()
    path = default_weights_path(model)
    if not path.is_file():
        log(f"sculpt: no trained model in {path.parent}; training the default one (a few minutes, once)")
        train_sculpt(path, model=model, log=log)
    return Sculptor(path, model=model)
