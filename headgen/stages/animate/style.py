"""Speaker style: per-viseme ARKit targets and timing learned from a fitted talking video of a person.

Observations: the fit stage's per-frame expression of a talking video (``fit.npz``; ICT shapes mapped to the
52 ARKit names) and the phones/loudness of that video's audio. The dominance blend is linear in the viseme
targets (:func:`..coarticulation.viseme_weights`), so for each candidate timing (``lead_s``: how far the
visible articulation leads the phones; ``tau_scale``: width of the coarticulation) the targets are a ridge
regression towards the default targets, ``(A^T A + lam I) X = A^T F + lam X0`` per ARKit channel. The timing
with the smallest residual wins. The speaker's resting mouth (median fitted expression in frames far from
any phone) is subtracted first, so the targets describe speech movements only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.models.arkit import ARKIT_NAMES, arkit_to_model_matrix
from headgen.stages.animate.coarticulation import VisemeTrack, viseme_weights
from headgen.stages.animate.visemes import MOUTH_COLUMNS, VISEME_NAMES, viseme_table

LEARNED_COLUMNS = tuple(c for c in MOUTH_COLUMNS if ARKIT_NAMES[c] != "mouthClose")


@dataclass
class Style:
    """targets (V,52) per-viseme ARKit targets (VISEME_NAMES order); tau_scale: coarticulation width factor;
    lead_s: articulation lead (s); residual: mean squared residual of the fit; n_frames: training frames."""
    targets: np.ndarray
    tau_scale: float = 1.0
    lead_s: float = 0.0
    residual: float = float("nan")
    n_frames: int = 0

    def blend_kwargs(self) -> dict:
        """Keyword arguments for :func:`..coarticulation.blend_visemes`."""
        return {"targets": self.targets, "tau": viseme_table()[2] * self.tau_scale}


def save_style(path: str | Path, style: Style) -> Path:
    """Write a style npz (no pickles) atomically -> path."""
    from headgen.io.atomic import write_npz_atomic
    return write_npz_atomic(path, {"style_targets": style.targets.astype(np.float32),
                                   "viseme_names": np.array(VISEME_NAMES), "tau_scale": np.float32(style.tau_scale),
                                   "lead_s": np.float32(style.lead_s), "residual": np.float32(style.residual),
                                   "n_frames": np.int32(style.n_frames)})


def load_style(path: str | Path) -> Style:
    """Read a style npz written by :func:`save_style`; InputError naming the file otherwise."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "style_targets" not in z.files:
                raise InputError(f"{path}: not a style file (no style_targets)")
            names = [str(n) for n in z["viseme_names"]]
            targets = z["style_targets"].astype(np.float64)
            if names != list(VISEME_NAMES[:len(names)]) or targets.shape != (len(names), 52):
                raise InputError(f"{path}: style file for a different viseme set")
            if len(names) < len(VISEME_NAMES):            # written before later visemes (breath): their defaults
                from headgen.stages.animate.calibration import default_targets
                targets = np.concatenate([targets, default_targets()[len(names):]])
            return Style(targets, float(z["tau_scale"]), float(z["lead_s"]), float(z["residual"]),
                         int(z["n_frames"]))
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"{path}: not a readable style file ({type(e).__name__}: {e})") from None


def fit_to_arkit(fit) -> np.ndarray:
    """FitArtifact (ICT, ARKit-named expression) -> (T,52) ARKit weights in [0,1] (split halves averaged)."""
    W = arkit_to_model_matrix(fit.expression_names)                  # (52,E)
    n = W.sum(1)
    if not (n[list(LEARNED_COLUMNS)] > 0).any():
        raise InputError(f"fit model {fit.model!r} has no ARKit-named expression shapes (use an ICT fit)")
    return np.clip((np.asarray(fit.expression, np.float64) @ W.T) / np.maximum(n, 1), 0, 1)


def rest_expression(arkit: np.ndarray, speech_weight: np.ndarray) -> np.ndarray:
    """(52,) the resting expression: median over frames far from any phone (viseme weight < 0.1); when there
    are fewer than 3 such frames, median over the 20 % of frames with the smallest jawOpen."""
    quiet = np.asarray(speech_weight) < 0.1
    if quiet.sum() < 3:
        jaw = arkit[:, ARKIT_NAMES.index("jawOpen")]
        quiet = jaw <= np.percentile(jaw, 20)
    return np.median(arkit[quiet], axis=0)


@dataclass
class StyleObservation:
    """One talking clip: phones (Segments), gain (T,) loudness gain, times (T,), arkit (T,52) fitted, valid (T,),
    jaw_gain (T,) extra factor on the jawOpen column's gain (first formant; None: 1)."""
    phones: list
    gain: np.ndarray
    times: np.ndarray
    arkit: np.ndarray
    valid: np.ndarray
    jaw_gain: np.ndarray | None = None


def observation(fit, phones, energy_db, fps: float, f1_hz=None, hf_db=None, voiced=None) -> StyleObservation:
    """Build a StyleObservation from a FitArtifact and its audio's phones + per-frame energy (at ``fps`` =
    the fit's frame rate; energy truncated/padded to the fit's frames) + first formant ``f1_hz`` (T,) (NaN
    where none; None: no jaw factor), as the curves use them (:func:`..prosody.jaw_formant_factor`);
    hf_db (T,) energy above the hum (dB) and voiced (T,): the phones get the audible in-breaths the curves
    would see (:func:`..breath.with_breaths`; None: none)."""
    from headgen.stages.animate.breath import with_breaths
    from headgen.stages.animate.prosody import jaw_formant_factor, loudness_gain
    T = fit.n_frames
    if hf_db is not None:
        hf = np.asarray(hf_db, np.float64)
        hf = np.concatenate([hf, np.full(max(0, T - hf.size), -120.0)])[:T]
        vo = None if voiced is None else np.concatenate([np.asarray(voiced, bool), np.zeros(max(0, T - len(voiced)), bool)])[:T]
        phones = with_breaths(phones, hf, fps, vo)
    e = np.asarray(energy_db, np.float64)
    e = np.concatenate([e, np.full(max(0, T - e.size), e[-1] if e.size else -120.0)])[:T]
    jg = None
    if f1_hz is not None:
        f1 = np.asarray(f1_hz, np.float64)
        jg = jaw_formant_factor(np.concatenate([f1, np.full(max(0, T - f1.size), np.nan)])[:T])
    return StyleObservation(list(phones), loudness_gain(e, fps), np.arange(T) / float(fps), fit_to_arkit(fit),
                            np.asarray(fit.valid, bool) if fit.valid is not None else np.ones(T, bool), jg)


def learn_style(observations: list[StyleObservation], ridge: float = 0.3,
                leads=(-0.04, -0.02, 0.0, 0.02, 0.04, 0.06, 0.08), tau_scales=(0.7, 1.0, 1.4),
                prior: np.ndarray | None = None, columns=None, pre_s: float | None = None,
                fixed: tuple[str, ...] = ("sil",), post_s: float | None = None) -> Style:
    """Fit a Style to one or more clips (grid over timing, ridge regression of the targets per timing).
    ridge: lam as a fraction of the mean diagonal of A^T A (larger -> closer to ``prior``);
    prior: (V,52) targets the ridge pulls towards and that unlearned columns keep (None: the default,
    :func:`..calibration.default_targets`); columns: ARKit columns to learn (None: LEARNED_COLUMNS); pre_s:
    / post_s: the ``pre`` windows before / after speech (:meth:`..coarticulation.VisemeTrack.from_segments`;
    None: the defaults);
    fixed: viseme names whose targets stay at ``prior`` (not learned; default ``sil``: silence is the resting
    mouth, whatever a speaker does in the pauses)."""
    if not observations:
        raise InputError("learn_style: no observations")
    from headgen.stages.animate.calibration import default_targets
    _, alpha, tau, closure, loud = viseme_table()
    X0 = default_targets() if prior is None else np.asarray(prior, np.float64)
    cols = list(LEARNED_COLUMNS) if columns is None else [int(c) for c in columns]
    silent = [VISEME_NAMES.index("sil"), VISEME_NAMES.index("pre")]
    fix = [VISEME_NAMES.index(n) for n in fixed]
    free = [i for i in range(len(VISEME_NAMES)) if i not in fix]
    jaw = ARKIT_NAMES.index("jawOpen")
    jaw_own = jaw in cols and any(ob.jaw_gain is not None for ob in observations)
    groups = [[k for k, c in enumerate(cols) if c != jaw], [cols.index(jaw)]] if jaw_own else [list(range(len(cols)))]

    def solve(A, F, ks):
        Af = A[:, free]
        Ff = F[:, ks] - A[:, fix] @ X0[np.ix_(fix, [cols[k] for k in ks])]
        G = Af.T @ Af
        lam = ridge * max(np.trace(G) / G.shape[0], 1e-9)
        X = X0[:, [cols[k] for k in ks]].copy()
        X[free] = np.linalg.solve(G + lam * np.eye(G.shape[0]), Af.T @ Ff + lam * X0[np.ix_(free, [cols[k] for k in ks])])
        X = np.clip(X, 0.0, 1.0)
        return X, float(np.sum((A @ X - F[:, ks]) ** 2))

    best = None
    for lead in leads:
        for ts in tau_scales:
            As, Ajs, Fs = [], [], []
            for ob in observations:
                tr = VisemeTrack.from_segments(ob.phones, lead_s=lead, pre_s=pre_s, post_s=post_s)
                A, _ = viseme_weights(tr, ob.times, ob.gain, tau=tau * ts)
                rest = rest_expression(ob.arkit, A.sum(1) - A[:, silent].sum(1))
                As.append(A[ob.valid])
                Fs.append((ob.arkit - rest)[ob.valid][:, cols])
                if jaw_own:
                    Aj = A if ob.jaw_gain is None else viseme_weights(tr, ob.times, ob.gain * ob.jaw_gain,
                                                                      tau=tau * ts)[0]
                    Ajs.append(Aj[ob.valid])
            A = np.concatenate(As)
            F = np.concatenate(Fs)
            X = np.zeros((A.shape[1], len(cols)))
            sse = 0.0
            for g, ks in enumerate(groups):
                if not ks:
                    continue
                Xg, e = solve(np.concatenate(Ajs) if (jaw_own and g == 1) else A, F, ks)
                X[:, ks] = Xg
                sse += e
            res = sse / max(F.size, 1)
            if best is None or res < best[0]:
                best = (res, lead, ts, X, A.shape[0])
    res, lead, ts, X, n = best
    targets = X0.copy()
    targets[:, cols] = X
    return Style(targets, ts, lead, res, n)
