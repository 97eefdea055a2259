"""headgen view: scene state, one-line errors, and drawing in a real (headless Chromium, SwiftShader) browser."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from headgen.artifacts.fit import write_fit
from headgen.viewer.browser import find_chromium

AVATAR_RGB = np.array([0.9, 0.45, 0.1])   # orange: far from the white page and the grey-pink mesh
STRIPE_M = 0.01                           # the avatar is striped (1 cm bands) so that moving the jaw shows
needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory):
    from headgen.models import load_head_model
    m = load_head_model("ict", parts="face")
    T = 4
    rng = np.random.default_rng(3)
    E = np.zeros((T, m.n_expression), np.float32)
    E[:, m.expression_names.index("jawOpen")] = np.linspace(0, 1, T)
    arrays = dict(model=np.array("ict"), shape=rng.normal(0, 1, 100).astype(np.float32), expression=E,
                  expression_names=np.array(m.expression_names),
                  rotation=np.tile(np.diag([1.0, -1.0, -1.0]), (T, 1, 1)).astype(np.float32),
                  translation=np.tile([0.0, 0.0, 0.5], (T, 1)).astype(np.float32),
                  K=np.array([[400, 0, 160], [0, 400, 120], [0, 0, 1]], np.float32),
                  image_size=np.array([320, 240], np.int32), fps=np.float32(25))
    p = tmp_path_factory.mktemp("vfit") / "fit.npz"
    write_fit(p, arrays)
    return p


@pytest.fixture(scope="module")
def avatar_dir(tmp_path_factory):
    """A small orange avatar bound to the ICT mesh (headgen.avatar), written as avatar.ply + avatar_rig.npz."""
    from headgen.avatar import ICT_AVATAR_PARTS, build_avatar, save_avatar
    from headgen.models import load_head_model
    m = load_head_model("ict", parts=list(ICT_AVATAR_PARTS))
    with torch.no_grad():
        v = m.neutral().vertices[0]
    y = v[m.faces].mean(1)[:, 1]
    band = torch.where(torch.sin(2 * np.pi * y / STRIPE_M) > 0, 1.0, 0.55)
    colors = band[:, None] * torch.as_tensor(AVATAR_RGB, dtype=torch.float32)
    av = build_avatar(m, n_gaussians=8000, colors=colors, opacity=0.95)
    d = tmp_path_factory.mktemp("avatar")
    save_avatar(d, av)
    return d


def test_bad_paths_are_one_line(tmp_path, capsys):
    from headgen.cli import main
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    (tmp_path / "empty").mkdir()
    assert main(["view", str(tmp_path / "missing")]) == 1
    assert main(["view", str(bad)]) == 1
    assert main(["view", str(tmp_path / "empty")]) == 1
    assert main(["view", "--headless", str(tmp_path / "missing"), "--screenshot", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(e.startswith("headgen: error:") for e in err), err


def test_viewer_state(fit_path, avatar_dir, tmp_path):
    """Without a browser: the mesh follows frames and sliders; a pipeline folder lists its nodes; an avatar's
    splats move with jawOpen."""
    from headgen.export.sources import clip_rig, clip_weights, load_clip
    from headgen.viewer import Viewer
    with Viewer(fit_path, port=0) as v:
        rig = clip_rig(v.clip, "head")
        w = clip_weights(v.clip, rig)
        np.testing.assert_allclose(v.handles["mesh"].vertices, rig.vertices(w[0]), atol=1e-6)
        v.set_frame(3)
        assert v.frame == 3 and int(v.gui_frame.value) == 3
        np.testing.assert_allclose(v.handles["mesh"].vertices, rig.vertices(w[3]), atol=1e-6)
        v.set_frame(0)
        before = np.array(v.handles["mesh"].vertices)
        v.set_expression("jawOpen", 1.0)
        assert np.abs(np.array(v.handles["mesh"].vertices) - before).max() > 0.005   # mouth opens > 5 mm
        # head rotation slider turns the head frame
        v.set_head_rotation(yaw=30)
        assert abs(abs(float(v.handles["head"].wxyz[0])) - 1.0) > 1e-3
    # a pipeline output folder: the fit node is listed and the avatar is attached
    run = tmp_path / "run"
    (run / "fit").mkdir(parents=True)
    (run / "fit" / "fit.npz").write_bytes(fit_path.read_bytes())
    (run / "manifest.json").write_text(json.dumps({"status": "done", "nodes": {
        "fit": {"stage": "fit", "status": "done", "outputs": {"fit": "fit/fit.npz"}},
        "avatar": {"stage": "avatar", "status": "done", "outputs": {"avatar": str(avatar_dir)}}}}))
    clip = load_clip(run, node="fit")
    assert clip.kind == "fit" and clip.avatar is not None and clip.splats is not None
    with Viewer(run, port=0, node="fit") as v:
        assert [n for n, _ in v._nodes] == ["fit/fit", "avatar/avatar"]
        c0 = np.array(v.handles["splats"].centers)
        v.set_frame(3)                                   # jawOpen 1 in the fit: the Gaussians move
        assert np.abs(np.array(v.handles["splats"].centers) - c0).max() > 0.005
        # the viewer's direct covariances agree with headgen.avatar.deform
        from headgen.avatar import deform
        verts = v._mesh_vertices(v.expression_weights(3))
        means, cov = v.splat_state(verts)
        m, q, sc = deform(v.clip.avatar, torch.from_numpy(verts))
        np.testing.assert_allclose(means, m.numpy(), atol=1e-6)
        np.testing.assert_allclose(cov, v.clip.splats.covariances(q.numpy(), sc.numpy()), atol=1e-9)


def test_viewer_shows_a_glb_export(fit_path, tmp_path):
    from headgen.export import export_clip
    from headgen.viewer import Viewer
    glb = export_clip(fit_path, tmp_path / "fit.glb", parts="face")
    with Viewer(glb, port=0) as v:
        assert v.clip.kind == "glb" and "glb" in v.handles and "mesh" not in v.handles
        assert np.allclose(v.server.initial_camera.look_at, [0.0, 0.0, -0.5], atol=1e-4)


def test_taken_port_moves_on(fit_path):
    from headgen.viewer import Viewer
    from headgen.viewer.browser import free_port
    port = free_port()
    with Viewer(fit_path, port=port) as a, Viewer(fit_path, port=port) as b:
        assert a.port == port and b.port != port and b.url.endswith(str(b.port))


def test_viewer_animation_with_audio(tmp_path):
    """An animation.npz plays on the mesh; --audio puts the speech in the page as an audio player."""
    from headgen.artifacts.animation import write_animation
    from headgen.assets import resolve
    from headgen.viewer import Viewer
    T = 10
    arkit = np.zeros((T, 52), np.float32)
    from headgen.models.arkit import arkit_index
    arkit[:, arkit_index("jawOpen")] = np.linspace(0, 1, T)
    p = write_animation(tmp_path / "animation.npz", arkit=arkit, head_rotation=np.tile(np.eye(3), (T, 1, 1)),
                        eyes=np.zeros((T, 2, 2)), fps=25.0)
    with Viewer(p, port=0, audio=resolve("audio/cmu_arctic_slt_a0009.wav")) as v:
        assert v.clip.kind == "animation" and v.audio_html.visible
        assert 'src="data:audio/wav;base64,' in v.audio_html.content
        v0 = np.array(v.handles["mesh"].vertices)
        v.playing = True                                   # the play loop advances frames at the clip's fps
        import time
        t0 = time.perf_counter()
        while v.frame < 3 and time.perf_counter() - t0 < 20:
            time.sleep(0.02)
        v.playing = False
        assert v.frame >= 3
        assert np.abs(np.array(v.handles["mesh"].vertices) - v0).max() > 0.002


def _centre(img, frac=0.5):
    h, w = img.shape[:2]
    dh, dw = int(h * frac / 2), int(w * frac / 2)
    return img[h // 2 - dh:h // 2 + dh, w // 2 - dw:w // 2 + dw]


@pytest.fixture(scope="module")
def browser_viewer(avatar_dir):
    from headgen.viewer import Viewer
    from headgen.viewer.browser import HeadlessBrowser
    v = Viewer(avatar_dir, port=0, environment=False)
    b = HeadlessBrowser(v.url, size=(800, 600))   # renders at 400x300: same aspect as the canvas
    try:
        v.wait_for_client(60)
        yield v
    finally:
        b.close()
        v.close()


@needs_chromium
def test_browser_draws_splats_and_jaw_slider_changes_them(browser_viewer):
    v = browser_viewer
    img = v.render(400, 300, timeout=90)
    c = _centre(img).reshape(-1, 3).astype(np.float64) / 255
    drawn = (c < 0.9).any(1)                       # page background is white
    assert drawn.mean() > 0.3, f"only {drawn.mean():.2f} of the centre is drawn"
    mean = c[drawn].mean(0)
    expect = AVATAR_RGB * (1 + 0.55) / 2          # the stripes' mean colour
    assert np.abs(mean - expect).max() < 0.12, f"drawn colour {mean} vs avatar {expect}"
    v.set_expression("jawOpen", 1.0)
    try:
        for _ in range(4):   # the page applies the update, re-sorts the splats and draws (asynchronously)
            img2 = v.render(400, 300, timeout=90)
            changed = (np.abs(img2.astype(int) - img.astype(int)).max(-1) > 30).mean()
            if changed > 0.003:
                break
    finally:
        v.set_expression("jawOpen", 0.0)
    assert changed > 0.003, f"jawOpen moved only {changed:.4f} of the pixels"


@needs_chromium
def test_browser_draws_mesh(browser_viewer):
    v = browser_viewer
    v.gui_splats.value = False
    v.gui_mesh.value = True
    try:
        img = v.render(400, 300, timeout=90)
    finally:
        v.gui_splats.value = True
        v.gui_mesh.value = False
    c = _centre(img).reshape(-1, 3).astype(np.float64) / 255
    drawn = (c < 0.9).any(1)
    assert drawn.mean() > 0.3
    mean = c[drawn].mean(0)
    assert np.abs(mean - AVATAR_RGB * 0.775).max() > 0.15   # not the splats' orange: the skin-coloured mesh
    assert mean[0] > mean[2]                           # shaded skin tone (red > blue)


@needs_chromium
def test_screenshot_button_saves_png(browser_viewer, tmp_path):
    from PIL import Image
    v = browser_viewer
    v.screenshot_dir = tmp_path
    try:
        out = v.save_screenshot(width=320, height=240)
    finally:
        v.screenshot_dir = None
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (240, 320, 3) and (img != 255).any(-1).mean() > 0.05


@needs_chromium
def test_cli_headless_screenshot(fit_path, tmp_path):
    from PIL import Image
    from headgen.cli import main
    out = tmp_path / "shot.png"
    assert main(["view", "--headless", str(fit_path), "--screenshot", str(out), "--size", "320x240"]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (240, 320, 3)
    assert ((_centre(img) < 230).any(-1)).mean() > 0.3
