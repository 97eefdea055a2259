"""Facial landmark schemes (iBUG 68, MediaPipe 468) and detectors (see ``mediapipe_backend``)."""
from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68, inter_ocular_distance, mediapipe_to_ibug68

__all__ = ["MEDIAPIPE_TO_IBUG68", "inter_ocular_distance", "mediapipe_to_ibug68"]
