"""headgen.avatar (rigged Gaussians: binding, deform, render) and headgen.artifacts.avatar (PLY + rig I/O)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from headgen.artifacts.avatar import PLY_FIELDS, read_ply, read_rig, write_ply
from headgen.avatar import (Avatar, build_avatar, deform, load_avatar, render_vertices, save_avatar,
                            triangle_frames)
from headgen.errors import InputError
from headgen.geometry.rotations import axis_angle_to_matrix, quaternion_to_matrix


def _mesh(seed=0):
    """A small closed-ish mesh: a perturbed octahedron subdivided once (V=18, F=32)."""
    g = torch.Generator().manual_seed(seed)
    v = torch.tensor([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=torch.float32)
    f = torch.tensor([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    verts, faces, mids = list(v), [], {}

    def mid(a, b):
        key = (min(a, b), max(a, b))
        if key not in mids:
            verts.append((verts[a] + verts[b]) / 2)
            mids[key] = len(verts) - 1
        return mids[key]
    for a, b, c in f.tolist():
        ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
        faces += [[a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca]]
    V = torch.stack(verts) * 0.1 + 0.01 * torch.randn(len(verts), 3, generator=g)
    return V, torch.tensor(faces)


def _fake_model(faces):
    return SimpleNamespace(faces=faces, device=torch.device("cpu"), model_name="ict", components=["face"])


def _random_avatar(n=60, seed=0):
    V, F = _mesh(seed)
    av = build_avatar(_fake_model(F), vertices=V, n_gaussians=n, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    av.offsets = av.offsets + 0.3 * torch.randn(av.n, 3, generator=g)
    av.rotations = torch.randn(av.n, 4, generator=g)
    av.log_scales = -1 + 0.5 * torch.randn(av.n, 3, generator=g)
    av.sh = torch.randn(av.n, 1, 3, generator=g)
    av.opacity_logits = torch.randn(av.n, generator=g)
    return av, V


def test_triangle_frame_direct_construction():
    V = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 1, 0]])
    cen, R, k = triangle_frames(V, torch.tensor([[0, 1, 2]]))
    assert torch.allclose(cen[0], torch.tensor([2 / 3, 1 / 3, 0]))
    assert torch.allclose(R[0], torch.eye(3), atol=1e-6)           # x along v0->v1, z = +z normal
    assert float(k[0]) == pytest.approx(1.5)                       # (|v1-v0| + height) / 2 = (2 + 1) / 2
    av = Avatar(model="ict", parts=["face"], faces=torch.tensor([[0, 1, 2]]), binding=torch.tensor([0]),
                offsets=torch.tensor([[1.0, -2.0, 0.5]]), rotations=torch.tensor([[1.0, 0, 0, 0]]),
                log_scales=torch.log(torch.tensor([[1.0, 2.0, 0.1]])), sh=torch.zeros(1, 1, 3),
                opacity_logits=torch.zeros(1))
    m, q, s = deform(av, V)
    assert torch.allclose(m[0], cen[0] + 1.5 * torch.tensor([1.0, -2.0, 0.5]))
    assert torch.allclose(s[0], torch.tensor([1.5, 3.0, 0.15]))
    assert torch.allclose(q[0], torch.tensor([1.0, 0, 0, 0]), atol=1e-6)


def test_deform_rigid_motion_and_scale():
    av, V = _random_avatar()
    R = axis_angle_to_matrix(torch.tensor([0.3, -1.1, 0.7]))
    t = torch.tensor([0.2, -0.1, 0.6])
    s = 1.7
    moved = torch.stack([V, s * V @ R.T + t])   # batched: frame 0 the rest mesh, frame 1 moved
    m, q, sc = deform(av, moved)
    assert m.shape == (2, av.n, 3) and q.shape == (2, av.n, 4) and sc.shape == (2, av.n, 3)
    assert torch.allclose(m[1], s * m[0] @ R.T + t, atol=1e-5)
    assert torch.allclose(sc[1], s * sc[0], rtol=1e-4)
    assert torch.allclose(quaternion_to_matrix(q[1]), R @ quaternion_to_matrix(q[0]), atol=1e-5)
    # a non-rigid edit moves only the Gaussians bound to the triangles touching that vertex
    bent = V.clone()
    bent[0] += torch.tensor([0.05, 0.0, 0.0])
    m2, _, _ = deform(av, bent)
    touched = (av.faces[av.binding] == 0).any(1)
    assert touched.any() and (~touched).any()
    moved_g = (m2 - m[0]).norm(dim=1) > 1e-7
    assert torch.equal(moved_g, touched)


def test_scale_follows_triangle_size():
    av, V = _random_avatar()
    _, _, s1 = deform(av, V)
    _, _, s2 = deform(av, 3.0 * V)
    assert torch.allclose(s2, 3.0 * s1, rtol=1e-5)
    # stretching one triangle only changes its own Gaussians' scale
    _, _, k0 = triangle_frames(V, av.faces)
    assert torch.allclose(s1, torch.exp(av.log_scales) * k0[av.binding][:, None], rtol=1e-5)


def test_build_avatar_seeds_on_the_surface():
    V, F = _mesh()
    av = build_avatar(_fake_model(F), vertices=V, n_gaussians=200, colors=torch.tensor([0.2, 0.4, 0.6]))
    assert av.n == 200 and torch.bincount(av.binding, minlength=F.shape[0]).min() >= 1
    m, _, _ = deform(av, V)
    # seeds lie in their triangle's plane (zero normal offset)
    assert av.offsets[:, 2].abs().max() < 1e-4
    rgb = av.sh[:, 0] * 0.28209479177387814 + 0.5
    assert torch.allclose(rgb, torch.tensor([0.2, 0.4, 0.6]).expand_as(rgb), atol=1e-6)
    one = build_avatar(_fake_model(F), vertices=V)
    assert one.n == F.shape[0] and torch.equal(one.binding, torch.arange(F.shape[0]))


def test_ply_round_trip(tmp_path):
    g = torch.Generator().manual_seed(3)
    N = 17
    means, sh = torch.randn(N, 3, generator=g), torch.randn(N, 4, 3, generator=g)
    op, ls, q = torch.randn(N, generator=g), torch.randn(N, 3, generator=g), torch.randn(N, 4, generator=g)
    p = write_ply(tmp_path / "a.ply", means, sh, op, ls, q)
    head = p.read_bytes().split(b"end_header\n")[0].decode()
    props = [ln.split()[-1] for ln in head.splitlines() if ln.startswith("property")]
    assert props == PLY_FIELDS and len(props) == 62 and f"element vertex {N}" in head
    r = read_ply(p)
    assert np.allclose(r["means"], means.numpy()) and np.allclose(r["opacity_logits"], op.numpy())
    assert np.allclose(r["log_scales"], ls.numpy())
    assert np.allclose(r["quats"], (q / q.norm(dim=1, keepdim=True)).numpy(), atol=1e-6)
    assert np.allclose(r["sh"][:, :4], sh.numpy()) and not r["sh"][:, 4:].any()
    # f_rest is channel-major (15 red, then green, then blue) as the Inria files
    body = np.frombuffer(p.read_bytes().split(b"end_header\n", 1)[1], "<f4").reshape(N, 62)
    assert np.allclose(body[:, PLY_FIELDS.index("f_rest_0")], sh[:, 1, 0].numpy())
    assert np.allclose(body[:, PLY_FIELDS.index("f_rest_15")], sh[:, 1, 1].numpy())
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat ascii 1.0\nend_header\n")
    with pytest.raises(InputError):
        read_ply(tmp_path / "bad.ply")


def test_rig_round_trip(tmp_path):
    av, V = _random_avatar()
    av.shape = torch.randn(5)
    av.meta = {"iterations": 3, "clip": "x.mpg"}
    ply, rig = save_avatar(tmp_path / "out", av)
    assert ply.name == "avatar.ply" and rig.name == "avatar_rig.npz"
    with np.load(rig, allow_pickle=False) as z:      # no pickles
        assert z["binding"].dtype == np.int32
    back = load_avatar(tmp_path / "out")
    for k in Avatar.PER_GAUSSIAN + ("faces", "shape", "neutral_vertices"):
        assert torch.allclose(getattr(back, k).float(), getattr(av, k).float()), k
    assert back.meta == av.meta and back.model == "ict" and back.parts == ["face"]
    a, b = deform(av, V), deform(back, V)
    assert all(torch.allclose(x, y) for x, y in zip(a, b))
    # the PLY holds the neutral-pose Gaussians in file terms
    p = read_ply(ply)
    assert np.allclose(p["means"], a[0].numpy(), atol=1e-6)
    assert np.allclose(np.exp(p["log_scales"]), a[2].numpy(), rtol=1e-4)
    bad = dict(read_rig(rig))
    np.savez(tmp_path / "out" / "avatar_rig.npz", **{k: v for k, v in bad.items() if k not in ("binding", "training_params", "model_parts")},
             model_parts=np.array(bad["model_parts"]))
    with pytest.raises(InputError, match="missing binding"):
        load_avatar(tmp_path / "out")


def test_render_shapes_background_and_gradients():
    av, V = _random_avatar(n=80)
    for k in ("offsets", "sh", "opacity_logits", "log_scales"):
        getattr(av, k).requires_grad_(True)
    verts = torch.stack([V + torch.tensor([0, 0, 0.6]), V + torch.tensor([0.02, 0, 0.6])])
    K = torch.tensor([[60.0, 0, 16], [0, 60, 12], [0, 0, 1]])
    bg = torch.rand(24, 32, 3)
    out = render_vertices(av, verts, K, (32, 24), background=bg, backend="cpu", retain_means2d=True)
    assert out["rgb"].shape == (2, 24, 32, 3) and out["alpha"].shape == (2, 24, 32)
    assert out["alpha"].max() > 0.5 and out["alpha"].min() < 0.05
    far = out["alpha"] < 1e-4
    assert torch.allclose(out["rgb"][far], bg.expand(2, 24, 32, 3)[far], atol=1e-5)
    out["rgb"].mean().backward()
    for k in ("offsets", "sh", "opacity_logits", "log_scales"):
        g = getattr(av, k).grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, k
    assert out["means2d"][0].grad is not None
    with pytest.raises(InputError):
        render_vertices(av, verts, K.expand(3, 3, 3), (32, 24), backend="cpu")


def test_frame_quaternions_and_quat_multiply_match_the_explicit_formulas():
    """The matrix-product forms used by ``deform`` equal Shepperd's method of ``geometry.rotations`` (all four
    branches: random rotations and the 180-degree turns about each axis) and the Hamilton product written out, with
    broadcasting and gradients."""
    from headgen.avatar.binding import frame_quaternions, quat_multiply
    from headgen.geometry.rotations import matrix_to_quaternion, quaternion_to_matrix

    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(2, 500, 4, generator=g, dtype=torch.float64), dim=-1)
    R = torch.cat([quaternion_to_matrix(q), torch.diag_embed(torch.tensor(
        [[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64))[None].expand(2, 4, 3, 3)], 1)
    assert torch.allclose(frame_quaternions(R), matrix_to_quaternion(R), atol=1e-12)
    a = q.clone().requires_grad_()
    b = torch.randn(500, 4, generator=g, dtype=torch.float64, requires_grad=True)
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    ref = torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                       aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)
    out = quat_multiply(a, b)
    assert out.shape == (2, 500, 4) and torch.allclose(out, ref, atol=1e-12)
    ga = torch.autograd.grad(out.sum(), (a, b))
    gr = torch.autograd.grad(ref.sum(), (a, b))
    assert all(torch.allclose(x, y, atol=1e-12) for x, y in zip(ga, gr))
    # composing rotations: R(a * b) = R(a) R(b)
    qa, qb = q[0, :5], q[1, :5]
    assert torch.allclose(quaternion_to_matrix(quat_multiply(qa, qb)), quaternion_to_matrix(qa) @ quaternion_to_matrix(qb),
                          atol=1e-12)
