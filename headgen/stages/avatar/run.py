"""The avatar stage's core: media + fit.npz -> OUT/avatar.ply, OUT/avatar_rig.npz, OUT/avatar_metrics.json,
OUT/eval/ (callable from Python without the runner).

``avatar_metrics.json``::

    {"mode": "video" | "one_shot", "media", "fit", "image_size": [w, h], "train_frames": [...],
     "heldout_frames": [...], "train_seconds", "iterations", "n_gaussians", "total_seconds", "device",
     "crop": [x0, y0, x1, y1], "densify": [...],
     "heldout": {"avatar" | "retrieval" | "textured_mesh" | "avatar_fit_driven": {"full" | "face" | "mouth":
                 {"psnr", "ssim", "lpips", "per_frame": {...}}}} or null,
     "refine_transfer": k (with refinement: held-out frames driven with the refined expression deltas of their k
                 landmark-nearest training frames; "avatar_fit_driven" = the same avatar driven by the fit alone),
     "retrieval_frames": [...], "train_view": {region metrics of the avatar on its training frame(s)},
     "regions": {...how the boxes are made...}}

In one-shot mode (a photo, or ``one_shot`` on a video: trained on the first valid frame outside the hold-out)
the retrieval baseline has a single training frame, i.e. it is "copy the training frame".
``eval/frame_XXXXX.png``: the avatar's render of every held-out frame at native size (the training view for
a photo or a run without hold-out); ``eval/side_by_side.mp4``: real | render (a photo: the photo | a short
mouth-opening, head-turning animation of the avatar).
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from headgen.errors import InputError
from headgen.io.atomic import replace_dir
from headgen.stages.avatar.train import TrainOptions


@dataclass
class AvatarOptions:
    """What the stage's Params hold (see ``headgen.stages.avatar.stage``)."""
    iterations: int | None = None
    holdout: str | None = None
    one_shot: bool = False
    device: str = "auto"
    backend: str = "auto"
    n_gaussians: int = 25000
    refine: bool = True                     # video: jointly refine the per-frame expression (one-shot: never)
    refine_pose: bool = False               # with refine: the per-frame rotation / translation too
    densify: bool = True
    flame_path: str | None = None
    lpips: bool = True
    seed: int = 0
    exclude: str | None = None              # "START:END" frames neither trained on nor evaluated (validation)
    smooth_pose: float | None = None        # frames (at 25 fps); None: the mode's default (ONE_SHOT_SMOOTH, VIDEO_SMOOTH)
    smooth_expression: float | None = None  # frames (at 25 fps); None: the mode's default
    refine_transfer: int = 3                # with refine: held-out frames take the landmark-nearest k training frames'
                                            # refined expression deltas (0: driven by the fit alone)
    extra: dict = field(default_factory=dict)   # TrainOptions overrides (benches, tests)


#: one-shot steps on the single view (chosen on frames 5-30 of the 8 GRID clips, never the 35-54 hold-out)
ONE_SHOT_ITERATIONS = 120
#: one-shot seeding: triangles seen more obliquely than this (cosine) take mirrored / diffused colours
ONE_SHOT_MIN_FACING = 0.3
#: one-shot seeds overlap (their geometry is not optimised, so holes between them would stay)
ONE_SHOT_COVERAGE = 1.1
VIDEO_ITERATIONS = 1500
#: temporal smoothing of a video's fitted (pose, expression) before training and driving (``data.smooth_params``;
#: Gaussian sigma in frames at 25 fps, scaled by the clip's frame rate; 0 = the fit as it is). One-shot: chosen on
#: frames 5-30; video: off (it lowered the video avatar's face and mouth PSNR on frames 10-29 of two clips,
#: bench/avatar_video_val.py)
ONE_SHOT_SMOOTH = (2.0, 1.0)
VIDEO_SMOOTH = (0.0, 0.0)
#: one-shot: mouth parts that keep their default colours and are not trained on the photo (its lip gap shows teeth
#: or shadow where the fitted mesh has its tongue; see ``colors.MOUTH_CAVITY_PARTS``)
ONE_SHOT_CAVITY = ("mouth_socket", "gums_and_tongue")
#: one-shot: parts not trained on the photo: the cavity, and the teeth (a closed mouth hides them, and its few peeking
#: teeth Gaussians drifted to blown-out colours that showed as a white blob when the jaw opened; seen teeth keep the
#: photo's colour from the seeding)
ONE_SHOT_FROZEN = ONE_SHOT_CAVITY + ("teeth",)
#: one-shot: the background is the photo with the head mesh's silhouette, dilated by this many pixels, inpainted
ONE_SHOT_INPAINT_DILATE = 4
#: one-shot: Gaussians for the person just outside the head mesh (hair, ears, the face outline beyond the mesh), bound
#: to the silhouette triangles (``fringe.fringe_seeds`` keyword arguments, e.g. ``dict(reach=0.1)``; None: none); their
#: pixels, dilated by ``ONE_SHOT_FRINGE_INPAINT_DILATE`` px, are inpainted in the background too. Off: on frames 5-30
#: of the 8 GRID clips (bench/results/avatar_oneshot_validation.md) ``dict(reach=0.1)`` changed the face box by
#: -0.04..+0.03 dB (lbbc2a +0.03, id2_vcd_swwp2s +0.01, mean -0.01) and the full frame by -0.64..+0.32 dB (mean -0.01:
#: the hair moves with the head, but its Gaussians blur the texture the static background had kept sharp)
ONE_SHOT_FRINGE: dict | None = None
ONE_SHOT_FRINGE_INPAINT_DILATE = 2
#: one-shot: weight of the penalty on colours outside [0, 1] (hidden sclera under the lids and the like)
ONE_SHOT_COLOR_RANGE = 1.0


def train_options(opts: AvatarOptions, one_shot: bool) -> TrainOptions:
    """TrainOptions for a run: one-shot runs are short, without densification or refinement."""
    it = opts.iterations if opts.iterations is not None else (ONE_SHOT_ITERATIONS if one_shot else VIDEO_ITERATIONS)
    kw = dict(iterations=int(it), n_gaussians=opts.n_gaussians, backend=opts.backend, seed=opts.seed,
              refine=opts.refine and not one_shot, refine_pose=opts.refine_pose,
              densify=opts.densify and not one_shot)
    if one_shot:   # one view: colours, and small moves / resizes of the seeds that sharpen the photo's detail;
        # opacities and orientations stay (the seeded overlap keeps the surface closed when the mouth opens or the
        # head turns)
        kw.update(lr_sh=0.02, lr_opacity=0.0, lr_offsets=1e-3, lr_scales=5e-3, lr_rotations=0.0, mouth_weight=1.0,
                  frozen_parts=ONE_SHOT_FROZEN, color_range_weight=ONE_SHOT_COLOR_RANGE)
    kw.update(opts.extra)
    return TrainOptions(**kw)


def _digest(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{int(st.st_mtime)}"


def run_avatar(media: str | Path, fit_path: str | Path, out_dir: str | Path, opts: AvatarOptions,
               log=lambda m: None, progress=None) -> dict:
    """Train (or one-shot build) an avatar and evaluate it; writes the outputs listed in the module docstring
    (each atomically; eval/ swapped in whole) -> the metrics dict."""
    from headgen.avatar import load_avatar_model, render_vertices, save_avatar
    from headgen.device import resolve_device
    from headgen.stages.avatar import data as D
    from headgen.stages.avatar.evaluate import region_boxes, region_metrics, retrieval_indices, textured_mesh
    from headgen.stages.avatar.train import options_key, seed_avatar, train_avatar

    t_start = time.perf_counter()
    media, fit_path, out_dir = Path(media), Path(fit_path), Path(out_dir)
    if not fit_path.is_file():
        raise InputError(f"{fit_path}: no such fit file")
    dev = resolve_device(opts.device)
    holdout = D.parse_holdout(opts.holdout)
    probe_video = D.media_kind(media) == "video"
    one_shot = opts.one_shot or not probe_video
    clip = D.load_clip(media, fit_path, holdout, dev, one_shot=one_shot, exclude=D.parse_holdout(opts.exclude))
    fps_scale = (clip.fps or 25.0) / 25.0
    default = ONE_SHOT_SMOOTH if one_shot else VIDEO_SMOOTH
    sp = (default[0] if opts.smooth_pose is None else opts.smooth_pose) * fps_scale
    se = (default[1] if opts.smooth_expression is None else opts.smooth_expression) * fps_scale
    if clip.is_video and (sp > 0 or se > 0):
        clip.params = D.smooth_params(clip.params, sp, se, clip.valid)
    topts = train_options(opts, one_shot)
    if opts.flame_path and str(clip.fit.model) != "flame":   # an ignored model file is a mistake: say so now
        raise InputError(f"--flame {opts.flame_path}: {Path(fit_path).name} was fitted with the {clip.fit.model} "
                         f"model; --flame is for a FLAME fit only")
    if str(clip.fit.model) == "flame" and not opts.flame_path:
        raise InputError(f"{fit_path}: a FLAME fit: pass the FLAME model file with --flame PATH (the stage parameter "
                         f"flame)")
    model = load_avatar_model(clip.fit.model, flame_path=opts.flame_path, device=dev)
    T = len(clip.frames)
    W, H = clip.size
    log(f"{media.name}: {T} frame(s) {W}x{H}, training on {len(clip.train_ids)}, holding out {len(clip.eval_ids)}")
    with torch.no_grad():
        verts = torch.cat([model(**D.model_inputs(clip.params, torch.arange(a, min(a + 16, T), device=dev))).vertices
                           for a in range(0, T, 16)])
    lm = D.detect_landmarks(clip.frames)
    if clip.fit.landmarks468_2d_fit is not None:   # frames MediaPipe missed: the fitted points
        miss = ~np.isfinite(lm).all((1, 2))
        lm[miss] = np.asarray(clip.fit.landmarks468_2d_fit, np.float32)[miss]
    usable = np.isfinite(lm).all((1, 2))
    if not usable[clip.train_ids].any():
        raise InputError(f"{media}: no face found in the training frame(s)")
    masks = D.person_masks(clip.frames[clip.train_ids])
    heads = D.head_silhouettes(model, verts[clip.train_ids], clip.K, clip.size)
    bg_np = D.estimate_background(clip.frames[clip.train_ids], masks, heads)
    fringe = None
    if len(clip.train_ids) == 1:   # one view: what lies behind the head is unknown; inpaint the head's silhouette
        f0 = int(clip.train_ids[0])
        bg_np, fringe = one_shot_background(bg_np, model, verts[f0], clip.params["rotation"][f0], clip.frames[f0],
                                            masks[0], clip.K, fringe=one_shot)
        if fringe is not None:
            log(f"one-shot fringe: {fringe.n} Gaussians outside the head mesh")
    background = torch.as_tensor(bg_np, device=dev)
    crop = D.crop_from_landmarks(lm[clip.train_ids][usable[clip.train_ids]], clip.size)
    mouth_boxes = {int(f): region_boxes(lm[f], clip.size)["mouth"] for f in clip.train_ids if usable[f]}

    key = options_key(topts, dict(media=_digest(media), fit=_digest(fit_path), holdout=opts.holdout, exclude=opts.exclude,
                                  one_shot=one_shot, device=str(dev), smooth=(sp, se),
                                  inpaint=ONE_SHOT_INPAINT_DILATE if one_shot else None,
                                  **({"fringe": (ONE_SHOT_FRINGE, ONE_SHOT_FRINGE_INPAINT_DILATE)} if fringe is not None
                                     else {})))
    ckpt_dir = out_dir / ".avatar_checkpoint"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    avatar = seed_avatar(clip, model, topts, min_facing=ONE_SHOT_MIN_FACING if one_shot else None,
                         coverage=ONE_SHOT_COVERAGE if one_shot else 0.6,
                         keep_defaults=ONE_SHOT_CAVITY if one_shot else ())
    if fringe is not None and fringe.n:
        from headgen.stages.avatar.fringe import fringe_avatar
        avatar = fringe_avatar(avatar, fringe)
    avatar, deltas, stats = train_avatar(clip, model, avatar, background, crop, topts, ckpt_path=ckpt_dir / "ckpt.pt",
                                         key=key, mouth_boxes=mouth_boxes, log=log, progress=progress)
    avatar.meta = dict(mode="one_shot" if one_shot else "video", media=str(media), fit=str(fit_path),
                       holdout=opts.holdout, train_frames=[int(f) for f in clip.train_ids], iterations=topts.iterations,
                       train_seconds=round(stats["seconds"], 2), options={k: v for k, v in vars(topts).items()})
    if fringe is not None:
        avatar.meta["fringe"] = dict(ONE_SHOT_FRINGE, n=fringe.n)

    # ---- evaluation
    gt_all = lambda ids: torch.as_tensor(clip.frames[ids], device=dev).float() / 255.0
    eval_ids = np.asarray([f for f in clip.eval_ids if usable[f]], np.int64)
    view_ids = eval_ids if len(eval_ids) else clip.train_ids[:75]
    drive = verts       # per frame: training frames with their refined parameters, held-out ones transferred
    if topts.refine:
        with torch.no_grad():
            drive = torch.cat([model(**D.model_inputs(clip.params, torch.arange(a, min(a + 16, T), device=dev),
                                                      deltas)).vertices for a in range(0, T, 16)])
    transfer = topts.refine and opts.refine_transfer > 0 and len(eval_ids) > 0
    if transfer:   # the fit's systematic errors that refinement corrected, carried over by landmark similarity
        drive[eval_ids] = transferred_vertices(model, clip, lm, deltas, eval_ids, opts.refine_transfer)

    def render_ids(vv, ids_all):
        out = []
        with torch.no_grad():
            for a in range(0, len(ids_all), 4):
                ids = ids_all[a:a + 4]
                out.append(render_vertices(avatar, vv[ids], clip.K, clip.size, background=background,
                                           backend=topts.backend)["rgb"].clamp(0, 1))
        return torch.cat(out) if out else torch.zeros(0, H, W, 3, device=dev)
    renders = render_ids(drive, view_ids)
    metrics = dict(mode=avatar.meta["mode"], media=str(media), fit=str(fit_path), image_size=[W, H],
                   train_frames=[int(f) for f in clip.train_ids], heldout_frames=[int(f) for f in eval_ids],
                   train_seconds=round(stats["seconds"], 2), iterations=topts.iterations, n_gaussians=avatar.n,
                   resumed_from_iteration=stats["resumed_from"], device=str(dev), backend=topts.backend,
                   crop=list(crop), densify=stats["densify"], train_l1=stats["train_l1"],
                   **({"n_fringe": fringe.n} if fringe is not None else {}),
                   regions=dict(face="tight box of the real frame's MediaPipe 468 landmarks",
                                mouth="box of the 20 lip landmarks (iBUG 48-67 in MediaPipe ids) enlarged 30 %",
                                lpips="AlexNet; crops under 64 px enlarged to 64 px"))
    tv = clip.train_ids[:8]
    with torch.no_grad():
        tv_r = render_vertices(avatar, drive[tv], clip.K, clip.size, background=background, backend=topts.backend)["rgb"]
        metrics["train_view"] = _strip(region_metrics(tv_r.clamp(0, 1).cpu(), gt_all(tv).cpu(),
                                                      [region_boxes(lm[f], clip.size) for f in tv], opts.lpips))
    if len(eval_ids):
        gt = gt_all(eval_ids).cpu()
        boxes = [region_boxes(lm[f], clip.size) for f in eval_ids]
        rid = retrieval_indices(lm, clip.train_ids[usable[clip.train_ids]], eval_ids)
        retr = gt_all(rid).cpu()
        log("textured-mesh baseline ...")
        tm = textured_mesh(model, verts, clip.frames, clip.K, clip.train_ids, eval_ids, background)
        metrics["retrieval_frames"] = [int(f) for f in rid]
        metrics["heldout"] = {name: region_metrics(pred, gt, boxes, opts.lpips)
                              for name, pred in (("avatar", renders.cpu()), ("retrieval", retr),
                                                 ("textured_mesh", tm.cpu()))}
        if transfer:   # the same avatar driven by the fit alone, for comparison
            metrics["refine_transfer"] = int(opts.refine_transfer)
            metrics["heldout"]["avatar_fit_driven"] = region_metrics(render_ids(verts, eval_ids).cpu(), gt, boxes,
                                                                     opts.lpips)
        h = metrics["heldout"]
        metrics["summary"] = {r: {m: h["avatar"][r][m] for m in ("psnr", "ssim", "lpips")} for r in ("full", "face", "mouth")}
        metrics["goals"] = dict(
            face_psnr_minus_retrieval=h["avatar"]["face"]["psnr"] - h["retrieval"]["face"]["psnr"],
            mouth_psnr_minus_retrieval=h["avatar"]["mouth"]["psnr"] - h["retrieval"]["mouth"]["psnr"])
        log(f"held-out face PSNR: avatar {h['avatar']['face']['psnr']:.2f}, retrieval {h['retrieval']['face']['psnr']:.2f}, "
            f"textured mesh {h['textured_mesh']['face']['psnr']:.2f} dB; mouth: avatar {h['avatar']['mouth']['psnr']:.2f}, "
            f"retrieval {h['retrieval']['mouth']['psnr']:.2f} dB")
    else:
        metrics["heldout"] = None

    # ---- outputs
    extra = {"background": (bg_np * 255).round().astype(np.uint8), "refined_expression": deltas["expression"].cpu().numpy(),
             "refined_rotation": deltas["rotation"].cpu().numpy(), "refined_translation": deltas["translation"].cpu().numpy()}
    save_avatar(out_dir, avatar, extra=extra)
    _write_eval(out_dir, view_ids, renders.cpu().numpy(), clip, model, avatar, background, one_shot and not clip.is_video,
                topts.backend)
    metrics["total_seconds"] = round(time.perf_counter() - t_start, 2)
    from headgen.io.atomic import write_json_atomic
    write_json_atomic(out_dir / "avatar_metrics.json", metrics, indent=1)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return metrics


@torch.no_grad()
def transferred_vertices(model, clip, lm: np.ndarray, deltas: dict, eval_ids, k: int) -> torch.Tensor:
    """Posed vertices (len(eval_ids), V, 3) of held-out frames driven by the fit plus the refined expression deltas
    of their ``k`` training frames with the nearest centred landmarks (inverse-distance weighted; the same tracking
    information the retrieval baseline uses; rotation and translation stay the fit's)."""
    from headgen.stages.avatar.data import model_inputs
    from headgen.stages.avatar.evaluate import neighbour_weights

    nn, w = neighbour_weights(lm, clip.train_ids, eval_ids, k)
    dev = clip.K.device
    e = deltas["expression"]
    de = (e[torch.as_tensor(nn, device=dev)] * torch.as_tensor(w, device=dev)[..., None]).sum(1)
    idx = torch.as_tensor(np.asarray(eval_ids), device=dev)
    out = []
    for a in range(0, len(idx), 16):
        kw = model_inputs(clip.params, idx[a:a + 16])
        kw["expression"] = kw["expression"] + de[a:a + 16]
        out.append(model(**kw).vertices)
    return torch.cat(out)


def one_shot_background(background: np.ndarray, model, verts: torch.Tensor, rotation: torch.Tensor, frame: np.ndarray,
                        person: np.ndarray, K: torch.Tensor, fringe: bool = True):
    """The static background of a single training view, and the fringe Gaussians' seeds of that view.

    background (H,W,3) float [0,1] (``estimate_background`` of the one frame: the frame itself); verts (V,3) the
    posed mesh of the frame (camera frame, metres); rotation (3,3) its head rotation; frame (H,W,3) uint8; person
    (H,W) foreground probability; K (3,3). fringe: seed the person just outside the mesh with ``ONE_SHOT_FRINGE``
    (None there or here False: no fringe, None returned). -> (background with the head's silhouette (dilated
    ``ONE_SHOT_INPAINT_DILATE`` px) and the fringe's pixels (dilated ``ONE_SHOT_FRINGE_INPAINT_DILATE`` px)
    inpainted, :class:`fringe.Fringe` or None)."""
    from headgen.stages.avatar import data as D

    H, W = frame.shape[:2]
    hole = D.head_silhouettes(model, verts[None], K, (W, H), dilate=ONE_SHOT_INPAINT_DILATE)[0]
    fr = None
    if fringe and ONE_SHOT_FRINGE:   # the person just outside the head mesh moves with the head
        from headgen.stages.avatar.fringe import fringe_seeds
        fr = fringe_seeds(model, verts, rotation, frame, person, K, **ONE_SHOT_FRINGE)
        if fr.n:
            hole = hole | D.dilate_mask(fr.mask, ONE_SHOT_FRINGE_INPAINT_DILATE)
    return D.inpaint(background, hole), fr


def _strip(m: dict) -> dict:
    return {r: {k: v for k, v in d.items() if k != "per_frame"} for r, d in m.items()}


def _u8(x) -> np.ndarray:
    return (np.clip(np.asarray(x), 0, 1) * 255 + 0.5).astype(np.uint8)


def _write_eval(out_dir: Path, ids, renders: np.ndarray, clip, model, avatar, background, photo: bool, backend: str):
    """eval/frame_XXXXX.png + eval/side_by_side.mp4, built in a temporary folder and swapped in."""
    from headgen.io.images import write_image
    from headgen.io.video import write_video
    from headgen.render.overlay import side_by_side

    def fill(tmp: Path) -> None:
        for f, r in zip(ids, renders):
            write_image(tmp / f"frame_{int(f):05d}.png", _u8(r))
        if photo:
            panels = [side_by_side([clip.frames[0], _u8(r)], labels=["photo", "avatar"])
                      for r in animation_check(clip, model, avatar, background, backend)]
            fps = 12.0
        else:
            panels = [side_by_side([clip.frames[f], _u8(r)], labels=["real", "avatar"]) for f, r in zip(ids, renders)]
            fps = clip.fps or 25.0
        panels = [p[: p.shape[0] // 2 * 2, : p.shape[1] // 2 * 2] for p in panels]
        write_video(tmp / "side_by_side.mp4", panels, fps)
    replace_dir(out_dir / "eval", fill)


@torch.no_grad()
def animation_check(clip, model, avatar, background, backend: str, n: int = 24) -> list[np.ndarray]:
    """Renders (n, H, W, 3) float of the training view with the mouth opening (ICT jawOpen up to 0.6 on top of
    the fitted expression) and the head turning +-15 degrees about its vertical axis: shows holes if any."""
    import math

    from headgen.avatar import render_vertices
    from headgen.geometry.rotations import axis_angle_to_matrix
    from headgen.stages.avatar.data import model_inputs

    f = int(clip.train_ids[0])
    kw = model_inputs(clip.params, torch.tensor([f] * n, device=clip.K.device))
    s = torch.linspace(0, 1, n, device=clip.K.device)
    names = list(getattr(model, "expression_names", []))
    if "jawOpen" in names and kw.get("expression") is not None:
        e = kw["expression"].clone()
        e[:, names.index("jawOpen")] += 0.6 * torch.sin(math.pi * s)
        kw["expression"] = e
    yaw = math.radians(15) * torch.sin(2 * math.pi * s)
    Ry = axis_angle_to_matrix(torch.stack([torch.zeros_like(yaw), yaw, torch.zeros_like(yaw)], -1))
    kw["rotation"] = kw["rotation"] @ Ry       # turn about the model's own vertical axis
    verts = model(**kw).vertices
    out = []
    for a in range(0, n, 4):
        out += list(render_vertices(avatar, verts[a:a + 4], clip.K, clip.size, background=background,
                                    backend=backend)["rgb"].clamp(0, 1).cpu().numpy())
    return out
