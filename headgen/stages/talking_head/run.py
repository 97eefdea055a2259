"""The talking_head stage's core: still + fit + animation (+ avatar) + speech -> talking_head.mp4.

Outputs in ``out_dir``:

- ``talking_head.mp4``: H.264 + AAC, ``fps`` of the animation, as many frames as the speech lasts
  (``round(duration * fps)``; the audio trimmed/padded to exactly that: offset < 1 frame), the output view
  (``size`` px square portrait crop, or the still's own size with ``size: native``);
- ``talking_head_mask.png``: where any frame differs from the still (max blend alpha over the clip, 0-255;
  everything outside is the still, pixel for pixel before encoding);
- ``talking_head.json``: ``{"mode": "avatar"|"mesh", "n_frames", "fps", "duration", "size": [w, h],
  "crop": [x0, y0, w, h] (still px), "window": [x0, y0, x1, y1] (output px that may change), "feather_px",
  "warnings": [...], "seconds": {...}}``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from headgen.errors import InputError

SILENCE_RMS = 1e-4   # full scale; quieter speech is reported as silent
#: x264 quality of talking_head.mp4. The io default (18) drops the small frame-to-frame changes of a small
#: face's mouth (a 115 px photo's lips part by 1-4 output px for jawOpen <= 0.15): on codait_bryan the mouth
#: opening MediaPipe reads off the video followed jawOpen at r 0.73 at CRF 18 against 0.82 on the frames
#: themselves and 0.81 at CRF 10 (about 2-3x the bytes: ~30 kB/s at 512 px)
VIDEO_CRF = 10


def check_speech(path, log: Callable[[str], None] = print) -> tuple[float, list[str]]:
    """Duration (s) of the speech at ``path`` and warnings (silent audio); InputError naming the file when
    it is unreadable, has no audio or is empty."""
    from headgen.io.audio import read_audio

    x, sr = read_audio(path, sr=16000)
    if x.size == 0:
        raise InputError(f"{path}: the audio is empty")
    dur = x.shape[0] / float(sr)
    warn = []
    rms = float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))
    if rms < SILENCE_RMS:
        warn.append(f"{path}: the speech is silent (RMS {rms:.1e}); the face will not talk")
    return dur, warn


def count_faces(pose_path, media, frame: int) -> int:
    """Number of heads the pose stage found in frame ``frame`` of ``media`` (its pose.json)."""
    from headgen.artifacts.pose import read_pose

    pa = read_pose(pose_path)
    src = pa.find_source(media)
    return max((len(f.heads) for f in pa.frames if f.source == src and f.index == frame), default=0)


def talking_head_video(media, fit_path, animation_path, speech, out_dir, *, avatar=None, pose=None,
                       frame: int = 0, size="native", mode: str = "auto", detail: float = 1.0,
                       motion: float = 0.5, max_head_deg: float = 3.0, expression_gain: float = 1.0,
                       feather: float = 0.08, batch: int = 8, device: str = "cpu", backend: str = "auto",
                       log: Callable[[str], None] = print, warn: Optional[Callable[[str], None]] = None,
                       progress: Callable = lambda d, t, desc: None) -> dict:
    """Write the outputs listed in the module docstring into ``out_dir`` and return the info dict.

    media: photo or video (``frame``: which frame is the still); fit_path: its fit.npz (ICT); animation_path:
    animation.npz; speech: audio muxed into the video (its length sets the frame count); avatar: avatar folder
    (mode "auto" uses it when given, else the mesh warp); pose: pose.json (only to warn about several faces).
    Raises InputError naming the file on bad input; nothing is left under the final names on failure.
    """
    from headgen.artifacts.animation import read_animation
    from headgen.artifacts.fit import read_fit
    from headgen.device import resolve_device
    from headgen.io.atomic import write_json_atomic
    from headgen.io.images import write_image
    from headgen.io.video import VideoWriter
    from headgen.models import load_head_model

    from headgen.stages.talking_head.blend import blend, blend_alpha, feather_radius
    from headgen.stages.talking_head.drive import build_drive
    from headgen.stages.talking_head.heads import AvatarHead, MeshHead, to_float_image
    from headgen.stages.talking_head.view import fit_row, make_view, read_still
    from headgen.stages.talking_head.warp import WARP_PARTS, PhotoWarp, project

    t_all = time.perf_counter()
    secs: dict[str, float] = {}
    out_dir = Path(out_dir)
    warns: list[str] = []
    still = read_still(media, frame)
    fit = read_fit(fit_path)
    if tuple(fit.image_size) != (still.shape[1], still.shape[0]):
        raise InputError(f"{fit_path}: fitted on {fit.image_size[0]}x{fit.image_size[1]} frames but "
                         f"{Path(media).name} is {still.shape[1]}x{still.shape[0]}")
    row = fit_row(fit, frame, str(fit_path))
    if pose is not None:
        n = count_faces(pose, media, frame)
        if n > 1:
            warns.append(f"{Path(media).name}: {n} faces found; animating the largest")
    anim = read_animation(animation_path)
    duration, w = check_speech(speech)
    warns += w
    for m in warns:
        (warn or (lambda x: log(f"warning: {x}")))(m)
    fps = float(anim.fps)
    n_frames = max(1, int(round(duration * fps)))
    if mode == "auto":
        mode = "avatar" if avatar is not None else "mesh"
    if mode == "avatar" and avatar is None:
        raise InputError("talking_head: mode 'avatar' needs an avatar folder (input 'avatar')")
    dev = torch.device(resolve_device(device))
    secs["inputs"] = time.perf_counter() - t_all

    t0 = time.perf_counter()
    model = load_head_model("ict", parts=list(WARP_PARTS), device=dev, mediapipe=True)   # inner lips: the gap
    drive = build_drive(model, fit, row, anim.arkit, anim.head_rotation, n_frames, motion=motion,
                        max_deg=max_head_deg, expression_gain=expression_gain)
    with torch.no_grad():
        v_rest = model(**drive.rest).vertices[0]
    face_v = model.regions["face"].to(dev) if "face" in model.regions else slice(None)
    pts = project(v_rest[face_v], torch.as_tensor(np.asarray(fit.K), dtype=torch.float32, device=dev))
    view = make_view(still, fit.K, pts.cpu().numpy(), size)
    warp = PhotoWarp(model, drive.rest, view.K, view.size, photo_px=view.scale)
    bg = to_float_image(view.background, dev)
    head = (AvatarHead(avatar, warp, drive.rest, bg, detail=detail, backend=backend) if mode == "avatar"
            else MeshHead(warp, bg))
    radius = feather_radius(warp.rest["cover"][0], feather)
    secs["setup"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / "talking_head.mp4"
    reach = torch.zeros(view.size[1], view.size[0], device=dev)
    bg_u8 = torch.as_tensor(view.background, device=dev)
    bg_win = warp.crop(bg)
    with VideoWriter(video, fps, audio=str(speech), crf=VIDEO_CRF) as writer:
        for s in range(0, n_frames, batch):
            sl = slice(s, min(n_frames, s + batch))
            inputs = drive.inputs(sl)
            r = warp.rasterize(inputs)
            fg, a = head.frames(inputs, r)
            alpha = blend_alpha(r["cover"], radius) * a
            warp.crop(reach[..., None])[..., 0] = torch.maximum(warp.crop(reach[..., None])[..., 0], alpha.amax(0))
            out = bg_u8[None].repeat(fg.shape[0], 1, 1, 1)
            warp.crop(out)[...] = blend(fg, bg_win, alpha)
            for f in out.cpu().numpy():
                writer.write(f)
            progress(sl.stop, n_frames, "talking_head")
    secs["render"] = time.perf_counter() - t0
    write_image(out_dir / "talking_head_mask.png", (reach.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy())
    secs["total"] = time.perf_counter() - t_all
    info = dict(mode=mode, n_frames=n_frames, fps=fps, duration=duration, size=list(view.size),
                crop=[float(v) for v in view.box], window=list(warp.window), feather_px=radius, warnings=warns,
                seconds={k: round(v, 3) for k, v in secs.items()})
    write_json_atomic(out_dir / "talking_head.json", info, indent=1)
    log(f"talking_head: {n_frames} frames ({duration:.2f} s) at {view.size[0]}x{view.size[1]}, {mode} mode, "
        f"{secs['render']:.1f} s render")
    return info
