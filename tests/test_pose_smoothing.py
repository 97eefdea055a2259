"""One-Euro filters: jitter removal on a still signal, at most ~one frame of lag on a moving one."""
import numpy as np

from headgen.geometry.headpose import rotation_to_ypr, ypr_to_rotation
from headgen.landmarks.filters import OneEuroFilter, RotationFilter
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
