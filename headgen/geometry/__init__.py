"""Coordinate conventions, cameras (batched torch ops; calibrated rigs), rotations used across headgen (see ``conventions``).

Names are imported lazily so that ``headgen.geometry.conventions`` (numpy only) does not pull in torch.
"""
from importlib import import_module

_EXPORTS = {
    "conventions": ["DEFAULT_FOV_DEG", "HEAD_TO_OPENCV", "METRES_PER_CENTIMETRE", "OPENGL_TO_OPENCV"],
    "camera": ["default_focal", "default_intrinsics", "focal_from_fov", "intrinsics_matrix", "look_at", "project_points",
               "transform_points", "unproject_points"],
    "rig": ["Camera", "default_camera", "load_cameras", "parse_cameras", "save_cameras"],
    "rotations": ["axis_angle_to_matrix", "axis_angle_to_quaternion", "axis_rotation", "euler_to_matrix",
                  "matrix_to_axis_angle", "matrix_to_euler", "matrix_to_quaternion", "matrix_to_rotation_6d",
                  "quaternion_to_axis_angle", "quaternion_to_matrix", "rotation_6d_to_matrix"],
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f"headgen.geometry.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'headgen.geometry' has no attribute {name!r}")
