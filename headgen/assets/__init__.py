"""Find third-party data (ICT-FaceKit, MediaPipe canonical mesh, sample photos/clips/speech).

The package: this resolver; ``fetch`` (the manifest of upstream sources, sha256-checked downloads and
builders); ``cli`` (``headgen assets list|where|fetch|convert-ict``); ``ict`` (ICT-FaceKit OBJs -> npz).

Search order for a relative asset path such as ``"ict_facekit/ict_facekit.npz"``:

1. ``$HEADGEN_ASSETS/<path>`` when the environment variable is set;
2. ``<repo>/../shared/assets/<path>`` (the layout of a development checkout);
3. the user cache, ``$HEADGEN_CACHE`` or ``~/.cache/headgen``, under ``assets/<path>``
   (filled by ``headgen assets fetch``, see ``headgen.assets.fetch``).

Nothing here downloads: a missing asset raises :class:`AssetMissingError` with one line
that says what is missing and how to get it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class AssetMissingError(FileNotFoundError):
    """An asset is in none of the search locations; the message says how to get it."""


def cache_dir() -> Path:
    """User cache root (``$HEADGEN_CACHE`` or ``~/.cache/headgen``); not created here."""
    env = os.environ.get("HEADGEN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "headgen"


def search_roots() -> list[Path]:
    """The asset roots in search order (they need not exist)."""
    roots = []
    env = os.environ.get("HEADGEN_ASSETS")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(REPO_ROOT.parent / "shared" / "assets")
    roots.append(cache_dir() / "assets")
    return roots


def find(relpath: str) -> Path | None:
    """First existing ``root/relpath`` over :func:`search_roots`, or None."""
    for root in search_roots():
        p = root / relpath
        if p.exists():
            return p
    return None


def resolve(relpath: str) -> Path:
    """Path of the asset ``relpath`` (e.g. ``"mediapipe/canonical_face_model.obj"``).

    Raises AssetMissingError naming the asset, the places searched and the fetch command.
    """
    p = find(relpath)
    if p is not None:
        return p
    group = relpath.split("/", 1)[0]
    searched = ", ".join(str(r) for r in search_roots())
    raise AssetMissingError(
        f"asset '{relpath}' not found (searched: {searched}); run `headgen assets fetch {group}` "
        f"to download it, or set HEADGEN_ASSETS to a folder that holds it")


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# Convenience accessors for the assets the library code uses.
def ict_facekit_npz() -> Path:
    """The ICT-FaceKit Light model as one npz (layout: ../shared/assets/ict_facekit/SOURCE.md)."""
    return resolve("ict_facekit/ict_facekit.npz")


def mediapipe_file(name: str) -> Path:
    """A file of MediaPipe's face-geometry data, e.g. ``"canonical_face_model.obj"``."""
    return resolve(f"mediapipe/{name}")


def sample_faces() -> list[Path]:
    """The real face photos shipped as sample inputs (sorted)."""
    return sorted(resolve("faces").glob("*.png"))


def sample_videos() -> list[Path]:
    """The GRID talking-face clips (sorted)."""
    return sorted(resolve("video").glob("*.mpg"))


def sample_speech() -> Path:
    """A real speech utterance (CMU ARCTIC slt a0009, 16 kHz wav)."""
    return resolve("audio/cmu_arctic_slt_a0009.wav")
