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


def _vowel(f1: float, f2: float, sr: int = 16000, dur: float = 0.6, f0: float = 120.0) -> np.ndarray:
    """A synthetic vowel: a glottal pulse train through two resonators (formants f1, f2; 80 / 120 Hz wide)."""
    from scipy.signal import lfilter
    x = np.zeros(int(dur * sr))
    x[::int(sr / f0)] = 1.0
    for f, bw in ((f1, 80.0), (f2, 120.0)):
        r = np.exp(-np.pi * bw / sr)
        x = lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * f / sr), r * r], x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_formant_f1_on_synthetic_vowels():
    """F1 of an open vowel (~700 Hz) and a close one (~300 Hz) within 15 %; silence has none (NaN)."""
    from headgen.audio.features import formant_f1
    sr = 16000
    x = np.concatenate([_vowel(700, 1200), np.zeros(int(0.4 * sr), np.float32), _vowel(300, 2300)])
    f1 = formant_f1(x, sr, fps=25)
    assert f1.shape == (40,) and f1.dtype == np.float32
    assert abs(np.nanmedian(f1[2:13]) - 700) < 105
    assert abs(np.nanmedian(f1[27:38]) - 300) < 45
    assert np.isnan(f1[17:23]).all()


def test_jaw_formant_factor_opens_high_f1_vowels():
    """The jaw factor is > 1 where F1 is above the utterance's median, < 1 below, 1 where unknown; it scales
    the jaw of the blended curves and leaves silence at rest."""
    from headgen.audio.phones import Segment
    from headgen.models.arkit import ARKIT_NAMES
    from headgen.stages.animate.curves import generate_curves
    from headgen.stages.animate.prosody import jaw_formant_factor
    assert jaw_formant_factor(None) is None and jaw_formant_factor(np.full(10, np.nan)) is None
    f1 = np.array([np.nan] * 5 + [700.0] * 10 + [300.0] * 10 + [np.nan] * 5)
    k = jaw_formant_factor(f1)
    assert k[8] > 1.3 and k[20] < 0.8 and k[0] == pytest.approx(1.0)
    ph = [Segment(0.0, 0.2, "SIL"), Segment(0.2, 1.0, "AA"), Segment(1.0, 1.2, "SIL")]
    J = ARKIT_NAMES.index("jawOpen")
    plain = generate_curves(ph, np.full(30, -20.0), np.full(30, np.nan), 25, 30).arkit[:, J]
    scaled = generate_curves(ph, np.full(30, -20.0), np.full(30, np.nan), 25, 30, f1_hz=f1).arkit[:, J]
    assert scaled[10] > 1.2 * plain[10] and scaled[20] < 0.85 * plain[20]
    assert np.array_equal(scaled[:2], plain[:2]) and scaled[:2].max() < 0.01 and scaled[-1] < 0.01  # pauses: as before


def test_band_energy_db():
    """Band energy per video frame: a 1 kHz tone at its RMS level (dB), a 100 Hz hum outside the band ~100 dB
    lower, digital silence -120 dB, white noise at its in-band share of the power."""
    from headgen.audio.features import band_energy_db
    sr = 16000
    t = np.arange(sr) / sr
    tone = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    assert np.allclose(band_energy_db(tone, sr, 25.0), 10 * np.log10(0.1 ** 2 / 2), atol=0.1)
    hum = (0.1 * np.sin(2 * np.pi * 100 * t)).astype(np.float32)
    assert band_energy_db(hum, sr, 25.0).max() < -80
    assert np.all(band_energy_db(np.zeros(sr, np.float32), sr, 25.0) == -120.0)
    noise = (0.1 * np.random.default_rng(0).standard_normal(sr)).astype(np.float32)
    e = band_energy_db(noise, sr, 25.0, n_frames=30)
    assert e.shape == (30,) and abs(float(np.median(e[:25])) - 10 * np.log10(0.01 * 6500 / 8000)) < 1.0
    assert np.all(e[25:] == -120.0)                                  # frames past the end: zero-padded
