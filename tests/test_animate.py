"""animate: artifacts (animation.npz, Live Link Face CSV), visemes/coarticulation, blinks, style, audio model, CLI."""
import numpy as np
import pytest

from headgen.models.arkit import ARKIT_NAMES

J = ARKIT_NAMES.index("jawOpen")


@pytest.fixture(scope="module")
def arctic():
    """(wav path, phone Segments) of the ARCTIC utterance with its real phone labels."""
    from headgen.assets import AssetMissingError, resolve
    from headgen.audio.labels import read_arctic_lab
    try:
        wav = resolve("audio/cmu_arctic_slt_a0009.wav")
        lab = resolve("audio/cmu_arctic_slt_a0009_phone.lab")
    except AssetMissingError:  # pragma: no cover
        pytest.skip("ARCTIC sample missing")
    return wav, read_arctic_lab(lab)


@pytest.fixture(scope="module")
def arctic_curves(arctic):
    from headgen.stages.animate.curves import generate_curves
    from headgen.stages.animate.speech import read_speech
    sp = read_speech(arctic[0], 25, phones=arctic[1])
    return sp, generate_curves(sp.phones, sp.energy_db, sp.f0_hz, 25, sp.n_frames, seed=3)


def test_livelink_roundtrip(tmp_path):
    from headgen.artifacts.livelink import header, read_livelink_csv, write_livelink_csv
    from headgen.stages.animate.prosody import angles_to_rotation
    rng = np.random.default_rng(0)
    T, fps = 60, 30.0
    W = rng.uniform(0, 1, (T, 52)).astype(np.float32)
    R = angles_to_rotation(rng.normal(0, 0.1, (T, 3)))
    eyes = rng.normal(0, 0.05, (T, 2, 2)).astype(np.float32)
    p = write_livelink_csv(tmp_path / "a.csv", W, fps, head_rotation=R, eyes=eyes, start=3599.5)
    lines = p.read_text().splitlines()
    h = lines[0].split(",")
    assert h == header() and len(h) == 63 and h[2] == "EyeBlinkLeft" and h[53] == "TongueOut"
    assert h[54:] == ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                      "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]
    first = lines[1].split(",")
    assert first[0] == "00:59:59:15.000" and first[1] == "61"
    take = read_livelink_csv(p)
    assert take.fps == pytest.approx(fps) and take.start == pytest.approx(3599.5)
    np.testing.assert_allclose(take.arkit, W, atol=1e-6)
    np.testing.assert_allclose(take.head_rotation, R, atol=1e-5)
    np.testing.assert_allclose(take.eyes, eyes, atol=1e-6)
    np.testing.assert_allclose(take.times, np.arange(T) / fps, atol=1e-5)


def test_animation_npz_roundtrip_and_errors(tmp_path):
    from headgen.artifacts.animation import read_animation, write_animation
    from headgen.errors import InputError
    T = 5
    W = np.linspace(0, 1, T * 52).reshape(T, 52)
    p = write_animation(tmp_path / "animation.npz", W, np.tile(np.eye(3), (T, 1, 1)), np.zeros((T, 2, 2)), 25.0,
                        expression=np.ones((T, 7)), jaw=np.zeros((T, 3)), extra={"model": np.array("flame")})
    a = read_animation(tmp_path)
    assert a.n_frames == T and a.arkit_names == list(ARKIT_NAMES) and a.fps == 25.0
    np.testing.assert_allclose(a.column("JawOpen"), W[:, J].astype(np.float32))
    assert a.expression.shape == (T, 7) and str(a.extra["model"]) == "flame"
    with np.load(p, allow_pickle=False) as z:
        assert set(z.files) >= {"arkit", "arkit_names", "head_rotation", "eyes", "fps", "times"}
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        write_animation(tmp_path / "bad.npz", W * 2, np.tile(np.eye(3), (T, 1, 1)), np.zeros((T, 2, 2)), 25.0)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="junk.npz"):
        read_animation(tmp_path / "junk.npz")


def test_visemes_on_real_phones(arctic_curves):
    """p/b/m close the lips (ICT mesh), w/oo round, f/v roll the lower lip, silence rests."""
    from headgen.models import load_head_model
    from headgen.models.arkit import arkit_to_model_matrix
    from headgen.stages.animate.evaluate import lip_gap_mm
    sp, c = arctic_curves
    m = load_head_model("ict", parts="face")
    gap = lip_gap_mm(m, c.arkit @ arkit_to_model_matrix(m.expression_names))
    rest_gap = lip_gap_mm(m, np.zeros((1, m.n_expression)))[0]
    frame = lambda s: int(round(s.mid * 25))  # noqa: E731
    bil = [frame(s) for s in sp.phones if s.label in ("P", "B", "M")]
    vow = [frame(s) for s in sp.phones if s.label in ("AA", "AE", "AH", "EH")]
    assert bil and vow
    assert max(gap[k] for k in bil) < rest_gap + 1.5          # closed (within 1.5 mm of the closed rest pose)
    assert np.median([gap[k] for k in vow]) > rest_gap + 4.0    # open on open vowels
    ff = [frame(s) for s in sp.phones if s.label in ("F", "V")]
    # the default's lip shapes are the hand-set ones at calibration.LIP_SCALE (0.5): lower lip rolled on f/v
    assert all(c.arkit[k, ARKIT_NAMES.index("mouthRollLower")] > 0.15 for k in ff)
    mouth = [i for i in range(52) if ARKIT_NAMES[i].startswith(("jaw", "mouth")) and i != J]
    assert np.abs(c.arkit[-2:, mouth + [J]]).max() < 0.05            # trailing silence rests
    # leading 0.13 s pause: at rest until the anticipatory ramp of the last PRE_SPEECH_S before the first phone
    assert np.abs(c.arkit[:2, mouth]).max() < 0.05 and c.arkit[0, J] < 0.05 and c.arkit[:2, J].max() < 0.15


def test_rounding_and_no_phones():
    from headgen.audio.phones import Segment
    from headgen.stages.animate.curves import generate_curves
    ph = [Segment(0.2, 0.35, "W"), Segment(0.35, 0.6, "UW"), Segment(0.6, 0.8, "AA")]
    c = generate_curves(ph, np.full(25, -20.0), np.full(25, np.nan), 25, 25)
    pk = ARKIT_NAMES.index("mouthPucker")
    assert c.arkit[6:12, pk].max() > 0.3 and c.arkit[17:20, pk].max() < 0.15
    # music/noise without speech: no phones -> no mouth movement at all, however loud
    rng = np.random.default_rng(0)
    c2 = generate_curves([], rng.uniform(-30, 0, 50), np.full(50, 200.0), 25, 50)
    mouth = [i for i in range(52) if ARKIT_NAMES[i].startswith(("jaw", "mouth"))]
    assert np.abs(c2.arkit[:, mouth]).max() == 0.0


def test_blinks_and_gaze_seeded():
    from headgen.stages.animate.blinks import blink_curve, blink_events, gaze_track
    ev = blink_events(60.0, seed=5)
    assert np.array_equal(ev, blink_events(60.0, seed=5)) and not np.array_equal(ev, blink_events(60.0, seed=6))
    gaps = np.diff(ev[:, 0])
    assert gaps.min() >= 2.0 and gaps.max() <= 6.0 and 0.1 <= ev[:, 1].min() and ev[:, 1].max() <= 0.15
    t = np.arange(1500) / 25.0
    b = blink_curve(t, 25.0, ev)
    for s, L in ev:  # every blink fully closes the lids in some frame and is short
        k = (t > s - 0.05) & (t < s + L + 0.05)
        assert b[k].max() > 0.95 and (b[k] > 0.5).sum() <= 3
    g = gaze_track(t, seed=5)
    assert g.shape == (1500, 2, 2) and np.abs(np.rad2deg(g)).max() <= 8.0 + 1e-6
    assert 10 < (np.abs(np.diff(g[:, 0, 1])) > 0).sum() < 60   # saccades every 0.6-3 s


def test_style_recovers_scaled_targets(arctic):
    """Curves made with known per-viseme targets (jaw x1.6, 30 ms later) -> learn_style finds them."""
    from headgen.stages.animate.coarticulation import VisemeTrack, blend_visemes
    from headgen.stages.animate.style import StyleObservation, learn_style
    from headgen.stages.animate.visemes import viseme_table
    _, ph = arctic
    X0 = viseme_table()[0]
    X = X0.copy()
    X[:, J] *= 1.6
    times = np.arange(80) / 25.0
    true, _ = blend_visemes(VisemeTrack.from_segments(ph, lead_s=0.06), times, targets=X)
    ob = StyleObservation(ph, np.ones(80), times, true.astype(np.float64), np.ones(80, bool))
    st = learn_style([ob], ridge=1e-3)
    assert st.lead_s == pytest.approx(0.06) and st.tau_scale == 1.0
    pred, _ = blend_visemes(VisemeTrack.from_segments(ph, lead_s=st.lead_s), times, **st.blend_kwargs())
    assert np.corrcoef(pred[:, J], true[:, J])[0, 1] > 0.99
    assert pred[:, J].max() == pytest.approx(true[:, J].max(), rel=0.1)


def test_calibrated_default(arctic):
    """The default = hand-set lips x LIP_SCALE + calibrated jaw; calibrate_jaw recovers known jaw targets; the
    end of a pause before speech takes the 'pre' viseme."""
    from headgen.stages.animate.calibration import GRID_JAW, LIP_SCALE, calibrate_jaw, default_targets
    from headgen.stages.animate.coarticulation import VisemeTrack, blend_visemes
    from headgen.stages.animate.style import StyleObservation
    from headgen.stages.animate.visemes import PRE_SPEECH_S, VISEME_NAMES, viseme_table
    _, ph = arctic
    X, H = default_targets(), viseme_table()[0]
    i = VISEME_NAMES.index("WW")
    pk = ARKIT_NAMES.index("mouthPucker")
    assert X[i, pk] == pytest.approx(LIP_SCALE * H[i, pk]) and X[i, J] == pytest.approx(GRID_JAW["WW"])
    tr = VisemeTrack.from_segments(ph)
    first = next(k for k, s in enumerate(ph) if s.label != "SIL")
    pre = np.flatnonzero(tr.viseme == VISEME_NAMES.index("pre"))
    assert pre.size and tr.end[pre[0]] == pytest.approx(ph[first].start)
    assert tr.end[pre[0]] - tr.start[pre[0]] <= PRE_SPEECH_S + 1e-9
    true_jaw = {n: 0.0 if n == "sil" else 0.05 + 0.02 * k for k, n in enumerate(VISEME_NAMES)}
    times = np.arange(80) / 25.0
    curves, _ = blend_visemes(tr, times, targets=default_targets(true_jaw))
    ob = StyleObservation(ph, np.ones(80), times, curves.astype(np.float64), np.ones(80, bool))
    got = calibrate_jaw([ob], ridge=1e-4)
    assert got["pre"] == pytest.approx(true_jaw["pre"], abs=0.01)
    again, _ = blend_visemes(tr, times, targets=default_targets(got))
    assert np.abs(again[:, J] - curves[:, J]).max() < 0.01


def test_train_tiny_audio_model(arctic, arctic_curves, tmp_path, one_torch_thread):
    import torch

    from headgen.io.audio import read_audio
    from headgen.stages.animate.audio_model import (audio_features, load_audio_model, predict_mouth,
                                                    save_audio_model, train_audio_model)
    sp, c = arctic_curves
    x, sr = read_audio(arctic[0], 16000)
    f = audio_features(x, sr, 25, sp.n_frames)
    torch.manual_seed(0)
    net = train_audio_model([(f, c.arkit)], steps=60, width=16, seed=0)
    save_audio_model(tmp_path / "m.pt", net)
    y = predict_mouth(load_audio_model(tmp_path / "m.pt"), x, sr, 25, sp.n_frames, chunk_frames=30)
    assert np.corrcoef(y[:, J], c.arkit[:, J])[0, 1] > 0.8     # fits its training utterance


def _cli(capsys, *args):
    """Run ``headgen`` in-process -> (exit code, stderr)."""
    from headgen.cli import main
    capsys.readouterr()
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err


def test_cli_end_to_end(arctic, tmp_path, capsys):
    from headgen.artifacts.animation import read_animation
    from headgen.artifacts.livelink import read_livelink_csv
    from headgen.io.video import probe_video
    out = tmp_path / "o"
    rc, err = _cli(capsys, "animate", arctic[0], "-o", out, "--phones",
                   str(arctic[0]).replace(".wav", "_phone.lab"), "--size", 64, "--seed", 1)
    assert rc == 0, err
    a = read_animation(out / "animation.npz")
    take = read_livelink_csv(out / "animation_arkit.csv")
    np.testing.assert_allclose(take.arkit, a.arkit, atol=1e-6)
    info = probe_video(out / "video.mp4")
    assert info.has_audio and info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.n_frames == a.n_frames and abs(a.n_frames / 25.0 - 3.095) <= 1 / 25.0


def test_cli_bad_audio(tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00junk" * 10)
    rc, err = _cli(capsys, "animate", bad, "-o", tmp_path / "o", "--no-video")
    assert rc != 0 and "broken.wav" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    rc, err = _cli(capsys, "animate", empty, "-o", tmp_path / "o", "--no-video")
    assert rc != 0 and "empty.wav" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "animation.npz").exists()


@pytest.fixture(scope="module")
def short_wav(arctic, tmp_path_factory):
    """The first 0.32 s (8 frames at 25 fps) of the ARCTIC utterance."""
    from headgen.io.audio import read_audio, write_audio
    x, sr = read_audio(arctic[0], 16000)
    p = tmp_path_factory.mktemp("short") / "short.wav"
    write_audio(p, x[: int(0.32 * sr)], sr)
    return p


def test_flame_target(arctic, short_wav, tmp_path, monkeypatch, one_torch_thread):
    """--model flame: FLAME expression + jaw in animation.npz (ARKit transfer) and a rendered FLAME video."""
    import functools

    import headgen.models.arkit as arkit_mod
    from headgen.artifacts.animation import read_animation
    from headgen.stages.animate.run import AnimateOptions, animate_speech
    from headgen.testing.flame import write_random_flame_folder
    # a short transfer refinement keeps the test small (the solver itself is tested in test_models_arkit)
    monkeypatch.setattr(arkit_mod, "transfer_arkit_from_ict", functools.partial(arkit_mod.transfer_arkit_from_ict, n_iter=3))
    flame = write_random_flame_folder(tmp_path / "flame", seed=0, n_shape=20, n_expression=30, subdivisions=2)
    res = animate_speech(short_wav, tmp_path / "o", AnimateOptions(model="flame", flame_path=str(flame), size=48),
                         phones=str(arctic[0]).replace(".wav", "_phone.lab"), log=lambda m: None)
    a = read_animation(res.animation)
    assert a.expression.shape[0] == 8 and a.jaw.shape == (8, 3) and np.isfinite(a.jaw).all()
    assert np.abs(a.jaw).max() > 0 or np.abs(a.expression).max() > 0
    assert res.video.is_file()


def test_avatar_video(arctic, short_wav, tmp_path, one_torch_thread):
    """--avatar: the Gaussian avatar (headgen.avatar) is rendered, its mouth follows the curves."""
    import torch

    from headgen.avatar.avatar import build_avatar, load_avatar_model, save_avatar
    from headgen.io.video import read_video
    from headgen.stages.animate.render import avatar_frames
    from headgen.stages.animate.run import AnimateOptions, animate_speech
    m = load_avatar_model("ict")
    av = build_avatar(m, n_gaussians=3000, colors=torch.tensor([0.8, 0.6, 0.5]))
    save_avatar(tmp_path / "av", av)
    res = animate_speech(short_wav, tmp_path / "o", AnimateOptions(size=48), avatar=tmp_path / "av",
                         phones=str(arctic[0]).replace(".wav", "_phone.lab"), log=lambda m: None)
    frames, fps = read_video(res.video)
    assert len(frames) == 8 and fps == 25 and frames[0].mean() > 40    # the avatar covers much of the frame
    a = np.zeros((2, 52))
    a[1, J] = 0.8
    f0, f1 = avatar_frames(tmp_path / "av", a, np.tile(np.eye(3), (2, 1, 1)), size=48)
    assert np.abs(f0.astype(int) - f1.astype(int)).max() > 0          # jawOpen moves the avatar


def test_train_audio_cli_and_weights(arctic, arctic_curves, tmp_path, capsys, one_torch_thread):
    """train-audio on a fit.npz (ICT curves of the ARCTIC utterance) + its audio; animate --weights uses it;
    --style with a fit.npz learns the style; the Stage class follows the contract."""
    from headgen.artifacts.animation import read_animation
    from headgen.artifacts.fit import write_fit
    from headgen.models.arkit import arkit_to_ict_matrix
    from headgen.models.ict import load_ict_arrays
    from headgen.pipeline.stage import _check_stage_class
    from headgen.stages.animate.stage import AnimateStage
    sp, c = arctic_curves
    T = sp.n_frames
    names = [str(n) for n in load_ict_arrays()["expression_names"]]
    write_fit(tmp_path / "fit.npz", {
        "model": np.array("ict"), "shape": np.zeros(10, np.float32), "expression_names": np.array(names),
        "expression": np.clip(c.arkit @ arkit_to_ict_matrix(names), 0, 1).astype(np.float32),
        "rotation": np.tile(np.eye(3, dtype=np.float32), (T, 1, 1)), "translation": np.zeros((T, 3), np.float32),
        "K": np.eye(3, dtype=np.float32), "image_size": np.array([64, 64], np.int32), "fps": np.float32(25)})
    rc, err = _cli(capsys, "train-audio", tmp_path / "fit.npz", "--media", arctic[0], "-o", tmp_path / "m.pt",
                   "--steps", 20, "--width", 8)
    assert rc == 0, err and (tmp_path / "m.pt").is_file()
    lab = str(arctic[0]).replace(".wav", "_phone.lab")
    rc, err = _cli(capsys, "animate", arctic[0], "-o", tmp_path / "w", "--weights", tmp_path / "m.pt", "--phones", lab,
                   "--no-video")
    assert rc == 0, err
    assert read_animation(tmp_path / "w").n_frames == T
    rc, err = _cli(capsys, "animate", arctic[0], "-o", tmp_path / "s", "--style", tmp_path / "fit.npz",
                   "--style-media", arctic[0], "--phones", lab, "--no-video", "--method", "allphone")
    assert rc == 0, err
    rc, err = _cli(capsys, "animate", arctic[0], "-o", tmp_path / "x", "--model", "flame", "--no-video")
    assert rc != 0 and "flame" in err and len(err.strip().splitlines()) == 1
    _check_stage_class(AnimateStage, "test")


def test_calibration_with_formant_jaw_gain(arctic):
    """Curves made with a per-frame jaw factor (the F1 term) -> calibrate_jaw given the same factor recovers
    the jaw targets; ignoring the factor does not."""
    from headgen.stages.animate.calibration import calibrate_jaw, default_targets
    from headgen.stages.animate.coarticulation import VisemeTrack, blend_visemes
    from headgen.stages.animate.style import StyleObservation
    from headgen.stages.animate.visemes import VISEME_NAMES
    _, ph = arctic
    true_jaw = {n: 0.0 if n == "sil" else 0.05 + 0.015 * k for k, n in enumerate(VISEME_NAMES)}
    times = np.arange(80) / 25.0
    jg = 1.0 + 0.5 * np.sin(times * 7.0)
    curves, _ = blend_visemes(VisemeTrack.from_segments(ph), times, targets=default_targets(true_jaw), jaw_gain=jg)
    ob = StyleObservation(ph, np.ones(80), times, curves.astype(np.float64), np.ones(80, bool), jaw_gain=jg)
    got = calibrate_jaw([ob], ridge=1e-4)
    used = [n for n in VISEME_NAMES if n != "sil" and any(VISEME_NAMES[v] == n for v in
                                                         VisemeTrack.from_segments(ph).viseme)]
    err = max(abs(got[n] - true_jaw[n]) for n in used)
    ob0 = StyleObservation(ph, np.ones(80), times, curves.astype(np.float64), np.ones(80, bool))
    got0 = calibrate_jaw([ob0], ridge=1e-4)
    assert err < 0.02 and max(abs(got0[n] - true_jaw[n]) for n in used) > 2 * err


def test_style_file_from_before_the_breath_viseme_loads(tmp_path):
    """A style npz written before the 'breath' viseme existed (one viseme fewer) loads, the new viseme taking the
    default's target; a file with a different viseme order is refused with a one-line error."""
    from headgen.errors import InputError
    from headgen.stages.animate.calibration import default_targets
    from headgen.stages.animate.style import Style, load_style
    from headgen.stages.animate.visemes import VISEME_NAMES
    X = default_targets() + 0.01
    V = len(VISEME_NAMES)
    np.savez(tmp_path / "old.npz", style_targets=X[:V - 1].astype(np.float32), viseme_names=np.array(VISEME_NAMES[:-1]),
             tau_scale=np.float32(1.0), lead_s=np.float32(0.02), residual=np.float32(0.1), n_frames=np.int32(10))
    st = load_style(tmp_path / "old.npz")
    assert isinstance(st, Style) and st.targets.shape == (V, 52)
    assert np.allclose(st.targets[:V - 1], X[:V - 1], atol=1e-6) and np.allclose(st.targets[-1], default_targets()[-1])
    np.savez(tmp_path / "bad.npz", style_targets=X[:2].astype(np.float32), viseme_names=np.array(["PP", "sil"]),
             tau_scale=np.float32(1.0), lead_s=np.float32(0.0), residual=np.float32(0.1), n_frames=np.int32(10))
    with pytest.raises(InputError, match="bad.npz"):
        load_style(tmp_path / "bad.npz")
