"""The animate stage's runner: speech (+ transcript / style / weights) -> animation.npz, CSV and video.

Outputs in ``out_dir``: ``animation.npz`` (schema: ``headgen.artifacts.animation``), ``animation_arkit.csv``
(Live Link Face layout: ``headgen.artifacts.livelink``) and ``video.mp4`` (H.264 + AAC: the shaded head mesh,
or the Gaussian avatar with ``avatar``; the speech muxed in; as many frames as the audio lasts).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from headgen.errors import InputError


@dataclass
class AnimateOptions:
    """text: transcript; model: ict | flame (flame_path); fps; seed; video: write video.mp4; size: video px;
    method: phone timing method (``headgen.audio.align.phone_timings``)."""
    text: Optional[str] = None
    model: str = "ict"
    flame_path: Optional[str] = None
    fps: float = 25.0
    seed: int = 0
    video: bool = True
    size: int = 384
    method: str = "auto"


@dataclass
class AnimateResult:
    """Paths written and timings (seconds) of each step."""
    animation: Path
    csv: Path
    video: Optional[Path]
    n_frames: int
    duration: float
    timings: dict = field(default_factory=dict)
    method: str = ""


def learn_style_from_fit(fit_path, media, fps_unused: float = 0.0, method: str = "auto", text=None, log=print):
    """Style of the person in a fitted talking video: fit.npz + the video's audio -> Style."""
    from headgen.artifacts.fit import read_fit
    from headgen.stages.animate.speech import read_speech
    from headgen.stages.animate.style import learn_style, observation

    fit = read_fit(fit_path)
    if not fit.fps > 0:
        raise InputError(f"{fit_path}: style needs a fitted video (fps > 0), got a still image fit")
    sp = read_speech(media, fit.fps, text=text, method=method, log=log)
    return learn_style([observation(fit, sp.phones, sp.energy_db, fit.fps, f1_hz=sp.f1_hz, hf_db=sp.hf_db,
                                    voiced=sp.voiced)])


def animate_speech(speech, out_dir, opts: AnimateOptions, phones=None, style=None, style_media=None,
                   weights=None, avatar=None, log: Callable[[str], None] = print,
                   progress: Callable = lambda d, t, desc: None) -> AnimateResult:
    """Run the whole stage. speech: audio/video path; phones: phone label file (ARCTIC .lab, phone tsv) or
    None; style: style npz (``save_style``) or fit.npz (+ ``style_media``, its video); weights: audio model;
    avatar: avatar folder (``headgen.avatar``). Raises InputError naming the file on bad input."""
    from headgen.artifacts.animation import write_animation
    from headgen.artifacts.livelink import write_livelink_csv
    from headgen.stages.animate.curves import generate_curves
    from headgen.stages.animate.speech import read_speech

    speech, out_dir = Path(speech), Path(out_dir)
    timings = {}
    t0 = time.perf_counter()
    labels = None
    if phones is not None:
        labels = _read_phone_labels(phones)
    st = None
    if style is not None:
        st = _load_style(style, style_media, opts, log)
    if avatar is not None and opts.video:   # a bad avatar fails now, not after the speech and the curves
        from headgen.artifacts.avatar import read_avatar
        read_avatar(avatar, with_ply=False)
    audio_model = None
    if weights is not None:
        from headgen.stages.animate.audio_model import load_audio_model
        audio_model = load_audio_model(weights)
    timings["setup"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sp = read_speech(speech, opts.fps, text=opts.text, phones=labels, method=opts.method, log=log)
    timings["phones"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mouth = None
    if audio_model is not None:
        from headgen.io.audio import read_audio
        from headgen.stages.animate.audio_model import predict_mouth
        x, sr = read_audio(speech, 16000)
        mouth = predict_mouth(audio_model, x, sr, opts.fps, sp.n_frames)
    curves = generate_curves(sp.phones, sp.energy_db, sp.f0_hz, opts.fps, sp.n_frames, seed=opts.seed, style=st,
                             mouth=mouth, f1_hz=sp.f1_hz, hf_db=sp.hf_db, voiced=sp.voiced)
    timings["curves"] = time.perf_counter() - t0
    model, transfer = _load_model(opts) if (opts.model == "flame" or (opts.video and avatar is None)) else (None, None)
    extra_arrays = {}
    expression = jaw = None
    if transfer is not None:
        import torch
        e, j = transfer.apply(torch.as_tensor(curves.arkit, dtype=torch.float64))
        expression, jaw = e.float().numpy(), j.float().numpy()
    extra_arrays["phones_method"] = np.array(sp.method)
    extra_arrays["model"] = np.array(opts.model)
    out_dir.mkdir(parents=True, exist_ok=True)
    anim = write_animation(out_dir / "animation.npz", curves.arkit, curves.head_rotation, curves.eyes, opts.fps,
                           curves.times, expression=expression, jaw=jaw, extra=extra_arrays)
    csv = write_livelink_csv(out_dir / "animation_arkit.csv", curves.arkit, opts.fps, curves.times,
                             curves.head_rotation, curves.eyes)
    video = None
    if opts.video:
        t0 = time.perf_counter()
        video = _write_video(out_dir / "video.mp4", speech, curves, model, transfer, opts, avatar, progress)
        timings["render"] = time.perf_counter() - t0
    log(f"{sp.n_frames} frames ({sp.duration:.2f} s), phones by {sp.method}: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    return AnimateResult(anim, csv, video, sp.n_frames, sp.duration, timings, sp.method)


def _read_phone_labels(path):
    from headgen.audio.labels import read_arctic_lab, read_phone_tsv
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such phone label file")
    return read_phone_tsv(path) if path.suffix.lower() in (".tsv", ".txt") else read_arctic_lab(path)


def _load_style(style, style_media, opts, log):
    from headgen.stages.animate.style import load_style
    style = Path(style)
    if not style.is_file():
        raise InputError(f"{style}: no such style / fit file")
    try:
        with np.load(style, allow_pickle=False) as z:
            is_style = "style_targets" in z.files
    except Exception as e:   # a truncated / not-npz file: BadZipFile, EOFError, ValueError, OSError ...
        raise InputError(f"{style}: not a readable style / fit .npz ({type(e).__name__}: {e})") from None
    if is_style:
        return load_style(style)
    if style_media is None:
        raise InputError(f"{style}: a fit.npz as --style needs --style-media (the fitted video, for its audio)")
    # the style video has no transcript here: "align" (text only) falls back to the text-free default
    st = learn_style_from_fit(style, style_media, method="auto" if opts.method == "align" else opts.method, log=log)
    log(f"style from {style.name}: lead {1000 * st.lead_s:.0f} ms, coarticulation width x{st.tau_scale:.1f}")
    return st


def _load_model(opts):
    from headgen.models import load_head_model
    if opts.model == "ict":
        return load_head_model("ict", parts="face"), None
    if opts.model == "flame":
        if not opts.flame_path:
            raise InputError("--model flame needs --flame PATH (FLAME generic_model.pkl)")
        from headgen.models.arkit import transfer_arkit_from_ict
        m = load_head_model("flame", path=opts.flame_path, mediapipe=True)
        return m, transfer_arkit_from_ict(m)
    raise InputError(f"--model {opts.model!r}: choose ict or flame")


def _write_video(path, speech, curves, model, transfer, opts, avatar, progress):
    from headgen.io.video import VideoWriter
    from headgen.stages.animate.render import avatar_frames, mesh_frames

    if avatar is not None:
        frames = avatar_frames(avatar, curves.arkit, curves.head_rotation, size=opts.size, flame_path=opts.flame_path)
    else:
        frames = mesh_frames(model, curves.arkit, curves.head_rotation, size=opts.size, transfer=transfer)
    T = len(curves.arkit)
    with VideoWriter(path, opts.fps, audio=str(speech)) as w:
        for i, f in enumerate(frames):
            w.write(f)
            if i % 50 == 0:
                progress(i, T, "render")
    return Path(path)
