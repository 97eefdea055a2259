"""Eyelids in the landmark fit: does the fitted eye aperture follow MediaPipe's (blinks), and at what cost in NME and
lips? Fits every GRID clip once per variant of the eye-closure term (``FitConfig.w_eye_closure``,
``eye_closure_relative``) on the same MediaPipe landmarks (detected once per clip, as ``headgen fit`` does).

    python bench/fit_eyes.py [--clips a,b] [--variants 'off=0;default;a0.3=0.3;r0.3=0.3r'] [--out bench/results/fit_eyes]

A variant is NAME=WEIGHT (absolute apertures), NAME=WEIGHTr (apertures relative to their per-clip mean),
NAME={JSON FitConfig overrides, "prior": {expression: multiplier}} or ``default`` (the FitConfig default). Per clip and variant: aperture = mean of the iBUG-68 lid distances |37-41|,
|38-40|, |43-47|, |44-46| in px, of the fit (``landmarks_2d_fit``) and of the target; ``corr`` Pearson over all
frames; ``err`` mean |fit - target| px; ``cerr`` the same after removing each series' clip mean (the opening and
closing alone); ``blink`` on the target's closed frames (aperture < 0.8 x its clip median): the fit's drop below
its own median / the target's drop (1 = follows fully; "-" when the clip has no such frame); NME (% inter-ocular
distance, all 68), lip NME (48-67), eye NME (36-47); the largest mean eyeBlink. Fits are written to
bench/cache/fits_eyes/sweep/NAME/<clip>/. Writes OUT.md and OUT.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = "bbaf2n,brbk7n,id2_vcd_swwp2s,lbax4n,lbbc2a,lwbsza,sbia1a,swiz3n"


def aperture(lm68: np.ndarray) -> np.ndarray:
    """(T,68,2) px -> (T,) mean upper-to-lower lid distance px over both eyes (the fit's iBUG lid pairs,
    ``optimize.EYELID_PAIRS_68``, through ``optimize.eyelid_apertures``)."""
    import torch

    sys.path.insert(0, str(ROOT))
    from headgen.stages.fit.optimize import EYELID_PAIRS_68, eyelid_apertures

    return eyelid_apertures(torch.as_tensor(np.asarray(lm68, np.float64)), EYELID_PAIRS_68).mean(-1).numpy()


def clip_metrics(fit: dict, names: list[str]) -> dict:
    """Metrics of one fit.npz (dict of arrays) -> dict (see the module docstring)."""
    from headgen.landmarks.ibug68 import inter_ocular_distance
    v = np.asarray(fit["valid"], bool)
    p, t = np.asarray(fit["landmarks_2d_fit"], np.float64)[v], np.asarray(fit["landmarks_2d_target"], np.float64)[v]
    af, at = aperture(p), aperture(t)
    iod = inter_ocular_distance(t)
    err = np.linalg.norm(p - t, axis=-1) / iod[:, None] * 100
    closed = at < 0.8 * np.median(at)
    blink = None
    if closed.any():
        blink = float((np.median(af) - af[closed]).mean() / max((np.median(at) - at[closed]).mean(), 1e-6))
    E = np.asarray(fit["expression"])[v]
    bl = E[:, [names.index("eyeBlink_L"), names.index("eyeBlink_R")]].mean(1) if "eyeBlink_L" in names else np.zeros(1)
    return dict(corr=float(np.corrcoef(af, at)[0, 1]), err=float(np.abs(af - at).mean()),
                cerr=float(np.abs((af - af.mean()) - (at - at.mean())).mean()), blink=blink,
                rest_fit=float(np.median(af)), rest_target=float(np.median(at)), n_closed=int(closed.sum()),
                nme=float(err.mean()), nme_lips=float(err[:, 48:68].mean()), nme_eyes=float(err[:, 36:48].mean()),
                blink_max=float(bl.max()))


def parse_variants(spec: str) -> list[tuple[str, dict]]:
    """``off=0;default;r0.3=0.3r;x={"w_eye_closure": 1, "prior": {"eyeBlink_L": 0.3}}`` -> [(name, overrides)]:
    FitConfig overrides; ``prior`` entries are merged into the model's default expression prior multipliers."""
    out = []
    for item in spec.split(";"):
        if item == "default":
            out.append(("default", {}))
            continue
        name, w = item.split("=", 1)
        if w.startswith("{"):
            out.append((name, json.loads(w)))
            continue
        rel = w.endswith("r")
        out.append((name, dict(w_eye_closure=float(w.rstrip("r")), eye_closure_relative=rel)))
    return out


def overrides_for(model, base_cfg, over: dict) -> dict:
    """Variant overrides -> FitConfig keyword arguments for ``model`` (``prior`` merged into its defaults)."""
    over = dict(over)
    prior = over.pop("prior", None)
    if prior:
        over["expression_prior_scale"] = {**base_cfg(model).expression_prior_scale, **prior}
    return over


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default=CLIPS)
    ap.add_argument("--variants", default="off=0;default", help="';'-separated variants (see parse_variants).")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "fit_eyes"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    import headgen.stages.fit.optimize as O
    from headgen.assets import resolve
    from headgen.io.media import Media
    from headgen.stages.fit.fitting import fit_media
    from headgen.stages.fit.params import FitParams
    from headgen.stages.fit.tracks import detect_track

    torch.set_num_threads(1)
    variants = parse_variants(args.variants)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "headgen/stages/fit"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    load0, t0 = os.getloadavg()[0], time.time()
    base_cfg = O.config_for_model
    rows = []
    for clip in args.clips.split(","):
        path = resolve(f"video/{clip}.mpg")
        track = detect_track(Media(path))
        for name, over in variants:
            O.config_for_model = lambda model, _o=over, **kw: base_cfg(model, **{**kw, **overrides_for(model, base_cfg, _o)})
            try:
                out = ROOT / "bench" / "cache" / "fits_eyes" / "sweep" / name / clip
                r = fit_media(path, out, FitParams(device="cpu"), tracks=[track], overlay=False)
            finally:
                O.config_for_model = base_cfg
            with np.load(r.fit_npz) as z:
                fit = {k: z[k] for k in z.files}
            m = clip_metrics(fit, [str(n) for n in fit["expression_names"]])
            m.update(clip=clip, variant=name, fit_seconds=r.metrics["fit_seconds"])
            rows.append(m)
            b = "-" if m["blink"] is None else f"{m['blink']:.2f}"
            print(f"{clip} {name}: corr {m['corr']:+.2f} err {m['err']:.2f} cerr {m['cerr']:.2f} blink {b} NME {m['nme']:.3f} lips {m['nme_lips']:.3f} "
                  f"eyes {m['nme_eyes']:.3f} blink_max {m['blink_max']:.2f} ({m['fit_seconds']:.1f} s)", flush=True)
    load1 = os.getloadavg()[0]
    cfg = O.FitConfig()
    L = ["# Eyelids in the landmark fit (GRID clips, all frames)", "",
         f"Code {rev}{' + uncommitted fit changes' if dirty else ''}; CPU, 1 torch thread; load average "
         f"{load0:.2f} at the start, {load1:.2f} at the end; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))}; "
         f"FitConfig default w_eye_closure={cfg.w_eye_closure}, eye_closure_relative={cfg.eye_closure_relative}, "
         f"eye_closure_gain (config_for_model, MediaPipe targets)={O.MEDIAPIPE_EYE_CLOSURE_GAIN}; ICT prior multipliers "
         f"{ {k: v for k, v in O.ICT_EXPRESSION_PRIOR_SCALE.items() if k.startswith('eye')} }. "
         "Same MediaPipe landmarks for every variant of a clip.", "",
         "Aperture = mean iBUG lid distance (37-41, 38-40, 43-47, 44-46) in px; corr = Pearson(fit, target) over all "
         "frames; err = mean |fit - target| px; cerr = the same with each series' clip mean removed; blink = fit's drop "
         "/ target's drop on the target's closed frames (< 0.8 x median; n = how many); NME / lips / eyes = mean "
         "landmark error in % inter-ocular distance over all 68 / 48-67 / 36-47; blink max = largest mean eyeBlink.", "",
         "| clip | variant | corr | err px | cerr px | rest fit / target px | blink (n) | NME % | lips % | eyes % | "
         "blink max | fit s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in rows:
        L.append(f"| {m['clip']} | {m['variant']} | {m['corr']:+.2f} | {m['err']:.2f} | {m['cerr']:.2f} | "
                 f"{m['rest_fit']:.2f} / {m['rest_target']:.2f} | "
                 f"{'-' if m['blink'] is None else format(m['blink'], '.2f')} ({m['n_closed']}) | {m['nme']:.3f} | "
                 f"{m['nme_lips']:.3f} | {m['nme_eyes']:.3f} | {m['blink_max']:.2f} | {m['fit_seconds']:.1f} |")
    L += ["", "Mean over the clips:", "", "| variant | corr | err px | cerr px | blink (clips with closed frames) | NME % | "
          "lips % | eyes % |", "|---|---|---|---|---|---|---|---|"]
    for name, _ in variants:
        ms = [m for m in rows if m["variant"] == name]
        bl = [m["blink"] for m in ms if m["blink"] is not None]
        mean = lambda k: float(np.mean([m[k] for m in ms]))
        L.append(f"| {name} | {mean('corr'):+.3f} | {mean('err'):.3f} | {mean('cerr'):.3f} | "
                 f"{np.mean(bl) if bl else float('nan'):.2f} | {mean('nme'):.4f} | {mean('nme_lips'):.4f} | "
                 f"{mean('nme_eyes'):.4f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(L) + "\n")
    out.with_suffix(".json").write_text(json.dumps(dict(revision=rev, load=[load0, load1], rows=rows), indent=1))
    print("\n".join(L[-len(variants) - 4:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
