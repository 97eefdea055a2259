"""FaceLandmarker (MediaPipe face detection + mesh) contract, video tracking, and smoothing on GRID."""
import numpy as np
import pytest

pytest.importorskip("mediapipe")

from headgen.assets import sample_faces, sample_videos  # noqa: E402
from headgen.io.images import read_image  # noqa: E402
from headgen.io.video import read_video  # noqa: E402
from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68  # noqa: E402
from headgen.landmarks.mediapipe_backend import FaceLandmarker, FaceObservation  # noqa: E402
from headgen.stages.pose.estimator import HeadPoseEstimator  # noqa: E402
from headgen.stages.pose.estimate import camera_matrix  # noqa: E402
from headgen.stages.pose.params import PoseParams  # noqa: E402


@pytest.fixture(scope="module")
def clip():
    return read_video(sample_videos()[0])


def test_image_mode_contract():
    img = read_image([p for p in sample_faces() if "luciano" in p.stem][0])
    with FaceLandmarker(max_faces=4) as lm:
        faces = lm.detect(img)
        assert len(faces) == 1
        f = faces[0]
        assert isinstance(f, FaceObservation)
        assert f.bbox.shape == (4,) and f.landmarks_468.shape == (468, 3) and f.landmarks_68.shape == (68, 2)
        np.testing.assert_allclose(f.landmarks_68, f.landmarks_468[MEDIAPIPE_TO_IBUG68, :2])
        assert 0.5 < f.score <= 1.0
        h, w = img.shape[:2]
        assert (f.landmarks_468[:, 0] >= 0).all() and (f.landmarks_468[:, 0] < w).all()
        # the face is in the upper middle of the portrait: landmarks in pixels, not normalised
        assert 100 < f.landmarks_468[1, 0] < 300 and f.bbox[2] - f.bbox[0] > 80
        assert lm.detect(np.full((120, 160, 3), 90, np.uint8)) == []
        assert len(lm.detect(img[:, :, 0])) == 1          # grey input is accepted
        with pytest.raises(ValueError):
            lm.detect(img.astype(np.float32))


def test_video_mode_tracks_without_redetecting(clip):
    frames, _ = clip
    with FaceLandmarker(max_faces=1, video=True) as lm:
        counts = [len(lm.detect(f)) for f in frames]
        assert counts == [1] * len(frames)
        assert lm.detector_calls <= 3


def test_video_mode_first_frame_comes_from_the_tracked_pass(clip):
    frames, _ = clip
    with FaceLandmarker(max_faces=1, video=True, prime_new_faces=False) as raw:
        untracked = raw.detect(frames[0])[0].landmarks_468       # region from the face detector
        tracked = raw.detect(frames[0])[0].landmarks_468         # region from its own landmarks
    with FaceLandmarker(max_faces=1, video=True) as lm:
        first = lm.detect(frames[0])[0].landmarks_468
        assert lm.primed_frames == 1
        lm.detect(frames[1])
        assert lm.primed_frames == 1                              # tracked frames run once
        lm.reset()
        np.testing.assert_allclose(lm.detect(frames[0])[0].landmarks_468, first, atol=1e-4)
        assert lm.primed_frames == 2                              # a new clip primes again
    np.testing.assert_allclose(first, tracked, atol=1e-4)
    # the two passes disagree (0.54 px mean on this clip), so the check above can tell them apart
    assert np.linalg.norm(untracked[:, :2] - tracked[:, :2], axis=1).mean() > 0.2


def test_smoothing_reduces_jitter_on_grid(clip):
    frames, fps = clip
    h, w = frames.shape[1:3]
    K = camera_matrix(w, h, PoseParams())
    out = {}
    for smooth in (False, True):
        with HeadPoseEstimator(K, video=True, max_faces=1, smooth=smooth) as est:
            out[smooth] = np.array([est.process(f, i / fps)[0].ypr for i, f in enumerate(frames)])
    jit = {k: np.std(np.diff(v, axis=0), axis=0) for k, v in out.items()}
    assert np.all(jit[True] < 0.7 * jit[False]), jit
    # smoothing must not move the estimate away: mean angles agree within half a degree
    np.testing.assert_allclose(out[True].mean(0), out[False].mean(0), atol=0.5)


def test_two_faces_image_and_video_ids():
    import cv2

    faces = {p.stem: read_image(p) for p in sample_faces()}
    a = cv2.resize(faces["codait_luciano"], (256, 256), interpolation=cv2.INTER_AREA)
    b = cv2.resize(faces["astronaut_eileen_collins"][40:296, 120:376], (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.concatenate([a, b], axis=1)
    K = camera_matrix(512, 256, PoseParams())
    with HeadPoseEstimator(K, video=False, max_faces=4) as est:
        heads = est.process(canvas)
    assert len(heads) == 2 and [h.track_id for h in heads] == [0, 1]
    with HeadPoseEstimator(K, video=True, max_faces=4) as est:
        per_frame = []
        for i in range(8):
            frame = np.roll(canvas, 3 * i, axis=1)          # both faces drift right
            per_frame.append({h.track_id: h.bbox for h in est.process(frame, i / 25.0)})
    assert all(len(f) == 2 for f in per_frame)
    ids = set(per_frame[0])
    assert all(set(f) == ids for f in per_frame)              # the same two ids throughout
    left = min(ids, key=lambda k: per_frame[0][k][0])
    assert all(f[left][0] < min(v[0] for k, v in f.items() if k != left) for f in per_frame)
