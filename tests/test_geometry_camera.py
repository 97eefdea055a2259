"""Pinhole camera helpers follow the OpenCV convention."""
import math

import torch

from headgen.geometry import camera as cam
from headgen.geometry import HEAD_TO_OPENCV


def test_projection_matches_opencv_formula_and_unprojects():
    K = cam.intrinsics_matrix(500.0, 480.0, 320.0, 240.0, dtype=torch.float64)
    pts = torch.tensor([[[0.1, -0.05, 2.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    uv = cam.project_points(pts, K)
    assert torch.allclose(uv[0, 0], torch.tensor([320 + 500 * 0.05, 240 - 480 * 0.025], dtype=torch.float64))
    assert torch.allclose(uv[0, 1], torch.tensor([320.0, 240.0], dtype=torch.float64))
    back = cam.unproject_points(uv, pts[..., 2], K)
    assert torch.allclose(back, pts)


def test_default_intrinsics_fov():
    K = cam.default_intrinsics(640, 480, fov_deg=60.0)
    half_width = K[0, 0] * math.tan(math.radians(30))
    assert abs(float(half_width) - 320.0) < 1e-3
    assert abs(float(K[0, 2]) - 319.5) < 1e-6 and abs(float(K[1, 2]) - 239.5) < 1e-6


def test_look_at_is_opencv():
    eye = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    R, t = cam.look_at(eye, torch.zeros(3, dtype=torch.float64))
    # Camera at +z looking at the origin with +y up: the head-to-OpenCV flip.
    assert torch.allclose(R, torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float64), atol=1e-12)
    # The target is straight ahead at depth 1; world +y (up) lands in the upper half of the image (-y).
    p = cam.transform_points(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.1, 0.0]], dtype=torch.float64), R, t)
    assert torch.allclose(p[0], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    assert p[1, 1] < 0
