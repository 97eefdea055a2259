"""Round trips and known values for headgen.geometry.rotations."""
import math

import pytest
import torch

from headgen.geometry import rotations as rot


def random_rotations(n, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g, dtype=dtype)
    return rot.quaternion_to_matrix(q)


def is_rotation(R, tol=1e-9):
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    return torch.allclose(R @ R.transpose(-1, -2), eye, atol=tol) and torch.allclose(
        torch.linalg.det(R), torch.ones(R.shape[:-2], dtype=R.dtype), atol=tol)


def test_quaternion_matrix_round_trip():
    R = random_rotations(500)
    assert is_rotation(R)
    q = rot.matrix_to_quaternion(R)
    assert torch.all(q[:, 0] >= 0)
    assert torch.allclose(rot.quaternion_to_matrix(q), R, atol=1e-10)


def test_axis_angle_round_trip_and_rodrigues():
    g = torch.Generator().manual_seed(1)
    aa = torch.randn(300, 3, generator=g, dtype=torch.float64)
    aa = aa / aa.norm(dim=-1, keepdim=True) * torch.rand(300, 1, generator=g, dtype=torch.float64) * (math.pi - 1e-3)
    R = rot.axis_angle_to_matrix(aa)
    assert is_rotation(R)
    assert torch.allclose(rot.matrix_to_axis_angle(R), aa, atol=1e-8)
    # Rodrigues formula, written independently.
    theta = aa.norm(dim=-1)
    k = aa / theta[:, None]
    K = torch.zeros(300, 3, 3, dtype=torch.float64)
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K = K - K.transpose(1, 2)
    R2 = torch.eye(3, dtype=torch.float64) + torch.sin(theta)[:, None, None] * K + (1 - torch.cos(theta))[:, None, None] * K @ K
    assert torch.allclose(R, R2, atol=1e-10)


def test_axis_angle_zero_is_identity_with_finite_gradient():
    aa = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    R = rot.axis_angle_to_matrix(aa)
    assert torch.allclose(R, torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
    R.sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_axis_angle_gradcheck():
    aa = (torch.randn(4, 3, dtype=torch.float64) * 0.7).requires_grad_()
    assert torch.autograd.gradcheck(rot.axis_angle_to_matrix, (aa,))


def test_6d_round_trip():
    R = random_rotations(200, seed=2)
    assert torch.allclose(rot.rotation_6d_to_matrix(rot.matrix_to_rotation_6d(R)), R, atol=1e-10)


@pytest.mark.parametrize("conv", ["XYZ", "ZYX", "YXZ", "XZY", "YZX", "ZXY"])
def test_euler_round_trip_every_convention(conv):
    R = random_rotations(300, seed=3)
    ang = rot.matrix_to_euler(R, conv)
    assert ang[:, 1].abs().max() <= math.pi / 2 + 1e-9
    assert torch.allclose(rot.euler_to_matrix(ang, conv), R, atol=1e-9)


def test_euler_definition_is_intrinsic_product():
    a = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    R = rot.euler_to_matrix(a, "XYZ")
    expect = rot.axis_rotation("X", a[0]) @ rot.axis_rotation("Y", a[1]) @ rot.axis_rotation("Z", a[2])
    assert torch.allclose(R, expect)
    # A positive rotation about Z takes +x to +y.
    Rz = rot.axis_rotation("Z", torch.tensor(math.pi / 2, dtype=torch.float64))
    assert torch.allclose(Rz @ torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("mid", [math.pi / 2, -math.pi / 2])
def test_euler_gimbal_lock(mid):
    a = torch.tensor([[0.4, mid, 0.0]], dtype=torch.float64)
    R = rot.euler_to_matrix(a, "XYZ")
    back = rot.matrix_to_euler(R, "XYZ")
    assert torch.allclose(rot.euler_to_matrix(back, "XYZ"), R, atol=1e-7)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        rot.axis_angle_to_matrix(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="convention"):
        rot.euler_to_matrix(torch.zeros(3), "XXY")
