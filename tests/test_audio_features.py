"""Video-rate audio features: log-mel (torch.stft), prosody (YIN f0, energy, voicing), Whisper encoder."""
import numpy as np
import pytest
import torch

from headgen.audio.features import log_mel, prosody, whisper_features


def _arctic():
    from headgen.assets import AssetMissingError, resolve
    from headgen.io.audio import read_audio
    try:
        return read_audio(resolve("audio/cmu_arctic_slt_a0009.wav"), 16000)
    except AssetMissingError:  # pragma: no cover
        pytest.skip("ARCTIC clip missing")


def test_log_mel_shape_rate_and_tone():
    sr = 22050
    t = np.arange(int(2.0 * sr)) / sr
    x = np.where(t < 1.0, 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0).astype(np.float32)
    m = log_mel(x, sr, fps=25)
    assert m.shape == (50, 80) and m.dtype == torch.float32
    band = int(torch.argmax(m[10]))
    assert 20 <= band <= 40  # 1 kHz sits in the lower-middle mel bands
    assert float(m[10].max()) > float(m[40].max()) + 10  # tone vs digital silence
    assert log_mel(torch.from_numpy(x), sr, fps=30, n_frames=61).shape == (61, 80)


def test_prosody_sine_and_speech():
    sr = 16000
    t = np.arange(2 * sr) / sr
    p = prosody(0.3 * np.sin(2 * np.pi * 220 * t), sr, 25)
    assert p["voiced"].mean() > 0.9 and abs(np.nanmedian(p["f0_hz"]) - 220) < 2
    rng = np.random.default_rng(0)
    pn = prosody(0.1 * rng.standard_normal(2 * sr), sr, 25)
    assert pn["voiced"].mean() < 0.1
    x, sr = _arctic()
    ps = prosody(x, sr, 25)
    assert ps["f0_hz"].shape == ps["energy_db"].shape == ps["voiced"].shape == (77,)
    assert np.isnan(ps["f0_hz"][~ps["voiced"]]).all()
    # against librosa's pYIN on the same frames (slt, female: ~190 Hz)
    import librosa
    f0, vf, _ = librosa.pyin(x, fmin=60, fmax=500, sr=sr, frame_length=1024, hop_length=640, center=True)
    both = ps["voiced"][: f0.size] & vf[: ps["voiced"].size]
    rel = np.abs(ps["f0_hz"][: f0.size][both] / f0[: ps["voiced"].size][both] - 1)
    assert both.sum() > 25 and np.median(rel) < 0.05
    assert abs(ps["voiced"].mean() - vf.mean()) < 0.2


def test_whisper_features():
    pytest.importorskip("faster_whisper")
    x, sr = _arctic()
    h = whisper_features(x, sr, 25)
    assert h.shape == (77, 384) and np.isfinite(h).all()
    # speech frames differ from the leading silence more than silence frames differ from each other
    d_sil = np.linalg.norm(h[1] - h[2])
    d_speech = np.linalg.norm(h[1] - h[20])
    assert d_speech > 2 * d_sil
