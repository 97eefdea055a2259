"""``fit`` pipeline stage: fit a head model (ICT-FaceKit by default) to a video / image.

Inputs: ``media`` (video or image; a folder of per-camera media with ``cameras``), optional ``pose``
(the pose stage's pose.json: landmarks + rigid init, so no landmark detection runs here) and optional
``cameras`` (multi-view OpenCV camera JSON, schema in ``headgen.geometry.rig``).
Outputs: ``fit.npz`` (schema in ``headgen.artifacts.fit``), ``fit_metrics.json``, ``fit_overlay.mp4``
(schemas in ``headgen.stages.fit.fitting``).

:class:`FitParams` (``headgen.stages.fit.params``) is the one declaration of the fit's options: the
pipeline validates a node's ``params`` through it and ``headgen fit`` builds it from its options.
"""
from __future__ import annotations

from pathlib import Path

from headgen.device import wants_gpu
from headgen.pipeline.stage import Stage, StageContext
from headgen.stages.fit.params import FitParams


class FitStage(Stage):
    """One identity + per-frame expression and rigid pose, batched over all frames."""

    name = "fit"
    version = "1"
    inputs = {"media": "path", "pose": "path?", "cameras": "path?"}
    outputs = {"fit": "fit.npz", "metrics": "fit_metrics.json", "overlay": "fit_overlay.mp4"}
    resources = {"num_cpus": 1, "num_gpus": 0}
    Params = FitParams

    @classmethod
    def resources_for(cls, params: dict) -> dict[str, float]:
        """One GPU when the fit will take one (``device: cuda``, or ``auto`` where CUDA is visible: Ray
        then schedules the node on a GPU worker), else CPU only."""
        return {"num_cpus": 1, "num_gpus": 1 if wants_gpu(params.get("device", "auto")) else 0}

    def run(self, inputs: dict[str, Path], params: FitParams, out_dir: Path, ctx: StageContext) -> None:
        from headgen.stages.fit.fitting import fit_media

        res = fit_media(inputs["media"], out_dir, params, pose=inputs.get("pose"), cameras=inputs.get("cameras"),
                        progress=lambda d, t, desc: ctx.progress(d, t, desc), log=ctx.log)
        m = res.metrics
        ctx.log(f"NME {100 * (m['nme_mean'] or float('nan')):.2f}% over {m['n_valid']}/{m['n_frames']} frames, "
                f"{m['fps']:.1f} frames/s")
