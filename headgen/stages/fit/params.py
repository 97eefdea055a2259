"""The fit's options, declared once: the stage's ``Params`` (pipeline ``params:``), the ``headgen fit``
options (defaults and help taken from here) and the argument of ``fitting.fit_media``."""
from __future__ import annotations

from typing import Literal, Optional

import pydantic
from pydantic import Field

from headgen.geometry.conventions import DEFAULT_FOV_DEG


class FitParams(pydantic.BaseModel):
    """Options of a fit (each field's description is its help text, also on ``headgen fit``)."""
    model_config = pydantic.ConfigDict(extra="forbid")
    model: Literal["ict", "flame"] = Field("ict", description="Head model: ict (shipped) or flame (needs --flame).")
    flame_path: Optional[str] = Field(None, description="FLAME 2020/2023 generic_model.pkl (or its folder).")
    photometric: bool = Field(False, description="Add a photometric term through the differentiable renderer.")
    gaze: bool = Field(False, description="Also fit eyeball rotations to MediaPipe's iris centres.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu or cuda.")
    fit_focal: bool = Field(False, description="Also optimise the focal length.")
    fov: float = Field(DEFAULT_FOV_DEG, gt=1.0, lt=179.0,
                       description="Assumed field of view, degrees across the longer side (without calibration).")
    iters_rigid: Optional[int] = Field(None, ge=0, description="Rigid optimisation steps (default: the model's).")
    iters_full: Optional[int] = Field(None, ge=0, description="Full optimisation steps (default: the model's).")
    max_frames: Optional[int] = Field(None, ge=1, description="Frames per input (default all).")
