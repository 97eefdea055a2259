"""headgen export: glTF morph targets reproduce the ICT model, animation channels, OBJ/PLY, avatar PLY, CLI errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from headgen.artifacts.fit import write_fit
from headgen.models import load_head_model
from headgen.models.arkit import ARKIT_NAMES, arkit_to_model_matrix

T = 5


def _rot(rng, n, scale=0.3):
    from headgen.geometry.rotations import axis_angle_to_matrix
    return axis_angle_to_matrix(torch.as_tensor(rng.normal(0, scale, (n, 3)))).numpy()


@pytest.fixture(scope="module")
def ict():
    return load_head_model("ict", parts="head")


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory, ict):
    """A synthetic fit.npz: random identity, asymmetric random expressions, head turned in front of a camera."""
    rng = np.random.default_rng(1)
    R = _rot(rng, T) @ np.diag([1.0, -1.0, -1.0])
    arrays = dict(model=np.array("ict"), shape=rng.normal(0, 1, 100).astype(np.float32),
                  expression=rng.uniform(0, 1, (T, ict.n_expression)).astype(np.float32),
                  expression_names=np.array(ict.expression_names), rotation=R.astype(np.float32),
                  translation=(np.array([0.01, -0.02, 0.6]) + rng.normal(0, 0.01, (T, 3))).astype(np.float32),
                  K=np.array([[500, 0, 180], [0, 500, 144], [0, 0, 1]], np.float32),
                  image_size=np.array([360, 288], np.int32), fps=np.float32(25),
                  times=(np.arange(T) / 25).astype(np.float32))
    p = tmp_path_factory.mktemp("fit") / "fit.npz"
    write_fit(p, arrays)
    return p


@pytest.fixture(scope="module")
def anim_path(tmp_path_factory):
    """A synthetic animation.npz in the contract layout, written with the artifact writer."""
    write_animation = pytest.importorskip("headgen.artifacts.animation").write_animation
    rng = np.random.default_rng(2)
    arkit = rng.uniform(0, 1, (T, 52)).astype(np.float32)
    p = tmp_path_factory.mktemp("anim") / "animation.npz"
    write_animation(p, arkit=arkit, head_rotation=_rot(rng, T, 0.2), eyes=np.zeros((T, 2, 2)), fps=30.0)
    return p


def _reference(ict, shape, expression):
    with torch.no_grad():
        s = None if shape is None else torch.as_tensor(shape)[None].expand(len(expression), -1)
        return ict(shape=s, expression=torch.as_tensor(expression, dtype=torch.float32)).vertices_model.double().numpy()


def _seam_ids(ict):
    from headgen.models.export import split_uv_seams
    *_, src = split_uv_seams(ict.template.numpy(), ict.faces.numpy(), ict.uvs.numpy(), ict.faces_uv.numpy())
    return src


def test_glb_from_fit_reproduces_model(fit_path, ict, tmp_path):
    from headgen.artifacts.fit import read_fit
    from headgen.export import export_clip
    from headgen.export.gltf import read_morph_glb
    out = export_clip(fit_path, tmp_path / "fit.glb")
    g = read_morph_glb(out)
    assert g["names"][:52] == list(ARKIT_NAMES)
    assert g["targets"].shape[0] == len(g["names"]) == g["weights"].shape[1]
    fit = read_fit(fit_path)
    ref = _reference(ict, fit.shape, fit.expression)[:, _seam_ids(ict)]
    rec = g["base"][None].astype(np.float64) + np.einsum("tk,kvc->tvc", g["weights"].astype(np.float64),
                                                       g["targets"].astype(np.float64))
    assert np.abs(rec - ref).max() < 1e-5
    # rigid channels: glTF (OpenGL) = flip @ OpenCV
    from headgen.geometry.rotations import quaternion_to_matrix
    q = torch.as_tensor(g["rotation"][:, [3, 0, 1, 2]], dtype=torch.float64)
    R = quaternion_to_matrix(q).numpy()
    F = np.diag([1.0, -1.0, -1.0])
    np.testing.assert_allclose(R, F @ fit.rotation, atol=1e-5)
    np.testing.assert_allclose(g["translation"], fit.translation @ F, atol=1e-6)
    np.testing.assert_allclose(g["times"], np.arange(T) / 25, atol=1e-6)
    assert g["camera"] is not None and abs(g["camera"]["aspect"] - 360 / 288) < 1e-6
    assert np.isclose(g["camera"]["yfov"], 2 * np.arctan(144 / 500))


def test_glb_from_animation_and_other_importers(anim_path, ict, tmp_path):
    from headgen.artifacts.animation import read_animation
    from headgen.export import export_clip
    from headgen.export.gltf import read_morph_glb
    out = export_clip(anim_path, tmp_path / "anim.glb")
    g = read_morph_glb(out)
    a = read_animation(anim_path)
    np.testing.assert_allclose(g["weights"][:, :52], a.arkit, atol=1e-7)
    assert np.abs(g["weights"][:, 52:]).max() == 0.0          # no asymmetry in ARKit input
    expr = a.arkit @ arkit_to_model_matrix(ict.expression_names)
    ref = _reference(ict, None, expr)[:, _seam_ids(ict)]
    rec = g["base"][None] + np.einsum("tk,kvc->tvc", g["weights"], g["targets"])
    assert np.abs(rec - ref).max() < 1e-5
    assert g["translation"] is None and g["camera"] is None
    np.testing.assert_allclose(g["times"], np.arange(T) / 30, atol=1e-6)
    # a second, independent importer reads the same mesh
    import trimesh
    scene = trimesh.load(out)
    geom = next(iter(scene.geometry.values()))
    assert len(geom.vertices) == len(g["base"]) and len(geom.faces) == len(g["faces"])


def test_obj_and_ply_mesh_frame(fit_path, ict, tmp_path):
    import trimesh
    from headgen.artifacts.fit import read_fit
    from headgen.export import export_clip
    fit = read_fit(fit_path)
    ref = _reference(ict, fit.shape, fit.expression[2:3])[0]
    obj = export_clip(fit_path, tmp_path / "f2.obj", frame=2)
    v = np.array([list(map(float, ln.split()[1:4])) for ln in obj.read_text().splitlines() if ln.startswith("v ")])
    assert v.shape == ref.shape and np.abs(v - ref).max() < 1e-5   # the float32 model vs float64 rig
    ply = export_clip(fit_path, tmp_path / "f2.ply", frame=2)
    m = trimesh.load(ply, process=False)
    assert np.abs(np.asarray(m.vertices)[:, None] - ref[None, :5]).sum(-1).min(0).max() < 1e-5


def test_avatar_ply_and_glb(tmp_path, ict):
    from headgen.export import export_clip
    from headgen.export.gltf import read_morph_glb
    from headgen.avatar import build_avatar, save_avatar
    from headgen.export.splats import read_gaussian_ply
    av = tmp_path / "avatar"
    save_avatar(av, build_avatar(ict, n_gaussians=500, colors=torch.tensor([0.2, 0.4, 0.9])))
    s = read_gaussian_ply(av / "avatar.ply")
    out = export_clip(av, tmp_path / "out.ply")
    r = read_gaussian_ply(out)
    np.testing.assert_allclose(r.means, s.means, atol=1e-7)
    np.testing.assert_allclose(r.rgb, s.rgb, atol=1e-6)
    np.testing.assert_allclose(r.opacity, s.opacity, atol=1e-6)
    np.testing.assert_allclose(r.scales, s.scales, rtol=1e-5)
    np.testing.assert_allclose(np.abs((r.quats * s.quats).sum(1)), 1.0, atol=1e-6)
    np.testing.assert_allclose(s.rgb, np.broadcast_to([0.2, 0.4, 0.9], s.rgb.shape), atol=1e-5)
    g = read_morph_glb(export_clip(av, tmp_path / "rig.glb"))
    assert g["weights"] is None and g["names"][:52] == list(ARKIT_NAMES)
    assert len(g["base"]) >= ict.num_vertices


def test_cli_errors_are_one_line(tmp_path, capsys, fit_path):
    from headgen.cli import main
    assert main(["export", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "a.glb")]) == 1
    assert main(["export", str(fit_path), "-o", str(tmp_path / "a.fbx")]) == 1
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert main(["export", str(bad), "-o", str(tmp_path / "a.glb")]) == 1
    assert main(["export", str(fit_path), "-o", str(tmp_path / "a.obj"), "--frame", "99"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(e.startswith("headgen: error:") for e in err), err
    assert "Traceback" not in "".join(err)
    assert main(["export", str(fit_path), "-o", str(tmp_path / "ok.glb")]) == 0
    assert (tmp_path / "ok.glb").stat().st_size > 1e6


@pytest.mark.skipif(__import__("headgen.viewer.browser", fromlist=["x"]).find_chromium() is None,
                    reason="chromium is not installed (apt-get install chromium)")
def test_threejs_plays_the_glb(tmp_path):
    """three.js (viser's web client loads .glb with GLTFLoader and plays its clips with an AnimationMixer) in
    headless Chromium: the exported mesh is drawn, and its animation (jawOpen morph weights, head yaw) changes
    the picture over time, while the same mesh without an animation stays still."""
    import contextlib
    import io
    import time

    import viser
    from headgen.artifacts.animation import write_animation
    from headgen.export import export_clip
    from headgen.export.gltf import write_morph_glb
    from headgen.export.sources import clip_rig, load_clip
    from headgen.models.arkit import arkit_index
    from headgen.viewer.app import _over_white
    from headgen.viewer.browser import HeadlessBrowser, free_port

    fps, n = 25.0, 50
    t = np.arange(n) / fps
    arkit = np.zeros((n, 52), np.float32)
    arkit[:, arkit_index("jawOpen")] = 0.5 - 0.5 * np.cos(2 * np.pi * t / 1.0)
    from headgen.geometry.rotations import axis_angle_to_matrix
    yaw = np.deg2rad(35) * np.sin(2 * np.pi * t / 2.0)          # and the head turns (rotation channel)
    R = axis_angle_to_matrix(torch.as_tensor(np.stack([0 * yaw, yaw, 0 * yaw], 1))).numpy()
    anim = write_animation(tmp_path / "animation.npz", arkit=arkit, head_rotation=R, eyes=np.zeros((n, 2, 2)),
                           fps=fps)
    animated = export_clip(anim, tmp_path / "anim.glb", parts="face").read_bytes()
    still = write_morph_glb(tmp_path / "still.glb", clip_rig(load_clip(anim), "face")).read_bytes()

    import logging
    logging.getLogger("websockets.server").setLevel(logging.CRITICAL)   # Chromium's probe connections
    port = free_port()
    with contextlib.redirect_stdout(io.StringIO()):
        server = viser.ViserServer(host="127.0.0.1", port=port, verbose=False)
    try:
        server.scene.configure_environment_map(hdri=None)
        server.scene.add_light_hemisphere("/fill", ground_color=(90, 80, 70), intensity=1.2)
        server.initial_camera.position = (0.0, -0.03, 0.3)
        server.initial_camera.look_at = (0.0, -0.03, 0.0)
        server.initial_camera.up = (0.0, 1.0, 0.0)
        server.scene.add_glb("/head", animated)
        with HeadlessBrowser(f"http://127.0.0.1:{port}", size=(800, 600)):
            end = time.perf_counter() + 90
            while not server.get_clients() and time.perf_counter() < end:
                time.sleep(0.05)
            client = next(iter(server.get_clients().values()))

            def shots(k: int) -> list:
                out = []
                for _ in range(k):
                    out.append(_over_white(client.get_render(300, 400, transport_format="png", timeout=90)).astype(int))
                    time.sleep(0.15)
                return out

            frames = []
            while time.perf_counter() < end:      # wait for the model to appear
                frames = shots(1)
                if (frames[0] != 255).any(-1).mean() > 0.1:
                    break
            frames += shots(4)
            drawn = [(f != 255).any(-1).mean() for f in frames]
            assert min(drawn) > 0.1, drawn
            change = max((np.abs(a - b).max(-1) > 30).mean() for a in frames for b in frames)
            assert change > 0.005, f"the animated glb did not move ({change:.4f} of the pixels changed)"
            server.scene.add_glb("/head", still)   # replaces the node; the page loads it asynchronously
            still_seen = False
            for _ in range(8):
                a, b = shots(2)
                if (a != 255).any(-1).mean() > 0.1 and (np.abs(a - b).max(-1) > 30).mean() < 0.001:
                    still_seen = True
                    break
            assert still_seen, "the glb without an animation did not stand still"
    finally:
        with contextlib.redirect_stdout(io.StringIO()):
            server.stop()
