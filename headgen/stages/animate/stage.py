"""``animate`` pipeline stage: speech -> animation curves, a Live Link Face CSV and a talking-head video.

Inputs: ``speech`` (audio or video file), optional ``text_file`` (transcript), ``phones`` (phone labels: ARCTIC
.lab or a phone tsv; skips phone timing), ``style`` (a style npz, or a fit.npz with ``style_media``, its video),
``weights`` (an audio->ARKit model from ``headgen train-audio``), ``avatar`` (an avatar folder).
Outputs: ``animation.npz``, ``animation_arkit.csv``, ``video.mp4`` (schemas in ``headgen.stages.animate.run``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import pydantic

from headgen.pipeline.stage import Stage, StageContext


class AnimateStage(Stage):
    """Phones -> visemes with coarticulation, prosody-driven brows/nods, blinks and gaze; rendered with the audio."""

    name = "animate"
    version = "2"
    inputs = {"speech": "path", "text_file": "path?", "phones": "path?", "style": "path?", "style_media": "path?",
              "weights": "path?", "avatar": "path?"}
    outputs = {"animation": "animation.npz", "csv": "animation_arkit.csv", "video": "video.mp4"}
    resources = {"num_cpus": 1, "num_gpus": 0}

    class Params(pydantic.BaseModel):
        """text: transcript (else text_file, else timed without one); model: ict | flame (flame_path);
        fps: output frame rate; seed: blinks, saccades, head drift; size: video px; method: phone timing
        method of ``headgen.audio.align.phone_timings`` (auto, align, whisper+align, allphone, hama, hama+align)."""
        model_config = pydantic.ConfigDict(extra="forbid")
        text: Optional[str] = None
        model: Literal["ict", "flame"] = "ict"
        flame_path: Optional[str] = None
        fps: float = pydantic.Field(25.0, gt=0, le=240)
        seed: int = 0
        size: int = pydantic.Field(384, ge=32, le=4096)
        method: Literal["auto", "align", "whisper+align", "allphone", "hama", "hama+align"] = "auto"

        @pydantic.model_validator(mode="after")
        def _flame_needs_path(self):
            if self.model == "flame" and not self.flame_path:
                raise ValueError("model flame needs flame_path (FLAME generic_model.pkl)")
            return self

    def run(self, inputs: dict[str, Path], params: "AnimateStage.Params", out_dir: Path, ctx: StageContext) -> None:
        run_animate(inputs, params, out_dir, log=ctx.log, progress=lambda d, t, desc: ctx.progress(d, t, desc))


def run_animate(inputs: dict, params: "AnimateStage.Params", out_dir: Path, log=print, progress=lambda d, t, desc: None,
                video: bool = True):
    """Shared by the stage and the CLI: inputs (name -> Path, see ``AnimateStage.inputs``) + Params -> outputs
    in out_dir; returns ``headgen.stages.animate.run.AnimateResult``."""
    from headgen.errors import InputError
    from headgen.stages.animate.run import AnimateOptions, animate_speech

    text = params.text
    if text is None and inputs.get("text_file") is not None:
        p = Path(inputs["text_file"])
        try:
            text = p.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{p}: cannot read the transcript ({e})") from None
        if not text:
            raise InputError(f"{p}: empty transcript")
    opts = AnimateOptions(text=text, model=params.model, flame_path=params.flame_path, fps=params.fps,
                          seed=params.seed, video=video, size=params.size, method=params.method)
    return animate_speech(inputs["speech"], out_dir, opts, phones=inputs.get("phones"), style=inputs.get("style"),
                          style_media=inputs.get("style_media"), weights=inputs.get("weights"),
                          avatar=inputs.get("avatar"), log=log, progress=progress)
