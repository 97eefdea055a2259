"""The coordinate and unit conventions of headgen, written down once.

Camera frame (OpenCV): +x right, +y down, +z forward (into the scene); a point
with z > 0 is in front of the camera. Pixel (u, v) = (fx * x / z + cx, fy * y / z + cy),
with the centre of the top-left pixel at (0, 0) (OpenCV's convention).

World-to-camera: X_cam = R @ X_world + t  (R: (3,3) rotation, t: (3,) metres).

Head-model frame (ICT-FaceKit, FLAME, MediaPipe canonical mesh after scaling): +x to the
subject's left, +y up, +z out of the face (towards a camera that looks at the face).
``HEAD_TO_OPENCV`` maps that frame to a camera looking straight at the face: a head at
rest in front of the camera has rotation ``HEAD_TO_OPENCV`` (a 180 degree turn about x).

Units: metres for lengths, radians for angles internally; degrees only in user-facing pose
output (``pose.json``'s yaw/pitch/roll).
"""
from __future__ import annotations

import numpy as np

METRES_PER_CENTIMETRE = 0.01

#: Field of view (degrees, across the longer image side) assumed when a user gives no intrinsics:
#: a typical phone/webcam lens.
DEFAULT_FOV_DEG = 50.0

#: Rotation taking head-model coordinates (+y up, +z out of the face) to an OpenCV camera
#: that looks at the face: flips y and z.
HEAD_TO_OPENCV = np.diag([1.0, -1.0, -1.0])

#: OpenGL/Blender camera (+y up, -z forward) to OpenCV camera: the same flip.
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
