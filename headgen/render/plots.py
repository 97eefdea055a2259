"""Curves as PNG (pose angles, blendshape weights, losses) with matplotlib's Agg canvas
(no pyplot, no global backend state, no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from headgen.io.atomic import atomic_path


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(str(tmp), format="png")
    return path


def plot_curves(path: str | Path, curves: Mapping[str, Sequence[float]] | np.ndarray, t=None,
                names: Sequence[str] | None = None, title: str = "", xlabel: str = "time (s)",
                ylabel: str = "", size=(8.0, 3.5)) -> Path:
    """Plot several curves against t and save a PNG.

    curves: {name: (T,)} or an array (T, K) (with optional names (K,)); t: (T,) x values
    (default: sample index, xlabel "frame"). Returns the path (written atomically).
    """
    if isinstance(curves, Mapping):
        items = [(str(k), np.asarray(v, dtype=np.float64).ravel()) for k, v in curves.items()]
    else:
        a = np.asarray(curves, dtype=np.float64)
        a = a[:, None] if a.ndim == 1 else a
        nm = list(names) if names is not None else [f"c{i}" for i in range(a.shape[1])]
        items = [(nm[i], a[:, i]) for i in range(a.shape[1])]
    T = max((len(v) for _, v in items), default=0)
    if t is None:
        x = np.arange(T)
        xlabel = "frame" if xlabel == "time (s)" else xlabel
    else:
        x = np.asarray(t, dtype=np.float64)
    fig = _figure(*size)
    ax = fig.add_subplot(1, 1, 1)
    for name, v in items:
        ax.plot(x[:len(v)], v, label=name, linewidth=1.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if 0 < len(items) <= 12:
        ax.legend(loc="upper right", fontsize=8, ncol=min(4, len(items)))
    fig.tight_layout()
    return _save(fig, path)


def plot_pose_angles(path: str | Path, angles_deg, fps: float | None = None, title: str = "head pose") -> Path:
    """angles_deg (T, 3) yaw, pitch, roll in degrees -> PNG. fps: x axis in seconds if given."""
    a = np.asarray(angles_deg, dtype=np.float64).reshape(-1, 3)
    t = np.arange(len(a)) / fps if fps else None
    return plot_curves(path, {"yaw": a[:, 0], "pitch": a[:, 1], "roll": a[:, 2]}, t=t, title=title,
                       ylabel="degrees")


def plot_blendshape_weights(path: str | Path, weights, names: Sequence[str], fps: float | None = None,
                            top_k: int = 8, title: str = "blendshape weights") -> Path:
    """weights (T, E) with names (E,) -> PNG: the top_k most active curves over time (line plot)
    above a heat map of all E weights."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(names):
        raise ValueError(f"weights must be (T, {len(names)}), got {w.shape}")
    t = np.arange(len(w)) / fps if fps else np.arange(len(w))
    order = np.argsort(-np.abs(w).max(0))[:top_k]
    fig = _figure(9.0, 6.0 if w.shape[1] > 12 else 4.5)
    ax = fig.add_subplot(2, 1, 1)
    for i in order:
        ax.plot(t, w[:, i], label=str(names[i]), linewidth=1.2)
    ax.set_title(title)
    ax.set_ylabel("weight")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=7, ncol=4)
    ax2 = fig.add_subplot(2, 1, 2)
    ax2.imshow(w.T, aspect="auto", interpolation="nearest", cmap="viridis",
               extent=(t[0], t[-1] if len(t) > 1 else t[0] + 1, w.shape[1] - 0.5, -0.5))
    ax2.set_xlabel("time (s)" if fps else "frame")
    ax2.set_ylabel("blendshape")
    if w.shape[1] <= 60:
        ax2.set_yticks(range(w.shape[1]))
        ax2.set_yticklabels([str(n) for n in names], fontsize=4)
    fig.tight_layout()
    return _save(fig, path)
