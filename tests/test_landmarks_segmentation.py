"""headgen.landmarks.segmentation: MediaPipe selfie segmentation on a portrait and on real GRID frames."""
import numpy as np
import pytest

from headgen.errors import InputError

pytest.importorskip("mediapipe")
from headgen.landmarks.segmentation import choose_model, person_masks  # noqa: E402


def test_portrait_face_is_person_background_is_not():
    from headgen.assets import AssetMissingError, resolve
    from headgen.io.images import read_image
    try:
        img = np.asarray(read_image(resolve("faces/codait_luciano.png")))[..., :3]
    except AssetMissingError:  # pragma: no cover
        pytest.skip("sample faces missing")
    m = person_masks(img)
    assert m.shape == (1, 400, 400) and m.dtype == np.float32
    assert 0.0 <= m.min() and m.max() <= 1.0
    assert m[0, 130:170, 180:220].mean() > 0.95          # the face (nose/cheeks of the 400x400 portrait)
    assert m[0, :20, :20].mean() < 0.05 and m[0, :20, -20:].mean() < 0.05   # foliage behind the head
    # float input in [0,1] gives the same mask
    mf = person_masks((img / 255.0).astype(np.float32)[None])
    np.testing.assert_allclose(mf, m, atol=1e-3)


def test_grid_frames_batched(grid_clip):
    from headgen.io.video import read_video
    frames, _ = read_video(grid_clip, max_frames=4)
    m = person_masks(frames)
    assert m.shape == (4, 288, 360) and m.dtype == np.float32
    assert m[:, 120:160, 130:170].mean() > 0.95          # face centre of the GRID speaker
    assert m[:, :20, :20].max() < 0.05 and m[:, :20, -20:].max() < 0.05 and m[:, 100:150, :30].max() < 0.05
    # an iterable of frames (a generator) gives the same masks as the array
    m2 = person_masks(f for f in frames)
    np.testing.assert_allclose(m2, m, atol=1e-6)
    assert choose_model(360, 288) == 0 and choose_model(640, 360) == 1


def test_bad_input():
    with pytest.raises(InputError):
        person_masks([])
    with pytest.raises(InputError, match="size"):
        person_masks([np.zeros((64, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)])
    with pytest.raises(InputError):
        person_masks(np.zeros((2, 5, 5, 7), np.uint8))
