"""animate: silence gives a closed, resting mouth (issue 14), also around real speech padded with pauses (issue 16).

The padded utterance is the one bench/talking_head.py uses: CMU ARCTIC slt_a0009 (real phone labels) with
0.5 s of silence before and 1.4 s after. Pause frames are the frames wholly inside a pause shrunk by 80 ms (the
talking-head bench's rule); the anticipatory ('pre') opening may only start in the last ~100 ms.
"""
import numpy as np
import pytest

from headgen.models.arkit import ARKIT_NAMES

J = ARKIT_NAMES.index("jawOpen")
MOUTH = [i for i, n in enumerate(ARKIT_NAMES) if n.startswith(("jaw", "mouth"))]
LEAD, TAIL, FPS = 0.5, 1.4, 25.0


@pytest.fixture(scope="module")
def padded():
    """(phone Segments of the padded ARCTIC utterance, n_frames, energy dB (T,), f0 (T,), pause-frame mask (T,),
    first formant (T,), prosody dict (hf_db, voiced: the breath detector's inputs))."""
    from headgen.assets import AssetMissingError, resolve
    from headgen.audio.labels import read_arctic_lab
    from headgen.audio.phones import Segment
    from headgen.io.audio import read_audio
    from headgen.stages.animate.speech import frame_prosody
    try:
        wav = resolve("audio/cmu_arctic_slt_a0009.wav")
        lab = resolve("audio/cmu_arctic_slt_a0009_phone.lab")
    except AssetMissingError:  # pragma: no cover
        pytest.skip("ARCTIC sample missing")
    x, sr = read_audio(wav, 16000)
    y = np.concatenate([np.zeros(int(LEAD * sr), np.float32), x, np.zeros(int(TAIL * sr), np.float32)])
    dur = len(x) / sr
    segs = [Segment(0.0, LEAD, "SIL")] + [Segment(s.start + LEAD, s.end + LEAD, s.label) for s in read_arctic_lab(lab)]
    segs.append(Segment(LEAD + dur, LEAD + dur + TAIL, "SIL"))
    T = int(round(len(y) / sr * FPS))
    pr = frame_prosody(y, sr, FPS, T)
    speech = [s for s in segs if s.label != "SIL"]
    t0 = np.arange(T) / FPS
    t1 = t0 + 1 / FPS
    first, last = speech[0].start, speech[-1].end
    pause = ((t0 >= 0.08) & (t1 <= first - 0.08)) | ((t0 >= last + 0.08) & (t1 <= LEAD + dur + TAIL - 0.08))
    assert pause.sum() > 30
    return segs, T, pr["energy_db"], pr["f0_hz"], pause, pr["f1_hz"], pr


def test_padded_silence_keeps_the_mouth_at_rest(padded):
    """The default's mouth stays at rest through the pauses (jawOpen and every mouth shape <= 0.02; rest = 0)
    and opens during the speech; the same check fails for the former 0.5 s pre-speech opening."""
    import dataclasses

    from headgen.stages.animate import visemes
    from headgen.stages.animate.calibration import GRID_JAW, default_targets
    from headgen.stages.animate.coarticulation import VisemeTrack, blend_visemes
    from headgen.stages.animate.curves import frame_times, generate_curves
    segs, T, energy, f0, pause, f1, pr = padded
    for kw in ({}, {"hf_db": pr["hf_db"], "voiced": pr["voiced"]}):    # with the breath detector too (run.py)
        c = generate_curves(segs, energy, f0, FPS, T, seed=0, f1_hz=f1, **kw)
        assert np.abs(c.arkit[pause][:, MOUTH]).max() <= 0.02
        assert c.arkit[~pause, J].max() > 0.15                   # it does talk
    # the check can fail: the former default (pre window 0.5 s, tau 60 ms, pre jaw 0.1255) opens in the pause
    old = visemes.VISEMES["pre"]
    try:
        visemes.VISEMES["pre"] = dataclasses.replace(old, tau=0.06)
        wide, _ = blend_visemes(VisemeTrack.from_segments(segs, pre_s=0.5), frame_times(T, FPS),
                                targets=default_targets({**GRID_JAW, "pre": 0.1255}))
    finally:
        visemes.VISEMES["pre"] = old
    assert wide[pause, J].max() > 0.08


def test_anticipatory_opening_is_confined_to_the_last_100ms(padded):
    """The jaw starts towards the first phone only within ~PRE_SPEECH_S of it (a ramp, coarticulation) and is
    clearly moving at the phone onset."""
    from headgen.stages.animate.coarticulation import VisemeTrack, blend_visemes
    from headgen.stages.animate.visemes import PRE_SPEECH_S
    segs, T, *_ = padded
    assert PRE_SPEECH_S <= 0.15
    first = next(s for s in segs if s.label != "SIL").start
    t = np.arange(first - 0.5, first + 0.001, 0.01)
    m, _ = blend_visemes(VisemeTrack.from_segments(segs), t)
    jaw = m[:, J]
    assert jaw[t <= first - PRE_SPEECH_S - 0.03].max() < 0.02     # closed before the window (a 20 ms tail)
    assert jaw[t <= first - PRE_SPEECH_S - 0.05].max() < 0.005
    assert jaw[-1] > 0.1                                            # opening by the first phone
    assert np.all(np.diff(jaw[t >= first - PRE_SPEECH_S]) >= -1e-6)  # a monotone ramp


def test_pauses_are_merged_and_calibration_keeps_silence_closed():
    """Contiguous silence labels (a pad + the labels' own pause) make one pause with one 'pre' at its end; the
    jaw calibration pins silence at rest even when the fitted speaker keeps the mouth open in the pauses."""
    from headgen.audio.phones import Segment
    from headgen.stages.animate.calibration import calibrate_jaw, default_targets
    from headgen.stages.animate.coarticulation import VisemeTrack, blend_visemes
    from headgen.stages.animate.style import StyleObservation, learn_style
    from headgen.stages.animate.visemes import PRE_SPEECH_S, VISEME_NAMES
    ph = [Segment(0.0, 0.5, "SIL"), Segment(0.5, 0.55, "SIL"), Segment(0.55, 0.7, "M"), Segment(0.7, 0.95, "AA"),
          Segment(0.95, 1.1, "T"), Segment(1.1, 1.8, "SIL")]
    tr = VisemeTrack.from_segments(ph)
    names = [VISEME_NAMES[v] for v in tr.viseme]
    assert names[:2] == ["sil", "pre"] and tr.end[0] == pytest.approx(0.55 - PRE_SPEECH_S)
    times = np.arange(45) / 25.0
    jaw = {n: 0.0 if n == "sil" else 0.3 for n in VISEME_NAMES}
    curves, _ = blend_visemes(tr, times, targets=default_targets(jaw))
    curves = curves.astype(np.float64)
    curves[:, J] += 0.1 * (times < 0.45)                      # a speaker who rests open before speaking
    ob = StyleObservation(ph, np.ones(45), times, curves, np.ones(45, bool))
    got = calibrate_jaw([ob], ridge=1e-3)
    assert got["sil"] == 0.0 and got["AA"] > 0.2
    free = learn_style([ob], ridge=1e-3, leads=(0.0,), tau_scales=(1.0,), prior=default_targets({}), columns=[J],
                       fixed=())
    assert free.targets[VISEME_NAMES.index("sil"), J] > 0.03        # what an unpinned regression would learn


def test_post_window_and_vowel_undershoot_variants():
    """The bench's variant knobs do what they say: post_s puts the transition viseme at the start of a pause
    after speech (off by default), VOWEL_UNDERSHOOT scales short vowels down (off by default)."""
    from headgen.audio.phones import Segment
    from headgen.stages.animate import visemes
    from headgen.stages.animate.coarticulation import VisemeTrack, blend_visemes
    from headgen.stages.animate.visemes import POST_SPEECH_S, VISEME_NAMES
    ph = [Segment(0.0, 0.4, "SIL"), Segment(0.4, 0.45, "AA"), Segment(0.45, 0.7, "AA"), Segment(0.7, 1.2, "SIL")]
    assert POST_SPEECH_S == 0.0 and visemes.VOWEL_UNDERSHOOT is None
    base = VisemeTrack.from_segments(ph)
    assert base.scale is None and [VISEME_NAMES[v] for v in base.viseme][-1] == "sil"
    post = VisemeTrack.from_segments(ph, post_s=0.1)
    names = [VISEME_NAMES[v] for v in post.viseme]
    assert names[-2:] == ["pre", "sil"] and post.end[-2] == pytest.approx(0.8)
    old = visemes.VOWEL_UNDERSHOOT
    try:
        visemes.VOWEL_UNDERSHOOT = (0.1, 1.0, 0.4, 2.0)
        tr = VisemeTrack.from_segments(ph)
    finally:
        visemes.VOWEL_UNDERSHOOT = old
    assert tr.scale.tolist() == pytest.approx([1.0, 1.0, 0.5, 2.0, 1.0])
    t = np.array([0.6])                                              # centre of the long (x2) vowel
    assert blend_visemes(tr, t)[0][0, J] > blend_visemes(base, t)[0][0, J]


def _breath_scene(seed=0, breath=True, speech=True, floor_noise=True, breath_db=-50.0):
    """1.6 s at 16 kHz: room tone (hum + faint noise, or digital zeros), an in-breath (1-4 kHz noise) at
    0.3-0.6 s, a voiced vowel at 0.75-1.2 s (phones AA there when ``speech``), room tone after."""
    from scipy.signal import butter, sosfilt
    from headgen.audio.phones import Segment
    sr = 16000
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.6 * sr)) / sr
    x = np.zeros(t.size)
    if floor_noise:
        x += 0.003 * np.sin(2 * np.pi * 50 * t) + 10 ** (-75 / 20) * rng.standard_normal(t.size)
    if breath:
        b = sosfilt(butter(4, [1000, 4000], "bandpass", fs=sr, output="sos"), rng.standard_normal(t.size))
        b *= 10 ** (breath_db / 20) / b.std()
        x += b * ((t >= 0.3) & (t < 0.6))
    v = (t >= 0.75) & (t < 1.2)
    x[v] += 0.2 * np.sign(np.sin(2 * np.pi * 120 * t[v])) * np.hanning(v.sum())     # a buzzy vowel
    ph = ([Segment(0.0, 0.75, "SIL"), Segment(0.75, 1.2, "AA"), Segment(1.2, 1.6, "SIL")] if speech
          else [Segment(0.0, 1.6, "SIL")])
    return x.astype(np.float32), sr, ph


def test_breath_before_speech_opens_the_mouth_and_silence_does_not():
    """An audible in-breath (band noise ~25 dB above the room tone, unvoiced) in the pause before speech opens
    the jaw; the same audio without speech after it, a breath-free pause (room tone or digital silence) and a
    'breath' as loud as the speech leave the pause closed."""
    from headgen.stages.animate.breath import BREATH, breath_frames, with_breaths
    from headgen.stages.animate.curves import generate_curves
    from headgen.stages.animate.speech import frame_prosody

    def run(**kw):
        x, sr, ph = _breath_scene(**kw)
        T = 40
        pr = frame_prosody(x, sr, FPS, T)
        c = generate_curves(ph, pr["energy_db"], pr["f0_hz"], FPS, T, f1_hz=pr["f1_hz"], hf_db=pr["hf_db"],
                            voiced=pr["voiced"])
        return breath_frames(ph, pr["hf_db"], FPS, pr["voiced"]), c.arkit[:, J], with_breaths(ph, pr["hf_db"], FPS,
                                                                                              pr["voiced"])
    win = slice(9, 14)                                                 # frames 0.36-0.56 s: inside the breath
    m, jaw, ph = run()
    assert m[win].all() and not m[:7].any() and not m[16:].any()
    br = [s for s in ph if s.label == BREATH]
    assert len(br) == 1 and 0.26 <= br[0].start <= 0.34 and 0.56 <= br[0].end <= 0.64
    assert jaw[win].min() > 0.1 and jaw[:5].max() < 0.01               # open while inhaling, closed before
    for kw in ({"speech": False}, {"breath": False}, {"breath": False, "floor_noise": False}, {"breath_db": -12.0}):
        m, jaw, _ = run(**kw)
        assert not m.any(), kw
        assert jaw[:16].max() < 0.02, kw


def test_grid_clip_breath_is_detected():
    """On a real GRID recording (bbaf2n: an audible in-breath ~0.45-0.8 s, the first word at ~0.9 s) the
    detector finds the breath and nothing in the silence after the sentence."""
    from headgen.assets import AssetMissingError, resolve
    from headgen.audio.phones import Segment
    from headgen.io.audio import read_audio
    from headgen.stages.animate.breath import BREATH, with_breaths
    from headgen.stages.animate.speech import frame_prosody
    try:
        clip = resolve("video/bbaf2n.mpg")
    except AssetMissingError:  # pragma: no cover
        pytest.skip("GRID clip missing")
    x, sr = read_audio(clip, 16000)
    T = int(round(len(x) / sr * FPS))
    pr = frame_prosody(x, sr, FPS, T)
    ph = [Segment(0.0, 0.9, "SIL"), Segment(0.9, 2.5, "AA"), Segment(2.5, T / FPS, "SIL")]
    br = [s for s in with_breaths(ph, pr["hf_db"], FPS, pr["voiced"]) if s.label == BREATH]
    assert len(br) == 1 and 0.35 <= br[0].start <= 0.55 and 0.7 <= br[0].end <= 0.9
