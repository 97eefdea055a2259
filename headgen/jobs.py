"""One-call jobs over the shipped pipelines, for scripts: ``headgen.talking_head(photo, speech, out=...)``.

Each runs a YAML pipeline of ``configs/`` through the cached runner (a second call with the same inputs is
served from ``OUT/.cache``) and returns the path of its main output. Inputs are checked first, so a bad
photo or audio file fails in a second with one line naming it (``headgen.errors.InputError``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

from headgen.assets import REPO_ROOT

TALKING_HEAD_PIPELINE = REPO_ROOT / "configs" / "talking_head.yaml"


def check_inputs(photo, speech, frame: int = 0) -> None:
    """InputError (one line naming the file) when ``photo`` is not a readable image/video, has no frame
    ``frame`` (a still: only 0) or ``speech`` has no readable audio."""
    from headgen.errors import InputError
    from headgen.io.audio import probe_audio

    photo, speech = Path(photo), Path(speech)
    for p in (photo, speech):
        if not p.exists():
            raise InputError(f"{p}: no such file")
    from headgen.io.media import media_kind
    if frame < 0:
        raise InputError(f"--frame {frame}: frames count from 0")
    if media_kind(photo) == "video":
        from headgen.io.video import VideoReader, probe_video
        info = probe_video(photo)
        if frame >= info.n_frames:   # the probe's count is an estimate: decode up to the frame to be sure
            with VideoReader(photo, max_frames=frame + 1) as r:
                n = sum(1 for _ in r)
            if n <= frame:
                raise InputError(f"--frame {frame}: {photo} has {n} frame(s)")
    else:
        if frame != 0:
            raise InputError(f"--frame {frame}: {photo} is a still image (frame 0 only)")
        from headgen.io.images import read_image
        read_image(photo)
    info = probe_audio(speech)
    if not info.duration or info.duration <= 0:
        raise InputError(f"{speech}: the audio is empty")


def talking_head(photo: Union[str, Path], speech: Union[str, Path], out: Union[str, Path] = "talking_head_out",
                 text: Optional[str] = None, size: Union[int, str] = 512, frame: int = 0,
                 pipeline: Union[str, Path, None] = None, sets: tuple = (), quiet: bool = True,
                 cache: Union[str, Path, None] = None) -> Path:
    """Photo (or a video and its ``frame``) + speech -> ``OUT/talking_head.mp4``; returns its path (the
    pipeline's node folders stay beside it: ``OUT/talking_head/`` also holds ``talking_head.json``).

    Runs ``configs/talking_head.yaml``: pose -> fit -> one-shot avatar -> animate (``text``: the transcript,
    else transcribed) -> talking_head. size: 512 (a square portrait crop) or "native" (the photo's size);
    pipeline: another pipeline YAML with the same inputs (photo, speech) and a ``talking_head`` node; sets:
    more ``NODE.PARAM=VALUE`` overrides (e.g. ``talking_head.mode=mesh``); cache: a shared artifact cache.
    Raises InputError / PipelineRunError (one line).
    """
    from headgen.pipeline.runner import raise_for_failures, run_pipeline

    check_inputs(photo, speech, frame)
    s = [f"talking_head.size={json.dumps(size)}", f"talking_head.frame={int(frame)}"]
    if text:
        s.append(f"animate.text={json.dumps(str(text))}")
    result = run_pipeline(pipeline or TALKING_HEAD_PIPELINE, out, inputs={"photo": str(photo), "speech": str(speech)},
                          sets=s + list(sets), quiet=quiet, cache=cache)
    raise_for_failures(result)
    return publish(Path(out) / "talking_head" / "talking_head.mp4", Path(out) / "talking_head.mp4")


def publish(src: Path, dst: Path) -> Path:
    """Put the node's output ``src`` at the job's documented path ``dst`` (a hard link, else a copy; written
    atomically, so an interrupted call never leaves a truncated ``dst``) -> dst."""
    import os
    import shutil

    from headgen.io.atomic import atomic_path

    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return dst
