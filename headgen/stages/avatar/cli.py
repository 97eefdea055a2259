"""``headgen avatar VIDEO|PHOTO -o OUT [--fit FIT.npz] [--iterations N] [--holdout START:END] [--one-shot]
[--device auto|cpu|cuda] [--backend auto|cpu|cuda|gsplat|torch]``.

Without ``--fit`` the pose and fit stages run first (``configs/fit.yaml`` through the pipeline runner, into
OUT/.fit; a second run is served from its cache). A photo always gives a one-shot avatar. Writes
OUT/avatar.ply, OUT/avatar_rig.npz, OUT/avatar_metrics.json and OUT/eval/ (see ``headgen.stages.avatar.run``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

FIT_PIPELINE = Path(__file__).resolve().parents[3] / "configs" / "fit.yaml"


def avatar_command(
    input: Path = typer.Argument(..., metavar="VIDEO|PHOTO", help="A video of one face, or a portrait photo."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    fit: Optional[Path] = typer.Option(None, "--fit", help="fit.npz of this media (default: run pose + fit first)."),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="Training steps (default 1500; one-shot 120)."),
    holdout: Optional[str] = typer.Option(None, "--holdout", help="START:END frames held out for evaluation."),
    one_shot: bool = typer.Option(False, "--one-shot", help="Build from one frame (always for a photo)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    backend: str = typer.Option("auto", "--backend", help="Splatting backend: auto, cpu, cuda, gsplat, torch."),
    gaussians: int = typer.Option(25000, "--gaussians", help="Number of seed Gaussians."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="Jointly refine the per-frame expression while "
                                "training (video; default on)."),
    refine_pose: bool = typer.Option(False, "--refine-pose", help="Refine the per-frame head rotation/translation too."),
    no_densify: bool = typer.Option(False, "--no-densify", help="No adaptive densification/pruning."),
    flame: Optional[Path] = typer.Option(None, "--flame", help="FLAME generic_model.pkl for a FLAME fit."),
    no_lpips: bool = typer.Option(False, "--no-lpips", help="Skip LPIPS in the metrics."),
) -> None:
    """Train a rigged Gaussian head avatar -> OUT/avatar.ply, avatar_rig.npz, avatar_metrics.json, eval/."""
    import pydantic

    from headgen.errors import InputError
    from headgen.stages.avatar.run import run_avatar
    from headgen.stages.avatar.stage import AvatarStage, options_from_params

    try:
        params = AvatarStage.Params(iterations=iterations, holdout=holdout, one_shot=one_shot, device=device,
                                    backend=backend, gaussians=gaussians, refine=refine, refine_pose=refine_pose,
                                    densify=not no_densify, flame=str(flame) if flame else None, lpips=not no_lpips)
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        raise InputError(f"--{str(err['loc'][0]).replace('_', '-')} {err.get('input')!r}: {err['msg']}") from None
    if not input.exists():
        raise InputError(f"{input}: no such file")
    if fit is None:
        fit = run_fit_pipeline(input, out / ".fit")
    elif not fit.is_file():
        raise InputError(f"{fit}: no such fit file")
    m = run_avatar(input, fit, out, options_from_params(params), log=lambda s: print(s, flush=True))
    line = f"{m['n_gaussians']} Gaussians, {m['iterations']} iterations in {m['train_seconds']:.0f} s"
    if m.get("summary"):
        s, g = m["summary"], m["goals"]
        line += (f"; held-out face PSNR {s['face']['psnr']:.2f} dB ({g['face_psnr_minus_retrieval']:+.2f} vs retrieval), "
                 f"mouth {s['mouth']['psnr']:.2f} dB ({g['mouth_psnr_minus_retrieval']:+.2f})")
    print(f"{line} -> {out}")


def run_fit_pipeline(media: Path, work: Path) -> Path:
    """Run configs/fit.yaml (pose -> fit) on ``media`` into ``work`` -> the fit.npz path."""
    from headgen.errors import InputError
    from headgen.pipeline.runner import raise_for_failures, run_pipeline

    if not FIT_PIPELINE.is_file():
        raise InputError(f"{FIT_PIPELINE}: the fit pipeline is missing; pass --fit FIT.npz")
    res = run_pipeline(FIT_PIPELINE, work, inputs={"media": str(media)}, workers=1)
    raise_for_failures(res)
    fit = res.nodes["fit"].outputs.get("fit") if "fit" in res.nodes else None
    if fit is None or not Path(fit).is_file():
        raise InputError(f"{media}: the fit pipeline produced no fit.npz")
    return Path(fit)


def register(app: typer.Typer) -> None:
    """Add ``headgen avatar`` to the app."""
    app.command("avatar")(avatar_command)
