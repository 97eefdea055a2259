"""``avatar`` pipeline stage: a rigged 3D Gaussian head avatar trained from a video (or built from one photo)
with its fitted head-model parameters.

Inputs: ``media`` (video or photo), ``fit`` (the fit stage's fit.npz for that media).
Outputs: ``avatar.ply`` (standard 3DGS layout, neutral pose), ``avatar_rig.npz`` (schema in
``headgen.artifacts.avatar``), ``avatar_metrics.json`` and ``eval/`` (schemas in ``headgen.stages.avatar.run``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pydantic

from headgen.pipeline.stage import Stage, StageContext


class AvatarStage(Stage):
    """Gaussians bound to the fitted head mesh's triangles, trained photometrically (or one-shot)."""

    name = "avatar"
    version = "3"
    inputs = {"media": "path", "fit": "path"}
    outputs = {"ply": "avatar.ply", "rig": "avatar_rig.npz", "metrics": "avatar_metrics.json", "eval": "eval"}
    resources = {"num_cpus": 2, "num_gpus": 0}

    class Params(pydantic.BaseModel):
        """iterations: training steps (default 1500 for a video, 120 one-shot); holdout: "START:END" frames
        held out and evaluated against the baselines (END exclusive); one_shot: build from the first usable
        frame only (always for a photo); device: auto | cpu | cuda; backend: splatting backend (auto, cpu,
        cuda, gsplat, torch); gaussians: number of seed Gaussians; refine: jointly refine the per-frame
        expression (video mode; held-out frames then take the refined deltas of their landmark-nearest training
        frames); refine_pose: refine the per-frame head rotation / translation too (off: on validation frames it
        lowered the face-box PSNR, as held-out frames keep the fit's pose); densify: adaptive densification and pruning; flame: FLAME model path for a
        FLAME fit; lpips: also compute LPIPS; seed: random seed."""
        model_config = pydantic.ConfigDict(extra="forbid")
        iterations: Optional[int] = pydantic.Field(None, ge=1)
        holdout: Optional[str] = pydantic.Field(None, pattern=r"^\s*\d+\s*:\s*\d+\s*$")
        one_shot: bool = False
        device: str = pydantic.Field("auto", pattern="^(auto|cpu|cuda(:\\d+)?)$")
        backend: str = pydantic.Field("auto", pattern="^(auto|cpu|cuda|gsplat|torch)$")
        gaussians: int = pydantic.Field(25000, ge=100)
        refine: bool = True
        refine_pose: bool = False
        densify: bool = True
        flame: Optional[str] = None
        lpips: bool = True
        seed: int = 0

        @pydantic.field_validator("holdout", mode="before")
        @classmethod
        def _holdout_text(cls, v):
            if isinstance(v, int) and not isinstance(v, bool):   # YAML 1.1 reads 35:55 as a base-60 integer
                raise ValueError("holdout must be the text START:END; quote it in YAML (holdout: '35:55')")
            return v

    @classmethod
    def resources_for(cls, params: dict) -> dict[str, float]:
        """One GPU for ``device: cuda``, else CPU only."""
        return {"num_cpus": 2, "num_gpus": 1 if str(params.get("device", "")).startswith("cuda") else 0}

    def run(self, inputs: dict[str, Path], params: "AvatarStage.Params", out_dir: Path, ctx: StageContext) -> None:
        from headgen.stages.avatar.run import run_avatar

        m = run_avatar(inputs["media"], inputs["fit"], out_dir, options_from_params(params), log=ctx.log,
                       progress=lambda d, t, desc: ctx.progress(d, t, desc))
        ctx.log(f"{m['n_gaussians']} Gaussians, {m['iterations']} iterations in {m['train_seconds']:.0f} s")


def options_from_params(params: "AvatarStage.Params"):
    """Stage Params -> ``headgen.stages.avatar.run.AvatarOptions``."""
    from headgen.stages.avatar.run import AvatarOptions

    p = params.model_dump()
    return AvatarOptions(iterations=p["iterations"], holdout=p["holdout"], one_shot=p["one_shot"], device=p["device"],
                         backend=p["backend"], n_gaussians=p["gaussians"], refine=p["refine"],
                         refine_pose=p["refine_pose"], densify=p["densify"],
                         flame_path=p["flame"], lpips=p["lpips"], seed=p["seed"])
