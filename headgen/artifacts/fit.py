"""``fit.npz``: the fit stage's per-frame head-model parameters (numpy arrays, no pickles).

Schema::

    model               str ()          "ict" | "flame"
    shape               float32 (S,)    identity coefficients (one per subject)
    expression          float32 (T,E)   per-frame expression (ICT: ARKit blendshape weights in [0, 1])
    expression_names    str (E,)        names of the expression columns
    rotation            float32 (T,3,3) head-model frame -> camera (world) frame, X = R X_model + t
    translation         float32 (T,3)   metres, OpenCV camera frame (+x right, +y down, +z forward)
    jaw                 float32 (T,3)   axis-angle, only for models with a jaw joint (FLAME)
    eyes                float32 (T,2,3) --gaze: eyeball rotations [subject's left, right], axis-angle rad
                                        (pitch about x > 0 looks down, yaw about y), the model's ``eyes``
                                        input. ICT also drives its eyeLook lid shapes from ``eyes``; the
                                        fitted ``expression`` already holds the lids, so render with
                                        ``expression`` and ``eyes`` on a model part set with eyeballs and
                                        expect slightly stronger lid motion.
    iris_error          float32 (T,2)   --gaze: pupil reprojection error px (NaN where no iris was seen)
    focal               float32 ()      focal length fx in pixels used (fitted when --fit-focal)
    K                   float32 (3,3)   intrinsics of the (first) camera, pixels
    image_size          int32 (2,)      width, height in pixels
    landmarks_2d_fit    float32 (T,68,2) fitted iBUG-68 landmarks projected into the image (px)
    landmarks_2d_target float32 (T,68,2) detected iBUG-68 landmarks (px; NaN where the face was lost)
    landmarks468_2d_fit float32 (T,468,2) fitted MediaPipe-468 points (px), when the model has the embedding
    nme                 float32 (T,)    per-frame NME (see fit_metrics.json); NaN where lost
    valid               bool (T,)       face detected in the frame; False = parameters interpolated
    fps                 float32 ()      frame rate of the input (0 for an image)
    times               float32 (T,)    seconds from the first frame
    frame_index         int32 (T,)      frame number in the input
    multi-view only: camera_names str (V,), cameras_K (V,3,3), cameras_R (V,3,3), cameras_t (V,3)
      (world-to-camera), landmarks_2d_fit_views (V,T,68,2), valid_views (V,T); rotation/translation are
      then in the world frame of the camera file and K / landmarks_2d_fit are those of the first camera.

Other stages may add their own arrays (e.g. a refined fit written back by the avatar or sculpt stage);
the reader keeps unknown arrays in ``FitArtifact.extra``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from headgen.artifacts import require_finite
from headgen.errors import InputError
from headgen.io.atomic import atomic_path

REQUIRED = ("model", "shape", "expression", "expression_names", "rotation", "translation", "K", "image_size")


@dataclass
class FitArtifact:
    """All arrays of a ``fit.npz`` (shapes in the module docstring; T frames, E expressions, S shape)."""
    model: str
    shape: np.ndarray
    expression: np.ndarray
    expression_names: list[str]
    rotation: np.ndarray
    translation: np.ndarray
    K: np.ndarray
    image_size: tuple[int, int]
    focal: float = 0.0
    jaw: np.ndarray | None = None
    eyes: np.ndarray | None = None
    iris_error: np.ndarray | None = None
    landmarks_2d_fit: np.ndarray | None = None
    landmarks_2d_target: np.ndarray | None = None
    landmarks468_2d_fit: np.ndarray | None = None
    nme: np.ndarray | None = None
    valid: np.ndarray | None = None
    fps: float = 0.0
    times: np.ndarray | None = None
    frame_index: np.ndarray | None = None
    camera_names: list[str] | None = None
    cameras_K: np.ndarray | None = None
    cameras_R: np.ndarray | None = None
    cameras_t: np.ndarray | None = None
    landmarks_2d_fit_views: np.ndarray | None = None
    valid_views: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        """T, the number of frames."""
        return int(self.expression.shape[0])

    def expression_column(self, name: str) -> np.ndarray:
        """(T,) the expression curve called ``name`` (e.g. ``"jawOpen"``); KeyError if absent."""
        return self.expression[:, self.expression_names.index(name)]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """-> the dict of numpy arrays stored in the npz (None fields left out)."""
        out: dict[str, np.ndarray] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "extra" or v is None:
                continue
            if f.name == "model":
                v = np.array(str(v))
            elif f.name in ("expression_names", "camera_names"):
                v = np.array([str(s) for s in v], dtype=str)
            elif f.name == "image_size":
                v = np.asarray(v, np.int32)
            elif f.name in ("focal", "fps"):
                v = np.float32(v)
            out[f.name] = np.asarray(v)
        out.update(self.extra)
        return out


def read_fit(path: str | Path) -> FitArtifact:
    """Read a ``fit.npz`` -> FitArtifact with every frame. Raises InputError naming the file on a missing
    file, an unreadable npz or missing/mis-shaped arrays."""
    path = Path(path)
    if path.is_dir():
        path = path / "fit.npz"
    if not path.is_file():
        raise InputError(f"{path}: no such fit file")
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile/np errors vary by corruption
        raise InputError(f"{path}: not a readable fit.npz ({type(e).__name__}: {e})") from None
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise InputError(f"{path}: not a fit.npz (missing {', '.join(missing)})")
    known = {f.name for f in fields(FitArtifact)} - {"extra"}
    kw = {k: v for k, v in d.items() if k in known}
    kw["model"] = str(d["model"])
    kw["expression_names"] = [str(n) for n in d["expression_names"]]
    if "camera_names" in d:
        kw["camera_names"] = [str(n) for n in d["camera_names"]]
    kw["image_size"] = (int(d["image_size"][0]), int(d["image_size"][1]))
    for k in ("focal", "fps"):
        if k in d:
            kw[k] = float(d[k])
    fa = FitArtifact(**kw, extra={k: v for k, v in d.items() if k not in known})
    T = fa.expression.shape[0] if fa.expression.ndim == 2 else -1
    if (T < 1 or fa.rotation.shape != (T, 3, 3) or fa.translation.shape != (T, 3)
            or fa.expression.shape[1] != len(fa.expression_names)):
        raise InputError(f"{path}: inconsistent fit.npz shapes (expression {fa.expression.shape}, rotation "
                         f"{fa.rotation.shape}, translation {fa.translation.shape})")
    frame_keys = ("expression", "rotation", "translation")
    require_finite({k: getattr(fa, k) for k in ("shape", "K") + frame_keys}, ("shape",) + frame_keys + ("K",),
                   str(path), per_frame=frame_keys)
    R = np.asarray(fa.rotation, np.float64)
    err = np.abs(R @ R.transpose(0, 2, 1) - np.eye(3)).max(axis=(1, 2)) + np.abs(np.linalg.det(R) - 1.0)
    if (err > 1e-2).any():
        raise InputError(f"{path}: rotation of frame {int(np.argmax(err > 1e-2))} is not a rotation matrix")
    if fa.valid is None:
        fa.valid = np.ones(T, bool)
    if fa.times is None:
        fa.times = (np.arange(T) / fa.fps if fa.fps > 0 else np.zeros(T)).astype(np.float32)
    if fa.frame_index is None:
        fa.frame_index = np.arange(T, dtype=np.int32)
    return fa


def write_fit(path: str | Path, fit: FitArtifact | dict) -> Path:
    """Write a FitArtifact (or a dict of arrays in the schema above) atomically to ``path`` -> path."""
    arrays = fit.to_arrays() if isinstance(fit, FitArtifact) else dict(fit)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path
