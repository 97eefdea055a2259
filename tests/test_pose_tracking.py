"""Face association across frames: stable ids, Hungarian assignment, short dropouts."""
import numpy as np

from headgen.landmarks.mediapipe_backend import box_iou
from headgen.landmarks.tracking import FaceTracker, association_cost


def _box(cx, cy, s=50.0):
    return [cx - s, cy - s, cx + s, cy + s]


def test_box_iou():
    iou = box_iou(np.array([_box(0, 0)]), np.array([_box(0, 0), _box(50, 0), _box(500, 0)]))
    np.testing.assert_allclose(iou[0], [1.0, 50 * 100 / (2 * 100 * 100 - 50 * 100), 0.0])


def test_ids_stable_when_detection_order_swaps():
    tr = FaceTracker()
    ids0 = tr.update([_box(100, 100), _box(400, 100)])
    assert ids0 == [0, 1]
    ids1 = tr.update([_box(405, 102), _box(103, 98)])      # same faces, listed in the other order
    assert ids1 == [1, 0]


def test_new_face_new_id_and_dropout_survival():
    tr = FaceTracker(max_missed=2)
    a, = tr.update([_box(100, 100)])
    assert tr.update([]) == []                               # missed one frame
    ids = tr.update([_box(104, 100), _box(400, 300)])
    assert ids[0] == a and ids[1] != a
    for _ in range(3):
        tr.update([_box(400, 300)])
    assert a not in tr.tracks                                # retired after max_missed
    assert tr.update([_box(100, 100)])[0] not in (a, ids[1])  # ids are never reused


def test_landmarks_disambiguate_overlapping_boxes():
    """Two heavily overlapping faces: the landmark term decides which is which."""
    rng = np.random.default_rng(0)
    la = rng.uniform(0, 100, size=(468, 2))
    lb = la + [30, 0]
    cost = association_cost([_box(50, 50)] * 2, np.stack([la, lb]), [_box(52, 50)] * 2,
                            np.stack([lb + 1, la + 1]))
    assert cost[0, 1] < cost[0, 0] and cost[1, 0] < cost[1, 1]
