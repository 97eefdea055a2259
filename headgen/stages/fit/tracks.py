"""Landmark targets of the fit, one :class:`Track` per view: detected here with MediaPipe
(:func:`detect_track`) or taken from the pose stage's pose.json (:func:`track_from_pose`, read through
``headgen.artifacts.pose``)."""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from headgen.artifacts.pose import read_pose
from headgen.errors import InputError
from headgen.io.media import Media, open_media
from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68

#: Rows of ``FaceObservation.iris`` (MediaPipe landmarks 468..477) that are the iris centres:
#: 473 = subject's left eye, 468 = subject's right eye.
IRIS_CENTRES = [5, 0]


@dataclass
class Track:
    """Landmark targets of one view. lm468 (T,468,3) px (z: MediaPipe relative depth in px, NaN if
    unknown); lm68 (T,68,2) px; valid (T,); times (T,) s; index (T,) frame numbers; fps (0 = image);
    size (w, h); K (3,3) or None; init_R (T,3,3) / init_t (T,3) from pose.json or None;
    seconds: time spent detecting landmarks; source: the media file; kind: "image" | "video";
    iris (T,2,2) px iris centres [subject's left, right], NaN where lost (or None)."""

    lm468: np.ndarray
    lm68: np.ndarray
    valid: np.ndarray
    times: np.ndarray
    index: np.ndarray
    fps: float
    size: tuple[int, int]
    K: np.ndarray | None = None
    init_R: np.ndarray | None = None
    init_t: np.ndarray | None = None
    seconds: float = 0.0
    source: Path | None = None
    kind: str = "video"
    iris: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.valid)

    def truncate(self, n: int) -> "Track":
        """The first ``n`` frames (self when it has no more)."""
        if len(self.valid) <= n:
            return self
        cut = lambda a: None if a is None else a[:n]
        return replace(self, lm468=self.lm468[:n], lm68=self.lm68[:n], valid=self.valid[:n], times=self.times[:n],
                       index=self.index[:n], init_R=cut(self.init_R), init_t=cut(self.init_t), iris=cut(self.iris))


def detect_track(media: str | Path | Media, max_frames: int | None = None, iris: bool = False) -> Track:
    """Run the MediaPipe face landmarker (tracking mode, one face) over an image or video (a path or an
    open :class:`headgen.io.media.Media`, whose own frame limit then applies) -> Track.
    iris: use MediaPipe's attention mesh, which adds the iris centres (``Track.iris``, (T, 2, 2) px,
    [subject's left, right]). Frames without a face get NaN landmarks and valid=False. Raises
    InputError for unreadable media."""
    from headgen.landmarks.mediapipe_backend import FaceLandmarker

    clip = open_media(media, max_frames)
    lm468, irises, valid = [], [], []
    no_iris = np.full((2, 2), np.nan, np.float32)
    t0 = time.perf_counter()
    video = clip.kind == "video"
    # the attention mesh (iris) moves the other landmarks enough to worsen the fit (NME, jaw): it runs
    # as a second landmarker used for the iris centres only
    with FaceLandmarker(max_faces=1, video=video) as det, \
            (FaceLandmarker(max_faces=1, video=video, refine_landmarks=True) if iris else nullcontext()) as det_iris:
        for fr in clip:
            faces = det.detect(fr)
            if faces:
                lm468.append(np.asarray(faces[0].landmarks_468, np.float32)[:468])
                valid.append(True)
            else:
                lm468.append(np.full((468, 3), np.nan, np.float32))
                valid.append(False)
            if det_iris is not None:
                f2 = det_iris.detect(fr)
                ir = f2[0].iris if f2 else None
                irises.append(np.asarray(ir, np.float32)[IRIS_CENTRES, :2] if ir is not None else no_iris)
    secs = time.perf_counter() - t0
    if not lm468:
        raise InputError(f"{clip.path}: no frames decoded")
    lm = np.stack(lm468)
    T = lm.shape[0]
    times = np.arange(T) / clip.fps if clip.fps > 0 else np.zeros(T)
    return Track(lm468=lm, lm68=lm[:, MEDIAPIPE_TO_IBUG68, :2].copy(), valid=np.asarray(valid), times=times,
                 index=np.arange(T), fps=float(clip.fps), size=(int(clip.size[0]), int(clip.size[1])), seconds=secs,
                 source=clip.path, kind=clip.kind, iris=np.stack(irises) if iris else None)


def track_from_pose(pose_json: str | Path, media: str | Path | None = None) -> Track:
    """A pose stage ``pose.json`` -> Track of its main face (``PoseArtifact.main_track``: the track_id
    present in most frames) in the source matching ``media`` (or the only source). Rotation and
    translation become the rigid init (the pose stage's head frame shares the axes of the fit's
    model frame; its origin differs slightly, which the rigid stage absorbs)."""
    tr = read_pose(pose_json).main_track(media)
    T = len(tr.valid)
    lm = np.full((T, 468, 3), np.nan, np.float32)
    lm[..., :2] = tr.landmarks_468
    return Track(lm468=lm, lm68=lm[:, MEDIAPIPE_TO_IBUG68, :2].copy(), valid=tr.valid, times=tr.times,
                 index=tr.index, fps=tr.fps, size=(int(tr.size[0]), int(tr.size[1])), K=tr.K, init_R=tr.rotation,
                 init_t=tr.translation, source=Path(tr.source), kind="image" if tr.fps == 0 else "video")
