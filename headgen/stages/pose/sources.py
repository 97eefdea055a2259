"""Expand the pose stage's inputs (image files, folders, video files) into a list of sources.

A folder contributes its image and video files (by extension, sorted, not recursive). A file is an
image if its extension is an image format, otherwise it is tried as a video (anything ffmpeg
reads). Problems (missing path, empty folder) are collected as ``(path, message)`` pairs instead
of raised, so the good inputs of the same call are still processed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["IMAGE_EXTS", "VIDEO_EXTS", "Source", "expand_inputs"]

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"})
VIDEO_EXTS = frozenset({".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".wmv", ".flv",
                        ".ts", ".mts", ".3gp", ".ogv", ".vob", ".y4m"})


@dataclass(frozen=True)
class Source:
    """One input: path and kind ("image" or "video")."""
    path: Path
    kind: str


def expand_inputs(paths) -> tuple[list[Source], list[tuple[Path, str]]]:
    """Paths (files or folders) -> (sources in order, without duplicates; errors [(path, message)])."""
    sources: list[Source] = []
    errors: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(p: Path, kind: str) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            sources.append(Source(p, kind))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = 0
            for q in sorted(p.iterdir()):
                ext = q.suffix.lower()
                if q.is_file() and (ext in IMAGE_EXTS or ext in VIDEO_EXTS):
                    add(q, "image" if ext in IMAGE_EXTS else "video")
                    found += 1
            if not found:
                errors.append((p, "folder holds no image or video files"))
        elif p.is_file():
            add(p, "image" if p.suffix.lower() in IMAGE_EXTS else "video")
        elif p.exists():
            errors.append((p, "not a regular file or folder"))
        else:
            errors.append((p, "no such file or folder"))
    return sources, errors
