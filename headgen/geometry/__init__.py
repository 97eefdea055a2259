"""Coordinate conventions, cameras and rotations used across headgen (see ``conventions``)."""
from headgen.geometry.camera import (DEFAULT_FOV_DEG, default_intrinsics, focal_from_fov, intrinsics_matrix,
                                     look_at, project_points, transform_points, unproject_points)
from headgen.geometry.conventions import HEAD_TO_OPENCV, METRES_PER_CENTIMETRE, OPENGL_TO_OPENCV
from headgen.geometry.rotations import (axis_angle_to_matrix, axis_angle_to_quaternion, axis_rotation,
                                        euler_to_matrix, matrix_to_axis_angle, matrix_to_euler,
                                        matrix_to_quaternion, matrix_to_rotation_6d, quaternion_to_axis_angle,
                                        quaternion_to_matrix, rotation_6d_to_matrix)
