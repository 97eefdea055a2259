"""configs/talking_head.yaml and the demo graph, end to end with tiny settings (issue 16): `headgen run`
fanning the whole job (pose -> fit -> one-shot avatar -> animate -> talking_head) out over two photos with one
speech clip, and `headgen demo`'s pipeline; a photo without a face fails with one line."""
from __future__ import annotations

import json

import numpy as np
import pytest

TINY = ["avatar.iterations=2", "avatar.gaussians=2000", "talking_head.size=64", "animate.size=32",
        "animate.method=allphone"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    pytest.importorskip("mediapipe")
    from headgen.assets import AssetMissingError, resolve
    from headgen.io.audio import read_audio, write_audio
    from headgen.io.images import read_image, write_image

    d = tmp_path_factory.mktemp("thp")
    try:
        faces = [resolve("faces/codait_bryan.png"), resolve("faces/codait_luciano.png")]
        speech = resolve("audio/cmu_arctic_slt_a0009.wav")
    except AssetMissingError:  # pragma: no cover
        pytest.skip("sample assets missing")
    import cv2
    photos = d / "photos"
    photos.mkdir()
    for p in faces:   # small copies: the tests stay fast
        img = read_image(p)[..., :3]
        write_image(photos / p.name, cv2.resize(img, (112, 112), interpolation=cv2.INTER_AREA))
    x, sr = read_audio(speech, sr=16000)
    write_audio(d / "speech.wav", x[: int(1.2 * sr)], sr)
    write_image(d / "blank.png", np.full((96, 96, 3), 128, np.uint8))
    return d


def test_fan_out_over_photos(inputs, tmp_path):
    from headgen.cli import main
    from headgen.io.video import probe_video

    out = tmp_path / "run"
    from headgen.jobs import TALKING_HEAD_PIPELINE

    args = ["run", str(TALKING_HEAD_PIPELINE), "-o", str(out), "--input", f"photo={inputs / 'photos'}/*.png",
            "--input", f"speech={inputs / 'speech.wav'}", "--quiet"]
    for s in TINY:
        args += ["--set", s]
    assert main(args) == 0
    for name in ("codait_bryan", "codait_luciano"):
        v = out / name / "talking_head" / "talking_head.mp4"
        info = probe_video(v)
        assert (info.width, info.height) == (64, 64) and info.has_audio
        assert abs(info.duration - 1.2) <= 0.04 + 0.03
        meta = json.loads(v.with_name("talking_head.json").read_text())
        assert meta["mode"] == "avatar" and meta["n_frames"] == 30
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest and "talking_head" in json.dumps(manifest)


def test_demo_pipeline_and_no_face(inputs, tmp_path, capsys):
    from headgen.cli import main
    from headgen.demo import run_demo
    from headgen.io.video import probe_video

    video = run_demo(tmp_path / "demo", inputs / "photos" / "codait_luciano.png", inputs / "speech.wav",
                     sets=tuple(TINY))
    assert video == tmp_path / "demo" / "talking_head.mp4"     # the documented path
    assert probe_video(video).has_audio
    assert video.stat().st_size == (tmp_path / "demo" / "talking_head" / "talking_head.mp4").stat().st_size
    rc = main(["talking-head", str(inputs / "blank.png"), str(inputs / "speech.wav"), "-o", str(tmp_path / "nf"),
               "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "blank.png" in err and "no face" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "nf" / "talking_head" / "talking_head.mp4").exists()
    assert not (tmp_path / "nf" / "talking_head.mp4").exists()


def test_several_faces_are_counted_for_the_warning(inputs, tmp_path):
    """Two faces in one photo: the pose stage (max_faces 4, as in configs/talking_head.yaml) finds both, the
    fit animates the largest (PoseArtifact.main_track), and talking_head warns with this count."""
    import cv2

    from headgen.artifacts.pose import read_pose
    from headgen.cli import main
    from headgen.io.images import read_image, write_image
    from headgen.stages.talking_head.run import count_faces

    big = cv2.resize(read_image(inputs / "photos" / "codait_luciano.png"), (200, 200))
    small = read_image(inputs / "photos" / "codait_bryan.png")
    canvas = np.full((200, 330, 3), 120, np.uint8)
    canvas[:, :200] = big
    canvas[40:152, 212:324] = small
    write_image(tmp_path / "two.png", canvas)
    assert main(["pose", str(tmp_path / "two.png"), "-o", str(tmp_path / "pose"), "--max-faces", "4"]) == 0
    assert count_faces(tmp_path / "pose" / "pose.json", tmp_path / "two.png", 0) == 2
    box = read_pose(tmp_path / "pose" / "pose.json").main_track(tmp_path / "two.png").bbox[0]
    assert box[2] < 210     # the main track is the larger face, on the left


@pytest.mark.slow
def test_fan_out_on_ray(inputs, tmp_path):
    """The same fan-out on a local Ray cluster: every node a Ray task, same outputs as the local executor."""
    pytest.importorskip("ray")
    from headgen.pipeline.runner import raise_for_failures, run_pipeline
    from headgen.io.video import probe_video

    out = tmp_path / "ray"
    from headgen.jobs import TALKING_HEAD_PIPELINE

    res = run_pipeline(TALKING_HEAD_PIPELINE, out, inputs={"photo": str(inputs / "photos") + "/*.png",
                                                                  "speech": str(inputs / "speech.wav")},
                       sets=TINY, executor="ray", quiet=True)
    raise_for_failures(res)
    for name in ("codait_bryan", "codait_luciano"):
        info = probe_video(out / name / "talking_head" / "talking_head.mp4")
        assert (info.width, info.height) == (64, 64) and info.has_audio
