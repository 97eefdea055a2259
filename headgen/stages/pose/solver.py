"""Head pose from MediaPipe landmarks: weighted Procrustes to the canonical face, then PnP.

0. Depth scale: MediaPipe's z is not on exactly the scale of its x/y (about 1.05-1.12x on rendered ICT
   heads); the scale k is fitted per face together with the rotation (``rescale_depth``) and z / k is
   used below. This lowered the known-pose yaw error at |yaw| <= 45 from 3.2 to 2.0 degrees.
1. Procrustes: the 3D landmarks (x, y pixels; z MediaPipe's relative depth in pixel units, which
   points away from the camera, so (x, y, z) is an OpenCV-oriented frame) are matched to the
   canonical mesh (metres, head frame) with MediaPipe's Procrustes weights -> scale s (px/m),
   rotation R (head -> camera, weak perspective) and the pixel position of the head origin.
   Depth follows from the scale: ``z = f / s``; the origin pixel is unprojected at that depth.
2. PnP: ``cv2.solvePnP(SOLVEPNP_ITERATIVE)`` started at that pose refines R, t against the 2D
   pixel landmarks of the 33 Procrustes landmarks (MediaPipe's choice of points that expressions
   hardly move: eye corners, nose, forehead, cheekbones) under the intrinsics K. (On the GRID clips
   and the sample photos this set gave lower jitter and mirror error than all 468 points.)
3. Depth prior (``depth_weight`` > 0): a few Levenberg-Marquardt steps on reprojection error plus
   the mismatch between model and MediaPipe depth *differences between left/right mirror pairs* of
   those landmarks (``headgen.geometry.headpose.refine_pose_with_depth``). 2D landmarks of a
   strongly turned face are pulled towards the silhouette, so 2D-only PnP underestimates large yaw
   (by about 10 degrees at |yaw| = 60 on rendered ICT heads); the pair depths fix most of that.
   Pairs constrain yaw (and roll) only: MediaPipe's z along the face's vertical profile is noisy,
   and using it for pitch too (all depths, centred) doubled pitch jitter on GRID and broke mirror
   consistency on photos. ``depth_weight=0`` gives the plain Procrustes + PnP solve.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headgen.geometry.headpose import pnp_refine, refine_pose_with_depth, rotation_to_ypr, view_relative_rotation
from headgen.geometry.procrustes import umeyama
from headgen.landmarks.canonical import CanonicalFace, load_canonical_face, mirror_pairs

__all__ = ["HeadPose", "HeadPoseSolver", "DEFAULT_DEPTH_WEIGHT"]

#: Weight of the relative-depth prior (a pixel of depth error counts this many times a pixel of
#: reprojection error); chosen on rendered ICT heads (known-pose MAE) and checked on GRID jitter.
DEFAULT_DEPTH_WEIGHT = 3.0
DEFAULT_DEPTH_MODE = "pairs"


@dataclass
class HeadPose:
    """rotation (3, 3) head -> OpenCV camera; translation (3,) metres; ypr (3,) degrees
    [yaw, pitch, roll] of the rotation relative to the line of sight
    (``headgen.geometry.headpose.view_relative_rotation``, benchmark convention); scale (px / m)."""
    rotation: np.ndarray
    translation: np.ndarray
    ypr: np.ndarray
    scale: float


class HeadPoseSolver:
    """Solve head poses for frames of one camera.

    K: (3, 3) intrinsics in pixels. refine: run the PnP step (False = Procrustes only).
    pnp_ids: landmark indices used by PnP (default: the Procrustes landmarks).
    depth_weight: weight of MediaPipe's relative depth in the final refinement (0 = plain PnP).
    ``solve(landmarks_468 (468, 3) px) -> HeadPose``.
    """

    def __init__(self, K, refine: bool = True, face: CanonicalFace | None = None, pnp_ids=None,
                 depth_weight: float = DEFAULT_DEPTH_WEIGHT, depth_mode: str = DEFAULT_DEPTH_MODE,
                 fit_depth_scale: bool = True):
        if depth_mode not in ("pairs", "all"):
            raise ValueError(f"depth_mode must be 'pairs' or 'all', got {depth_mode!r}")
        self.depth_weight = float(depth_weight)
        self.depth_mode = depth_mode
        self.fit_depth_scale = bool(fit_depth_scale)
        self.K = np.asarray(K, np.float64).reshape(3, 3)
        self.refine = bool(refine)
        self.face = face or load_canonical_face()
        self.pnp_ids = np.asarray(self.face.procrustes_ids if pnp_ids is None else pnp_ids, np.int64)
        pairs = mirror_pairs(self.face.vertices, self.pnp_ids) if depth_mode == "pairs" else []
        self.depth_pairs = pairs if len(pairs) else None     # None: centred depths of all pnp_ids

    def rescale_depth(self, L: np.ndarray, iters: int = 8) -> tuple[np.ndarray, float]:
        """(468, 3) landmarks -> (landmarks with z divided by k, k): k is MediaPipe's depth scale
        relative to its x/y scale, fitted with the rotation (anisotropic Procrustes: alternate a
        similarity fit of the canonical face to (x, y, z / k) and the least-squares k of the
        centred depths). k is identifiable from one frame because the canonical face's x and z
        coordinates are not proportional. Returns (L, 1.0) when ``fit_depth_scale`` is off."""
        if not self.fit_depth_scale:
            return L, 1.0
        X, w = self.face.vertices, self.face.procrustes_weights
        wn = w / w.sum()
        z = L[:, 2] - (wn * L[:, 2]).sum()
        k = 1.0
        for _ in range(iters):
            s, R, _ = umeyama(X, L * [1.0, 1.0, 1.0 / k], w)
            m = s * (X @ R[2])
            m = m - (wn * m).sum()
            k = float(np.clip((wn * m * z).sum() / max((wn * m * m).sum(), 1e-12), 0.5, 2.0))
        return L * [1.0, 1.0, 1.0 / k], k

    def _landmarks(self, landmarks_468) -> np.ndarray:
        L = np.asarray(landmarks_468, np.float64)
        if L.shape != (468, 3):
            raise ValueError(f"landmarks_468: expected (468, 3), got {L.shape}")
        return self.rescale_depth(L)[0]

    def _procrustes(self, L: np.ndarray) -> HeadPose:
        s, R, t_px = umeyama(self.face.vertices, L, self.face.procrustes_weights)
        f = 0.5 * (self.K[0, 0] + self.K[1, 1])
        z = f / max(float(s), 1e-9)
        t = np.array([(t_px[0] - self.K[0, 2]) / self.K[0, 0] * z,
                      (t_px[1] - self.K[1, 2]) / self.K[1, 1] * z, z])
        return HeadPose(R, t, rotation_to_ypr(view_relative_rotation(R, t)), float(s))

    def procrustes(self, landmarks_468) -> HeadPose:
        """Weak-perspective initial pose from the (468, 3) landmarks (see module doc)."""
        return self._procrustes(self._landmarks(landmarks_468))

    def solve(self, landmarks_468) -> HeadPose:
        """Full solve of (468, 3) landmarks: Procrustes init, then PnP refinement on ``pnp_ids`` and the
        depth prior (when ``refine``)."""
        L = self._landmarks(landmarks_468)
        init = self._procrustes(L)
        if not self.refine:
            return init
        ids = self.pnp_ids
        R, t = pnp_refine(self.face.vertices[ids], L[ids, :2], self.K, init.rotation, init.translation)
        if self.depth_weight > 0:
            R, t = refine_pose_with_depth(self.face.vertices[ids], L[ids, :2], L[ids, 2], self.K, R, t,
                                          self.depth_weight, iters=3, depth_pairs=self.depth_pairs)
        return HeadPose(R, t, rotation_to_ypr(view_relative_rotation(R, t)), init.scale)
