"""``talking_head`` pipeline stage: the animated head composited back into its photo (or a video frame).

Inputs: ``media`` (photo or video), ``fit`` (its fit.npz, ICT), ``animation`` (animation.npz of the animate
stage), ``speech`` (the audio muxed in), optional ``avatar`` (a Gaussian avatar folder; without it the
photo is animated by the fitted mesh alone) and ``pose`` (pose.json: only to warn when the still holds
several faces). Outputs: ``talking_head.mp4``, ``talking_head_mask.png``, ``talking_head.json`` (schemas in
``headgen.stages.talking_head.run``).

:class:`TalkingHeadParams` is the one declaration of the options (pipeline ``params:`` and ``headgen
talking-head``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Union

import pydantic
from pydantic import Field

from headgen.pipeline.stage import Stage, StageContext


class TalkingHeadParams(pydantic.BaseModel):
    """Options of the talking-head compositor (each description is its help text)."""
    model_config = pydantic.ConfigDict(extra="forbid")
    frame: int = Field(0, ge=0, description="Frame of a video input used as the still (photos: 0).")
    size: Union[Literal["native"], int] = Field(
        512, description="Output: a SIZE x SIZE portrait crop around the head, or 'native' (the photo's own size).")
    mode: Literal["auto", "avatar", "mesh"] = Field(
        "auto", description="avatar: the Gaussian avatar; mesh: the photo warped by the fitted mesh; auto: avatar when given.")
    detail: float = Field(1.0, ge=0, le=1, description=(
        "Avatar mode: share of the photo carried onto the avatar (its fine detail and its mouth gap; "
        "0 = the avatar's own pixels)."))
    motion: float = Field(0.5, ge=0, le=1, description="Share of the animation's head motion kept.")
    max_head_deg: float = Field(3.0, ge=0, le=15, description="Largest head rotation (degrees) away from the photo's pose.")
    expression_gain: float = Field(1.0, ge=0, le=2, description="Scale of the animation's ARKit weights.")
    feather: float = Field(0.08, ge=0, le=0.5, description="Seam feather width as a share of the head's height.")
    batch: int = Field(8, ge=1, le=256, description="Frames rendered at once.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu or cuda.")
    backend: str = Field("auto", description="Gaussian splatting backend (auto, cpu, cuda, gsplat, torch).")

    @pydantic.field_validator("size")
    @classmethod
    def _size_ok(cls, v):
        if v != "native" and not 16 <= int(v) <= 4096:
            raise ValueError("size must be 'native' or 16..4096 px")
        return v


def run_talking_head(inputs: dict, params: TalkingHeadParams, out_dir: Path, log=print, warn=None,
                     progress=lambda d, t, desc: None) -> dict:
    """Shared by the stage and the CLI: inputs (name -> Path, see ``TalkingHeadStage.inputs``) + params ->
    the outputs in ``out_dir``; returns the info dict (``talking_head.json``)."""
    from headgen.stages.talking_head.run import talking_head_video

    p = params
    return talking_head_video(inputs["media"], inputs["fit"], inputs["animation"], inputs["speech"], out_dir,
                              avatar=inputs.get("avatar"), pose=inputs.get("pose"), frame=p.frame, size=p.size,
                              mode=p.mode, detail=p.detail, motion=p.motion, max_head_deg=p.max_head_deg,
                              expression_gain=p.expression_gain, feather=p.feather, batch=p.batch,
                              device=p.device, backend=p.backend, log=log, warn=warn, progress=progress)


class TalkingHeadStage(Stage):
    """Photo (or video frame) + fit + animation (+ avatar) + speech -> talking_head.mp4."""

    name = "talking_head"
    version = "6"
    inputs = {"media": "path", "fit": "path", "animation": "path", "speech": "path", "avatar": "path?",
              "pose": "path?"}
    outputs = {"video": "talking_head.mp4", "mask": "talking_head_mask.png", "info": "talking_head.json"}
    resources = {"num_cpus": 1, "num_gpus": 0}
    Params = TalkingHeadParams

    def run(self, inputs: dict[str, Path], params: TalkingHeadParams, out_dir: Path, ctx: StageContext) -> None:
        import logging

        run_talking_head(inputs, params, out_dir, log=ctx.log, warn=lambda m: ctx.log(m, logging.WARNING),
                         progress=lambda d, t, desc: ctx.progress(d, t, desc))
