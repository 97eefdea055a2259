"""headgen.artifacts: fit.npz / pose.json readers and writers (round trips, errors naming the file)."""
import json

import numpy as np
import pytest

from headgen.artifacts.fit import FitArtifact, read_fit, write_fit
from headgen.artifacts.pose import read_pose, write_pose
from headgen.errors import InputError


def _fit(T=4, E=3):
    rng = np.random.default_rng(0)
    return FitArtifact(model="ict", shape=rng.normal(size=5).astype(np.float32),
                       expression=rng.uniform(size=(T, E)).astype(np.float32),
                       expression_names=["jawOpen", "mouthClose", "eyeBlinkLeft"][:E],
                       rotation=np.tile(np.eye(3, dtype=np.float32), (T, 1, 1)),
                       translation=rng.normal(size=(T, 3)).astype(np.float32),
                       K=np.eye(3, dtype=np.float32), image_size=(360, 288), focal=400.0, fps=25.0,
                       extra={"custom": np.arange(3)})


def test_fit_round_trip(tmp_path):
    fa = _fit()
    write_fit(tmp_path / "fit.npz", fa)
    assert not [p for p in tmp_path.iterdir() if p.name != "fit.npz"]   # no temp file left behind
    back = read_fit(tmp_path)                                            # a folder holding fit.npz
    assert back.model == "ict" and back.n_frames == 4 and back.image_size == (360, 288)
    np.testing.assert_array_equal(back.expression, fa.expression)
    np.testing.assert_array_equal(back.expression_column("mouthClose"), fa.expression[:, 1])
    np.testing.assert_array_equal(back.extra["custom"], np.arange(3))
    assert back.valid.all() and np.allclose(back.times, np.arange(4) / 25.0)   # defaults filled in
    assert back.jaw is None and back.focal == pytest.approx(400.0)


def test_fit_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="no such fit file"):
        read_fit(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz: not a readable fit.npz"):
        read_fit(bad)
    arrays = _fit().to_arrays()
    del arrays["rotation"]
    np.savez(tmp_path / "part.npz", **arrays)
    with pytest.raises(InputError, match="missing rotation"):
        read_fit(tmp_path / "part.npz")
    arrays = _fit().to_arrays()
    arrays["translation"] = arrays["translation"][:2]
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(InputError, match="inconsistent"):
        read_fit(tmp_path / "shape.npz")


def _head(tid, x0, size, lm_value):
    return {"track_id": tid, "bbox": [x0, 0, x0 + size, size], "score": 0.9,
            "rotation": np.eye(3).tolist(), "translation": [0, 0, 0.5], "yaw": 1.0, "pitch": 2.0, "roll": 3.0,
            "landmarks_468": np.full((468, 2), lm_value).tolist(), "landmarks_68": np.zeros((68, 2)).tolist()}


def test_pose_main_track(tmp_path):
    frames = [{"source": "a.mp4", "index": i, "time": i / 25,
               "heads": ([_head(0, 0, 50, i)] if i != 2 else []) + ([_head(1, 100, 90, -1)] if i == 0 else [])}
              for i in range(4)]
    doc = {"version": 1, "convention": "c", "frames": frames,
           "sources": [{"path": "a.mp4", "kind": "video", "width": 360, "height": 288, "fps": 25.0,
                        "n_frames": 4, "intrinsics": np.eye(3).tolist()}], "errors": []}
    write_pose(tmp_path / "pose.json", doc)
    pa = read_pose(tmp_path / "pose.json")
    assert len(pa.frames) == 4 and len(pa.frames[0].heads) == 2 and pa.frames[0].heads[0].yaw == 1.0
    tr = pa.main_track("a.mp4")
    assert tr.track_id == 0                           # the face present in most frames wins over a bigger one
    assert tr.valid.tolist() == [True, True, False, True]
    assert np.isnan(tr.landmarks_468[2]).all() and tr.landmarks_468[3, 0, 0] == 3
    assert tr.fps == 25.0 and tr.size == (360, 288)


def test_pose_errors(tmp_path):
    p = tmp_path / "pose.json"
    p.write_text("{not json")
    with pytest.raises(InputError, match="pose.json: not a pose.json"):
        read_pose(p)
    p.write_text(json.dumps({"frames": [{"source": "a", "index": 0, "heads": [
        {"rotation": np.eye(3).tolist(), "translation": [0, 0, 1], "landmarks_468": [[0, 0]] * 10}]}]}))
    with pytest.raises(InputError, match="10 landmarks_468"):
        read_pose(p)
