"""`headgen fit` end to end on real media: artifacts and their schema, overlay frame count / fps /
audio, image input, frames without a face, pose.json input, the pipeline stage, multi-view, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from headgen.assets import AssetMissingError, sample_faces, sample_videos  # noqa: E402
from headgen.cli import main  # noqa: E402

NPZ_KEYS = {"model", "shape", "expression", "expression_names", "rotation", "translation", "focal", "K",
            "image_size", "landmarks_2d_fit", "landmarks_2d_target", "nme", "valid", "fps", "times",
            "frame_index", "landmarks468_2d_fit"}
METRIC_KEYS = {"nme_mean", "nme", "fps", "fit_seconds", "landmark_seconds", "setup_seconds", "n_frames",
               "n_valid", "n_views", "model", "photometric", "device", "jaw_lip_correlation"}


def _clip():
    try:
        return sample_videos()[0]
    except (AssetMissingError, IndexError):  # pragma: no cover
        pytest.skip("GRID sample clips missing")


def _check_outputs(out, T, valid=None):
    d = np.load(out / "fit.npz", allow_pickle=False)
    assert NPZ_KEYS <= set(d.files)
    E = len(d["expression_names"])
    assert str(d["model"]) == "ict" and d["shape"].shape == (100,)
    assert d["expression"].shape == (T, E) and E == 53
    assert d["rotation"].shape == (T, 3, 3) and d["translation"].shape == (T, 3)
    assert d["landmarks_2d_fit"].shape == (T, 68, 2) and d["valid"].shape == (T,)
    assert np.isfinite(d["expression"]).all() and np.isfinite(d["rotation"]).all()
    assert d["expression"].min() >= 0 and d["expression"].max() <= 1
    R = d["rotation"]
    assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-4)
    # the head faces the camera: model +z (out of the face) points towards -z of the camera
    assert (R[:, 2, 2] < -0.5).all() and (d["translation"][:, 2] > 0.2).all()
    if valid is not None:
        assert (d["valid"] == valid).all()
    m = json.loads((out / "fit_metrics.json").read_text())
    assert METRIC_KEYS <= set(m) and len(m["nme"]) == T and m["n_frames"] == T and m["fps"] > 0
    return d, m


def test_fit_video_cli_outputs(tmp_path):
    from headgen.io.video import probe_video, read_video

    clip = _clip()
    out = tmp_path / "out"
    assert main(["fit", str(clip), "-o", str(out)]) == 0
    src = probe_video(clip)
    frames, fps = read_video(clip)
    T = len(frames)
    d, m = _check_outputs(out, T, valid=np.ones(T, bool))
    assert m["nme_mean"] < 0.03 and m["jaw_lip_correlation"] > 0.9
    assert tuple(d["image_size"]) == (src.width, src.height) and abs(float(d["fps"]) - fps) < 1e-3
    ov = probe_video(out / "fit_overlay.mp4")
    ov_frames, ov_fps = read_video(out / "fit_overlay.mp4")
    assert len(ov_frames) == T and abs(ov_fps - fps) < 1e-3 and ov.has_audio
    # the mesh is drawn over the face: the overlay differs from the input inside the face box
    x0, y0 = np.nanmin(d["landmarks_2d_fit"][0], 0).astype(int)
    x1, y1 = np.nanmax(d["landmarks_2d_fit"][0], 0).astype(int)
    diff = np.abs(ov_frames[0].astype(int) - frames[0].astype(int))
    assert diff[y0:y1, x0:x1].mean() > 3 * max(diff[:20, :20].mean(), 1.0)


def test_fit_image_and_lost_frames(tmp_path):
    from headgen.io.images import read_image
    from headgen.io.video import VideoWriter, read_video

    # image input -> T=1 and an overlay PNG
    img = [p for p in sample_faces() if "bryan" in p.name][0]
    out = tmp_path / "img"
    assert main(["fit", str(img), "-o", str(out)]) == 0
    d, m = _check_outputs(out, 1)
    assert (out / "fit_overlay.png").is_file()
    assert read_image(out / "fit_overlay.png").shape == read_image(img).shape
    assert m["nme_mean"] < 0.05

    # a clip with frames where the face is gone: interpolated + flagged, not a crash
    frames, fps = read_video(_clip(), max_frames=24)
    lost = np.zeros(len(frames), bool)
    lost[[10, 11, 12]] = True
    frames[lost] = 0
    vid = tmp_path / "lost.mp4"
    with VideoWriter(vid, fps) as w:
        w.write_batch(frames)
    out = tmp_path / "lost"
    assert main(["fit", str(vid), "-o", str(out)]) == 0
    d, m = _check_outputs(out, len(frames), valid=~lost)
    assert all(m["nme"][i] is None for i in (10, 11, 12)) and m["n_valid"] == len(frames) - 3
    t = d["translation"]
    assert np.allclose(t[11], 0.5 * (t[9] + t[13]), atol=1e-4)     # linear in time between valid neighbours


def test_fit_from_pose_json_and_stage(tmp_path):
    from headgen.pipeline.stage import StageContext, get_stage
    from headgen.stages.pose.estimate import estimate_poses
    from headgen.stages.pose.params import PoseParams

    clip = _clip()
    pose_dir = tmp_path / "pose"
    estimate_poses([clip], pose_dir, PoseParams(max_frames=16))
    out = tmp_path / "fit"
    assert main(["fit", str(clip), "-o", str(out), "--pose", str(pose_dir / "pose.json"), "--no-overlay"]) == 0
    d, m = _check_outputs(out, 16)
    assert m["landmark_seconds"] == 0 and m["nme_mean"] < 0.03

    cls = get_stage("fit")
    assert cls.outputs == {"fit": "fit.npz", "metrics": "fit_metrics.json", "overlay": "fit_overlay.mp4"}
    sdir = tmp_path / "stage"
    cls().run({"media": clip, "pose": pose_dir / "pose.json"}, cls.Params(), sdir, StageContext("fit", "fit"))
    for rel in cls.outputs.values():
        assert (sdir / rel).is_file()
    _check_outputs(sdir, 16)


def test_fit_multiview_cli(tmp_path):
    """Two synchronised 'cameras' (the same clip seen by two cameras with identical calibration):
    shared shape/expression, camera keys written."""
    import shutil
    from headgen.geometry.rig import default_camera, save_cameras

    clip = _clip()
    views = tmp_path / "views"
    views.mkdir()
    for n in ("a", "b"):
        shutil.copy(clip, views / f"{n}{clip.suffix}")
    ca, cb = default_camera(360, 288), default_camera(360, 288)
    ca.name, cb.name = "a", "b"
    save_cameras([ca, cb], tmp_path / "cams.json")
    out = tmp_path / "mv"
    assert main(["fit", str(views), "-o", str(out), "--cameras", str(tmp_path / "cams.json"),
                 "--max-frames", "12", "--no-overlay"]) == 0
    d, m = _check_outputs(out, 12)
    assert m["n_views"] == 2 and d["landmarks_2d_fit_views"].shape == (2, 12, 68, 2)
    assert list(d["camera_names"]) == ["a", "b"] and m["nme_mean"] < 0.03


def test_fit_cli_errors(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a video")
    assert main(["fit", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o1")]) != 0
    err = capsys.readouterr().err
    assert "headgen: error:" in err and "missing.mp4" in err and "Traceback" not in err
    assert main(["fit", str(bad), "-o", str(tmp_path / "o2")]) != 0
    err = capsys.readouterr().err
    assert "notes.txt" in err and "Traceback" not in err
    assert main(["fit", str(_clip()), "-o", str(tmp_path / "o3"), "--model", "flame"]) != 0
    assert "--flame" in capsys.readouterr().err
    (tmp_path / "cams.json").write_text('{"cameras": [{"K": [[1, 0, 0]]}]}')
    assert main(["fit", str(tmp_path), "-o", str(tmp_path / "o4"), "--cameras", str(tmp_path / "cams.json")]) != 0
    assert "cams.json" in capsys.readouterr().err


def test_fit_in_pipeline_after_pose(tmp_path):
    """pose -> fit through `headgen run`: the fit consumes pose.json (no second landmark pass)."""
    spec = tmp_path / "p.yaml"
    spec.write_text("inputs:\n  media: path\nnodes:\n"
                    "  pose:\n    stage: pose\n    inputs: {media: $inputs.media}\n    params: {max_frames: 12}\n"
                    "  fit:\n    stage: fit\n    inputs: {media: $inputs.media, pose: pose.pose}\n"
                    "    params: {max_frames: 12}\n")
    out = tmp_path / "run"
    assert main(["run", str(spec), "-o", str(out), "-i", f"media={_clip()}", "-q"]) == 0
    d, m = _check_outputs(out / "fit", 12)
    assert m["landmark_seconds"] == 0 and m["nme_mean"] < 0.03
    assert (out / "fit" / "fit_overlay.mp4").is_file()
