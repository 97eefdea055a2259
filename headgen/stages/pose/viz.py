"""Draw head-pose results on a frame: landmarks, head box, 3-axis pose and a label."""
from __future__ import annotations

import numpy as np

from headgen.geometry.headpose import project

__all__ = ["draw_heads", "AXIS_LENGTH_M"]

#: Length of the drawn pose axes, metres in the head frame.
AXIS_LENGTH_M = 0.08
# Head-frame axes and their colours (RGB): x subject's left red, y up green, z out of the face blue.
_AXES = np.eye(3)
_COLORS = [(230, 40, 40), (40, 200, 40), (40, 90, 255)]


def draw_heads(frame, heads, K) -> np.ndarray:
    """frame (H, W, 3) uint8 RGB, heads (list of ``HeadEstimate``), K (3, 3) -> annotated copy.

    Landmarks as dots, the box, the head-frame axes projected from the head origin with the
    camera K, and "id yaw/pitch/roll" above the box."""
    import cv2

    img = np.ascontiguousarray(frame).copy()
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    for hd in heads:
        for x, y in np.round(hd.landmarks_468[:, :2]).astype(int):
            if 0 <= x < w and 0 <= y < h:
                img[y, x] = (255, 255, 0)
        x0, y0, x1, y1 = np.round(hd.bbox).astype(int)
        cv2.rectangle(img, (x0, y0), (x1, y1), (255, 200, 0), thick)
        pts = project(np.vstack([np.zeros(3), _AXES * AXIS_LENGTH_M]), hd.rotation, hd.translation, K)
        if np.all(np.isfinite(pts)) and hd.translation[2] > 0:
            o = tuple(int(v) for v in np.round(pts[0]))
            for k in (2, 1, 0):
                cv2.line(img, o, tuple(int(v) for v in np.round(pts[k + 1])), _COLORS[k], thick + 1, cv2.LINE_AA)
        yaw, pitch, roll = hd.ypr
        label = f"#{hd.track_id} y{yaw:+.0f} p{pitch:+.0f} r{roll:+.0f}"
        cv2.putText(img, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.35 * thick + 0.1,
                    (255, 255, 255), thick, cv2.LINE_AA)
    return img
