"""Video I/O: GRID clip decoding, mp4 writing with muxed audio in sync, atomic writes, bad input."""
import os

import numpy as np
import pytest

from headgen.assets import sample_speech
from headgen.errors import InputError
from headgen.io.audio import read_audio
from headgen.io.video import VideoReader, VideoWriter, probe_video, read_video, write_video


@pytest.fixture(scope="module")
def grid_frames(grid_clip):
    return read_video(grid_clip)


def test_probe_grid_clip(grid_clip):
    info = probe_video(grid_clip)
    assert info.fps == 25.0
    assert info.size == (360, 288)
    assert info.n_frames == 75
    assert info.has_audio and info.audio_codec == "mp2"
    assert 2.9 < info.duration < 3.05


def test_read_grid_clip_all_frames(grid_clip, grid_frames):
    frames, fps = grid_frames
    assert frames.shape == (75, 288, 360, 3) and frames.dtype == np.uint8
    assert fps == 25.0
    assert frames.std() > 10  # real image content, not a blank decode
    with VideoReader(grid_clip) as r:
        n = 0
        for i, f in enumerate(r):
            if i == 10:
                np.testing.assert_array_equal(f, frames[10])
            n += 1
        assert n == 75 and r.n_frames == 75
        assert r.timestamps_for(50) == pytest.approx(2.0)
        np.testing.assert_allclose(r.timestamps(3), [0.0, 0.04, 0.08])


def test_reader_max_frames_and_restart(grid_clip):
    r = VideoReader(grid_clip, max_frames=5)
    a = list(r)
    b = list(r)  # iterating again restarts
    assert len(a) == len(b) == 5
    np.testing.assert_array_equal(a[4], b[4])


def test_write_mp4_with_source_audio_roundtrip(tmp_path, grid_clip, grid_frames):
    frames, fps = grid_frames
    out = tmp_path / "o.mp4"
    with VideoWriter(out, fps, audio=grid_clip) as w:
        for f in frames:
            w.write(f)
    assert out.exists() and not list(tmp_path.glob("*.tmp*"))
    info = probe_video(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac" and info.has_audio
    back, fps2 = read_video(out)
    assert back.shape == frames.shape and fps2 == 25.0
    assert np.abs(back.astype(int) - frames).mean() < 4.0  # CRF 18 re-encode
    a_src, _ = read_audio(grid_clip, 16000)
    a_out, _ = read_audio(out, 16000)
    video_dur = 75 / 25.0
    assert abs(len(a_out) / 16000 - video_dur) <= 1 / 25.0
    # in sync: the muxed track correlates with the source at zero lag
    n = 16000 * 2
    x, y = a_src[:n], a_out[:n]
    lags = range(-400, 401, 20)
    best = max(lags, key=lambda L: np.dot(x[max(0, L):n + min(0, L)], y[max(0, -L):n - max(0, L)]))
    assert abs(best) <= 40  # within 2.5 ms


def test_write_audio_array_is_trimmed_and_padded(tmp_path, grid_frames):
    frames, _ = grid_frames
    speech, sr = read_audio(sample_speech(), None)  # 3.1 s at 16 kHz
    short = write_video(tmp_path / "short.mp4", frames[:25], 25, audio=speech, sample_rate=sr)
    a, _ = read_audio(short, 16000)
    assert abs(len(a) / 16000 - 1.0) <= 1 / 25.0
    assert np.corrcoef(a[2000:14000], speech[2000:14000])[0, 1] > 0.95
    long_ = write_video(tmp_path / "long.mp4", np.concatenate([frames, frames[:25]]), 25,
                        audio=speech, sample_rate=sr)
    a, _ = read_audio(long_, 16000)
    assert abs(len(a) / 16000 - 4.0) <= 1 / 25.0
    assert np.abs(a[int(3.3 * 16000):]).max() < 0.02  # padded with silence


def test_strict_audio_length_mismatch_names_file(tmp_path, grid_frames):
    frames, _ = grid_frames
    out = tmp_path / "strict.mp4"
    with pytest.raises(InputError, match="cmu_arctic_slt_a0009.wav"):
        with VideoWriter(out, 25, audio=sample_speech(), audio_policy="strict") as w:
            for f in frames[:10]:
                w.write(f)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_writer_exception_leaves_no_file(tmp_path, grid_frames):
    frames, _ = grid_frames
    out = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 25) as w:
            w.write(frames[0])
            w.write(frames[1])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_odd_size_and_float_frames(tmp_path):
    fr = np.random.default_rng(0).random((5, 31, 45, 3)).astype(np.float32)
    out = write_video(tmp_path / "odd.mp4", fr, 10)
    back, fps = read_video(out)
    assert back.shape[0] == 5 and fps == 10.0
    assert back.shape[1] % 2 == 0 and back.shape[2] % 2 == 0


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100, os.urandom(4096)])
def test_corrupt_or_empty_file_raises_input_error_naming_it(tmp_path, content):
    p = tmp_path / "broken_clip.mp4"
    p.write_bytes(content)
    with pytest.raises(InputError, match="broken_clip.mp4"):
        read_video(p)


def test_missing_and_audio_only_inputs(tmp_path):
    with pytest.raises(InputError, match="nope.mp4"):
        VideoReader(tmp_path / "nope.mp4")
    with pytest.raises(InputError, match="no video stream"):
        probe_video(sample_speech())


def test_rotated_phone_video_is_read_upright(tmp_path):
    from headgen.io._ffmpeg import run_ffmpeg

    f = np.zeros((3, 48, 64, 3), np.uint8)
    f[:, :10, :, 0] = 255  # red band along the top
    plain = write_video(tmp_path / "plain.mp4", f, 25)
    rot = tmp_path / "rot.mp4"
    run_ffmpeg(["-y", "-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rot)], "rotate")
    info = probe_video(rot)
    assert info.rotation == 90 and info.size == (48, 64)
    back, _ = read_video(rot)
    assert back.shape == (3, 64, 48, 3)
    assert back[0, :, :8, 0].mean() > 200 and back[0, :, 12:, 0].mean() < 30  # band now on the left
