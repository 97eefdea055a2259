"""The iBUG / Multi-PIE 68-point landmark scheme and its correspondence to MediaPipe's 468 face mesh.

``MEDIAPIPE_TO_IBUG68[k]`` is the MediaPipe face-mesh landmark (0..467) that stands for iBUG point k
(0-based; 0-16 jaw from the image-left side of a frontal face, 17-26 brows, 27-35 nose, 36-47 eyes,
48-67 lips). The correspondence is approximate for the jaw contour (MediaPipe has no occluding-contour
points); it is the table used widely in public code (e.g. LatentSync's face alignment).
"""
from __future__ import annotations

import numpy as np

MEDIAPIPE_TO_IBUG68 = np.array([
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # 0-16 jaw
    71, 63, 105, 66, 107,                                                               # 17-21 brow (image left)
    336, 296, 334, 293, 301,                                                            # 22-26 brow (image right)
    168, 197, 5, 4,                                                                     # 27-30 nose bridge
    75, 97, 2, 326, 305,                                                                # 31-35 nose base
    33, 160, 158, 133, 153, 144,                                                        # 36-41 eye (image left)
    362, 385, 387, 263, 373, 380,                                                       # 42-47 eye (image right)
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,                                # 48-59 outer lips
    78, 82, 13, 312, 308, 317, 14, 87,                                                  # 60-67 inner lips
], dtype=np.int64)

#: iBUG indices of the outer eye corners, used for the inter-ocular normalisation of NME.
IBUG68_LEFT_EYE_OUTER = 36
IBUG68_RIGHT_EYE_OUTER = 45
#: iBUG index groups, for drawing and per-region weights.
IBUG68_GROUPS = {
    "jaw": list(range(0, 17)), "brow_left": list(range(17, 22)), "brow_right": list(range(22, 27)),
    "nose": list(range(27, 36)), "eye_left": list(range(36, 42)), "eye_right": list(range(42, 48)),
    "lips_outer": list(range(48, 60)), "lips_inner": list(range(60, 68)),
}

assert MEDIAPIPE_TO_IBUG68.shape == (68,)


def mediapipe_to_ibug68(landmarks_468):
    """(..., 468, D) MediaPipe landmarks (numpy or torch) -> (..., 68, D) in iBUG order."""
    return landmarks_468[..., MEDIAPIPE_TO_IBUG68, :]


def inter_ocular_distance(landmarks_68):
    """(..., 68, 2|3) -> (...) distance between the outer eye corners (36 and 45), the NME normaliser."""
    d = landmarks_68[..., IBUG68_LEFT_EYE_OUTER, :] - landmarks_68[..., IBUG68_RIGHT_EYE_OUTER, :]
    return (d ** 2).sum(-1) ** 0.5
