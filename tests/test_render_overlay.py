"""Overlays on frames and video (audio kept), side-by-side panels, turntables, plots."""
import numpy as np
import pytest
import torch

from headgen.assets import sample_videos
from headgen.io.audio import read_audio
from headgen.io.images import read_image
from headgen.io.video import probe_video, read_video
from headgen.render.overlay import (blend_mesh, draw_edges, draw_points, draw_wireframe, mesh_edges, overlay_video,
                                    side_by_side)
from headgen.render.plots import plot_blendshape_weights, plot_curves, plot_pose_angles
from headgen.render.turntable import turntable_frames, write_turntable


def _quad():
    v = torch.tensor([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]])
    f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    K = torch.tensor([[40.0, 0, 31.5], [0, 40.0, 31.5], [0, 0, 1]])
    return v, f, K


def test_points_and_edges():
    frame = np.zeros((40, 50, 3), np.uint8)
    out = draw_points(frame, np.array([[10.2, 20.0], [np.nan, 3], [100, 100]]), color=(255, 0, 0), radius=1)
    assert frame.sum() == 0  # input untouched
    assert (out[20, 10] == (255, 0, 0)).all() and (out[20, 11] == (255, 0, 0)).all()
    assert (out[:, :, 0] > 0).sum() == 9  # one 3x3 disc, off-image point dropped
    e = draw_edges(frame, np.array([[5.0, 5.0], [45.0, 5.0]]), np.array([[0, 1]]), color=(0, 255, 0))
    assert e[5, 10:40, 1].min() > 100 and e[20, :, 1].max() == 0


def test_wireframe_and_blend():
    v, f, K = _quad()
    frame = np.full((64, 64, 3), 30, np.uint8)
    assert len(mesh_edges(f)) == 5
    w = draw_wireframe(frame, v, f, K, color=(0, 255, 0))
    assert w[22:42, 21:23, 1].min(axis=1).max() > 100 or w[22:42, 21:23, 1].max() > 100  # left edge x = 21.5
    assert (w[22:42, 21:23, 1].max(axis=1) > 100).mean() > 0.9
    assert w[36, 28, 1] == 30 and w[5, 5, 1] == 30  # interior / outside untouched
    b = blend_mesh(frame, v, f, K, alpha=0.5, shading="none", colors=torch.ones(4, 3))
    assert abs(int(b[32, 32, 0]) - (30 + 255) // 2) <= 1 and b[2, 2, 0] == 30


def test_side_by_side():
    a = np.zeros((20, 30, 3), np.uint8)
    b = np.ones((40, 40, 3), np.float32)
    s = side_by_side([a, b], labels=["src", "fit"], gap=2)
    assert s.shape == (20, 30 + 2 + 20, 3)
    assert s[1, 50, 0] == 255 and s[1, 31, 0] == 0  # resized white panel after the gap


def test_overlay_video_keeps_audio(tmp_path):
    src = sample_videos()[0]
    dst = overlay_video(src, tmp_path / "ov.mp4", lambda fr, i: draw_points(fr, [[50 + i, 50]], radius=3),
                        max_frames=20)
    info = probe_video(dst)
    assert info.has_audio and info.fps == 25.0
    frames, _ = read_video(dst)
    assert frames.shape == (20, 288, 360, 3)
    assert frames[5, 50, 55, 1] > 200  # the green dot of frame 5 at x = 55
    a, sr = read_audio(dst, 16000)
    assert abs(len(a) / sr - 20 / 25) <= 1 / 25


def test_turntable(tmp_path):
    v = torch.tensor([[-0.1, -0.1, 0.0], [0.1, -0.1, 0.0], [0.0, 0.15, 0.0], [0.0, 0.0, 0.1]])
    f = torch.tensor([[0, 1, 2], [0, 1, 3], [1, 2, 3], [2, 0, 3]])
    frames = list(turntable_frames(v, f, n_frames=4, size=48, ssaa=1, background=(0, 0, 0)))
    assert len(frames) == 4 and frames[0].shape == (48, 48, 3) and frames[0].dtype == np.uint8
    assert frames[0].max() > 0 and not np.array_equal(frames[0], frames[1])
    p = write_turntable(tmp_path / "tt.mp4", v, f, n_frames=6, fps=12, size=48)
    back, fps = read_video(p)
    assert back.shape == (6, 48, 48, 3) and fps == 12.0


def test_plots(tmp_path):
    t = np.linspace(0, 2, 50)
    p = plot_curves(tmp_path / "c.png", {"a": np.sin(t), "b": np.cos(t)}, t=t, title="x")
    img = read_image(p)
    assert img.shape == (350, 800, 3) and img.std() > 5
    p2 = plot_pose_angles(tmp_path / "pose.png", np.random.default_rng(0).normal(size=(30, 3)), fps=25)
    assert read_image(p2).shape[2] == 3
    names = [f"bs{i}" for i in range(20)]
    p3 = plot_blendshape_weights(tmp_path / "bs.png", np.random.default_rng(0).random((30, 20)), names, fps=25)
    assert read_image(p3).shape == (600, 900, 3)
    with pytest.raises(ValueError):
        plot_blendshape_weights(tmp_path / "bad.png", np.zeros((5, 3)), names)
    assert not list(tmp_path.glob("*.tmp*"))
