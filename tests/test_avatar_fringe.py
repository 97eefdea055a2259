"""One-shot avatars: the person just outside the head mesh (hair, ears) gets Gaussians bound to the head's
triangles, which move with the head, and the static background no longer shows that part of the person."""
from __future__ import annotations

import numpy as np
import pytest
import torch

RED, BLUE = (230, 20, 20), (20, 40, 220)


@pytest.fixture(scope="module")
def scene():
    """ICT posed frontally 0.35 m in front of a 160 px camera; a red 'hair' blob beside the skull, a red 'torso' blob
    under the chin, a blue background; the person mask = the mesh silhouette + both blobs."""
    from headgen.avatar import load_avatar_model
    from headgen.geometry.camera import default_intrinsics
    from headgen.geometry.conventions import HEAD_TO_OPENCV
    from headgen.stages.avatar import data as D
    from headgen.stages.avatar.fringe import chin_point

    model = load_avatar_model("ict")
    R = torch.as_tensor(HEAD_TO_OPENCV, dtype=torch.float32)
    t = torch.tensor([0.0, -0.06, 0.35])
    with torch.no_grad():
        v = model(rotation=R[None], translation=t[None]).vertices[0]
    K = torch.as_tensor(default_intrinsics(160, 160), dtype=torch.float32)
    sil = D.head_silhouettes(model, v[None], K, (160, 160), dilate=0)[0]
    near = D.dilate_mask(sil, 6) & ~sil
    far = D.dilate_mask(sil, 10) & ~D.dilate_mask(sil, 6)     # beyond the inpainted band around the silhouette
    chin = chin_point(model, v)
    chin_y = float(chin[1] / chin[2] * K[1, 1] + K[1, 2])
    ys, xs = np.mgrid[:160, :160]
    cx = float(xs[sil].mean())
    hair = near & (ys < chin_y - 25) & (xs < cx - 20)         # beside the left of the skull, above the jaw
    torso = far & (ys > chin_y + 8)                             # under the chin: beside the neck, the torso
    img = np.zeros((160, 160, 3), np.uint8)
    img[:] = BLUE
    img[sil] = (200, 160, 140)
    img[hair | torso] = RED
    person = (sil | hair | torso).astype(np.float32)
    assert 0.1 * np.sqrt(sil.sum()) > 6 and 0.2 * np.sqrt(sil.sum()) > 10   # the blobs within the fringe's reach
    return dict(model=model, R=R, t=t, v=v, K=K, sil=sil, hair=hair, torso=torso, img=img, person=person)


def test_fringe_seeds_beside_the_head_not_under_the_chin(scene):
    from headgen.stages.avatar.colors import triangle_parts
    from headgen.stages.avatar.fringe import FRINGE_PARTS, fringe_seeds

    s = scene
    assert s["hair"].sum() > 30 and s["torso"].sum() > 30
    fr = fringe_seeds(s["model"], s["v"], s["R"], s["img"], s["person"], s["K"], reach=0.2)
    assert fr.n > 0
    xs, ys = fr.pixels[:, 0], fr.pixels[:, 1]
    on_hair = s["hair"][ys, xs]
    assert on_hair.all()                                        # only the blob beside the head, nothing of the torso
    assert on_hair.sum() >= 0.8 * s["hair"].sum()               # most of it
    parts = triangle_parts(s["model"])[fr.binding.numpy()]
    assert np.isin(parts, FRINGE_PARTS).all()                   # bound to skin triangles of the head mesh
    red = torch.tensor(RED) / 255.0
    assert torch.allclose(fr.colors, red.expand_as(fr.colors), atol=1e-6)


def test_fringe_gaussians_render_there_and_move_with_the_head(scene):
    from headgen.avatar import build_avatar, deform, render_vertices
    from headgen.geometry.rotations import axis_angle_to_matrix
    from headgen.stages.avatar.fringe import fringe_avatar, fringe_seeds

    s = scene
    model, v, K = s["model"], s["v"], s["K"]
    fr = fringe_seeds(model, v, s["R"], s["img"], s["person"], K, reach=0.2)
    with torch.no_grad():
        neutral = model().vertices[0]
    base = build_avatar(model, vertices=neutral, n_gaussians=3000, colors=torch.tensor([0.8, 0.6, 0.5]), seed=0)
    av = fringe_avatar(base, fr)
    assert av.n == base.n + fr.n
    assert torch.equal(av.binding[base.n:], fr.binding)
    with torch.no_grad():
        rgb = render_vertices(av, v[None], K, (160, 160), background=torch.zeros(160, 160, 3))["rgb"][0]
        rgb0 = render_vertices(base, v[None], K, (160, 160), background=torch.zeros(160, 160, 3))["rgb"][0]
    from scipy import ndimage
    hair = torch.as_tensor(ndimage.binary_erosion(s["hair"]))   # its inside (its edge is half covered over black)
    red = torch.tensor(RED) / 255.0
    err = (rgb[hair] - red).abs().max(-1).values
    err0 = (rgb0[hair] - red).abs().max(-1).values
    print(float(err.mean()), float((err < 0.15).float().mean()), float(err0.mean()))
    # the blob is drawn by the fringe Gaussians (where the seeded mesh's wide discs spill over the silhouette, mixed
    # with their colour), not by the mesh's Gaussians
    assert err.mean() < 0.1 and (err < 0.15).float().mean() > 0.7 and err0.mean() > 0.4
    # a head rotation (10 degrees of yaw about the head's centre) moves them rigidly with the head
    Rd = axis_angle_to_matrix(torch.tensor([0.0, 0.17, 0.0]))
    c = v.mean(0)
    v2 = (v - c) @ Rd.T + c
    with torch.no_grad():
        m1, _, _ = deform(av, v)
        m2, _, _ = deform(av, v2)
    f1, f2 = m1[base.n:], m2[base.n:]
    assert torch.allclose(f2, (f1 - c) @ Rd.T + c, atol=1e-5)
    assert (f2 - f1).norm(dim=-1).mean() > 0.005                # they did move (metres)


def test_one_shot_background_inpaints_the_fringe(scene, monkeypatch):
    import headgen.stages.avatar.run as R
    from headgen.stages.avatar.run import one_shot_background

    s = scene
    monkeypatch.setattr(R, "ONE_SHOT_FRINGE", dict(reach=0.1))
    bg = s["img"].astype(np.float32) / 255.0
    out, fr = one_shot_background(bg, s["model"], s["v"], s["R"], s["img"], s["person"], s["K"])
    assert fr is not None and fr.n > 0
    hair = s["hair"]
    red = np.array(RED) / 255.0
    assert (np.abs(out[hair] - red).max(-1) < 0.2).mean() < 0.05   # the blob beside the head is gone
    blue = np.array(BLUE) / 255.0
    assert (np.abs(out[hair] - blue).max(-1) < 0.15).mean() > 0.8  # filled from the background around it
    torso = s["torso"]
    assert (np.abs(out[torso] - red).max(-1) < 0.2).mean() > 0.5  # the torso is not part of the head: it stays
    off, none = one_shot_background(bg, s["model"], s["v"], s["R"], s["img"], s["person"], s["K"], fringe=False)
    assert none is None and (np.abs(off[hair] - red).max(-1) < 0.2).mean() > 0.5   # without it: the blob stays
    monkeypatch.setattr(R, "ONE_SHOT_FRINGE", None)            # the default (see run.ONE_SHOT_FRINGE)
    dflt, none = one_shot_background(bg, s["model"], s["v"], s["R"], s["img"], s["person"], s["K"])
    assert none is None and np.array_equal(dflt, off)
