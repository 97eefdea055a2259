"""`headgen pose` and the `pose` pipeline stage end to end on real inputs (photos, a GRID clip)."""
import json
import shutil

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from headgen.assets import sample_faces, sample_videos  # noqa: E402
from headgen.errors import InputError  # noqa: E402
from headgen.io.images import write_image  # noqa: E402

N_FRAMES = 12


@pytest.fixture(scope="module")
def run_cli(tmp_path_factory):
    from headgen.cli import main

    tmp = tmp_path_factory.mktemp("pose_cli")
    photos = tmp / "photos"
    photos.mkdir()
    for p in sample_faces()[:2]:
        shutil.copy(p, photos / p.name)
    write_image(photos / "blank.png", np.full((64, 80, 3), 128, np.uint8))     # no face
    (photos / "notes.txt").write_text("ignored: not an image")
    corrupt_png = tmp / "corrupt.png"
    corrupt_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    corrupt_mp4 = tmp / "corrupt.mp4"
    corrupt_mp4.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 100)
    clip = sample_videos()[0]
    out = tmp / "out"
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["pose", str(photos), str(corrupt_png), str(clip), str(corrupt_mp4), str(tmp / "missing.jpg"),
                     "-o", str(out), "--viz", "--max-frames", str(N_FRAMES)])
    doc = json.loads((out / "pose.json").read_text())
    return {"code": code, "stderr": err.getvalue(), "doc": doc, "out": out, "clip": clip, "photos": photos,
            "bad": [corrupt_png, corrupt_mp4, tmp / "missing.jpg"]}


def test_bad_inputs_reported_one_line_each_and_nonzero_exit(run_cli):
    assert run_cli["code"] != 0
    lines = [ln for ln in run_cli["stderr"].splitlines() if ln.strip()]
    for bad in run_cli["bad"]:
        assert sum(str(bad) in ln for ln in lines) == 1, (bad, lines)
    assert {e["source"] for e in run_cli["doc"]["errors"]} == {str(b) for b in run_cli["bad"]}


def test_good_inputs_processed(run_cli):
    doc = run_cli["doc"]
    frames = doc["frames"]
    by_source = {}
    for f in frames:
        by_source.setdefault(f["source"], []).append(f)
    assert len(by_source) == 3 + 1                          # 2 photos + blank + the clip
    blank = by_source[str(run_cli["photos"] / "blank.png")]
    assert blank[0]["heads"] == []
    video = by_source[str(run_cli["clip"])]
    assert [f["index"] for f in video] == list(range(N_FRAMES))
    np.testing.assert_allclose([f["time"] for f in video], np.arange(N_FRAMES) / 25.0, atol=1e-6)
    ids = {h["track_id"] for f in video for h in f["heads"]}
    assert len(ids) == 1 and all(len(f["heads"]) == 1 for f in video)
    src = {s["path"]: s for s in doc["sources"]}
    assert src[str(run_cli["clip"])]["kind"] == "video" and src[str(run_cli["clip"])]["n_frames"] == N_FRAMES


def test_head_schema(run_cli):
    heads = [h for f in run_cli["doc"]["frames"] for h in f["heads"]]
    assert len(heads) >= 2 + N_FRAMES
    for h in heads:
        assert set(h) == {"track_id", "bbox", "score", "rotation", "translation", "yaw", "pitch", "roll",
                          "landmarks_468", "landmarks_68"}
        R = np.array(h["rotation"])
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-4)
        assert np.linalg.det(R) > 0.99
        x0, y0, x1, y1 = h["bbox"]
        assert x1 > x0 and y1 > y0 and 0 <= h["score"] <= 1
        assert 0.2 < h["translation"][2] < 5.0                 # metres in front of the camera
        lm = np.array(h["landmarks_468"])
        assert lm.shape == (468, 2) and np.array(h["landmarks_68"]).shape == (68, 2)
        assert (lm[:, 0] >= x0 - 0.01).all() and (lm[:, 0] <= x1 + 0.01).all()
        assert all(-90 <= h[k] <= 90 for k in ("yaw", "pitch", "roll"))


def test_viz_outputs(run_cli):
    from headgen.io.video import probe_video

    viz = run_cli["out"] / "viz"
    names = sorted(p.name for p in viz.iterdir())
    assert f"{run_cli['clip'].stem}.mp4" in names and "blank.png" in names
    info = probe_video(viz / f"{run_cli['clip'].stem}.mp4")
    assert info.has_audio and info.n_frames == N_FRAMES


def test_stage_registry_and_run(tmp_path):
    from headgen.pipeline.stage import StageContext, get_stage

    cls = get_stage("pose")
    assert cls.__name__ == "PoseStage" and cls.outputs == {"pose": "pose.json", "viz": "viz"}
    params = cls.Params(max_faces=1, max_frames=3)
    out = tmp_path / "out"
    cls().run({"media": sample_videos()[1]}, params, out, StageContext("pose", "pose"))
    doc = json.loads((out / "pose.json").read_text())
    assert len(doc["frames"]) == 3 and (out / "viz").is_dir()
    with pytest.raises(Exception):
        cls.Params(unknown=1)
    with pytest.raises(InputError, match="missing.png"):
        cls().run({"media": tmp_path / "missing.png"}, cls.Params(), tmp_path / "out2", StageContext("pose", "pose"))
