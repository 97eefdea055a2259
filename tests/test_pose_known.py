"""Known poses: the ICT-FaceKit head, textured from a real photo, rendered at known yaw/pitch/roll;
the pose stage's estimator must recover them.

Target: MAE <= 3 degrees for |yaw| <= 60. Measured (27 renders: yaw -60..60 step 15 x (pitch, roll)
in {(0, 0), (15, -10), (-15, 10)}): 3.1 / 3.2 / 1.8 (yaw / pitch / roll) over |yaw| <= 60 (the
target, 3, is not met) and 2.0 / 2.7 / 1.3 for |yaw| <= 45; the remaining error is MediaPipe's
(landmarks of a face turned 60 degrees are pulled towards the silhouette; its depth along the face's
profile is too noisy to fix pitch). The texture matters: bench/pose_known.py renders the same poses
with six textures (pitch MAE at |yaw| <= 60 from 3.2 to 9.6 degrees; mean 3.2 / 5.3 / 2.6), so part of
the error is this harness (a texture projected from a photo paints features where that photo had them,
not where ICT's geometry has them). Fed the exact projections of the ICT head's MediaPipe points
instead of MediaPipe's landmarks, the solver errs by 1.9 / 2.6 / 0.9 (tests/test_pose_solver.py): the
canonical face is another head shape. The test holds |yaw| <= 45 to 3 degrees and
|yaw| <= 60 to 3.6 degrees so that a regression shows.

Texture: the photo (codait_luciano) is projected onto the ICT neutral face after aligning ICT's
68 landmarks to MediaPipe's 68 on the photo (PnP), giving per-vertex colours
(``headgen.testing.known_pose``). ICT's model frame and MediaPipe's canonical face disagree on
"frontal" by a constant rotation (a few degrees of pitch); it is measured on the frontal render and
removed (angles are compared as rotations relative to it).
"""
import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytest.importorskip("torch")

from headgen.assets import AssetMissingError, sample_faces  # noqa: E402
from headgen.geometry.headpose import ypr_to_rotation  # noqa: E402
from headgen.io.images import read_image  # noqa: E402
from headgen.landmarks.mediapipe_backend import FaceLandmarker  # noqa: E402
from headgen.testing import known_pose  # noqa: E402
from headgen.stages.pose.estimator import HeadPoseEstimator  # noqa: E402
from headgen.stages.pose.estimate import camera_matrix  # noqa: E402
from headgen.stages.pose.params import PoseParams  # noqa: E402


def textured_head(landmarker, photo="codait_luciano", parts="face"):
    """(V, F, colours) of the ICT head textured from a sample photo (skips without the ICT asset)."""
    img = read_image([p for p in sample_faces() if p.stem == photo][0])
    try:
        return known_pose.textured_ict_head(img, landmarker.detect(img)[0].landmarks_68, parts=parts)
    except AssetMissingError as e:
        pytest.skip(f"ICT model unavailable: {e}")


def render_camera():
    """Intrinsics of the known-pose renders."""
    return camera_matrix(known_pose.RENDER_SIZE, known_pose.RENDER_SIZE, PoseParams(fov=known_pose.RENDER_FOV))


@pytest.fixture(scope="module")
def results():
    with FaceLandmarker(max_faces=1) as lm:
        head = textured_head(lm)
        K = render_camera()
        est = HeadPoseEstimator(K, video=False, smooth=False, landmarker=lm)
        got = {}
        for pose, img in known_pose.render_known_poses(head, K):
            heads = est.process(img)
            got[pose] = heads[0] if heads else None
    return got


def test_all_renders_detected(results):
    missing = [p for p, h in results.items() if h is None]
    assert not missing, missing


def _rotations(results):
    return {p: (h.rotation if h is not None else None) for p, h in results.items()}


@pytest.mark.parametrize("max_yaw, limit", [(45, 3.0), (60, 3.6)])
def test_known_pose_mae(results, max_yaw, limit):
    rotations = _rotations(results)
    assert known_pose.offset_angle_deg(rotations) < 8.0          # canonical -> ICT frame difference
    mae = known_pose.mean_abs_error(rotations, max_yaw)
    print(f"known-pose MAE |yaw|<={max_yaw} yaw/pitch/roll (deg):", np.round(mae, 2))
    assert np.all(mae <= limit), mae


def test_pose_errors_helper_checks_and_wraps():
    with pytest.raises(ValueError, match="frontal"):
        known_pose.pose_errors({(15, 0, 0): ypr_to_rotation(15, 0, 0)})
    # a perfect estimator in a head frame turned by a constant rotation has zero error; missed poses are skipped
    off = ypr_to_rotation(3, -4, 1)
    est = {p: ypr_to_rotation(*p) @ off for p in known_pose.KNOWN_POSES}
    est[(45, 15, -10)] = None
    err = known_pose.pose_errors(est, 60)
    assert err.shape == (26, 3) and np.abs(err).max() < 1e-6
    assert known_pose.pose_errors(est, 30).shape == (15, 3)


def test_known_pose_signs_and_order(results):
    """Yaw grows monotonically with the rendered yaw; pitch/roll signs follow the rendered ones."""
    yaws = [results[(y, 0, 0)].ypr[0] for y in (-60, -45, -30, -15, 0, 15, 30, 45, 60)]
    assert np.all(np.diff(yaws) > 0), yaws
    for y in (-30, 0, 30):
        up, down = results[(y, 15, -10)].ypr, results[(y, -15, 10)].ypr
        assert up[1] > down[1] + 15 and up[2] < down[2] - 10
