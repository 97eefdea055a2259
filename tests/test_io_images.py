"""Image reading/writing: RGB order, formats, bad input."""
import numpy as np
import pytest

from headgen.assets import sample_faces
from headgen.errors import InputError
from headgen.io.images import read_image, write_image


def test_read_sample_face_rgb():
    img = read_image(sample_faces()[0])
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] > 100 and img.shape[1] > 100


def test_roundtrip_png_keeps_rgb_order(tmp_path):
    img = np.zeros((20, 30, 3), np.uint8)
    img[..., 0] = 200  # red
    img[5, 7] = (1, 2, 3)
    p = write_image(tmp_path / "sub" / "a.png", img)
    back = read_image(p)
    np.testing.assert_array_equal(back, img)
    import cv2
    assert cv2.imread(str(p))[0, 0, 2] == 200  # on disk BGR as every viewer expects


def test_float_and_alpha_inputs(tmp_path):
    f = np.full((8, 8, 4), 0.5, np.float32)
    p = write_image(tmp_path / "f.png", f)
    back = read_image(p)
    assert back.shape == (8, 8, 3) and abs(int(back[0, 0, 0]) - 128) <= 1
    j = write_image(tmp_path / "g.jpg", np.full((8, 8, 3), 100, np.uint8))
    assert abs(int(read_image(j)[0, 0, 1]) - 100) <= 2


def test_unreadable_image_names_file(tmp_path):
    bad = tmp_path / "face_photo.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(InputError, match="face_photo.png"):
        read_image(bad)
    with pytest.raises(InputError, match="missing.jpg"):
        read_image(tmp_path / "missing.jpg")
