"""Run manifests: OUT/manifest.json (and OUT/<item>/manifest.json when fanned out).

Per-item manifest::

    {"pipeline": "...yaml", "executor": "local", "status": "done"|"failed", "seconds": 1.2,
     "inputs": {"media": "/abs/a.mp4"},
     "nodes": {"pose": {"stage": "pose", "status": "done"|"cached"|"failed"|"skipped", "seconds": 0.4,
                        "key": "<sha256>", "outputs": {"pose": "pose/pose.json"}, "error": "..." (failed)}},
     "versions": {"headgen": "0.1.0", "python": "3.11.7", "torch": "2.x" | null, "stages": {"pose": "1"}}}

Output paths are relative to the manifest's directory. The top-level manifest of a fan-out run has
"items" ({name: {"status", "manifest": "<name>/manifest.json", "inputs", "counts"}}), "nodes" keyed
"<item>/<node>" (paths relative to OUT), "versions", "status" and "seconds".
"""
from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from headgen.pipeline.store import write_json_atomic


def versions(stages: dict[str, str]) -> dict[str, Any]:
    """headgen / python / torch versions (torch read from metadata, not imported) and stage versions."""
    def ver(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None
    import headgen
    return {"headgen": getattr(headgen, "__version__", None) or ver("headgen"),
            "python": platform.python_version(), "torch": ver("torch"),
            "stages": dict(sorted(stages.items()))}


def write_manifest(path: Path, manifest: dict) -> None:
    """Write ``manifest`` to ``path`` atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, manifest)
