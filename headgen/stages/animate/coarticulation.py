"""Cohen-Massaro dominance blending of viseme targets into continuous ARKit mouth curves.

Every phone segment i carries its viseme's target ``T_i`` (52 ARKit weights) and a dominance function
``D_i(t) = alpha_i * exp(-(d_i(t) / tau_i) ** 1.5)``, with ``d_i(t)`` the distance in seconds from t to the
segment (0 inside it: a plateau). The mouth at time t is the dominance-weighted mean of the targets,
``sum_i D_i(t) T_i / (sum_i D_i(t) + rest)`` (``rest``: a small constant dominance of the closed resting
mouth, so times far from any phone, or inputs without phones, rest). Strong, short dominance (p/b/m, f/v,
w) lets a consonant reach its target between vowels; weak dominance (h, k, t) lets the jaw follow the
neighbouring vowels (Cohen & Massaro 1993, "Modeling coarticulation in synthetic visual speech").

The lip-closure channel (1 for p/b/m) is blended the same way and drives ``mouthClose`` (= closure x jaw
opening: the lips meet while the jaw stays slightly open). Loudness scales the opening of each viseme by its
``loud`` factor. Frames are processed in chunks, so memory does not grow with the input length.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headgen.models.arkit import ARKIT_NAMES
from headgen.stages.animate.visemes import (DIPHTHONGS, POST_SPEECH_S, PRE_SPEECH_S, VISEME_NAMES, VOWEL_VISEMES,
                                            viseme_of, viseme_table)

JAW = ARKIT_NAMES.index("jawOpen")
CLOSE = ARKIT_NAMES.index("mouthClose")
REST_DOMINANCE = 0.02


@dataclass
class VisemeTrack:
    """Phone segments as arrays: start (S,), end (S,) seconds, viseme index (S,) into VISEME_NAMES; scale (S,)
    per-segment amplitude of the target (None: 1; vowel undershoot, :data:`..visemes.VOWEL_UNDERSHOOT`)."""
    start: np.ndarray
    end: np.ndarray
    viseme: np.ndarray
    scale: np.ndarray | None = None

    @classmethod
    def from_segments(cls, segments, lead_s: float = 0.0, pre_s: float | None = None,
                      post_s: float | None = None) -> "VisemeTrack":
        """Segments (``.start``, ``.end`` s, ``.label`` ARPAbet phone) -> VisemeTrack, shifted ``lead_s`` earlier
        (visible articulation anticipates the sound); diphthongs become two segments (``DIPHTHONGS``); the last
        ``pre_s`` seconds (None: :data:`..visemes.PRE_SPEECH_S`; 0: none) of a silence followed by speech, and
        the first ``post_s`` seconds (None: :data:`..visemes.POST_SPEECH_S`) of a silence after speech, become the
        ``pre`` viseme (the transition between rest and speech); the rest of the pause is ``sil``. ``BREATH``
        segments (:mod:`.breath`) overlay their pause as the ``breath`` viseme and do not split it."""
        pre_s = PRE_SPEECH_S if pre_s is None else float(pre_s)
        post_s = POST_SPEECH_S if post_s is None else float(post_s)
        st, en, vi, sc = [], [], [], []
        segments = list(segments)
        breaths = [s for s in segments if viseme_of(s.label) == "breath"]
        segments = _merge_silences([s for s in segments if viseme_of(s.label) != "breath"])
        sil, pre = VISEME_NAMES.index("sil"), VISEME_NAMES.index("pre")
        for k, s in enumerate(segments):
            a, b, lab = float(s.start) - lead_s, float(s.end) - lead_s, str(s.label).upper()
            if viseme_of(lab) == "sil":
                after = k + 1 < len(segments) and viseme_of(segments[k + 1].label) != "sil"
                before = k > 0 and viseme_of(segments[k - 1].label) != "sil"
                p1 = min(b, a + post_s) if before else a
                p2 = max(p1, b - pre_s) if after else b
                for x0, x1, v in ((a, p1, pre), (p1, p2, sil), (p2, b, pre)):
                    if x1 > x0 or (v == sil and a == b):
                        st.append(x0)
                        en.append(x1)
                        vi.append(v)
                        sc.append(1.0)
            elif lab in DIPHTHONGS:
                v1, v2, frac = DIPHTHONGS[lab]
                m = a + frac * (b - a)
                st += [a, m]
                en += [m, b]
                vi += [VISEME_NAMES.index(v1), VISEME_NAMES.index(v2)]
                sc += [_undershoot(b - a)] * 2
            else:
                st.append(a)
                en.append(b)
                vi.append(VISEME_NAMES.index(viseme_of(lab)))
                sc.append(_undershoot(b - a) if viseme_of(lab) in VOWEL_VISEMES else 1.0)
        for s in breaths:                      # an audible in-breath overlays its pause (.breath)
            st.append(float(s.start) - lead_s)
            en.append(float(s.end) - lead_s)
            vi.append(VISEME_NAMES.index("breath"))
            sc.append(1.0)
        scale = np.array(sc, np.float64)
        return cls(np.array(st, np.float64), np.array(en, np.float64), np.array(vi, np.int64),
                   None if np.all(scale == 1.0) else scale)


def _undershoot(dur_s: float) -> float:
    """Amplitude of a vowel of ``dur_s`` seconds under :data:`..visemes.VOWEL_UNDERSHOOT` (None: 1)."""
    from headgen.stages.animate import visemes
    u = visemes.VOWEL_UNDERSHOOT
    if not u:
        return 1.0
    ref, k, lo, hi = u
    return float(np.clip((max(dur_s, 1e-3) / ref) ** k, lo, hi))


def _merge_silences(segments: list) -> list:
    """Contiguous silence segments (e.g. a leading pad and the labels' own ``pau``) -> one pause segment."""
    from headgen.audio.phones import Segment
    out = []
    for s in segments:
        if (out and viseme_of(s.label) == "sil" and viseme_of(out[-1].label) == "sil"
                and float(s.start) <= float(out[-1].end) + 1e-6):
            out[-1] = Segment(float(out[-1].start), max(float(out[-1].end), float(s.end)), "SIL")
        else:
            out.append(s)
    return out


def viseme_weights(track: VisemeTrack, times: np.ndarray, loudness: np.ndarray | None = None, *,
                   alpha: np.ndarray | None = None, tau: np.ndarray | None = None, closure: np.ndarray | None = None,
                   loud: np.ndarray | None = None, window_s: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame blending weights of each viseme: -> (A (T,V) with mouth = A @ targets, closure (T,)).

    A[t, v] = sum over segments i of viseme v of D_i(t) / (sum_j D_j(t) + rest), times the loudness gain
    ``1 + l(t) (loudness(t) - 1)`` (l: dominance-weighted ``loud`` factor). The mouth is linear in the
    targets, which lets :mod:`.style` fit per-viseme targets by least squares. Processes all ``times``
    at once (callers chunk long inputs).
    """
    _, a0, tau0, c0, l0 = viseme_table()
    alpha = a0 if alpha is None else np.asarray(alpha, np.float64)
    tau = tau0 if tau is None else np.asarray(tau, np.float64)
    closure = c0 if closure is None else np.asarray(closure, np.float64)
    loud = l0 if loud is None else np.asarray(loud, np.float64)
    tc = np.asarray(times, np.float64)
    V = len(VISEME_NAMES)
    A = np.zeros((tc.size, V))
    clo = np.zeros(tc.size)
    if tc.size == 0 or track.start.size == 0:
        return A, clo
    order = np.argsort(track.start, kind="stable")
    st, en, vi = track.start[order], track.end[order], track.viseme[order]
    sc = np.ones(st.size) if track.scale is None else np.asarray(track.scale, np.float64)[order]
    en_max = np.maximum.accumulate(en)
    lo = np.searchsorted(en_max, tc[0] - window_s)
    hi = np.searchsorted(st, tc[-1] + window_s, side="right")
    if hi <= lo:
        return A, clo
    s_st, s_en, s_vi = st[lo:hi, None], en[lo:hi, None], vi[lo:hi]
    d = np.maximum(0.0, np.maximum(s_st - tc[None], tc[None] - s_en))          # (S,T) seconds outside
    D = alpha[s_vi, None] * np.exp(-(d / tau[s_vi, None]) ** 1.5)
    W = D / (D.sum(0) + REST_DOMINANCE)                                           # (S,T)
    gain = np.ones(tc.size) if loudness is None else np.asarray(loudness, np.float64)
    g = 1.0 + (W.T @ loud[s_vi]) / np.maximum(W.sum(0), 1e-9) * (gain - 1.0)
    onehot = np.zeros((s_vi.size, V))
    onehot[np.arange(s_vi.size), s_vi] = sc[lo:hi]
    A = (W.T @ onehot) * g[:, None]
    clo = np.clip(W.T @ closure[s_vi], 0.0, 1.0)
    return A, clo


def blend_visemes(track: VisemeTrack, times: np.ndarray, loudness: np.ndarray | None = None, *,
                  targets: np.ndarray | None = None, alpha: np.ndarray | None = None, tau: np.ndarray | None = None,
                  closure: np.ndarray | None = None, loud: np.ndarray | None = None, chunk: int = 2048,
                  window_s: float = 0.6, jaw_gain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dominance-blended ARKit mouth curves.

    track: phone segments; times (T,) seconds at which to evaluate (frame times); loudness (T,) gain
    (1 = nominal; None: 1) applied to each viseme's opening in proportion to its ``loud`` factor.
    targets: (V,52) per-viseme targets (None: :func:`..calibration.default_targets`); alpha/tau/closure/loud:
    per-viseme overrides of :func:`viseme_table` ((V,) each).
    jaw_gain: (T,) extra factor on the loudness gain of the jawOpen column only (the first-formant factor,
    :func:`..prosody.jaw_formant_factor`; None: 1).
    ``mouthClose`` = max(its blended target, closure x jawOpen). Frames go in chunks of ``chunk``.
    Returns (arkit (T,52) float32 in [0,1] with only mouth columns set, closure (T,) in [0,1]).
    """
    if targets is None:
        from headgen.stages.animate.calibration import default_targets
        targets = default_targets()
    targets = np.asarray(targets, np.float64)
    times = np.asarray(times, np.float64)
    T = times.size
    out = np.zeros((T, 52), np.float32)
    clo = np.zeros(T, np.float32)
    gain = None if loudness is None else np.asarray(loudness, np.float64)
    for a in range(0, T, chunk):
        A, c = viseme_weights(track, times[a:a + chunk], None if gain is None else gain[a:a + chunk],
                              alpha=alpha, tau=tau, closure=closure, loud=loud, window_s=window_s)
        mouth = A @ targets
        if jaw_gain is not None:
            jg = np.asarray(jaw_gain, np.float64)[a:a + chunk]
            g = jg if gain is None else gain[a:a + chunk] * jg
            Aj, _ = viseme_weights(track, times[a:a + chunk], g, alpha=alpha, tau=tau, closure=closure, loud=loud,
                                   window_s=window_s)
            mouth[:, JAW] = Aj @ targets[:, JAW]
        mouth[:, CLOSE] = np.maximum(mouth[:, CLOSE], c * mouth[:, JAW])
        out[a:a + chunk] = np.clip(mouth, 0.0, 1.0)
        clo[a:a + chunk] = c
    return out, clo
