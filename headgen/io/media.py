"""What an input is, and its frames: images are one-frame videos.

- ``IMAGE_EXTS`` / ``VIDEO_EXTS``: the one set of extensions (a file with another extension is tried as
  a video: anything ffmpeg reads).
- :func:`media_kind`, :func:`folder_media`, :func:`expand_inputs`: classify paths, list the media of a
  folder (sorted, not recursive), expand files and folders into :class:`MediaFile` items.
- :class:`Media` (:func:`open_media`): one image or video with ``kind``, ``fps`` (0 for an image),
  ``size``; iterating yields (H, W, 3) uint8 RGB frames; :meth:`Media.frames` reads frames by index.
  A clip whose frames fit in ``cache_bytes`` is decoded once and kept (uint8), so several passes over
  it (landmarks, photometric term, overlay) cost one decode; a longer one is streamed each time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from headgen.errors import InputError

__all__ = ["IMAGE_EXTS", "VIDEO_EXTS", "MediaFile", "Media", "media_kind", "folder_media", "expand_inputs",
           "open_media", "read_frames"]

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"})
VIDEO_EXTS = frozenset({".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".wmv", ".flv",
                        ".ts", ".mts", ".3gp", ".ogv", ".vob", ".y4m"})

#: Default memory budget (bytes of uint8 frames) under which a clip is decoded once and kept.
CACHE_BYTES = 1 << 30


def media_kind(path: str | Path) -> str:
    """"image" for an image extension, else "video" (anything ffmpeg reads)."""
    return "image" if Path(path).suffix.lower() in IMAGE_EXTS else "video"


def folder_media(folder: str | Path) -> list[Path]:
    """The image and video files of ``folder`` (by extension), sorted, not recursive."""
    return [q for q in sorted(Path(folder).iterdir())
            if q.is_file() and (q.suffix.lower() in IMAGE_EXTS or q.suffix.lower() in VIDEO_EXTS)]


@dataclass(frozen=True)
class MediaFile:
    """One input file: path and kind ("image" or "video")."""
    path: Path
    kind: str


def expand_inputs(paths) -> tuple[list[MediaFile], list[tuple[Path, str]]]:
    """Paths (files or folders) -> (media files in order, without duplicates; errors [(path, message)]).
    A folder contributes its image and video files (:func:`folder_media`); problems (missing path, empty
    folder) are collected instead of raised, so the good inputs of the same call are still processed."""
    files: list[MediaFile] = []
    errors: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append(MediaFile(p, media_kind(p)))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = folder_media(p)
            for q in found:
                add(q)
            if not found:
                errors.append((p, "folder holds no image or video files"))
        elif p.is_file():
            add(p)
        elif p.exists():
            errors.append((p, "not a regular file or folder"))
        else:
            errors.append((p, "no such file or folder"))
    return files, errors


class Media:
    """An image or a video as a sequence of frames (an image is a one-frame video at fps 0).

    Attributes: path, kind ("image" | "video"), fps (0.0 for an image), size (w, h), has_audio,
    max_frames. ``for frame in media`` -> (H, W, 3) uint8 RGB; ``len(media)``: frame count (exact after
    one full pass). Frames are kept after the first full pass when the clip fits in ``cache_bytes``.
    Raises InputError naming the file when it is missing or unreadable.
    """

    def __init__(self, path: str | Path, max_frames: int | None = None, cache_bytes: int = CACHE_BYTES):
        from headgen.io.images import read_image
        from headgen.io.video import VideoReader

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self.kind = media_kind(self.path)
        self.max_frames = max_frames
        self._cache: np.ndarray | None = None
        self._reader = None
        if self.kind == "image":
            img = read_image(self.path)
            self._cache = img[None]
            self.fps, self.size, self.has_audio = 0.0, (int(img.shape[1]), int(img.shape[0])), False
            self._n = 1
        else:
            self._reader = VideoReader(self.path, max_frames=max_frames)
            self.fps, self.has_audio = float(self._reader.fps), bool(self._reader.has_audio)
            self.size = (int(self._reader.width), int(self._reader.height))
            self._n = len(self._reader)
        self._keep = self._n * self.size[0] * self.size[1] * 3 <= cache_bytes

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._cache is not None:
            yield from self._cache
            return
        kept: list[np.ndarray] | None = [] if self._keep else None
        n = 0
        for frame in self._reader:
            if kept is not None:
                kept.append(frame)
            n += 1
            yield frame
        # a full pass ends here (an abandoned one never does): the count is exact, the frames kept
        self._n = n
        self.size = (int(self._reader.width), int(self._reader.height))
        if kept:
            self._cache = np.stack(kept)

    def frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 frames at ``indices`` (any order, repeats allowed), from the kept frames or
        streamed (only the wanted frames are held). An image answers index 0. Raises InputError when an
        index is beyond the clip."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        if idx.size == 0:
            return np.zeros((0, self.size[1], self.size[0], 3), np.uint8)
        if self._cache is None:
            want = set(int(i) for i in idx)
            got: dict[int, np.ndarray] = {}
            last = int(idx.max())
            for i, frame in enumerate(self):
                if i in want:
                    got[i] = frame
                if i >= last:
                    break
            if self._reader is not None:
                self._reader.close()
            missing = sorted(want - set(got))
            if missing:
                raise InputError(f"{self.path}: has no frame {missing[0]} (decoded {len(got)} of the "
                                 f"{len(want)} frames asked for)")
            return np.stack([got[int(i)] for i in idx])
        if idx.min() < 0 or idx.max() >= len(self._cache):
            bad = int(idx[(idx < 0) | (idx >= len(self._cache))][0])
            raise InputError(f"{self.path}: has no frame {bad} ({len(self._cache)} frames)")
        return self._cache[idx]

    def close(self) -> None:
        """Stop an unfinished decode and drop the kept frames."""
        if self._reader is not None:
            self._reader.close()
        if self.kind == "video":
            self._cache = None

    def __enter__(self) -> "Media":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_media(path: str | Path | Media, max_frames: int | None = None) -> Media:
    """``path`` -> Media (a Media passes through)."""
    return path if isinstance(path, Media) else Media(path, max_frames=max_frames)


def read_frames(path: str | Path | Media, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 frames ``indices`` of an image or video (see :meth:`Media.frames`)."""
    return open_media(path).frames(indices)
