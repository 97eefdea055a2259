"""Correlation of time series (per-frame curves such as jawOpen or a lip gap): plain and lagged Pearson r."""
from __future__ import annotations

from typing import Iterable

import numpy as np


def pearson(a, b) -> float:
    """Pearson correlation of two (T,) series over the entries finite in both -> float (NaN when fewer
    than 3 such entries or either series is flat there)."""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    d = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / d) if d > 1e-12 else float("nan")


def lagged_correlation(a, b, lags: Iterable[int] = range(-3, 4)) -> dict[int, float]:
    """Pearson r of ``a(t)`` with ``b(t + lag)`` over the overlapping frames, per lag in frames -> {lag: r}
    (lag > 0: ``b`` is late relative to ``a``)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    T = min(len(a), len(b))
    a, b = a[:T], b[:T]
    out = {}
    for k in lags:
        out[int(k)] = pearson(a[:T - k], b[k:]) if k >= 0 else pearson(a[-k:], b[:T + k])
    return out


def best_lag(corr: dict[int, float]) -> int:
    """The lag of the largest finite r in a ``lagged_correlation`` result (0 when none is finite; ties: the
    smallest |lag|)."""
    finite = {k: v for k, v in corr.items() if np.isfinite(v)}
    if not finite:
        return 0
    return max(finite, key=lambda k: (finite[k], -abs(k)))
