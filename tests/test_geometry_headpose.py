"""headgen.geometry.headpose: Umeyama, Euler convention (300W-LP/AFLW2000), rays, PnP refinement."""
import math

import numpy as np
import pytest

from headgen.geometry.conventions import HEAD_TO_OPENCV
from headgen.geometry.headpose import (orthonormalize, pnp_refine, project, ray_rotation, rot_z,
                                       rotation_to_ypr, view_relative_rotation, ypr_to_rotation)
from headgen.geometry.procrustes import umeyama

RNG = np.random.default_rng(0)


def _random_rotation(rng):
    return orthonormalize(rng.normal(size=(3, 3)))


def test_umeyama_recovers_similarity_and_ignores_zero_weights():
    src = RNG.normal(size=(50, 3))
    R = _random_rotation(RNG)
    assert np.linalg.det(R) == pytest.approx(1.0)
    s, t = 2.5, np.array([1.0, -2.0, 3.0])
    dst = s * src @ R.T + t
    w = np.ones(50)
    dst[:5] += 100.0          # outliers with zero weight must not matter
    w[:5] = 0.0
    s_, R_, t_ = umeyama(src, dst, w)
    assert s_ == pytest.approx(s, rel=1e-9)
    np.testing.assert_allclose(R_, R, atol=1e-9)
    np.testing.assert_allclose(t_, t, atol=1e-9)
    # batched, without scale
    src_b = np.stack([src, src])
    s_b, R_b, t_b = umeyama(src_b, np.stack([src @ R.T + t] * 2), with_scale=False)
    assert s_b.shape == (2,) and np.allclose(s_b, 1.0)
    np.testing.assert_allclose(R_b[1], R, atol=1e-9)


def test_umeyama_never_returns_reflection():
    src = RNG.normal(size=(20, 3))
    dst = src * np.array([-1.0, 1.0, 1.0])       # a mirror image: best proper rotation, det +1
    _, R, _ = umeyama(src, dst)
    assert np.linalg.det(R) == pytest.approx(1.0)


@pytest.mark.parametrize("ypr", [(0, 0, 0), (30, -20, 10), (-75, 40, -60), (89, 10, 170)])
def test_ypr_roundtrip(ypr):
    R = ypr_to_rotation(*ypr)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(rotation_to_ypr(R), ypr, atol=1e-9)


def test_frontal_head_is_zero():
    np.testing.assert_allclose(rotation_to_ypr(HEAD_TO_OPENCV), [0, 0, 0], atol=1e-12)


def test_sign_meanings():
    nose = np.array([0.0, 0.0, 1.0])     # head frame: out of the face
    up = np.array([0.0, 1.0, 0.0])
    # yaw > 0: nose points to the image left (camera -x)
    assert (ypr_to_rotation(30, 0, 0) @ nose)[0] < -0.4
    # pitch > 0: looking up (camera -y is image up)
    assert (ypr_to_rotation(0, 30, 0) @ nose)[1] < -0.4
    # roll > 0: clockwise in the image: the head's top moves to the image right
    top = ypr_to_rotation(0, 0, 30) @ up
    assert top[0] > 0.4 and top[1] < 0


@pytest.mark.parametrize("ypr", [(25, -10, 15), (-40, 20, -5)])
def test_matches_hopenet_axis_drawing(ypr):
    """HopeNet/6DRepNet draw the AFLW2000 labels' axes in the image with closed forms (their
    draw_axis: x axis and the out-of-face z axis, yaw negated first); ours agree."""
    yaw, pitch, roll = np.radians(ypr)
    R = ypr_to_rotation(*ypr)
    # image-plane directions (x right, y down) of the head's x, y (image-up drawn with -) and z axes
    yw = -yaw
    x_axis = [math.cos(yw) * math.cos(roll),
              math.cos(pitch) * math.sin(roll) + math.cos(roll) * math.sin(pitch) * math.sin(yw)]
    z_axis = [math.sin(yw), -math.cos(yw) * math.sin(pitch)]
    np.testing.assert_allclose((R @ [1, 0, 0])[:2], x_axis, atol=1e-9)
    np.testing.assert_allclose((R @ [0, 0, 1])[:2], z_axis, atol=1e-9)


def test_mirror_negates_yaw_and_roll():
    R = ypr_to_rotation(20, -12, 7)
    M = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(rotation_to_ypr(M @ R @ M), [-20, -12, -7], atol=1e-9)


def test_image_rotation_changes_roll_frontal():
    R = ypr_to_rotation(0, 0, 5)
    # rotate the camera image counter-clockwise by 20 deg: content turns ccw, roll decreases
    Rimg = rot_z(np.radians(-20))
    assert rotation_to_ypr(Rimg @ R)[2] == pytest.approx(5 - 20, abs=1e-9)


def test_ray_rotation_and_view_relative():
    t = np.array([0.2, -0.1, 0.8])
    Rr = ray_rotation(t)
    np.testing.assert_allclose(Rr @ [0, 0, 1], t / np.linalg.norm(t), atol=1e-12)
    np.testing.assert_allclose(ray_rotation(np.array([0, 0, 3.0])), np.eye(3), atol=1e-12)
    # a head that faces the camera centre (its nose along -ray) is frontal in view-relative terms
    R_cv = Rr @ HEAD_TO_OPENCV
    np.testing.assert_allclose(rotation_to_ypr(view_relative_rotation(R_cv, t)), 0, atol=1e-9)


def test_pnp_refine_recovers_pose():
    pts = RNG.normal(scale=0.05, size=(40, 3))
    K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
    R = ypr_to_rotation(20, -10, 5)
    t = np.array([0.05, -0.02, 0.7])
    uv = project(pts, R, t, K)
    R0 = ypr_to_rotation(10, 0, 0)
    R_, t_ = pnp_refine(pts, uv, K, R0, t * 1.2)
    np.testing.assert_allclose(R_, R, atol=1e-6)
    np.testing.assert_allclose(t_, t, atol=1e-6)
