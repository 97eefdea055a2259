"""``sculpt`` pipeline stage: text-guided sculpting of a fitted (or fresh) head.

Inputs: ``fit`` (fit.npz of an ICT fit; optional) or ``avatar`` (ICT avatar folder; optional: its identity is
re-shaped, OUT/avatar.ply + avatar_rig.npz written beside the declared outputs). Neither: a fresh head drawn from
the model's prior, sculpted to the prompt.
Outputs: ``sculpt.json`` (``headgen.artifacts.sculpt``), ``fit.npz``, ``head.obj``, ``turntable.mp4``,
``samples/`` (see ``headgen.stages.sculpt.run``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import pydantic

from headgen.pipeline.stage import Stage, StageContext


class SculptStage(Stage):
    """Text prompt -> edited head (diffusion over head-model coefficients, or SDS through Stable Diffusion)."""

    name = "sculpt"
    version = "1"
    inputs = {"fit": "path?", "avatar": "path?"}
    outputs = {"sculpt": "sculpt.json", "fit": "fit.npz", "head": "head.obj", "turntable": "turntable.mp4",
               "samples": "samples"}
    resources = {"num_cpus": 1, "num_gpus": 0}

    class Params(pydantic.BaseModel):
        """The options of ``headgen sculpt`` (each field's description is its help text)."""
        model_config = pydantic.ConfigDict(extra="forbid")
        prompt: str = pydantic.Field(..., min_length=1, description="What to sculpt, in words.")
        model: Literal["ict", "flame"] = pydantic.Field("ict", description="Head model for a fresh head (ict; flame is not supported by the text model yet).")
        strength: float = pydantic.Field(1.0, gt=0.0, le=1.0, description="Edit strength 0..1: noise level the asked attributes are resampled from (1 = ignore their input values).")
        samples: int = pydantic.Field(1, ge=1, le=64, description="Number of candidates (OUT/samples/; the first is the result).")
        seed: int = pydantic.Field(0, ge=0, description="Random seed (same prompt + seed -> same head).")
        guidance: float = pydantic.Field(1.5, ge=0.0, le=20.0, description="Classifier-free guidance scale (1.5: measured to keep slightly/very apart and seeds diverse; README).")
        steps: int = pydantic.Field(40, ge=1, le=1000, description="DDIM sampling steps.")
        frame: int = pydantic.Field(0, ge=0, description="Frame of the fit whose expression is the reference.")
        weights: Optional[str] = pydantic.Field(None, description="Sculpt model from `headgen train-sculpt` (default: cached, trained on first use).")
        diffusion: Optional[str] = pydantic.Field(None, description="Local Stable Diffusion folder (diffusers layout): score distillation instead of the text model.")
        sds_iters: int = pydantic.Field(200, ge=1, le=100000, description="Score distillation iterations (with --diffusion).")
        device: str = pydantic.Field("cpu", description="auto, cpu or cuda (score distillation).")
        turntable: bool = pydantic.Field(True, description="Render OUT/turntable.mp4.")
        locality: float = pydantic.Field(1.0, ge=0.0, le=100.0, description="In an edit, the most the vertices outside the prompt's region may move (RMS mm; the asked change is shortened to fit; 0 = no limit).")

    @classmethod
    def resources_for(cls, params: dict) -> dict[str, float]:
        """One GPU for score distillation on ``device: cuda``, else CPU only."""
        return {"num_cpus": 1, "num_gpus": 1 if params.get("device") == "cuda" and params.get("diffusion") else 0}

    def run(self, inputs: dict[str, Path], params: "SculptStage.Params", out_dir: Path, ctx: StageContext) -> None:
        from headgen.stages.sculpt.run import run_sculpt

        p = params.model_dump()
        res = run_sculpt(p["prompt"], out_dir, fit=inputs.get("fit"), avatar=inputs.get("avatar"), model=p["model"],
                         strength=p["strength"], samples=p["samples"], seed=p["seed"], guidance=p["guidance"],
                         steps=p["steps"], frame=p["frame"], weights=p["weights"], diffusion=p["diffusion"],
                         sds_iters=p["sds_iters"], device=p["device"], turntable=True, log=ctx.log, params=p,
                         locality=p["locality"])
        u = ", ".join(f"{d['attribute']} {d['intensity']:+.2f}" for d in res.artifact.understood)
        ctx.log(f"sculpt: understood {u}")
