"""Timing accuracy of phone/word segmentations against reference labels (used by tests and bench).

- :func:`phone_boundary_errors`: the hypothesis and reference phone sequences (``SIL`` included) are
  aligned by edit distance (a phone may be paired with a different phone, never with ``SIL``); each
  reference boundary (the start of every reference segment but the first) is scored against the start
  of the paired hypothesis segment. A reference segment left unpaired is scored against the nearest
  hypothesis boundary, so dropped phones are not free.
- :func:`word_boundary_errors`: same for words (starts and ends of the spoken words; ``SIL`` excluded).
- :func:`closure_hits`: lip closures. For every reference ``P``/``B``/``M`` phone (or word starting with
  one, when the labels are words and a pronunciation is given), a hit is a hypothesis bilabial phone
  whose start is within ``tol`` of the labelled start and, for phone labels, whose end is within
  ``tol`` of the labelled end.
"""
from __future__ import annotations

import numpy as np

from headgen.audio.phones import BILABIALS, SIL, Segment, boundaries


def _pair(ref: list[str], hyp: list[str]) -> list[tuple[int, int]]:
    """Edit-distance alignment of two label sequences -> (ref index, hyp index) pairs (matches and
    substitutions; substituting SIL for a phone is not allowed)."""
    n, m = len(ref), len(hyp)
    inf = 10 ** 9
    cost = np.full((n + 1, m + 1), inf, dtype=np.int64)
    cost[0, :] = np.arange(m + 1)
    cost[:, 0] = np.arange(n + 1)
    back = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 diag, 1 up (delete ref), 2 left (insert hyp)
    back[1:, 0] = 1
    back[0, 1:] = 2
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            r, h = ref[i - 1], hyp[j - 1]
            sub = 0 if r == h else (inf if (r == SIL) != (h == SIL) else 1)
            c = (cost[i - 1, j - 1] + sub, cost[i - 1, j] + 1, cost[i, j - 1] + 1)
            k = int(np.argmin(c))
            cost[i, j], back[i, j] = c[k], k
    pairs, i, j = [], n, m
    while i > 0 or j > 0:
        k = back[i, j]
        if k == 0:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif k == 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def phone_boundary_errors(hyp: list[Segment], ref: list[Segment]) -> np.ndarray:
    """Absolute boundary errors in seconds, one per reference boundary (see module docstring).
    hyp/ref: phone Segments (ARPAbet, SIL for pauses; consecutive SILs should be merged)."""
    pairs = dict(_pair([s.label for s in ref], [s.label for s in hyp]))
    hb = np.array(boundaries(hyp) or [0.0])
    errs = []
    for i in range(1, len(ref)):
        t = ref[i].start
        if i in pairs and pairs[i] > 0:
            errs.append(abs(hyp[pairs[i]].start - t))
        else:
            errs.append(float(np.min(np.abs(hb - t))))
    return np.asarray(errs, dtype=np.float64)


def word_boundary_errors(hyp: list[Segment], ref: list[Segment]) -> np.ndarray:
    """Absolute errors in seconds of the start and end of every spoken reference word (SIL excluded),
    against the paired hypothesis word (edit-distance pairing on the word labels; an unpaired word is
    scored against the nearest hypothesis word edge)."""
    ref = [w for w in ref if w.label != SIL]
    hyp = [w for w in hyp if w.label != SIL]
    pairs = dict(_pair([w.label for w in ref], [w.label for w in hyp]))
    edges = np.array([t for w in hyp for t in (w.start, w.end)] or [0.0])
    errs = []
    for i, w in enumerate(ref):
        for t, which in ((w.start, "start"), (w.end, "end")):
            if i in pairs:
                errs.append(abs(getattr(hyp[pairs[i]], which) - t))
            else:
                errs.append(float(np.min(np.abs(edges - t))))
    return np.asarray(errs, dtype=np.float64)


def closure_hits(hyp: list[Segment], ref: list[Segment], tol: float = 0.04,
                 word_prons: dict[str, list[str]] | None = None) -> list[bool]:
    """One bool per reference lip closure (see module docstring). ``ref`` are phone Segments, or word
    Segments with ``word_prons`` (word -> ARPAbet list) giving which words start with P/B/M (only
    word-initial closures have a labelled start)."""
    hyp_b = [p for p in hyp if p.label in BILABIALS]
    out = []
    for r in ref:
        if word_prons is None:
            if r.label not in BILABIALS:
                continue
            out.append(any(abs(h.start - r.start) <= tol and abs(h.end - r.end) <= tol for h in hyp_b))
        else:
            pron = word_prons.get(r.label)
            if not pron or pron[0] not in BILABIALS:
                continue
            out.append(any(abs(h.start - r.start) <= tol for h in hyp_b))
    return out
