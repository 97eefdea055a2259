"""``preview`` pipeline stage: a talking-head preview video of a fitted head.

Inputs: ``fit`` (fit.npz of the fit stage, ICT model), ``media`` (the photo the fit was made on: its
texture is projected onto the mesh), optional ``audio`` (speech: muxed into the video; its loudness
envelope opens the jaw - a baseline until the audio-driven animation stage exists).
Outputs: ``preview.mp4`` (H.264 + AAC, ``fps``, the audio's duration or ``seconds``), ``texture.png``.
"""
from __future__ import annotations

from pathlib import Path

import pydantic

from headgen.pipeline.stage import Stage, StageContext


class PreviewStage(Stage):
    """Fitted head, textured from the photo, talking along the speech loudness."""

    name = "preview"
    version = "1"
    inputs = {"fit": "path", "media": "path", "audio": "path?"}
    outputs = {"video": "preview.mp4", "texture": "texture.png"}
    resources = {"num_cpus": 1, "num_gpus": 0}

    class Params(pydantic.BaseModel):
        """fps: output frame rate; size: square frame size px; seconds: length without audio;
        max_jaw_open: jawOpen weight at full loudness; tex_size: texture resolution."""
        model_config = pydantic.ConfigDict(extra="forbid")
        fps: float = pydantic.Field(25.0, gt=0, le=120)
        size: int = pydantic.Field(512, ge=64, le=2048)
        seconds: float = pydantic.Field(3.0, gt=0, le=600)
        max_jaw_open: float = pydantic.Field(0.55, ge=0, le=1)
        tex_size: int = pydantic.Field(1024, ge=64, le=4096)

    def run(self, inputs: dict[str, Path], params: "PreviewStage.Params", out_dir: Path, ctx: StageContext) -> None:
        import numpy as np
        import torch

        from headgen.io.audio import read_audio
        from headgen.io.images import read_image, write_image
        from headgen.io.video import VideoWriter
        from headgen.models import load_head_model
        from headgen.audio.envelope import speech_envelope
        from headgen.stages.preview.render import bake_photo_texture, load_fit, render_preview_frames

        fit = load_fit(inputs["fit"])
        if fit["model"] != "ict":
            from headgen.errors import InputError
            raise InputError(f"{inputs['fit']}: preview supports ICT fits, got model '{fit['model']}'")
        model = load_head_model("ict", parts="face")
        image = read_image(inputs["media"])
        texture = bake_photo_texture(model, fit, image, tex_size=params.tex_size)
        write_image(Path(out_dir) / "texture.png", (texture.clamp(0, 1) * 255).round().to(torch.uint8).numpy())
        audio_path = inputs.get("audio")
        if audio_path is not None:
            samples, sr = read_audio(audio_path, sr=16000)
            n_frames = max(1, int(round(len(samples) / sr * params.fps)))
            mouth = speech_envelope(samples, sr, params.fps, n_frames)
        else:
            n_frames = max(1, int(round(params.seconds * params.fps)))
            mouth = np.zeros(n_frames, np.float32)
        with VideoWriter(Path(out_dir) / "preview.mp4", params.fps, audio=audio_path) as writer:
            for i, frame in enumerate(render_preview_frames(model, fit, texture, mouth, params.fps, params.size,
                                                            max_jaw_open=params.max_jaw_open)):
                writer.write(frame)
                ctx.progress(i + 1, n_frames, "preview")
        ctx.log(f"preview: {n_frames} frames at {params.fps:g} fps")
