"""``headgen sculpt --prompt "..." [--from FIT.npz | --avatar DIR | --model ict] -o OUT`` and
``headgen train-sculpt -o WEIGHTS.pt``.

sculpt: options build ``SculptStage.Params`` (declared once there); writes OUT/sculpt.json, OUT/fit.npz,
OUT/head.obj, OUT/turntable.mp4, OUT/samples/ (``headgen.stages.sculpt.run``).
train-sculpt: generates the caption/head training set and trains the text -> head diffusion model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from headgen.pipeline.params import build_params, option
from headgen.stages.sculpt.stage import SculptStage

P = SculptStage.Params


def sculpt_command(
    prompt: str = option(P, "prompt", "--prompt", "-p"),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    from_fit: Optional[Path] = typer.Option(None, "--from", help="fit.npz to edit (ICT fit)."),
    avatar: Optional[Path] = typer.Option(None, "--avatar", help="Avatar folder (avatar_rig.npz) to re-shape; writes OUT/avatar.ply + avatar_rig.npz."),
    model: str = option(P, "model"),
    strength: float = option(P, "strength"),
    samples: int = option(P, "samples"),
    seed: int = option(P, "seed"),
    guidance: float = option(P, "guidance"),
    steps: int = option(P, "steps"),
    frame: int = option(P, "frame"),
    weights: Optional[str] = option(P, "weights"),
    diffusion: Optional[str] = option(P, "diffusion"),
    sds_iters: int = option(P, "sds_iters"),
    device: str = option(P, "device"),
    locality: float = option(P, "locality"),
    no_turntable: bool = typer.Option(False, "--no-turntable", help="Skip OUT/turntable.mp4."),
) -> None:
    """Sculpt a head from a text prompt -> OUT/sculpt.json, fit.npz, head.obj, turntable.mp4, samples/."""
    from headgen.stages.sculpt.run import run_sculpt

    params = build_params(P, prompt=prompt, model=model, strength=strength, samples=samples, seed=seed,
                          guidance=guidance, steps=steps, frame=frame, weights=weights, diffusion=diffusion,
                          sds_iters=sds_iters, device=device, turntable=not no_turntable, locality=locality)
    p = params.model_dump()
    res = run_sculpt(p["prompt"], out, fit=from_fit, avatar=avatar, model=p["model"], strength=p["strength"],
                     samples=p["samples"], seed=p["seed"], guidance=p["guidance"], steps=p["steps"],
                     frame=p["frame"], weights=p["weights"], diffusion=p["diffusion"], sds_iters=p["sds_iters"],
                     device=p["device"], turntable=p["turntable"], log=print, params=p, locality=p["locality"])
    a = res.artifact
    for d in a.understood:
        n = d["attribute"]
        m = a.attributes.get(n)
        if m is None:          # appearance attribute without an avatar (see the notes)
            print(f"{n}: asked {d['intensity']:+.2f} -> not applied")
            continue
        print(f"{n}: asked {d['intensity']:+.2f} -> {m['before']:.2f} to {m['after']:.2f} {m['unit']}")
    for note in a.notes:
        print(f"note: {note}")
    print(f"sculpted in {a.seconds:.2f} s -> {res.out_dir}")


def train_sculpt_command(
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Weights file (default: the user cache, used by `headgen sculpt`)."),
    tiny: bool = typer.Option(False, "--tiny", help="A tiny model in seconds (tests; poor quality)."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Training steps."),
    captions: Optional[int] = typer.Option(None, "--captions", min=10, help="Number of training captions."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data and the training."),
) -> None:
    """Train the text -> head diffusion model on generated (caption, head) pairs -> WEIGHTS.pt."""
    from headgen.stages.sculpt.core import DEFAULT_RECIPE, TINY_RECIPE, default_weights_path, load_model_for_sculpt, train_sculpt

    recipe = dict(TINY_RECIPE if tiny else DEFAULT_RECIPE, seed=seed)
    if steps is not None:
        recipe["steps"] = steps
    if captions is not None:
        recipe["n_captions"] = captions
    from headgen.io.atomic import check_output_file
    if out is not None:
        check_output_file(out)   # a bad -o fails now, not after the training
    model = load_model_for_sculpt()
    path = out or default_weights_path(model)
    st = train_sculpt(path, model=model, recipe=recipe, log=print)
    print(f"trained in {st['total_seconds']:.0f} s -> {path} ({st['bytes'] / 1e6:.1f} MB)")


def register(app: typer.Typer) -> None:
    """Add ``headgen sculpt`` and ``headgen train-sculpt`` to the app."""
    app.command("sculpt")(sculpt_command)
    app.command("train-sculpt")(train_sculpt_command)
