"""``pose`` pipeline stage: head pose for the images / videos of one input path.

Input ``media``: an image, a video or a folder of them. Params: :class:`PoseParams`
(``headgen.stages.pose.params``, the one declaration of the options). Outputs: ``pose.json`` (schema in
``headgen.artifacts.pose``) and ``viz/`` (annotated images / mp4s when ``viz`` is set, else
empty). Any unreadable input fails the stage with an InputError naming each bad file (after the
good ones were processed, so the log shows all problems at once).
"""
from __future__ import annotations

from pathlib import Path

from headgen.pipeline.stage import Stage, StageContext
from headgen.stages.pose.params import PoseParams


class PoseStage(Stage):
    """Head pose (rotation, translation, yaw/pitch/roll, landmarks) per face per frame."""

    name = "pose"
    version = "1"
    inputs = {"media": "path"}
    outputs = {"pose": "pose.json", "viz": "viz"}
    resources = {"num_cpus": 1, "num_gpus": 0}
    Params = PoseParams

    def run(self, inputs: dict[str, Path], params: PoseParams, out_dir: Path, ctx: StageContext) -> None:
        from headgen.stages.pose.estimate import estimate_poses, raise_for_errors

        (Path(out_dir) / "viz").mkdir(parents=True, exist_ok=True)
        result = estimate_poses([inputs["media"]], out_dir, params,
                                progress=lambda d, t, desc: ctx.progress(d, t, desc), log=ctx.log)
        ctx.log(f"{result.n_frames} frame(s) -> {result.pose_json.name}")
        raise_for_errors(result)
