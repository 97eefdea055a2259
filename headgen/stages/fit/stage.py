"""``fit`` pipeline stage: fit a head model (ICT-FaceKit by default) to a video / image.

Inputs: ``media`` (video or image; a folder of per-camera media with ``cameras``), optional ``pose``
(the pose stage's pose.json: landmarks + rigid init, so no landmark detection runs here) and optional
``cameras`` (multi-view OpenCV camera JSON, schema in ``headgen.stages.fit.cameras``).
Outputs: ``fit.npz``, ``fit_metrics.json``, ``fit_overlay.mp4`` (schemas in ``headgen.stages.fit.run``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import pydantic

from headgen.geometry.conventions import DEFAULT_FOV_DEG
from headgen.pipeline.stage import Stage, StageContext


class FitStage(Stage):
    """One identity + per-frame expression and rigid pose, batched over all frames."""

    name = "fit"
    version = "1"
    inputs = {"media": "path", "pose": "path?", "cameras": "path?"}
    outputs = {"fit": "fit.npz", "metrics": "fit_metrics.json", "overlay": "fit_overlay.mp4"}
    resources = {"num_cpus": 1, "num_gpus": 0}

    class Params(pydantic.BaseModel):
        """model: ict | flame; flame_path: FLAME .pkl for model=flame; photometric: photometric refinement
        through the differentiable renderer; device: auto | cpu | cuda; fit_focal: optimise the focal
        length; fov: assumed field of view (degrees, longer side) without calibration/pose intrinsics;
        iters_rigid / iters_full: optimisation schedule overrides; max_frames: frames per input; gaze: fit
        eyeball rotations to MediaPipe's iris centres."""
        model_config = pydantic.ConfigDict(extra="forbid")
        model: Literal["ict", "flame"] = "ict"
        flame_path: Optional[str] = None
        photometric: bool = False
        gaze: bool = False
        device: str = "auto"
        fit_focal: bool = False
        fov: float = pydantic.Field(DEFAULT_FOV_DEG, gt=1.0, lt=179.0)
        iters_rigid: Optional[int] = pydantic.Field(None, ge=0)
        iters_full: Optional[int] = pydantic.Field(None, ge=0)
        max_frames: Optional[int] = pydantic.Field(None, ge=1)

    @classmethod
    def resources_for(cls, params: dict) -> dict[str, float]:
        """One GPU for ``device: cuda`` (Ray schedules the node on a GPU worker), else CPU only."""
        return {"num_cpus": 1, "num_gpus": 1 if params.get("device") == "cuda" else 0}

    def run(self, inputs: dict[str, Path], params: "FitStage.Params", out_dir: Path, ctx: StageContext) -> None:
        from headgen.stages.fit.run import FitOptions, fit_media

        opts = FitOptions(**params.model_dump())
        res = fit_media(inputs["media"], out_dir, opts, pose=inputs.get("pose"), cameras=inputs.get("cameras"),
                        progress=lambda d, t, desc: ctx.progress(d, t, desc), log=ctx.log)
        m = res.metrics
        ctx.log(f"NME {100 * (m['nme_mean'] or float('nan')):.2f}% over {m['n_valid']}/{m['n_frames']} frames, "
                f"{m['fps']:.1f} frames/s")
