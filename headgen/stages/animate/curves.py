"""Phone timings + prosody -> the full set of animation curves (mouth, brows, blinks, gaze, head).

The offline default: :func:`generate_curves` blends viseme targets with Cohen-Massaro dominance
(:mod:`.coarticulation`), scales the opening by loudness, raises brows and nods the head from prosody
(:mod:`.prosody`), and adds seeded blinks and saccades (:mod:`.blinks`). Deterministic for a given seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headgen.stages.animate import blinks as _blinks
from headgen.stages.animate import prosody as _prosody
from headgen.stages.animate.coarticulation import VisemeTrack, blend_visemes
from headgen.stages.animate.visemes import MOUTH_COLUMNS

#: how far the visible articulation leads the aligner's phone boundaries (s). 0: the aligner's boundaries are
#: calibrated (headgen.audio.align.ALIGN_OFFSET_S), and the lead that speaker style learns leave-one-clip-out
#: on the GRID clips is 0 ms on every fold (bench/results/animate_quality.md)
DEFAULT_LEAD_S = 0.0


@dataclass
class Curves:
    """arkit (T,52) [0,1]; head_rotation (T,3,3) head-model frame; eyes (T,2,2) [left,right] x [pitch,yaw] rad;
    closure (T,) lip-closure gate; fps; times (T,) seconds."""
    arkit: np.ndarray
    head_rotation: np.ndarray
    eyes: np.ndarray
    closure: np.ndarray
    fps: float
    times: np.ndarray


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    """(T,) frame start times t / fps in seconds (frame t is shown over [t/fps, (t+1)/fps))."""
    return np.arange(n_frames, dtype=np.float64) / float(fps)


def mouth_curves(phones, energy_db, fps: float, n_frames: int, style=None,
                 f1_hz: np.ndarray | None = None, hf_db: np.ndarray | None = None,
                 voiced: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mouth only: phones (Segments, ARPAbet) + energy (T,) dB -> (arkit (T,52) mouth columns, closure (T,)).
    style: a :class:`headgen.stages.animate.style.Style` (per-viseme targets, dominance widths, lead) or None;
    f1_hz: (T,) first formant (NaN where none) scaling the jaw (:func:`.prosody.jaw_formant_factor`) or None;
    hf_db: (T,) energy above the hum (dB, ``SpeechFrames.hf_db``) and voiced (T,) bool: audible in-breaths
    before speech open the mouth (:func:`.breath.with_breaths`); None: no breath detection."""
    from headgen.stages.animate.breath import with_breaths
    phones = with_breaths(phones, hf_db, fps, voiced)
    times = frame_times(n_frames, fps)
    gain = _prosody.loudness_gain(energy_db, fps) if energy_db is not None else None
    kw = {} if style is None else style.blend_kwargs()
    lead = DEFAULT_LEAD_S if style is None else style.lead_s
    return blend_visemes(VisemeTrack.from_segments(phones, lead_s=lead), times, gain,
                         jaw_gain=_prosody.jaw_formant_factor(f1_hz), **kw)


def generate_curves(phones, energy_db, f0_hz, fps: float, n_frames: int, seed: int = 0, style=None,
                    mouth: np.ndarray | None = None, f1_hz: np.ndarray | None = None,
                    hf_db: np.ndarray | None = None, voiced: np.ndarray | None = None) -> Curves:
    """All curves for ``n_frames`` frames at ``fps``.

    phones: list of Segments (start/end s, ARPAbet label; SIL for silence); energy_db (T,), f0_hz (T,) NaN
    unvoiced: per-frame prosody; seed: blinks, saccades, head drift; style: speaker style or None;
    mouth: (T,52) mouth curves from elsewhere (the trained audio model) instead of the viseme blend;
    f1_hz: (T,) first formant in Hz (NaN where none; ``SpeechFrames.f1_hz``) scaling the jaw, or None;
    hf_db: (T,) energy above the hum in dB (``SpeechFrames.hf_db``) and voiced (T,) bool (``SpeechFrames.voiced``):
    audible in-breaths before speech open the mouth (:mod:`.breath`); None: no breath detection.
    """
    times = frame_times(n_frames, fps)
    energy_db = np.asarray(energy_db, np.float64)
    f0_hz = np.asarray(f0_hz, np.float64)
    if mouth is None:
        mouth, closure = mouth_curves(phones, energy_db, fps, n_frames, style, f1_hz=f1_hz, hf_db=hf_db,
                                      voiced=voiced)
    else:
        closure = np.zeros(n_frames, np.float32)
    arkit = np.zeros((n_frames, 52), np.float32)
    cols = list(MOUTH_COLUMNS)
    arkit[:, cols] = mouth[:, cols]
    arkit += _prosody.brow_curves(f0_hz, energy_db, fps)
    events = _blinks.blink_events(n_frames / fps, seed)
    blink = _blinks.blink_curve(times, fps, events)
    gaze = _blinks.gaze_track(times, seed)
    eye = _blinks.eye_curves(blink, gaze)
    eye_cols = [i for i in range(52) if eye[:, i].any()]
    arkit[:, eye_cols] = eye[:, eye_cols]
    angles = _prosody.head_angles(energy_db, f0_hz, fps, seed)
    return Curves(arkit=np.clip(arkit, 0, 1).astype(np.float32),
                  head_rotation=_prosody.angles_to_rotation(angles).astype(np.float32),
                  eyes=gaze, closure=np.asarray(closure, np.float32), fps=float(fps), times=times.astype(np.float32))
