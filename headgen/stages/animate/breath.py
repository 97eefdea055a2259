"""Audible in-breaths before speech, detected from the audio, as ``BREATH`` segments (the ``breath`` viseme).

Speakers inhale before an utterance, mostly through an open mouth; the breath is audible as noise above the
room's floor in the band above the hum (500-7000 Hz, :func:`headgen.audio.features.band_energy_db`), unvoiced
and well below the speech. In the GRID recordings it shows 10-25 dB above the floor in the ~0.2-0.5 s before
the first word, where the fitted video opens the jaw (bench/results/animate_breath.md). A breath frame is a
frame of a pause that is followed by speech (in its last :data:`MAX_BEFORE_S`; not within
:data:`SKIP_AFTER_SPEECH_S` of a preceding word, whose decay is not a breath) whose band energy is
:data:`ABOVE_FLOOR_DB` above the pauses' noise floor (a run, once started, continues while it stays
:data:`HOLD_ABOVE_FLOOR_DB` above it: hysteresis) and :data:`BELOW_SPEECH_DB` below the speech, and that is
unvoiced; runs shorter than :data:`MIN_S` are dropped (clicks). The noise floor is a low percentile of the
pause frames that are not digital silence, so digital silence, a constant noise and a steady room tone never
hold a breath, and without speech there is no pause "before speech": music or noise alone stays closed.
"""
from __future__ import annotations

import numpy as np

#: the phone label of a detected breath (its viseme: ``breath``)
BREATH = "BREATH"
#: dB above the pauses' noise floor (band energy) for a breath frame
ABOVE_FLOOR_DB = 10.0
#: hysteresis: a breath run, once started, continues through frames at least this far above the floor (dB; None:
#: no hysteresis, every frame needs :data:`ABOVE_FLOOR_DB`). 6 dB was chosen by nested leave-one-clip-out on the
#: GRID clips from none / 8 / 6 dB (every fold picked 6 dB; bench/results/animate_variants.md)
HOLD_ABOVE_FLOOR_DB: float | None = 6.0
#: dB below the speech's 95th-percentile band energy, at least, for a breath frame (louder: not a breath)
BELOW_SPEECH_DB = 15.0
#: shortest breath (s); shorter runs are clicks
MIN_S = 0.12
#: breath frames lie in the last this many seconds of a pause before speech ...
MAX_BEFORE_S = 1.0
#: ... and at least this long after the previous speech (s)
SKIP_AFTER_SPEECH_S = 0.1
#: band energies below this (dB) are digital silence, left out of the noise floor
DIGITAL_SILENCE_DB = -100.0


def _is_silence(label) -> bool:
    from headgen.stages.animate.visemes import viseme_of
    return viseme_of(label) == "sil"


def _pauses(phones) -> list[tuple[float, float, bool, bool]]:
    """Merged pauses of ``phones`` -> [(start s, end s, after speech, before speech)]."""
    segs = sorted((s for s in phones if str(s.label).upper() != BREATH), key=lambda s: float(s.start))
    out = []
    i = 0
    while i < len(segs):
        if not _is_silence(segs[i].label):
            i += 1
            continue
        j = i
        end = float(segs[i].end)
        while j + 1 < len(segs) and _is_silence(segs[j + 1].label) and float(segs[j + 1].start) <= end + 1e-6:
            j += 1
            end = max(end, float(segs[j].end))
        out.append((float(segs[i].start), end, i > 0, j + 1 < len(segs)))
        i = j + 1
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(T,) bool -> [(start, end)] frame ranges of its runs of True (end exclusive)."""
    d = np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def breath_frames(phones, hf_db: np.ndarray, fps: float, voiced: np.ndarray | None = None) -> np.ndarray:
    """(T,) bool: frames holding an audible in-breath before speech.

    phones: Segments (``.start``/``.end`` s, ``.label``; SIL for pauses); hf_db (T,) band energy above the hum
    per frame (dB, :func:`headgen.audio.features.band_energy_db`); voiced (T,) bool or None. Frame t (centre
    (t + 0.5) / fps) counts when inside a pause followed by speech and the criteria of the module doc hold.
    """
    hf = np.asarray(hf_db, np.float64)
    T = hf.size
    out = np.zeros(T, bool)
    pauses = _pauses(phones)
    if T == 0 or not any(p[3] for p in pauses):
        return out
    c = (np.arange(T) + 0.5) / float(fps)
    in_pause = np.zeros(T, bool)
    cand = np.zeros(T, bool)
    for a, b, after, before in pauses:
        m = (c >= a) & (c < b)
        in_pause |= m
        if before:
            cand |= m & (c >= b - MAX_BEFORE_S) & (c >= (a + SKIP_AFTER_SPEECH_S if after else a))
    live = hf > DIGITAL_SILENCE_DB
    quiet = in_pause & live
    if quiet.sum() >= 5:
        floor = float(np.percentile(hf[quiet], 10))
    elif live.sum() >= 5:
        floor = float(np.percentile(hf[live], 5))
    else:
        return out
    speech = ~in_pause & live
    top = float(np.percentile(hf[speech] if speech.sum() >= 3 else hf[live], 95))
    base = cand & live & (hf <= top - BELOW_SPEECH_DB)
    if voiced is not None:
        base &= ~np.asarray(voiced, bool)[:T]
    ok = base & (hf >= floor + ABOVE_FLOOR_DB)
    if HOLD_ABOVE_FLOOR_DB is not None:          # hysteresis: runs above the lower threshold that hold a frame above
        hold = base & (hf >= floor + HOLD_ABOVE_FLOOR_DB)       # the upper one
        ok = ok.copy()
        for t0, t1 in _runs(hold):
            ok[t0:t1] = ok[t0:t1].any()
    n_min = max(1, int(np.ceil(MIN_S * fps - 1e-6)))
    for t0, t1 in _runs(ok):
        if t1 - t0 >= n_min:
            out[t0:t1] = True
    return out


def with_breaths(phones, hf_db: np.ndarray | None, fps: float, voiced: np.ndarray | None = None) -> list:
    """``phones`` plus one ``BREATH`` Segment per run of :func:`breath_frames` (frame edges, clipped to the
    pause); the phones themselves are unchanged (a breath overlays its pause). hf_db None -> ``phones``."""
    from headgen.audio.phones import Segment
    phones = [s for s in phones if str(s.label).upper() != BREATH]
    if hf_db is None:
        return phones
    m = breath_frames(phones, hf_db, fps, voiced)
    if not m.any():
        return phones
    pauses = _pauses(phones)
    out = list(phones)
    for t0, t1 in _runs(m):
        a, b = t0 / float(fps), t1 / float(fps)
        mid = (t0 + 0.5) / float(fps)
        p = next((p for p in pauses if p[0] <= mid < p[1]), None)
        if p is not None:
            a, b = max(a, p[0]), min(b, p[1])
        if b > a:
            out.append(Segment(a, b, BREATH))
    return out
