"""talking_head stage (issue 16): the still's fitted head driven by an animation and composited back into the
still. Synthetic, tiny inputs (a 96 px still with a known ICT head pose, a 0.8 s tone, a 20-frame animation):
frame count and A/V length, the still kept pixel for pixel outside the head, the mouth region moving with
jawOpen, errors and warnings. The real-photo quality numbers are measured by bench/talking_head.py."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

FPS = 25.0


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A still (96x96 textured noise), its fit (ICT mean head facing the camera), a 20-frame animation
    (mouth closed for 10 frames, then jawOpen 0.8) and 0.8 s of audio (silence, then a tone)."""
    from headgen.artifacts.animation import write_animation
    from headgen.artifacts.fit import write_fit
    from headgen.geometry.conventions import HEAD_TO_OPENCV
    from headgen.io.audio import write_audio
    from headgen.io.images import write_image
    from headgen.models import load_head_model
    from headgen.models.arkit import ARKIT_NAMES

    d = tmp_path_factory.mktemp("th")
    rng = np.random.default_rng(0)
    still = (40 + rng.random((12, 12, 3)) * 170).astype(np.uint8).repeat(8, 0).repeat(8, 1)  # 8 px blocks
    write_image(d / "still.png", still)
    m = load_head_model("ict", parts="face")
    K = np.array([[160.0, 0, 47.5], [0, 160.0, 47.5], [0, 0, 1]], np.float32)
    with torch.no_grad():
        v = m(expression=torch.zeros(1, len(m.expression_names))).vertices[0].numpy()
    centre = 0.5 * (v.min(0) + v.max(0))
    R = np.asarray(HEAD_TO_OPENCV, np.float32)
    t = np.array([0, 0, 0.55], np.float32) - R @ centre
    write_fit(d / "fit.npz", dict(model=np.array("ict"), shape=np.zeros(m.n_shape, np.float32),
                                  expression=np.zeros((1, len(m.expression_names)), np.float32),
                                  expression_names=np.array(m.expression_names), rotation=R[None],
                                  translation=t[None].astype(np.float32), K=K, image_size=np.array([96, 96]),
                                  valid=np.array([True]), frame_index=np.array([0])))
    T = 20
    arkit = np.zeros((T, 52), np.float32)
    arkit[10:, ARKIT_NAMES.index("jawOpen")] = 0.8
    write_animation(d / "animation.npz", arkit, np.tile(np.eye(3), (T, 1, 1)), np.zeros((T, 2, 2)), FPS)
    sr = 16000
    x = np.zeros(int(0.8 * sr), np.float32)
    x[int(0.4 * sr):] = 0.3 * np.sin(2 * np.pi * 220 * np.arange(x.size - int(0.4 * sr)) / sr)
    write_audio(d / "speech.wav", x, sr)
    write_audio(d / "silent.wav", np.zeros(int(0.8 * sr), np.float32), sr)
    return d, still


def _run(scene, out, **kw):
    from headgen.stages.talking_head.stage import TalkingHeadParams, run_talking_head

    d, _ = scene
    inputs = {"media": d / "still.png", "fit": d / "fit.npz", "animation": d / "animation.npz",
              "speech": kw.pop("speech", d / "speech.wav")}
    warns = []
    info = run_talking_head(inputs, TalkingHeadParams(**kw), out, log=lambda m: None, warn=warns.append)
    return info, warns


def test_native_size_video_keeps_the_still_and_moves_the_mouth(scene, tmp_path):
    from headgen.io.images import read_image
    from headgen.io.video import probe_video, read_video

    _, still = scene
    info, warns = _run(scene, tmp_path, size="native", mode="mesh", motion=0.0)
    assert warns == [] and info["mode"] == "mesh" and info["n_frames"] == 20   # 0.8 s at 25 fps
    video = tmp_path / "talking_head.mp4"
    p = probe_video(video)
    assert (p.width, p.height) == (96, 96) and p.has_audio and p.audio_codec == "aac"
    assert abs(p.duration - 0.8) <= 1 / FPS + 0.03          # audio trimmed/padded to the video
    frames, fps = read_video(video)
    assert len(frames) == 20 and abs(fps - FPS) < 1e-6
    gray = lambda a: a.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # luma: full res
    f, g0 = gray(frames), gray(still)
    mask = read_image(tmp_path / "talking_head_mask.png")
    mask = (mask if mask.ndim == 2 else mask[..., 0]) > 0
    assert 0.1 < mask.mean() < 0.9                             # the head, not the frame
    # mouth closed: the still itself (H.264 noise only), inside and outside the head
    assert np.abs(f[:10] - g0).mean() < 2.0
    # outside the head every frame is the still
    assert np.abs(f[:, ~mask] - g0[~mask]).mean() < 2.0
    # jawOpen 0.8: the head region changes, and much more than between two closed-mouth frames
    d_open = np.abs(f[15] - f[5])[mask].mean()
    d_closed = np.abs(f[6] - f[5])[mask].mean()
    assert d_open > 4 * d_closed + 2.0, (d_open, d_closed)
    meta = json.loads((tmp_path / "talking_head.json").read_text())
    assert meta["size"] == [96, 96] and meta["warnings"] == []
    # encoded at the stage's own quality (x264 writes its settings into the stream), not the io default
    from headgen.stages.talking_head.run import VIDEO_CRF
    assert f"crf={VIDEO_CRF:.1f}".encode() in video.read_bytes() and VIDEO_CRF < 18


def test_square_crop_and_head_motion(scene, tmp_path):
    from headgen.io.video import read_video

    info, _ = _run(scene, tmp_path, size=64, mode="mesh", motion=1.0)
    frames, _ = read_video(tmp_path / "talking_head.mp4")
    assert frames.shape == (20, 64, 64, 3) and info["size"] == [64, 64]


def test_crop_camera_maps_like_the_still():
    """A point seen by the still's K lands, in the crop, where the view's K puts it."""
    from headgen.stages.talking_head.view import make_view

    still = np.zeros((300, 200, 3), np.uint8)
    K = np.array([[250.0, 0, 99.5], [0, 250.0, 149.5], [0, 0, 1]])
    pts = np.array([[80.0, 100], [120, 170]])
    view = make_view(still, K, pts, 128)
    x0, y0, side, _ = view.box
    X = np.array([0.01, -0.02, 0.5])
    p = K @ X
    q = view.K @ X
    s = 128 / side
    assert np.allclose(q[:2] / q[2], ((p[:2] / p[2]) - [x0, y0]) * s - 0.5, atol=1e-9)
    assert 0 <= x0 + 0.5 and x0 + 0.5 + side <= 200 + 1e-9 and side <= 200


def test_damped_head_rotation_is_limited():
    from scipy.spatial.transform import Rotation

    from headgen.stages.talking_head.drive import damp_rotations

    R = Rotation.from_rotvec([[0, 0.5, 0], [0.01, 0, 0]]).as_matrix()
    out = Rotation.from_matrix(damp_rotations(R, 0.5, 3.0)).as_rotvec()
    assert np.allclose(np.degrees(np.linalg.norm(out, axis=1)), [3.0, np.degrees(0.005)], atol=1e-6)


def test_silent_speech_warns_and_mouth_stays(scene, tmp_path):
    d, still = scene
    info, warns = _run(scene, tmp_path, size="native", mode="mesh", speech=d / "silent.wav")
    assert len(warns) == 1 and "silent" in warns[0] and "silent.wav" in warns[0]
    assert info["warnings"] == warns


def test_bad_inputs_are_one_line_and_write_nothing(scene, tmp_path, capsys):
    from headgen.cli import main
    from headgen.errors import InputError

    d, _ = scene
    with pytest.raises(InputError, match="avatar"):
        _run(scene, tmp_path / "a", mode="avatar")
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF....not audio")
    with pytest.raises(InputError, match="noise.wav"):
        _run(scene, tmp_path / "b", speech=bad)
    assert not (tmp_path / "a" / "talking_head.mp4").exists() and not (tmp_path / "b" / "talking_head.mp4").exists()
    # the CLI: one line, non-zero exit, nothing written
    rc = main(["talking-head", str(d / "still.png"), str(bad), "-o", str(tmp_path / "c"), "--fit",
               str(d / "fit.npz"), "--animation", str(d / "animation.npz")])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "noise.wav" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c" / "talking_head.mp4").exists()
    img = tmp_path / "not_an_image.png"
    img.write_text("hello")
    rc = main(["talking-head", str(img), str(d / "speech.wav"), "-o", str(tmp_path / "e")])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "not_an_image.png" in err and len(err.splitlines()) == 1
