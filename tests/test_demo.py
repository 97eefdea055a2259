"""`headgen demo` end to end (portrait + speech -> talking-head mp4 with the speech muxed), the preview
stage's error path, and the speech envelope that drives the mouth."""
from __future__ import annotations

import json

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


def test_demo_end_to_end(tmp_path, capsys):
    pytest.importorskip("mediapipe")
    from headgen.assets import AssetMissingError, sample_speech
    from headgen.cli import main
    from headgen.io.audio import read_audio
    from headgen.io.video import probe_video, read_video

    try:
        speech = sample_speech()
    except AssetMissingError:  # pragma: no cover
        pytest.skip("sample speech missing")
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--quiet"]) == 0, capsys.readouterr().err
    video = out / "preview" / "preview.mp4"
    info = probe_video(video)
    assert info.has_video and info.has_audio and info.audio_codec == "aac"
    assert (info.width, info.height) == (512, 512) and abs(info.fps - 25) < 1e-3
    samples, sr = read_audio(speech, sr=16000)
    frames, fps = read_video(video)
    assert abs(len(frames) - len(samples) / sr * 25) <= 1

    # the mouth moves with the speech: the lower face changes more between loud and quiet frames than
    # between two quiet ones
    env = speech_envelope(samples, sr, 25, len(frames))
    quiet_idx = np.flatnonzero(env < 0.05)
    loud_idx = np.flatnonzero(env > 0.9)
    assert len(quiet_idx) >= 2 and len(loud_idx) >= 1
    head = frames.reshape(len(frames), -1, 3).astype(np.float32).std(axis=(1, 2))
    assert (head > 10).all()                 # a rendered head, not an empty frame
    mouth = frames[:, 380:500, 176:336].astype(np.float32)
    d_loud = np.abs(mouth[loud_idx[0]] - mouth[quiet_idx[0]]).mean()
    d_quiet = np.abs(mouth[quiet_idx[1]] - mouth[quiet_idx[0]]).mean()
    assert d_loud > 2 * d_quiet + 1.0, (d_loud, d_quiet)

    manifest = json.loads((out / "manifest.json").read_text())
    assert {n["status"] for n in manifest["nodes"].values()} == {"done"}
    assert (out / "fit" / "fit.npz").exists() and (out / "pose" / "pose.json").exists()
    # a second run is served from the cache
    assert main(["demo", "-o", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {n["status"] for n in manifest["nodes"].values()} == {"cached"}


def test_demo_bad_portrait_is_one_line(tmp_path, capsys):
    from headgen.cli import main
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    rc = main(["demo", "-o", str(tmp_path / "o"), "--portrait", str(bad), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert "not_an_image.png" in err and "Traceback" not in err
