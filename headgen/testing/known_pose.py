"""Known-pose harness: the ICT-FaceKit head, textured from a real photo, rendered at known poses.

No permissively licensed head-pose ground truth exists, so the pose stage is measured on renders:
the ICT mean face is coloured by projecting a photo onto it (after aligning ICT's 68 landmarks to
MediaPipe's 68 on the photo with PnP), rendered by ``headgen.render.raster`` at known yaw / pitch /
roll, and the estimated rotations are compared with the rendered ones.

ICT's model frame and MediaPipe's canonical face disagree on "frontal" by a constant rotation (a few
degrees of pitch); :func:`pose_errors` measures it on the frontal render and compares every pose
relative to it. Used by ``tests/test_pose_known.py`` and ``bench/pose_known.py``.

Frames: ICT model frame (+x subject's left, +y up, +z out of the face, metres); the head is placed
``distance`` metres in front of an OpenCV camera with intrinsics K, rotated by ``R = ypr_to_rotation``.
"""
from __future__ import annotations

import numpy as np

from headgen.geometry.headpose import project, rotation_to_ypr, ypr_to_rotation

__all__ = ["KNOWN_POSES", "RENDER_SIZE", "RENDER_FOV", "RENDER_DISTANCE", "textured_ict_head", "render_head",
           "render_known_poses", "pose_errors", "mean_abs_error", "frame_offset", "offset_angle_deg"]

#: yaw -60..60 step 15 x (pitch, roll) in {(0, 0), (15, -10), (-15, 10)}, degrees
KNOWN_POSES = [(y, p, r) for y in (-60, -45, -30, -15, 0, 15, 30, 45, 60) for (p, r) in ((0, 0), (15, -10), (-15, 10))]
RENDER_SIZE, RENDER_FOV, RENDER_DISTANCE = 384, 30.0, 0.7
#: iBUG-68 points used to place the ICT head on the photo: brows, nose, eyes, mouth (the jaw
#: contours of the two landmark schemes differ)
_ALIGN_IDS = np.arange(17, 68)


def textured_ict_head(photo: np.ndarray, landmarks_68: np.ndarray, parts: str = "face"):
    """ICT mean head coloured from a photo.

    photo (H, W, 3) uint8 RGB; landmarks_68 (68, 2) px, MediaPipe's iBUG-68 landmarks of the face in
    it. The ICT neutral head is posed on the photo by PnP on the inner 51 landmarks (assumed
    intrinsics, ``headgen.geometry.camera.default_intrinsics``) and every vertex takes the photo's
    colour where it projects. Returns (vertices (V, 3) m model frame, faces (F, 3) int64,
    colours (V, 3) float in [0, 1]). Raises AssetMissingError without the ICT asset.
    """
    import cv2

    from headgen.geometry.camera import default_intrinsics
    from headgen.models import load_head_model

    model = load_head_model("ict", parts=parts)
    out = model()
    V = out.vertices[0].double().cpu().numpy()
    L68 = out.landmarks68[0].double().cpu().numpy()
    F = model.faces.cpu().numpy()
    h, w = photo.shape[:2]
    K = default_intrinsics(w, h).double().numpy()
    ok, rv, tv = cv2.solvePnP(L68[_ALIGN_IDS], np.asarray(landmarks_68, np.float64)[_ALIGN_IDS], K, None,
                              rvec=cv2.Rodrigues(np.diag([1.0, -1.0, -1.0]))[0], tvec=np.array([[0.0], [0.0], [0.5]]),
                              useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise ValueError("textured_ict_head: PnP of the ICT head onto the photo failed")
    uv = project(V, cv2.Rodrigues(rv)[0], tv.ravel(), K).astype(np.float32)
    cols = cv2.remap(photo.astype(np.float32), uv[:, :1], uv[:, 1:], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3) / 255.0
    return V, F, cols


def render_head(vertices, faces, colours, R, K, size: int = RENDER_SIZE, distance: float = RENDER_DISTANCE,
                background: float = 0.45) -> np.ndarray:
    """Render a vertex-coloured head: vertices (V, 3) m model frame rotated by R (3, 3) and placed
    ``distance`` m along the optical axis of K (3, 3) -> (size, size, 3) uint8 RGB."""
    import torch

    from headgen.render import raster

    Vc = torch.tensor(np.asarray(vertices) @ np.asarray(R).T + [0.0, 0.0, distance], dtype=torch.float32)
    F = torch.as_tensor(np.asarray(faces))
    r = raster.rasterize(Vc, F, torch.tensor(np.asarray(K), dtype=torch.float32), size, size)
    img = raster.interpolate(torch.tensor(np.asarray(colours), dtype=torch.float32), r, F)[0]
    img = torch.where(r.mask[0, ..., None], img, torch.full_like(img, background))
    return (img.numpy() * 255).round().astype(np.uint8)


def render_known_poses(head, K, poses=KNOWN_POSES, size: int = RENDER_SIZE):
    """Yield (pose (yaw, pitch, roll) deg, image (size, size, 3) uint8) for a head = (V, F, colours)."""
    V, F, cols = head
    for pose in poses:
        yield pose, render_head(V, F, cols, ypr_to_rotation(*pose), K, size)


def pose_errors(estimates: dict, max_yaw: float = 60.0) -> np.ndarray:
    """Signed errors (N, 3) deg [yaw, pitch, roll] of estimated rotations against the rendered poses.

    estimates: {(yaw, pitch, roll) deg: estimated rotation (3, 3) head -> camera, or None (missed)};
    must contain the frontal pose (0, 0, 0), whose estimate calibrates the constant rotation between
    ICT's frame and the estimator's (``offset = diag(1, -1, -1) @ R_frontal``). Poses with
    |yaw| > max_yaw and missed ones are left out."""
    offset = frame_offset(estimates)
    err = [rotation_to_ypr(np.asarray(R)) - rotation_to_ypr(ypr_to_rotation(*pose) @ offset)
           for pose, R in estimates.items() if R is not None and abs(pose[0]) <= max_yaw]
    err = np.asarray(err, np.float64).reshape(-1, 3)
    return (err + 180.0) % 360.0 - 180.0


def mean_abs_error(estimates: dict, max_yaw: float = 60.0) -> np.ndarray:
    """(3,) mean absolute error deg [yaw, pitch, roll] over the poses with |yaw| <= max_yaw
    (see :func:`pose_errors`)."""
    return np.abs(pose_errors(estimates, max_yaw)).mean(0)


def frame_offset(estimates: dict) -> np.ndarray:
    """(3, 3) constant rotation from ICT's head frame to the estimator's, measured on the frontal
    render: ``diag(1, -1, -1) @ R_frontal``. Raises ValueError when (0, 0, 0) has no estimate."""
    frontal = estimates.get((0, 0, 0))
    if frontal is None:
        raise ValueError("known-pose errors: the frontal render (0, 0, 0) has no estimate")
    return np.diag([1.0, -1.0, -1.0]) @ np.asarray(frontal)


def offset_angle_deg(estimates: dict) -> float:
    """Angle (deg) of :func:`frame_offset` (a sanity bound for tests)."""
    offset = frame_offset(estimates)
    return float(np.degrees(np.arccos(np.clip((np.trace(offset) - 1) / 2, -1.0, 1.0))))
