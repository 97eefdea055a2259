"""Audio decoding at any rate from wav and from video containers; wav writing."""
import numpy as np
import pytest

from headgen.assets import sample_speech, sample_videos
from headgen.errors import InputError
from headgen.io.audio import read_audio, write_audio


def test_read_wav_native_and_resampled():
    x, sr = read_audio(sample_speech(), sr=None)
    assert sr == 16000 and x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) / sr - 3.095) < 0.01
    assert 0.01 < np.abs(x).max() <= 1.0
    y, sr2 = read_audio(sample_speech(), sr=8000)
    assert sr2 == 8000 and abs(len(y) - len(x) / 2) <= 2


def test_read_audio_from_grid_mpg():
    x, sr = read_audio(sample_videos()[0], sr=16000)
    assert sr == 16000
    assert abs(len(x) / sr - 3.0) < 0.05  # 75 frames at 25 fps
    assert x.std() > 1e-3


def test_offset_and_duration():
    x, _ = read_audio(sample_speech(), sr=16000)
    y, _ = read_audio(sample_speech(), sr=16000, offset=1.0, duration=0.5)
    assert len(y) == 8000
    np.testing.assert_allclose(y, x[16000:24000], atol=1e-4)


def test_write_audio_roundtrip(tmp_path):
    t = np.arange(22050) / 22050.0
    s = 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    p = write_audio(tmp_path / "a.wav", s, 22050)
    back, sr = read_audio(p, sr=None)
    assert sr == 22050 and len(back) == len(s)
    np.testing.assert_allclose(back, s, atol=1e-3)


def test_bad_audio_inputs(tmp_path):
    bad = tmp_path / "garbage.wav"
    bad.write_bytes(b"RIFF1234WAVEjunk" * 10)
    with pytest.raises(InputError, match="garbage.wav"):
        read_audio(bad)
    silent = tmp_path / "silent_video.mp4"
    from headgen.io.video import write_video
    write_video(silent, np.zeros((3, 16, 16, 3), np.uint8), 25)
    with pytest.raises(InputError, match="silent_video.mp4: no audio"):
        read_audio(silent)
