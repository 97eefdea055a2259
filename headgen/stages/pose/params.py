"""The pose stage's options, declared once: the stage's ``Params`` (pipeline ``params:``), the
``headgen pose`` options (defaults and help taken from here) and the argument of ``estimate.estimate_poses``."""
from __future__ import annotations

from typing import Optional

import pydantic
from pydantic import Field

from headgen.geometry.conventions import DEFAULT_FOV_DEG


class PoseParams(pydantic.BaseModel):
    """Options of a pose run (each field's description is its help text, also on ``headgen pose``)."""
    model_config = pydantic.ConfigDict(extra="forbid")
    max_faces: int = Field(4, ge=1, le=16, description="Most faces per frame.")
    smooth: bool = Field(True, description="Temporal smoothing in videos (One-Euro, see smoothing.py).")
    refine_landmarks: bool = Field(False, description="MediaPipe attention mesh (slower).")
    fov: float = Field(DEFAULT_FOV_DEG, gt=1.0, lt=179.0,
                       description="Assumed field of view, degrees across the longer side.")
    intrinsics: Optional[tuple[float, float, float, float]] = Field(
        None, description="Camera intrinsics fx, fy, cx, cy in pixels for every input (overrides fov).")
    viz: bool = Field(False, description="Also write annotated images / mp4s to OUT/viz.")
    max_frames: Optional[int] = Field(None, ge=1, description="Frames per video (default all).")
    min_detection_confidence: float = Field(0.5, ge=0.0, le=1.0, description="Face detector threshold.")

    @pydantic.field_validator("intrinsics")
    @classmethod
    def _positive_focal(cls, v):
        if v is not None and (v[0] <= 0 or v[1] <= 0):
            raise ValueError("expected fx, fy, cx, cy in pixels with fx, fy > 0")
        return v
