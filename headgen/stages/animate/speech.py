"""Read speech in chunks and turn it into per-frame features and phone timings (bounded memory).

The audio track of any file ffmpeg reads is decoded once to 16 kHz mono; prosody
(``headgen.audio.features.prosody``) runs over chunks of frames, and phone timing
(``headgen.audio.align.phone_timings``) cuts long audio at silences into chunks itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from headgen.errors import InputError

SR = 16000


@dataclass
class SpeechFrames:
    """Per-frame features of a speech file: energy_db (T,), f0_hz (T,) NaN unvoiced, voiced (T,) bool, fps,
    duration (s), n_frames, phones (Segments; SIL segments for pauses: the 'sil' viseme), method (how the phones were timed), text,
    f1_hz (T,) first formant in Hz, NaN where none (``headgen.audio.features.formant_f1``; None: not computed),
    hf_db (T,) energy above the room's hum (500-7000 Hz, dB; ``headgen.audio.features.band_energy_db``; None: not
    computed), which shows audible in-breaths (:mod:`.breath`)."""
    energy_db: np.ndarray
    f0_hz: np.ndarray
    voiced: np.ndarray
    fps: float
    duration: float
    phones: list = field(default_factory=list)
    method: str = ""
    text: Optional[str] = None
    f1_hz: Optional[np.ndarray] = None
    hf_db: Optional[np.ndarray] = None

    @property
    def n_frames(self) -> int:
        """T."""
        return int(self.energy_db.shape[0])


def n_frames_for(duration_s: float, fps: float) -> int:
    """Frames covering ``duration_s`` seconds at ``fps`` (the video is as long as the audio, within a frame)."""
    return max(1, int(round(duration_s * fps)))


def frame_energy_db(samples: np.ndarray, sr: int, fps: float, n_frames: int) -> np.ndarray:
    """(n_frames,) RMS energy in dB over each frame's [t/fps, (t+1)/fps) window (-120 dB for empty windows)."""
    x = np.asarray(samples, np.float64)
    hop = sr / float(fps)
    idx = np.arange(n_frames + 1) * hop
    edges = np.minimum(idx.astype(np.int64), x.size)
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    cnt = np.maximum(edges[1:] - edges[:-1], 1)
    e = (csum[edges[1:]] - csum[edges[:-1]]) / cnt
    return (10.0 * np.log10(e + 1e-12)).astype(np.float32)


def frame_prosody(samples: np.ndarray, sr: int, fps: float, n_frames: int) -> dict:
    """dict(energy_db, f0_hz, voiced, f1_hz, hf_db) per frame, (n_frames,) each. f0, F1 (first formant) and the
    energy above 500 Hz (hf_db, dB) through ``headgen.audio.features`` when that module is present; otherwise
    energy only (f0, F1 NaN, hf_db None)."""
    energy = frame_energy_db(samples, sr, fps, n_frames)
    try:
        from headgen.audio.features import band_energy_db, formant_f1, prosody
    except ImportError:
        return {"energy_db": energy, "f0_hz": np.full(n_frames, np.nan, np.float32),
                "voiced": np.zeros(n_frames, bool), "f1_hz": np.full(n_frames, np.nan, np.float32), "hf_db": None}
    p = prosody(samples, sr, fps)
    f0 = np.full(n_frames, np.nan, np.float32)
    v = np.zeros(n_frames, bool)
    k = min(n_frames, len(p["f0_hz"]))
    f0[:k] = np.asarray(p["f0_hz"])[:k]
    v[:k] = np.asarray(p["voiced"])[:k]
    return {"energy_db": energy, "f0_hz": f0, "voiced": v, "f1_hz": formant_f1(samples, sr, fps, n_frames),
            "hf_db": band_energy_db(samples, sr, fps, n_frames)}


def time_phones(samples: np.ndarray, sr: int, text: Optional[str], method: str = "auto"):
    """Phones of one chunk through ``headgen.audio.align.phone_timings`` -> (Segments, method name)."""
    try:
        from headgen.audio.align import phone_timings
    except ImportError as e:
        raise InputError("phone timing needs headgen.audio.align (not in this checkout); pass phone labels "
                         "with --phones instead") from e
    al = phone_timings(samples, sr, text=text, method=method)
    return list(al.phones), getattr(al, "method", method)


def read_speech(path: str | Path, fps: float, text: Optional[str] = None, phones=None, chunk_s: float = 30.0,
                method: str = "auto", log: Callable[[str], None] = lambda m: None,
                time_phones_fn=None, samples: Optional[np.ndarray] = None) -> SpeechFrames:
    """Speech file -> SpeechFrames (per-frame prosody + phone timings).

    The audio is decoded once (16 kHz mono float32: 38 MB for 10 minutes); prosody runs over chunks of
    ``chunk_s`` seconds of frames; phone timing (``headgen.audio.align.phone_timings``) cuts long audio at
    silences into chunks of at most 30 s itself and distributes a transcript over them.
    text: transcript or None; phones: given phone Segments (skips timing); method: ``phone_timings`` method;
    time_phones_fn(samples, sr, text) -> (Segments, method) overrides the aligner (tests, benches);
    samples: already decoded 16 kHz samples of ``path`` (benches). Raises InputError naming the file for
    missing / corrupt / empty audio.
    """
    from headgen.audio.phones import SIL, Segment
    from headgen.io.audio import read_audio

    path = Path(path)
    if samples is None:
        if not path.is_file():
            raise InputError(f"{path}: " + ("is a folder, expected an audio or video file" if path.is_dir()
                                            else "no such file"))
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file")
        x, sr = read_audio(path, SR)
    else:
        x, sr = np.asarray(samples, np.float32), SR
    if x.size == 0:
        raise InputError(f"{path}: audio decoded to zero samples")
    if not np.isfinite(x).all():
        raise InputError(f"{path}: audio contains NaN/inf samples")
    dur = x.size / sr
    T = n_frames_for(dur, fps)
    energy = np.zeros(T, np.float32)
    f0 = np.full(T, np.nan, np.float32)
    voiced = np.zeros(T, bool)
    f1 = np.full(T, np.nan, np.float32)
    hf = np.full(T, -120.0, np.float32)
    have_hf = True
    step = max(1, int(round(chunk_s * fps)))
    for fa in range(0, T, step):
        fb = min(T, fa + step)
        a, b = int(round(fa / fps * sr)), min(x.size, int(round(fb / fps * sr)))
        pr = frame_prosody(x[a:b], sr, fps, fb - fa)
        energy[fa:fb], f0[fa:fb], voiced[fa:fb], f1[fa:fb] = pr["energy_db"], pr["f0_hz"], pr["voiced"], pr["f1_hz"]
        if pr.get("hf_db") is None:
            have_hf = False
        else:
            hf[fa:fb] = pr["hf_db"]
    if phones is None:
        timer = time_phones_fn or (lambda xx, rate, txt: time_phones(xx, rate, txt, method))
        segs, used = timer(x, sr, text)
    else:
        segs, used = phones, "labels"
    out = [Segment(float(s.start), float(s.end), s.label) for s in segs]
    n_speech = sum(s.label != SIL for s in out)
    log(f"{path.name}: {dur:.2f} s, {T} frames, {n_speech} speech phones ({used})")
    return SpeechFrames(energy, f0, voiced, float(fps), dur, out, used, text, f1, hf if have_hf else None)
