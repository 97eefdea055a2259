"""Run a sculpt: read the input head (fit.npz, avatar or a fresh one), sculpt it, write every output.

Outputs in ``out_dir``: ``sculpt.json`` (``headgen.artifacts.sculpt``), ``fit.npz`` (the edited fit; for a
fresh head a one-frame fit with the head at rest 0.6 m in front of a default 512x512 camera), ``head.obj``
(the edited head with its expression, model frame, metres, no rotation, ICT "face" part vertex order),
``turntable.mp4`` and ``samples/sample_XX.obj`` (+ ``sample_XX_fit.npz`` for a fit) for every candidate
(sample 00 is the main result); for an avatar input also ``avatar.ply`` + ``avatar_rig.npz`` (new identity and
colours, Gaussians still bound to the mesh: rigged and animatable) and the turntable shows the avatar itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from headgen.errors import InputError


@dataclass
class SculptRun:
    """Paths written and the artifact."""
    out_dir: Path
    sculpt_json: Path
    artifact: object


def _read_input(fit_path, avatar_path, model_name):
    """-> (kind, FitArtifact or None, shape (S,), expression (T, E))."""
    from headgen.artifacts.fit import read_fit
    if fit_path is not None and avatar_path is not None:
        raise InputError("give --from FIT.npz or --avatar DIR, not both")
    if avatar_path is not None:
        try:
            from headgen.avatar import load_avatar
        except ModuleNotFoundError:
            raise InputError(f"--avatar {avatar_path}: the avatar library (headgen.avatar) is not in this "
                             "checkout; sculpt an avatar's fit.npz with --from instead") from None
        av = load_avatar(avatar_path)
        if av.model != "ict":
            raise InputError(f"--avatar {avatar_path}: sculpt supports ICT avatars, this one is rigged to {av.model}")
        if av.shape is None or av.shape.numel() == 0:
            raise InputError(f"--avatar {avatar_path}: the avatar stores no identity coefficients (shape)")
        return "avatar", av, av.shape.double().numpy().reshape(-1), None
    if fit_path is None:
        return "model", None, None, None
    fit = read_fit(fit_path)
    if fit.model != "ict":
        raise InputError(f"{fit_path}: sculpt supports ICT-FaceKit fits, this one is '{fit.model}'")
    return "fit", fit, np.asarray(fit.shape, np.float64).reshape(-1), np.asarray(fit.expression, np.float64)


def _fresh_fit(shape: np.ndarray, expression: np.ndarray, names: list[str]):
    from headgen.artifacts.fit import FitArtifact
    from headgen.geometry.camera import default_intrinsics
    from headgen.geometry.conventions import HEAD_TO_OPENCV
    K = default_intrinsics(512, 512).numpy().astype(np.float32)
    return FitArtifact(model="ict", shape=shape.astype(np.float32), expression=expression[None].astype(np.float32),
                       expression_names=list(names), rotation=np.asarray(HEAD_TO_OPENCV, np.float32)[None],
                       translation=np.array([[0.0, 0.0, 0.6]], np.float32), K=K, image_size=(512, 512),
                       focal=float(K[0, 0]), valid=np.ones(1, bool), fps=0.0)


def _edited_fit(fit, shape: np.ndarray, expr_ref_new: np.ndarray, expr_ref_old: np.ndarray, free_cols, prompt: str):
    """Copy of ``fit`` with the new identity and, on every frame, the expression columns the prompt is about
    moved by the same amount as on the reference frame (clipped to [0, 1])."""
    import copy
    out = copy.deepcopy(fit)
    out.shape = shape.astype(np.float32)
    ex = np.asarray(fit.expression, np.float64).copy()
    cols = np.nonzero(free_cols)[0]
    if len(cols):
        ex[:, cols] = np.clip(ex[:, cols] + (expr_ref_new - expr_ref_old)[cols][None], 0.0, 1.0)
    out.expression = ex.astype(np.float32)
    out.extra = dict(out.extra)
    out.extra["sculpt_prompt"] = np.array(prompt)
    return out


def _write_avatar(out_dir: Path, av, shape: np.ndarray, src) -> None:
    """The avatar with the new identity (and colours, already in ``av``): its Gaussians stay bound to their
    triangles (local offsets, rotations, scales unchanged), so they follow the re-shaped mesh and the avatar
    stays rigged and animatable. The input rig's extra arrays (background, per-frame refinements) are kept."""
    from headgen.artifacts.avatar import RIG_KEYS, read_rig
    from headgen.avatar import save_avatar
    new = torch.as_tensor(shape, dtype=torch.float32)
    av.shape = new
    av.neutral_vertices = _avatar_vertices(av, shape).contiguous()
    rig = read_rig(Path(src) / "avatar_rig.npz" if Path(src).is_dir() else src)
    extra = {k: v for k, v in rig.items() if k not in RIG_KEYS and k not in ("training_params", "format_version")
             and isinstance(v, np.ndarray)}
    save_avatar(out_dir, av, extra=extra)


def _avatar_vertices(av, shape: np.ndarray) -> torch.Tensor:
    """Neutral vertices (V, 3) float32 of the avatar's head model with identity ``shape``."""
    from headgen.avatar import load_avatar_model
    m = load_avatar_model(av)
    new = torch.as_tensor(np.asarray(shape)[: m.n_shape], dtype=m.template_soa.dtype)
    with torch.no_grad():
        return m(shape=new[None]).vertices_model[0].float()


def _avatar_turntable(path: Path, av, n_frames: int = 48, size: int = 320, fps: float = 24.0) -> Path:
    """A turntable of the avatar (Gaussians at its neutral pose, white background) -> mp4 at ``path``."""
    from headgen.avatar import render_vertices
    from headgen.io.video import write_video
    from headgen.render.turntable import turntable_cameras
    vc, K = turntable_cameras(av.neutral_vertices.float(), n_frames, size)

    def frames():
        for i in range(n_frames):
            with torch.no_grad():
                out = render_vertices(av, vc[i:i + 1], K, (size, size), background=(1.0, 1.0, 1.0))
            yield (out["rgb"][0].clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)
    return write_video(path, frames(), fps)


def _appearance_rows(before: dict, after: dict) -> dict:
    """sculpt.json rows of the appearance attributes (lightness in L*, skin tone ITA degrees, each named hair
    colour as the CIE76 delta E of the hair's mean colour to it: smaller = more of that colour)."""
    from headgen.avatar.appearance import APPEARANCE_ATTRIBUTES
    rows = {}
    for a in APPEARANCE_ATTRIBUTES:
        if a.kind == "signed":
            key, unit, rng = a.name, "L*", a.range
        else:
            key, unit, rng = f"hair delta E {a.name.split()[0]}", "delta E", 100.0
        b, f = float(before[key]), float(after[key])
        rows[a.name] = {"unit": unit, "before": b, "after": f, "change": f - b, "range": rng}
    b, f = float(before["skin tone"]), float(after["skin tone"])
    rows["skin tone"] = {"unit": "ITA deg", "before": b, "after": f, "change": f - b, "range": 90.0}
    return rows


def run_sculpt(prompt: str, out_dir, *, fit=None, avatar=None, model: str = "ict", strength: float = 1.0,
               samples: int = 1, seed: int = 0, guidance: float = 1.5, steps: int = 40, frame: int = 0,
               weights=None, diffusion=None, sds_iters: int = 200, turntable: bool = True,
               turntable_frames: int = 48, turntable_size: int = 320, device: str = "cpu", log=print,
               params: dict | None = None, locality: float = 1.0) -> SculptRun:
    """Sculpt and write every output (module docstring). fit / avatar: input paths (neither: a fresh head);
    weights: sculpt model file (default: the cached one, trained on first use); diffusion: a local Stable
    Diffusion folder -> image score distillation instead of the text diffusion model (with an avatar also its
    Gaussians' colours); locality: in an edit, the most the vertices outside the prompt's region may move
    (RMS mm, 0 = no limit). Appearance attributes of the prompt (skin / hair lightness, hair colour, lighter /
    darker) recolour an avatar's Gaussians (``headgen.avatar.appearance``); their measurements before/after
    join sculpt.json's attributes. Raises InputError (unrelated prompt, bad input) before anything is written."""
    from headgen.artifacts.fit import write_fit
    from headgen.artifacts.sculpt import SculptArtifact, write_sculpt
    from headgen.avatar.appearance import APPEARANCE_ATTRIBUTES, APPEARANCE_NAMES
    from headgen.models.attributes import SHAPE_NAMES
    from headgen.models.export import export_mesh
    from headgen.stages.sculpt.core import load_model_for_sculpt, load_or_train
    SIGNED_APPEARANCE = {a.name for a in APPEARANCE_ATTRIBUTES if a.kind == "signed"}

    if not prompt or not prompt.strip():
        raise InputError("--prompt is empty")
    if diffusion is not None:
        from headgen.stages.sculpt.sds import check_sd_path
        check_sd_path(diffusion)
    kind, fit_art, shape0, expr_all = _read_input(fit, avatar, model)
    av = None
    if kind == "avatar":
        av, fit_art = fit_art, None
    head_model = load_model_for_sculpt(model)
    E = head_model.n_expression
    if fit_art is not None:
        if list(fit_art.expression_names) != list(head_model.expression_names):
            raise InputError(f"{fit}: expression columns do not match ICT-FaceKit's")
        if not 0 <= frame < fit_art.n_frames:
            raise InputError(f"--frame {frame}: the fit has {fit_art.n_frames} frame(s)")
        expr0 = expr_all[frame]
    else:
        expr0 = np.zeros(E) if av is not None else None
    notes = []
    sds_colors = None
    if diffusion is not None:
        from headgen.stages.sculpt.sds import sds_sculpt
        res, space, sds_colors = sds_sculpt(prompt, diffusion, head_model, shape0, expr0, seed=seed,
                                            iters=sds_iters, n_samples=samples, device=device, log=log,
                                            avatar=av is not None)
        method = "sds"
    else:
        sculptor = load_or_train(weights, model=head_model, log=log)
        res = sculptor.sculpt(prompt, shape0, expr0, seed=seed, n_samples=samples, strength=strength,
                              guidance=guidance, steps=steps, max_outside_mm=locality)
        space = sculptor.space
        method = "diffusion"
    app_changes = dict(getattr(res, "appearance", {}) or {})
    app_rows = {}
    if app_changes and av is None:
        notes.append("appearance attributes (" + ", ".join(app_changes) + ") change an avatar's colours "
                     "(--avatar); a fit or mesh has none: ignored")
    if av is not None and (app_changes or method == "sds"):
        from headgen.avatar.appearance import appearance_regions, edit_appearance, measure_appearance
        regions = appearance_regions(av)
        app_before = measure_appearance(av, regions)
        if app_changes:
            av = edit_appearance(av, app_changes, regions)
        if method == "sds" and sds_colors is not None:
            av = sds_colors(av, res.shapes[0])
        app_rows = _appearance_rows(app_before, measure_appearance(av, regions))
    if av is not None and any(n not in SHAPE_NAMES for n in res.free):
        notes.append("an avatar stores no expression (it is animated): expression attributes change head.obj, "
                     "fit.npz and the turntable, not the avatar")
    S = space.S
    if shape0 is None:   # fresh head: 'before' = the prior draw the sample started from
        g = torch.Generator().manual_seed(int(seed))
        shape_before = torch.randn(S, generator=g, dtype=torch.float64).numpy()
        expr_before = np.zeros(E)
    else:
        shape_before, expr_before = shape0, expr0
    before = space.measure(torch.from_numpy(np.asarray(shape_before)[None]), torch.from_numpy(expr_before[None]))
    after = space.measure(torch.from_numpy(res.shapes), torch.from_numpy(res.expressions))
    units = {n: "mm" for n in SHAPE_NAMES}
    units["roundness"] = "ratio"
    attrs = {}
    for n in before:
        b, a = float(before[n][0]), float(after[n][0])
        attrs[n] = {"unit": units.get(n, "weight"), "before": b, "after": a, "change": a - b,
                    "range": space.attribute_range(n)}
    attrs.update(app_rows)
    understood = []
    for n, v in sorted(res.understanding.intensities.items(), key=lambda kv: -abs(kv[1])):
        shape_kind = n in SHAPE_NAMES
        a_kind = "shape" if shape_kind else ("appearance" if n in APPEARANCE_NAMES else "expression")
        signed = shape_kind or n in SIGNED_APPEARANCE
        direction = ("more" if v > 0 else "less") if signed else ("absent" if v < 0 else "more")
        row = {"attribute": n, "kind": a_kind, "intensity": float(v), "direction": direction}
        if n in res.understanding.levels:     # a degree word named the level: the edit used its intensity
            row.update(intensity=res.understanding.asked(n, SHAPE_NAMES), read=float(v),
                       level=["slightly", "plain", "much"][res.understanding.levels[n]])
        understood.append(row)
    out_dir = Path(out_dir)
    (out_dir / "samples").mkdir(parents=True, exist_ok=True)
    faces = head_model.faces.cpu().numpy()
    uvs = head_model.uvs.cpu().numpy() if head_model.uvs is not None else None
    fuv = head_model.faces_uv.cpu().numpy() if head_model.faces_uv is not None else None
    free_cols = np.zeros(E, bool)
    fm = space.free_mask(res.free).numpy()
    free_cols[:] = fm[space.K:]
    sample_rows = []
    main_verts = None
    with torch.no_grad():
        verts = head_model(shape=torch.from_numpy(res.shapes), expression=torch.from_numpy(res.expressions)
                           ).vertices_model.contiguous().numpy()
    for i in range(len(res.shapes)):
        rel = f"samples/sample_{i:02d}.obj"
        export_mesh(out_dir / rel, verts[i], faces, uvs, fuv)
        row = {"index": i, "head": rel,
               "changes": {n: float(after[n][i] - before[n][0]) for n in before}}
        if fit_art is not None:
            f_i = _edited_fit(fit_art, res.shapes[i], res.expressions[i], expr0, free_cols, prompt)
            write_fit(out_dir / f"samples/sample_{i:02d}_fit.npz", f_i)
            row["fit"] = f"samples/sample_{i:02d}_fit.npz"
        sample_rows.append(row)
    main_verts = verts[0]
    export_mesh(out_dir / "head.obj", main_verts, faces, uvs, fuv)
    if fit_art is not None:
        write_fit(out_dir / "fit.npz", _edited_fit(fit_art, res.shapes[0], res.expressions[0], expr0, free_cols,
                                                   prompt))
    else:
        write_fit(out_dir / "fit.npz", _fresh_fit(res.shapes[0], res.expressions[0], head_model.expression_names))
    if av is not None:
        _write_avatar(out_dir, av, res.shapes[0], avatar)
    if turntable and av is not None:       # the edited avatar itself: its Gaussians, new shape and colours
        _avatar_turntable(out_dir / "turntable.mp4", av, n_frames=turntable_frames, size=turntable_size)
    elif turntable:
        from headgen.render.turntable import write_turntable
        write_turntable(out_dir / "turntable.mp4", torch.from_numpy(main_verts).float(), head_model.faces,
                        n_frames=turntable_frames, size=turntable_size, fps=24.0)
    art = SculptArtifact(prompt=prompt, method=method,
                         input={"kind": kind, "path": str(fit if fit is not None else avatar) if (fit or avatar) else None, "model": "ict",
                                "frame": int(frame)},
                         understood=understood,
                         attributes=attrs, params=dict(params or {}),
                         nearest=[{"attribute": n, "similarity": float(c)} for n, c in res.understanding.nearest],
                         samples=sample_rows, seconds=float(res.seconds), notes=notes)
    path = write_sculpt(out_dir / "sculpt.json", art)
    return SculptRun(out_dir, path, art)
