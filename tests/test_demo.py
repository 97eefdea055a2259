"""`headgen demo`'s error path and the speech envelope (the loudness baseline of the preview stage). The demo
graph itself runs end to end in tests/test_talking_head_pipeline.py (tiny settings)."""
from __future__ import annotations

import numpy as np
import pytest

from headgen.audio.envelope import speech_envelope


def test_envelope_follows_loudness():
    sr, fps = 16000, 25
    t = np.arange(sr * 2) / sr
    audio = np.zeros_like(t)
    burst = (t >= 0.8) & (t < 1.2)
    audio[burst] = 0.3 * np.sin(2 * np.pi * 220 * t[burst])
    audio += 1e-4 * np.random.default_rng(0).standard_normal(t.size)   # room noise
    env = speech_envelope(audio, sr, fps, 50)
    assert env.shape == (50,) and env.dtype == np.float32
    assert env.min() >= 0 and env.max() <= 1
    assert env[22:28].min() > 0.9            # frames 20..29 hold the burst
    assert env[:15].max() < 0.15 and env[35:].max() < 0.15


def test_envelope_of_silence_is_flat_and_short_audio_is_padded():
    env = speech_envelope(np.zeros(8000), 16000, 25, 40)   # 0.5 s of audio for 40 frames (1.6 s)
    assert env.shape == (40,) and np.isfinite(env).all()
    assert np.ptp(env) < 1e-6


def test_demo_bad_portrait_is_one_line(tmp_path, capsys):
    from headgen.cli import main
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    rc = main(["demo", "-o", str(tmp_path / "o"), "--portrait", str(bad), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert "not_an_image.png" in err and "Traceback" not in err
