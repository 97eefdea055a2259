"""`headgen assets list/where/fetch` through headgen.cli.main, in process (no network)."""
from __future__ import annotations

import hashlib
import socket

import pytest

from headgen.assets import fetch as af
from headgen import assets
from headgen.cli import main

REF_NPZ = assets.find("ict_facekit/ict_facekit.npz")   # looked up before any fixture isolates the roots


@pytest.fixture
def env_assets(tmp_path, monkeypatch):
    """HEADGEN_ASSETS holding one (fake) asset; no shared dir; empty cache."""
    monkeypatch.setattr(assets, "REPO_ROOT", tmp_path / "nowhere" / "repo")
    root = tmp_path / "env_assets"
    (root / "faces").mkdir(parents=True)
    (root / "faces" / "codait_bryan.png").write_bytes(b"not the real picture")
    monkeypatch.setenv("HEADGEN_ASSETS", str(root))
    monkeypatch.setenv("HEADGEN_CACHE", str(tmp_path / "cache"))
    return root


def test_list_reports_found_and_missing(env_assets, capsys):
    assert main(["assets", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    bryan = next(i for i, ln in enumerate(lines) if "faces/codait_bryan.png" in ln)
    assert lines[bryan].split()[0] == "found"
    assert str(env_assets / "faces" / "codait_bryan.png") in lines[bryan + 1]
    npz = next(ln for ln in lines if "ict_facekit/ict_facekit.npz" in ln)
    assert npz.split()[0] == "missing" and "ICT Face Model Light" in npz
    for g in af.GROUPS:
        assert f"[{g}]" in out
    assert f"{len(af.MANIFEST) - 1} asset file(s) not found" in out and "headgen assets fetch" in out


def test_list_verify_flags_bad_checksum(env_assets, capsys):
    assert main(["assets", "list", "faces", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "[video]" not in out
    bryan = next(ln for ln in out.splitlines() if "faces/codait_bryan.png" in ln)
    assert bryan.split()[0] == "bad-checksum"


def test_where_lists_roots_in_order(env_assets, tmp_path, capsys):
    assert main(["assets", "where"]) == 0
    out = capsys.readouterr().out
    i_env = out.index(f"1. {env_assets}")
    i_shared = out.index(f"2. {tmp_path / 'nowhere' / 'shared' / 'assets'}")
    i_cache = out.index(f"3. {tmp_path / 'cache' / 'assets'}")
    assert i_env < i_shared < i_cache


def test_fetch_bad_group_is_one_line_error(env_assets, capsys):
    assert main(["assets", "fetch", "nonsense"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("headgen: error: unknown asset group 'nonsense'") and "\n" not in err


def test_fetch_offline_is_one_line_error(env_assets, tmp_path, monkeypatch, capsys):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = f"http://127.0.0.1:{port}/Luciano.png"
    monkeypatch.setattr(af, "MANIFEST", (
        af.AssetFile("faces", "faces/codait_luciano.png", "portrait", hashlib.sha256(b"x").hexdigest(), (url,)),))
    dest = tmp_path / "dest"
    assert main(["assets", "fetch", "faces", "--dest", str(dest), "--timeout", "5"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"headgen: error: cannot download faces/codait_luciano.png from {url}")
    assert "HEADGEN_ASSETS" in err and "\n" not in err
    assert not (dest / "faces" / "codait_luciano.png").exists()


def test_fetch_skips_what_search_roots_provide(env_assets, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(af, "MANIFEST", (
        af.AssetFile("faces", "faces/codait_bryan.png", "portrait", None, ("https://invalid.example/x.png",)),))
    assert main(["assets", "fetch"]) == 0          # found under HEADGEN_ASSETS -> nothing downloaded
    out = capsys.readouterr().out
    assert "ok       faces/codait_bryan.png (found at" in out and "0 file(s) written" in out


def test_convert_ict_command_on_local_kit(env_assets, tmp_path, capsys):
    """`headgen assets convert-ict` on a reduced local kit: strict check refuses it, --no-verify converts it."""
    import json

    import numpy as np

    if REF_NPZ is None:
        pytest.skip("reference ict_facekit.npz not available")
    from test_ict_convert import write_kit   # tests/ is on sys.path (pytest rootdir-less layout)

    with np.load(REF_NPZ) as z:
        ref = {k: z[k] for k in z.files}
    kit = tmp_path / "ICT-FaceKit"
    obj_dir = write_kit(ref, kit, [0], [26])
    cfg = json.loads((obj_dir / "vertex_indices.json").read_text())
    cfg["expressions"] = ["jawOpen"]
    (obj_dir / "vertex_indices.json").write_text(json.dumps(cfg))
    (kit / "LICENSE").write_text("MIT License\n")
    dest = tmp_path / "dest"
    assert main(["assets", "convert-ict", str(kit), "--dest", str(dest)]) == 1
    err = capsys.readouterr().err.strip()
    assert "does not match the reference ICT-FaceKit conversion" in err and "\n" not in err
    assert main(["assets", "convert-ict", str(kit), "--dest", str(dest), "--no-verify"]) == 0
    out_npz = dest / "ict_facekit" / "ict_facekit.npz"
    with np.load(out_npz) as z:
        assert z["identity_deltas"].shape == (1, 26719, 3) and z["expression_names"].tolist() == ["jawOpen"]
        np.testing.assert_array_equal(z["faces"], ref["faces"])
    assert (dest / "ict_facekit" / "LICENSE").read_text() == "MIT License\n"
    assert main(["assets", "convert-ict", str(tmp_path / "nope")]) == 1
    assert "no FaceXModel/generic_neutral_mesh.obj" in capsys.readouterr().err
