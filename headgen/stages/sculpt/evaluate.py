"""Quality protocol of the sculpt model (issue 15), shared by the tests and ``bench/sculpt.py``.

For each shape attribute and direction, and each everyday expression group, prompts worded as in training
("a slightly longer face" / "a much longer face", or "slightly" / "very" where there is no comparative) and held-out paraphrases (``AttributeSpec.paraphrase_*``, never
used by the captioner) are applied to base heads; measured per edit:

* ``asked``: change of the asked attribute in prior standard deviations (shape) or weight (expression), signed
  so that > 0 is the asked direction;
* ``other_max_pct``: the largest change of any other attribute, in % of its range (4 prior std; 1 for
  weights) - target < 10 %;
* ``outside_rms_mm``: RMS displacement of the vertices outside the asked attribute's region - target < 1 mm.
"""
from __future__ import annotations

import numpy as np
import torch

from headgen.models.attributes import SHAPE_ATTRIBUTES, SHAPE_NAMES
from headgen.stages.sculpt.captions import _with_article, comparative


def prompts_for(space) -> list[dict]:
    """[{attribute, sign, style: "slightly" | "much" | "paraphrase", prompt}] over every shape attribute (both
    directions) and expression group."""
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
