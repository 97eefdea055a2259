"""Bad input to the ``headgen`` commands: one line naming the file and the problem, a non-zero exit, no
traceback, and nothing of a previous run lost. Cases found by the CLI bad-input audit; each is cheap (no
training, no model fitting: the checks fire before the work)."""
import json

import numpy as np
import pytest

import headgen.cli as cli
from headgen.errors import InputError
from headgen.io.atomic import write_bytes_atomic
from headgen.io.images import write_image


# ---- output paths the OS refuses -------------------------------------------------------------------

def test_output_file_that_is_a_folder(tmp_path):
    # before: IsADirectoryError naming the temporary file, as a traceback (export -o DIR, train-audio -o DIR)
    with pytest.raises(InputError, match=f"{tmp_path}: is a folder"):
        write_bytes_atomic(tmp_path, b"x")
    assert list(tmp_path.iterdir()) == []                  # no temporary left beside it


def test_output_file_under_a_file(tmp_path):
    # before: FileExistsError traceback (export -o FILE/x.obj, train-sculpt -o FILE/w.pt)
    from headgen.io.atomic import check_output_file
    (tmp_path / "afile").write_text("keep")
    with pytest.raises(InputError, match="afile is a file"):
        write_bytes_atomic(tmp_path / "afile" / "x.obj", b"x")
    with pytest.raises(InputError, match="afile is a file"):
        check_output_file(tmp_path / "afile" / "sub" / "w.pt")
    assert (tmp_path / "afile").read_text() == "keep"


# ---- pose: nothing readable ------------------------------------------------------------------------

def test_pose_all_inputs_unreadable_keeps_previous_pose_json(tmp_path):
    # before: an empty pose.json (0 frames) replaced the previous run's, and "the others are in pose.json"
    pytest.importorskip("mediapipe")
    from headgen.stages.pose.estimate import estimate_poses

    bad = tmp_path / "text.png"
    bad.write_text("not an image")
    out = tmp_path / "out"
    out.mkdir()
    (out / "pose.json").write_text('{"previous": true}')
    with pytest.raises(InputError, match=r"text\.png: cannot read image"):
        estimate_poses([bad], out)
    assert json.loads((out / "pose.json").read_text()) == {"previous": True}
    with pytest.raises(InputError, match="none of the 2 inputs"):
        estimate_poses([bad, tmp_path / "missing.mp4"], out)


# ---- fit: a pose.json of other media ---------------------------------------------------------------

def _pose_doc(source: str, w: int, h: int) -> dict:
    lm = np.random.default_rng(0).uniform(10, 50, (468, 2)).round(2).tolist()
    head = {"track_id": 0, "bbox": [10, 10, 50, 50], "score": 0.9, "rotation": np.eye(3).tolist(),
            "translation": [0, 0, 0.5], "landmarks_468": lm, "landmarks_68": lm[:68]}
    return {"version": 1, "sources": [{"path": source, "kind": "video", "width": w, "height": h, "fps": 25.0,
                                       "n_frames": 1, "intrinsics": np.eye(3).tolist()}],
            "frames": [{"source": source, "index": 0, "time": 0.0, "heads": [head]}], "errors": []}


def test_fit_refuses_a_pose_json_of_other_media(tmp_path):
    # before: fitted the pose.json's own (other) video, exit 0
    from headgen.stages.fit.fitting import fit_media

    photo = tmp_path / "photo.png"
    write_image(photo, np.full((48, 64, 3), 128, np.uint8))
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps(_pose_doc(str(tmp_path / "other.mp4"), 360, 288)))
    with pytest.raises(InputError, match=r"pose\.json: made on 360x288 frames of other\.mp4, but photo\.png is 64x48"):
        fit_media(photo, tmp_path / "out", pose=pose, overlay=False)
    assert not (tmp_path / "out" / "fit.npz").exists()


# ---- view: options checked before serving ----------------------------------------------------------

@pytest.fixture
def fit_npz(tmp_path):
    from headgen.artifacts.fit import write_fit
    T = 2
    p = tmp_path / "fit.npz"
    write_fit(p, dict(model=np.array("ict"), shape=np.zeros(100, np.float32), expression=np.zeros((T, 53), np.float32),
                      expression_names=np.array([f"e{i}" for i in range(53)]),
                      rotation=np.tile(np.eye(3, dtype=np.float32), (T, 1, 1)),
                      translation=np.tile([0.0, 0.0, 0.5], (T, 1)).astype(np.float32),
                      K=np.array([[80, 0, 32], [0, 80, 24], [0, 0, 1]], np.float32),
                      image_size=np.array([64, 48], np.int32), fps=np.float32(25)))
    return p


@pytest.mark.parametrize("args, message", [
    (["--port", "-4"], "--port -4: choose 0..65535"),                                # before: hung, thread traceback
    (["--headless", "--screenshot", "x.png", "--size", "0x-3"], "--size '0x-3': width and height"),  # ZeroDivisionError
    (["--audio", "{tmp}/text.wav"], "text.wav: ffmpeg cannot read"),                # before: served, error in the page
])
def test_view_bad_options(tmp_path, capsys, fit_npz, args, message):
    (tmp_path / "text.wav").write_text("hello")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert cli.main(["view", str(fit_npz), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


# ---- animate ---------------------------------------------------------------------------------------

def test_animate_corrupt_style_npz(tmp_path):
    # before: zipfile.BadZipFile traceback
    from headgen.stages.animate.run import _load_style
    bad = tmp_path / "style.npz"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(InputError, match=r"style\.npz: not a readable style / fit \.npz"):
        _load_style(bad, None, None, print)


def test_animate_bad_avatar_fails_before_the_speech(tmp_path):
    # before: the speech was timed and animation.npz / the CSV written, then the avatar failed
    from headgen.stages.animate.run import AnimateOptions, animate_speech
    av = tmp_path / "avatar"
    av.mkdir()
    np.savez(av / "avatar_rig.npz", model=np.array("ict"))
    with pytest.raises(InputError, match="avatar_rig.npz"):
        animate_speech(tmp_path / "never_read.wav", tmp_path / "out", AnimateOptions(), avatar=av)
    assert not (tmp_path / "out").exists()


# ---- talking-head: --frame beyond the input ----------------------------------------------------------

def test_talking_head_frame_beyond_the_video(tmp_path):
    # before: pose + fit ran on the whole video (minutes) before the talking_head node failed
    from headgen.io.audio import write_audio
    from headgen.io.video import write_video
    from headgen.jobs import check_inputs

    clip = tmp_path / "clip.mp4"
    write_video(clip, np.zeros((5, 32, 32, 3), np.uint8), fps=25)
    speech = tmp_path / "speech.wav"
    write_audio(speech, np.zeros(1600, np.float32), 16000)
    check_inputs(clip, speech, frame=4)
    with pytest.raises(InputError, match=r"--frame 9: .*clip\.mp4 has 5 frame"):
        check_inputs(clip, speech, frame=9)
    photo = tmp_path / "photo.png"
    write_image(photo, np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InputError, match="still image"):
        check_inputs(photo, speech, frame=2)


# ---- fit.npz with non-finite or non-rotation values ---------------------------------------------------

@pytest.mark.parametrize("key, value, message", [
    ("expression", np.nan, r"non-finite values \(NaN/inf\) in expression \(frame 1\)"),
    ("translation", np.inf, r"non-finite values \(NaN/inf\) in translation \(frame 1\)"),
    ("rotation", 0.0, "rotation of frame 1 is not a rotation matrix"),
])
def test_read_fit_refuses_broken_values(fit_npz, capsys, key, value, message):
    # before: read as a fit; `headgen export` wrote a .glb / .obj of NaNs or a collapsed head, exit 0
    from headgen.artifacts.fit import read_fit
    d = dict(np.load(fit_npz, allow_pickle=False))
    d[key] = d[key].copy()
    d[key][1] = value
    np.savez(fit_npz, **d)
    with pytest.raises(InputError, match=message):
        read_fit(fit_npz)
    assert cli.main(["export", str(fit_npz), "-o", str(fit_npz.parent / "x.obj")]) == 1
    assert not (fit_npz.parent / "x.obj").exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_read_rig_refuses_nan(tmp_path):
    # before: read as a rig; animate / talking-head rendered the avatar from NaN offsets
    from headgen.artifacts.avatar import read_rig
    N = 4
    rig = dict(model=np.array("ict"), model_parts=np.array(["face"]), faces=np.array([[0, 1, 2]], np.int32),
               neutral_vertices=np.eye(3, dtype=np.float32), shape=np.zeros(100, np.float32),
               binding=np.zeros(N, np.int32), local_offsets=np.zeros((N, 3), np.float32),
               local_rotations=np.tile([1.0, 0, 0, 0], (N, 1)).astype(np.float32),
               local_log_scales=np.full((N, 3), -5, np.float32), sh=np.zeros((N, 1, 3), np.float32),
               opacity_logits=np.zeros(N, np.float32))
    np.savez(tmp_path / "avatar_rig.npz", **rig)
    read_rig(tmp_path / "avatar_rig.npz")
    rig["local_offsets"][2, 1] = np.nan
    np.savez(tmp_path / "avatar_rig.npz", **rig)
    with pytest.raises(InputError, match=r"avatar_rig\.npz: non-finite values \(NaN/inf\) in local_offsets"):
        read_rig(tmp_path / "avatar_rig.npz")


# ---- avatar: --flame with an ICT fit ---------------------------------------------------------------------

def test_avatar_flame_file_with_an_ict_fit(tmp_path, fit_npz):
    # before: --flame was ignored (even an unreadable file) and the avatar trained for minutes
    from headgen.stages.avatar.run import AvatarOptions, run_avatar
    photo = tmp_path / "photo.png"
    write_image(photo, np.full((48, 64, 3), 128, np.uint8))
    d = dict(np.load(fit_npz, allow_pickle=False))
    np.savez(fit_npz, **{k: (v[:1] if k in ("expression", "rotation", "translation") else v) for k, v in d.items()})
    (tmp_path / "flame.pkl").write_text("not a pickle")
    with pytest.raises(InputError, match=r"--flame .*flame\.pkl: fit\.npz was fitted with the ict model"):
        run_avatar(photo, fit_npz, tmp_path / "out", AvatarOptions(flame_path=str(tmp_path / "flame.pkl")))
    assert not (tmp_path / "out" / "avatar_rig.npz").exists()


# ---- options declared on a stage's Params -----------------------------------------------------------

def test_required_param_option_is_required(tmp_path, capsys):
    # before: `headgen sculpt` without --prompt sculpted the prompt 'PydanticUndefined' (help: [default: PydanticUndefined])
    assert cli.main(["sculpt", "-o", str(tmp_path / "out"), "--weights", str(tmp_path / "none.pt")]) == 2
    assert "--prompt" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_animate_speech_that_is_a_folder(tmp_path, capsys):
    # before: "adir.wav: no such file" for a folder that exists
    (tmp_path / "adir.wav").mkdir()
    assert cli.main(["animate", str(tmp_path / "adir.wav"), "-o", str(tmp_path / "out"), "--no-video"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("adir.wav: is a folder, expected an audio or video file"), err


def test_export_fit_with_more_identity_coefficients_than_the_model_names_the_file(fit_npz, capsys):
    # before: "ict head model: 'shape' must have shape (B, K) with K <= 100", without the fit.npz's path
    d = dict(np.load(fit_npz, allow_pickle=False))
    d["shape"] = np.zeros(150, np.float32)
    np.savez(fit_npz, **d)
    assert cli.main(["export", str(fit_npz), "-o", str(fit_npz.parent / "x.obj")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(fit_npz) in err[0] and "K <= 100" in err[0], err
    assert not (fit_npz.parent / "x.obj").exists()


def test_fit_refuses_a_pose_json_of_other_media_of_the_same_size(tmp_path):
    # before: fitted (and decoded) the pose.json's own source, a different photo, exit 0
    from headgen.stages.fit.fitting import fit_media

    photo, other = tmp_path / "photo.png", tmp_path / "other.png"
    write_image(photo, np.full((48, 64, 3), 128, np.uint8))
    write_image(other, np.full((48, 64, 3), 90, np.uint8))
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps(_pose_doc(str(other), 64, 48)))
    with pytest.raises(InputError, match=r"pose\.json: made on .*other\.png, not on .*photo\.png"):
        fit_media(photo, tmp_path / "out", pose=pose, overlay=False)
    assert not (tmp_path / "out" / "fit.npz").exists()
    same = tmp_path / "copy.png"                       # the same bytes under another name: accepted as that media
    same.write_bytes(other.read_bytes())
    from headgen.stages.fit.fitting import _check_pose_media
    from headgen.stages.fit.tracks import track_from_pose
    _check_pose_media(pose, track_from_pose(pose, same), same)


def test_truncated_wav_is_read_with_a_warning(tmp_path):
    # before: a wav cut to 10 % of its declared length read as 0.3 s of speech, silently (animate exit 0)
    from headgen.errors import InputWarning
    from headgen.io.audio import read_audio, write_audio
    full = write_audio(tmp_path / "speech.wav", (0.1 * np.sin(np.arange(48000) / 5.0)).astype(np.float32), 16000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: len(full.read_bytes()) // 10])
    with pytest.warns(InputWarning, match=r"cut\.wav: decoded 0\.\d+ s of audio, but the file declares 3\.00 s"):
        x, sr = read_audio(cut)
    assert 0 < len(x) / sr < 0.5
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)    # a whole file: no warning
        assert len(read_audio(full)[0]) == 48000
