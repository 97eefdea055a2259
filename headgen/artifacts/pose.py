"""``pose.json``: the pose stage's heads, 6-DoF poses and landmarks per frame.

Schema (version 1)::

    {
      "version": 1,
      "convention": "<one line: frames and angle convention>",
      "sources": [                       # one per readable input, in input order
        {"path": str, "kind": "image" | "video", "width": int, "height": int,
         "fps": float | null, "n_frames": int, "intrinsics": [[fx,0,cx],[0,fy,cy],[0,0,1]]}
      ],
      "frames": [                        # every processed frame of every source, in order
        {"source": str,                  # the input path as given (folders expanded to files)
         "index": int,                   # frame number in the source (0 for an image)
         "time": float,                  # seconds from the source's first frame (0.0 for an image)
         "heads": [                      # empty list when no face is found (not an error)
           {"track_id": int,             # stable across the frames of one video; 0.. per image
            "bbox": [x0, y0, x1, y1],    # pixels, tight box of the 468 landmarks
            "score": float,              # face-detector confidence in [0, 1]
            "rotation": [[...],[...],[...]],  # 3x3 head -> OpenCV camera (X_cam = R X_head + t)
            "translation": [x, y, z],    # metres, OpenCV camera frame (+x right, +y down, +z forward)
            "yaw": float, "pitch": float, "roll": float,   # degrees, 300W-LP / AFLW2000 convention
            "landmarks_468": [[x, y], ...],   # 468 pixel points, MediaPipe face-mesh order
            "landmarks_68": [[x, y], ...]}    # 68 pixel points, iBUG order
         ]}
      ],
      "errors": [{"source": str, "error": str}]    # inputs that could not be read
    }

Head-model frame: MediaPipe's canonical face in metres (+x subject's left, +y up, +z out of the face,
origin 7.6 cm behind the nose tip, about mid-head). Angles: ``R_view = Rx(pitch) Ry(yaw)
Rz(roll)`` with the benchmark's (clockwise-positive) axis matrices, for the head rotation seen
along the line of sight to the head (see ``headgen.geometry.headpose``): yaw > 0 nose towards the
image left, pitch > 0 looking up, roll > 0 head turned clockwise in the image; a mirrored image
negates yaw and roll. Translation/rotation depend on the assumed intrinsics (``fov``, default 50
degrees across the longer side, principal point at the image centre) unless given.

:func:`read_pose` returns every source, frame and head; :meth:`PoseArtifact.main_track` gives the
dense arrays of one face over one source's frames (what fitting and lip measurements need).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.io.atomic import write_json_atomic

SCHEMA_VERSION = 1


@dataclass
class PoseHead:
    """One head in one frame (units and frames in the module docstring)."""
    track_id: int
    bbox: np.ndarray            # (4,) x0, y0, x1, y1 px
    score: float
    rotation: np.ndarray        # (3, 3)
    translation: np.ndarray     # (3,) m
    yaw: float
    pitch: float
    roll: float
    landmarks_468: np.ndarray   # (468, 2) px
    landmarks_68: np.ndarray    # (68, 2) px


@dataclass
class PoseFrame:
    """One processed frame of one source."""
    source: str
    index: int
    time: float
    heads: list[PoseHead]


@dataclass
class PoseSource:
    """One input file."""
    path: str
    kind: str
    width: int
    height: int
    fps: float | None
    n_frames: int
    intrinsics: np.ndarray      # (3, 3)


@dataclass
class PoseTrack:
    """One face over the frames of one source, as dense arrays (T frames). Frames where the face is
    missing have NaN landmarks, identity rotation, zero translation and ``valid`` False."""
    source: str
    landmarks_468: np.ndarray   # (T, 468, 2) px
    landmarks_68: np.ndarray    # (T, 68, 2) px
    rotation: np.ndarray        # (T, 3, 3)
    translation: np.ndarray     # (T, 3)
    bbox: np.ndarray            # (T, 4) px (NaN where missing)
    valid: np.ndarray           # (T,) bool
    times: np.ndarray           # (T,) s
    index: np.ndarray           # (T,) frame numbers
    fps: float                  # 0 for an image
    size: tuple[int, int]       # (w, h) px
    K: np.ndarray | None        # (3, 3)
    track_id: int | None


@dataclass
class PoseArtifact:
    """A whole pose.json."""
    version: int
    convention: str
    sources: list[PoseSource]
    frames: list[PoseFrame]
    errors: list[dict] = field(default_factory=list)
    path: Path | None = None

    def source_names(self) -> list[str]:
        """Distinct ``frames[].source`` values, sorted."""
        return sorted({f.source for f in self.frames})

    def find_source(self, media: str | Path | None = None) -> str:
        """The source path matching ``media`` (same resolved path or file name), or the only source.
        Raises InputError when it cannot tell."""
        names = self.source_names()
        if media is not None:
            want = Path(media).resolve()
            for n in names:
                if Path(n).resolve() == want or Path(n).name == Path(media).name:
                    return n
        if len(names) == 1:
            return names[0]
        raise InputError(f"{self.path}: cannot tell which of its {len(names)} sources is "
                         f"{media or 'the input'}; fit one video at a time")

    def main_track(self, media: str | Path | None = None) -> PoseTrack:
        """Dense arrays of the main face (the track_id present in most frames; ties: the larger mean box)
        over the frames of the source matching ``media`` (or the only source), sorted by frame index."""
        src = self.find_source(media)
        fr = sorted((f for f in self.frames if f.source == src), key=lambda f: f.index)
        if not fr:
            raise InputError(f"{self.path}: no frames for source {src}")
        areas: dict[int, list[float]] = {}
        for f in fr:
            for h in f.heads:
                b = h.bbox
                areas.setdefault(h.track_id, []).append(float((b[2] - b[0]) * (b[3] - b[1])))
        T = len(fr)
        lm = np.full((T, 468, 2), np.nan, np.float32)
        lm68 = np.full((T, 68, 2), np.nan, np.float32)
        R = np.tile(np.eye(3, dtype=np.float32), (T, 1, 1))
        t = np.zeros((T, 3), np.float32)
        bbox = np.full((T, 4), np.nan, np.float32)
        valid = np.zeros(T, bool)
        tid = None
        if areas:
            tid = max(areas, key=lambda k: (len(areas[k]), float(np.mean(areas[k]))))
            for i, f in enumerate(fr):
                for h in f.heads:
                    if h.track_id == tid:
                        lm[i], lm68[i], R[i], t[i], bbox[i] = (h.landmarks_468, h.landmarks_68, h.rotation,
                                                               h.translation, h.bbox)
                        valid[i] = True
        meta = next((s for s in self.sources if s.path == src), None)
        fps = float(meta.fps or 0.0) if meta else 0.0
        size = (meta.width, meta.height) if meta else (0, 0)
        K = np.asarray(meta.intrinsics, np.float64) if meta is not None else None
        return PoseTrack(source=src, landmarks_468=lm, landmarks_68=lm68, rotation=R, translation=t, bbox=bbox,
                         valid=valid, times=np.asarray([f.time for f in fr], np.float64),
                         index=np.asarray([f.index for f in fr], np.int64), fps=fps, size=size, K=K,
                         track_id=tid)


def _head(h: dict, where: str) -> PoseHead:
    lm = np.asarray(h["landmarks_468"], np.float32)
    if lm.ndim != 2 or lm.shape[0] != 468:
        raise InputError(f"{where} has {lm.shape[0] if lm.ndim else 0} landmarks_468")
    lm68 = np.asarray(h.get("landmarks_68", np.full((68, 2), np.nan)), np.float32)
    return PoseHead(track_id=int(h.get("track_id", 0)), bbox=np.asarray(h.get("bbox", [0, 0, 0, 0]), np.float32),
                    score=float(h.get("score", 0.0)), rotation=np.asarray(h["rotation"], np.float32),
                    translation=np.asarray(h["translation"], np.float32), yaw=float(h.get("yaw", 0.0)),
                    pitch=float(h.get("pitch", 0.0)), roll=float(h.get("roll", 0.0)),
                    landmarks_468=lm[:, :2], landmarks_68=lm68[:, :2])


def read_pose(path: str | Path) -> PoseArtifact:
    """Read a ``pose.json`` (or a folder holding one) -> PoseArtifact with every source, frame and head.
    Raises InputError naming the file when it is missing, not JSON or not in this schema."""
    path = Path(path)
    if path.is_dir():
        path = path / "pose.json"
    if not path.is_file():
        raise InputError(f"{path}: no such pose file")
    try:
        doc = json.loads(path.read_text())
        frames = []
        for f in doc["frames"]:
            where = f"{path}: frame {f.get('index')}"
            frames.append(PoseFrame(source=str(f.get("source")), index=int(f.get("index", 0)),
                                    time=float(f.get("time", 0.0)),
                                    heads=[_head(h, where) for h in f.get("heads", [])]))
        sources = [PoseSource(path=str(s["path"]), kind=str(s.get("kind", "video")), width=int(s.get("width", 0)),
                              height=int(s.get("height", 0)), fps=s.get("fps"), n_frames=int(s.get("n_frames", 0)),
                              intrinsics=np.asarray(s.get("intrinsics", np.eye(3)), np.float64))
                   for s in doc.get("sources") or []]
    except InputError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: not a pose.json ({type(e).__name__}: {e})") from None
    return PoseArtifact(version=int(doc.get("version", SCHEMA_VERSION)), convention=str(doc.get("convention", "")),
                        sources=sources, frames=frames, errors=list(doc.get("errors") or []), path=path)


def write_pose(path: str | Path, doc: dict) -> Path:
    """Write a pose.json document (a dict in the schema above) atomically, compact -> path."""
    return write_json_atomic(path, doc, separators=(",", ":"))
