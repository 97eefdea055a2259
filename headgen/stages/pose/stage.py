"""``pose`` pipeline stage: head pose for the images / videos of one input path.

Input ``media``: an image, a video or a folder of them. Outputs: ``pose.json`` (schema in
``headgen.stages.pose.run``) and ``viz/`` (annotated images / mp4s when ``viz`` is set, else
empty). Any unreadable input fails the stage with an InputError naming each bad file (after the
good ones were processed, so the log shows all problems at once).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pydantic

from headgen.geometry.conventions import DEFAULT_FOV_DEG
from headgen.pipeline.stage import Stage, StageContext


class PoseStage(Stage):
    """Head pose (rotation, translation, yaw/pitch/roll, landmarks) per face per frame."""

    name = "pose"
    version = "1"
    inputs = {"media": "path"}
    outputs = {"pose": "pose.json", "viz": "viz"}
    resources = {"num_cpus": 1, "num_gpus": 0}

    class Params(pydantic.BaseModel):
        """max_faces: faces per frame; smooth: One-Euro smoothing in videos; refine_landmarks:
        MediaPipe attention mesh; fov: assumed field of view in degrees (longer side) unless
        intrinsics [fx, fy, cx, cy] px are given; viz: annotated outputs; max_frames: per video."""
        model_config = pydantic.ConfigDict(extra="forbid")
        max_faces: int = pydantic.Field(4, ge=1, le=16)
        smooth: bool = True
        refine_landmarks: bool = False
        fov: float = pydantic.Field(DEFAULT_FOV_DEG, gt=1.0, lt=179.0)
        intrinsics: Optional[tuple[float, float, float, float]] = None
        viz: bool = False
        max_frames: Optional[int] = pydantic.Field(None, ge=1)
        min_detection_confidence: float = pydantic.Field(0.5, ge=0.0, le=1.0)

    def run(self, inputs: dict[str, Path], params: "PoseStage.Params", out_dir: Path, ctx: StageContext) -> None:
        from headgen.stages.pose.run import PoseOptions, estimate_poses, raise_for_errors

        opts = PoseOptions(**params.model_dump())
        (Path(out_dir) / "viz").mkdir(parents=True, exist_ok=True)
        result = estimate_poses([inputs["media"]], out_dir, opts,
                                progress=lambda d, t, desc: ctx.progress(d, t, desc), log=ctx.log)
        ctx.log(f"{result.n_frames} frame(s) -> {result.pose_json.name}")
        raise_for_errors(result)
