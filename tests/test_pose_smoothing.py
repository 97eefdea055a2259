"""One-Euro filters: jitter removal on a still signal, at most ~one frame of lag on a moving one."""
import numpy as np

from headgen.geometry.headpose import rotation_to_ypr, ypr_to_rotation
from headgen.landmarks.filters import OneEuroFilter, RotationFilter
from headgen.metrics.series import lagged_correlation
from headgen.stages.pose.smoothing import HeadSmoother, SmoothingParams

FPS = 25.0


def _jitter(x):
    return np.std(np.diff(np.asarray(x), axis=0), axis=0).mean()


def test_one_euro_first_sample_passes_and_still_signal_is_smoothed():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    x0 = np.array([1.0, 2.0])
    np.testing.assert_allclose(f(x0, 0.0), x0)
    raw = x0 + rng.normal(0, 0.1, size=(200, 2))
    out = [f(r, (i + 1) / FPS) for i, r in enumerate(raw)]
    assert _jitter(out) < 0.3 * _jitter(raw)
    assert np.abs(np.mean(out[50:], axis=0) - x0).max() < 0.03


def test_rotation_filter_reduces_jitter_and_tracks_a_turning_head():
    rng = np.random.default_rng(1)
    p = SmoothingParams().rotation
    # still head, 1 degree noise per angle
    f = RotationFilter(*p)
    raw = rng.normal(0, 1.0, size=(100, 3))
    out = [rotation_to_ypr(f(ypr_to_rotation(*a), i / FPS)) for i, a in enumerate(raw)]
    assert _jitter(out[10:]) < 0.5 * _jitter(raw[10:])
    # head turning at 30 / 60 deg/s with 0.5 degree noise: mean lag <= 1 frame
    for speed in (30.0, 60.0):
        f = RotationFilter(*p)
        t = np.arange(40) / FPS
        yaw = speed * (t - t[-1] / 2)
        out = np.array([rotation_to_ypr(f(ypr_to_rotation(y + rng.normal(0, 0.5), 0, 0), ti))[0]
                        for y, ti in zip(yaw, t)])
        lag_frames = np.mean(yaw[15:] - out[15:]) / speed * FPS
        assert lag_frames <= 1.0, (speed, lag_frames)


def test_rotation_filter_handles_quaternion_sign_flips():
    f = RotationFilter(1.0, 10.0, 1.0)
    # rotations near 180 degrees about z: quaternion w changes sign between samples
    for i, a in enumerate([178, -179, 179, -178]):
        R = f(ypr_to_rotation(0, 0, a), i / FPS)
    assert abs(abs(rotation_to_ypr(R)[2]) - 179.5) < 2.0


def test_head_smoother_landmark_lag_small_for_moving_face():
    sm = HeadSmoother(face_size=150.0)
    base = np.random.default_rng(2).uniform(0, 100, size=(468, 2))
    speed = 150.0   # px/s, one face diagonal per second
    R = np.eye(3)
    for i in range(30):
        t = i / FPS
        lm, _, _ = sm(t, base + [speed * t, 0], R, np.zeros(3))
    lag = (base[:, 0] + speed * t - lm[:, 0]).mean() / speed * FPS
    assert 0 <= lag <= 1.0


def test_repeated_timestamp_does_not_crash():
    f = OneEuroFilter(1.0, 0.1)
    f(np.zeros(3), 0.0)
    out = f(np.ones(3), 0.0)
    assert np.all(np.isfinite(out))


def test_reset():
    f = OneEuroFilter()
    f(np.zeros(2), 0.0)
    f.reset()
    np.testing.assert_allclose(f(np.ones(2), 1.0), 1.0)


# --- issue 18: the mouth and the eyes must not be delayed ------------------------------------------------

def _talking_face(T=150, seed=0, scale=800.0):
    """A synthetic talking head at 25 fps, GRID-sized: MediaPipe's canonical face at ``scale`` px/m (about
    140 px from forehead to chin) swaying slowly (yaw 3 deg at 0.4 Hz, 4 px drift), its mouth opening and
    closing at a speech rate that wanders between 4 and 6 Hz (syllables of random depth: lower lip and
    jaw down by 1.5-5 px), two blinks of 4 frames, and MediaPipe-like noise: the whole mesh shifts by
    0.3 px per frame (std per axis) and every landmark has 0.2 px of its own. Returns (raw (T, 468, 3), clean (T, 468, 3)) px."""
    from headgen.geometry.headpose import rot_y
    from headgen.landmarks.canonical import load_canonical_face

    rng = np.random.default_rng(seed)
    X = load_canonical_face().vertices
    t = np.arange(T) / FPS
    freq = 5.0 + np.clip(np.cumsum(rng.normal(0, 0.3, T)), -1, 1)        # 4..6 Hz
    phase = 2 * np.pi * np.cumsum(freq) / FPS
    depth = rng.uniform(1.5, 5.0, int(phase[-1] / (2 * np.pi)) + 2)[(phase // (2 * np.pi)).astype(int)]
    open_m = depth / scale * (1 - np.cos(phase)) / 2                      # jaw drop, metres
    jaw = np.clip((-0.042 - X[:, 1]) / 0.004, 0, 1)                       # 0 at the upper lip, 1 from the lower lip down
    blink = np.zeros(T)
    for b in (40, 100):
        blink[b:b + 4] = [0.5, 1.0, 1.0, 0.5]
    upper_lid = np.zeros(468)
    upper_lid[[159, 158, 160, 386, 385, 387]] = 1.0                        # upper lids close onto 145 / 374
    R0 = np.diag([1.0, -1.0, -1.0])
    clean = []
    for i in range(T):
        Xi = X.copy()
        Xi[:, 1] -= open_m[i] * jaw
        Xi[:, 1] -= blink[i] * 0.0065 * upper_lid
        R = R0 @ rot_y(np.radians(3.0 * np.sin(2 * np.pi * 0.4 * t[i])))
        clean.append(scale * Xi @ R.T + [180.0 + 4 * np.sin(2 * np.pi * 0.2 * t[i]), 150.0, 0.0])
    clean = np.array(clean)
    noise = rng.normal(0, 0.3, (T, 1, 3)) + rng.normal(0, 0.2, clean.shape)
    return clean + noise, clean


def _run_smoother(raw):
    sm = HeadSmoother(face_size=170.0)
    return np.array([sm(i / FPS, L, np.eye(3), np.zeros(3))[0] for i, L in enumerate(raw)])


def _gap(L, a, b):
    return np.linalg.norm(L[:, a, :2] - L[:, b, :2], axis=-1)


#: (point a, point b, least correlation at lag 0) of the gaps checked: inner lips, outer lips, both lids
_GAPS = ((13, 14, 0.9), (0, 17, 0.9), (159, 145, 0.9), (386, 374, 0.9))


def _lag_failures(out, clean) -> list:
    """Gaps of ``out`` whose cross-correlation with the clean gap does not peak at lag 0 (or is weak there)."""
    bad = []
    for a, b, least in _GAPS:
        cor = lagged_correlation(_gap(clean, a, b), _gap(out, a, b))
        if max(cor, key=cor.get) != 0 or cor[0] < least:
            bad.append(((a, b), {k: round(v, 2) for k, v in cor.items()}))
    return bad


def test_speech_rate_mouth_and_blinks_have_zero_lag_and_still_points_lose_jitter():
    for seed in (0, 1):
        raw, clean = _talking_face(seed=seed)
        out = _run_smoother(raw)
        assert _lag_failures(out, clean) == []
        # the lip gap keeps its depth of modulation (fast syllables are not smoothed away)
        g_out, g_clean = _gap(out, 13, 14), _gap(clean, 13, 14)
        assert np.ptp(g_out[10:]) > 0.85 * np.ptp(g_clean[10:])
    # points off the mouth and eyes: frame-to-frame jitter (difference to the clean motion) drops
    from headgen.stages.pose.smoothing import face_regions

    upper = face_regions() == 0
    assert upper.sum() > 150
    err_raw = np.diff(raw - clean, axis=0)[20:, upper, :2].std()
    err_out = np.diff(out - clean, axis=0)[20:, upper, :2].std()
    assert err_out < 0.5 * err_raw, (err_out, err_raw)
    # the mouth and eyes move with the smoothed head: the mesh-wide jitter leaves them too (the common
    # motion of each region's points, i.e. their mean, follows the head rather than the noise)
    for region in (1, 2):
        m = face_regions() == region
        d_raw = np.diff((raw - clean)[:, m, :2].mean(1), axis=0)[20:].std()
        d_out = np.diff((out - clean)[:, m, :2].mean(1), axis=0)[20:].std()
        assert d_out < d_raw, (region, d_out, d_raw)


def test_lag_check_catches_a_filter_on_all_landmarks():
    """The zero-lag check above fails for the former smoothing (a One-Euro filter on the 468 landmarks in
    the image, (1.5 Hz, beta 6 / face diagonal, 3 Hz)): lips and lids came out late (issue 18)."""
    raw, clean = _talking_face(seed=1)
    f = OneEuroFilter(1.5, 6.0 / 170.0, 3.0, speed_axes=(0, 1))
    old = np.array([f(L, i / FPS) for i, L in enumerate(raw)])
    bad = dict(_lag_failures(old, clean))
    assert (13, 14) in bad and (159, 145) in bad, bad
    assert max(bad[(13, 14)], key=bad[(13, 14)].get) == 1


def test_regions_cover_lips_and_lids():
    from headgen.stages.pose.smoothing import REGIONS, face_regions

    lab = face_regions()
    assert lab.shape == (468,) and set(np.unique(lab)) == {0, 1, 2}
    lips = [0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267,
            269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415]   # FACEMESH_LIPS
    lids = [33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246, 7,
            263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466, 249]    # FACEMESH_*_EYE
    assert np.all(lab[lips] == REGIONS.index("mouth")) and np.all(lab[lids] == REGIONS.index("eyes"))
    assert lab[152] == REGIONS.index("mouth")                     # chin moves with the jaw
    assert np.all(lab[[1, 4, 10, 168, 6, 234, 454]] == REGIONS.index("upper"))  # nose, forehead, cheeks
    assert face_regions(n=478)[468:].tolist() == [REGIONS.index("eyes")] * 10      # iris points


def test_no_smoothing_of_mouth_is_configurable():
    """SmoothingParams(mouth=...) filters the mouth again (and then it lags): the default is None."""
    raw, clean = _talking_face(seed=1)
    sm = HeadSmoother(170.0, SmoothingParams(mouth=(1.5, 6.0, 3.0)))
    out = np.array([sm(i / FPS, L, np.eye(3), np.zeros(3))[0] for i, L in enumerate(raw)])
    assert SmoothingParams().mouth is None and SmoothingParams().eyes is None
    assert (13, 14) in dict(_lag_failures(out, clean))
