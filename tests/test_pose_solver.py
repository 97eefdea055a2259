"""The pose solver on synthetic landmarks: depth-scale fit, depth-prior refinement, point weights."""
import numpy as np
import pytest

from headgen.geometry.headpose import project, refine_pose_with_depth, ypr_to_rotation
from headgen.landmarks.canonical import load_canonical_face
from headgen.stages.pose.solver import HeadPoseSolver

K = np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]])


def _landmarks(face, R, t, z_scale):
    """MediaPipe-like (468, 3): projected pixels and relative depth in pixel units times z_scale."""
    X = face.vertices @ R.T + t
    uv = project(face.vertices, R, t, K)
    z = (X[:, 2] - X[:, 2].mean()) * K[0, 0] / t[2] * z_scale
    return np.concatenate([uv, z[:, None]], 1)


@pytest.mark.parametrize("z_scale", [0.9, 1.0, 1.15])
def test_depth_scale_is_recovered_and_pose_is_exact(z_scale):
    face = load_canonical_face()
    R, t = ypr_to_rotation(25, -10, 5), np.array([0.03, -0.01, 0.9])
    L = _landmarks(face, R, t, z_scale)
    solver = HeadPoseSolver(K, face=face)
    _, k = solver.rescale_depth(L)
    assert abs(k - z_scale) < 0.04 * z_scale          # weak-perspective fit of a head 0.9 m away
    _, k_far = solver.rescale_depth(_landmarks(face, R, t * [1, 1, 10], z_scale))
    assert abs(k_far - z_scale) < 0.005 * z_scale
    pose = solver.solve(L)
    # exact 2D points: plain PnP is exact; the depth prior (k off by the weak-perspective bias) stays within 1 deg
    exact = HeadPoseSolver(K, face=face, depth_weight=0).solve(L)
    np.testing.assert_allclose(exact.rotation, R, atol=1e-6)
    np.testing.assert_allclose(pose.ypr, exact.ypr, atol=1.0)
    np.testing.assert_allclose(pose.translation, t, rtol=1e-2, atol=2e-3)


def test_depth_prior_with_wrong_scale_biases_yaw_unless_fitted():
    face = load_canonical_face()
    R, t = ypr_to_rotation(40, 0, 0), np.array([0.0, 0.0, 0.9])
    L = _landmarks(face, R, t, 1.3)
    fitted = HeadPoseSolver(K, face=face, depth_weight=10).solve(L).ypr
    raw = HeadPoseSolver(K, face=face, depth_weight=10, fit_depth_scale=False).solve(L).ypr
    assert abs(fitted[0] - 40) < 2.0 and abs(raw[0] - 40) > 3 * abs(fitted[0] - 40)


def test_point_weights_ignore_outliers():
    rng = np.random.default_rng(3)
    P = rng.normal(scale=0.05, size=(30, 3))
    R, t = ypr_to_rotation(15, 5, -5), np.array([0.02, 0.01, 0.8])
    uv = project(P, R, t, K)
    uv[:3] += 40.0                               # three grossly wrong points
    z = (P @ R.T)[:, 2] * K[0, 0] / t[2]
    w = np.ones(30)
    w[:3] = 0.0
    R0, t0 = ypr_to_rotation(5, 0, 0), t + [0.01, 0, 0.05]
    Rw, tw = refine_pose_with_depth(P, uv, z, K, R0, t0, depth_weight=0.0, iters=30, point_weights=w)
    Ru, _ = refine_pose_with_depth(P, uv, z, K, R0, t0, depth_weight=0.0, iters=30)
    np.testing.assert_allclose(Rw, R, atol=1e-5)
    np.testing.assert_allclose(tw, t, atol=1e-5)
    assert np.abs(Ru - R).max() > 1e-3


def test_bad_depth_mode_is_refused():
    with pytest.raises(ValueError, match="depth_mode"):
        HeadPoseSolver(K, depth_mode="profile")


def test_exact_landmarks_of_another_head_shape():
    """The solver's share of the known-pose error (tests/test_pose_known.py), without MediaPipe: the
    MediaPipe-468 points of the ICT-FaceKit neutral head (its embedding), projected exactly at the
    known poses of that test. The canonical face is a different head shape, so even exact landmarks
    leave a shape-mismatch error: measured MAE 1.9 / 2.6 / 0.9 deg (yaw / pitch / roll) for |yaw| <= 60,
    with the frame offset calibrated on the frontal pose as there. It bounds what any landmark detector
    can reach with the rigid canonical face on that harness."""
    from headgen.assets import AssetMissingError
    from headgen.geometry.headpose import rotation_to_ypr
    from headgen.models import load_head_model

    try:
        P = load_head_model("ict", parts="face", mediapipe=True)().landmarks468[0].double().numpy()
    except AssetMissingError as e:  # pragma: no cover
        pytest.skip(str(e))
    from headgen.stages.pose.estimate import camera_matrix
    from headgen.stages.pose.params import PoseParams

    Kr = camera_matrix(384, 384, PoseParams(fov=30.0))   # the known-pose test's camera
    solver = HeadPoseSolver(Kr)
    poses = [(y, p, r) for y in range(-60, 61, 15) for (p, r) in ((0, 0), (15, -10), (-15, 10))]
    est = {}
    for pose in poses:
        X = P @ ypr_to_rotation(*pose).T + [0.0, 0.0, 0.7]
        uv = X[:, :2] / X[:, 2:] * Kr[0, 0] + Kr[:2, 2]
        z = (X[:, 2] - X[:, 2].mean()) * Kr[0, 0] / 0.7
        est[pose] = solver.solve(np.concatenate([uv, z[:, None]], 1)).rotation
    offset = np.diag([1.0, -1.0, -1.0]) @ est[(0, 0, 0)]
    err = np.array([rotation_to_ypr(R) - rotation_to_ypr(ypr_to_rotation(*p) @ offset) for p, R in est.items()])
    mae = np.abs(err).mean(0)
    assert np.all(mae <= [2.3, 3.0, 1.2]), mae
    assert np.abs(err).max() <= 7.5, np.abs(err).max(0)
