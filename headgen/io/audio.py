"""Audio in any format ffmpeg decodes (wav, mp3, flac, m4a, and the audio track of mp4/mpg/mkv...).

Decoding goes through imageio-ffmpeg's bundled ffmpeg: the stream is resampled and downmixed to
mono float32 (``f32le``) and read from a subprocess pipe.
"""
from __future__ import annotations

import warnings
import wave
from pathlib import Path

import numpy as np

from headgen.errors import InputError, InputWarning
from headgen.io._ffmpeg import probe, run_ffmpeg
from headgen.io.atomic import atomic_path


def probe_audio(path: str | Path):
    """MediaInfo of ``path`` (see ``headgen.io._ffmpeg.MediaInfo``); InputError if it has no audio."""
    info = probe(path)
    if not info.has_audio:
        raise InputError(f"{path}: no audio stream")
    return info


def read_audio(path: str | Path, sr: int | None = 16000, offset: float = 0.0,
               duration: float | None = None) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of ``path`` to mono float32.

    sr: output sample rate in Hz (resampled by ffmpeg); None keeps the file's native rate.
    offset/duration: seconds; read ``[offset, offset + duration)`` (duration None: to the end).
    Returns (samples (N,) float32 in [-1, 1], sr).
    Raises InputError naming the file when it is missing/unreadable, has no audio or decodes empty.
    """
    info = probe_audio(path)
    rate = int(sr) if sr else (info.audio_sample_rate or 16000)
    args = []
    if offset:
        args += ["-ss", f"{float(offset):.6f}"]
    args += ["-i", str(path)]
    if duration is not None:
        args += ["-t", f"{float(duration):.6f}"]
    args += ["-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "f32le", "pipe:1"]
    raw = run_ffmpeg(args, what=str(path))
    x = np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=True)
    if x.size == 0 and duration != 0:
        raise InputError(f"{path}: audio stream decoded to zero samples")
    got, declared = x.size / rate, _declared_seconds(path, info.duration)
    if not offset and duration is None and declared > 0 and got < TRUNCATED_SHARE * declared - 0.5:
        warnings.warn(f"{path}: decoded {got:.2f} s of audio, but the file declares {declared:.2f} s "
                      f"(truncated?); using the {got:.2f} s", InputWarning, stacklevel=2)
    return x, rate


def _declared_seconds(path, probed: float) -> float:
    """The duration ``path`` declares, in seconds: ffmpeg's (``probed``; for a WAV it is measured from the file's
    size) or, for a PCM WAV, its header's frame count, whichever is longer; 0 if unknown."""
    if Path(path).suffix.lower() == ".wav":
        try:
            with wave.open(str(path), "rb") as w:
                return max(probed, w.getnframes() / float(w.getframerate()))
        except (wave.Error, EOFError, OSError, ZeroDivisionError):
            pass
    return probed


#: a whole-file read that decodes less than this share of the declared duration (and > 0.5 s less) is reported
TRUNCATED_SHARE = 0.9


def write_audio(path: str | Path, samples: np.ndarray, sr: int) -> Path:
    """Write mono (N,) or (N, C) float samples in [-1, 1] (or int16) as 16-bit PCM wav.
    Returns the path. Written atomically (``headgen.io.atomic``)."""
    path = Path(path)
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    if x.dtype != np.int16:
        x = (np.clip(x.astype(np.float64), -1.0, 1.0) * 32767.0).round().astype(np.int16)
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(x.shape[1])
            w.setsampwidth(2)
            w.setframerate(int(sr))
            w.writeframes(np.ascontiguousarray(x).astype("<i2").tobytes())
    return path
