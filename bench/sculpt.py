"""Benchmark of text-guided sculpting (issue 15) -> bench/results/sculpt_cpu.md.

    OMP_WAIT_POLICY=PASSIVE python bench/sculpt.py [--weights W.pt | --train] [--encoders] [--sds]

* ``--encoders``: paraphrase retrieval of the two packaged sentence encoders (minilm, e5): for each held-out
  paraphrase, is the nearest training-style phrase one of the same attribute (and direction)? + speed.
* ``--train``: trains the default model (timed) into the user cache (or ``--weights``).
* quality table (always): every shape attribute x direction and every expression group, prompts worded as in
  training ("slightly" / "very") and held-out paraphrases, applied to 3 base heads (mean + 2 prior draws):
  asked change (std units / weight), largest other change (% of range), RMS outside the region (mm),
  understood attributes. Seeds: same seed twice -> identical; 4 seeds -> spread and all in the asked direction.
* timing: an edit (prompt encoding + reader + 40 DDIM steps with CFG + applying) on CPU, 1 thread.
* ``--sds``: score distillation iterations/s with a tiny random Stable Diffusion (built from configs) on CPU,
  and with the full SD-1.5 UNet/VAE architecture (random weights) on a GPU when one is present.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def encoders_table() -> list[str]:
    from headgen.models.attributes import EXPRESSION_GROUPS, SHAPE_ATTRIBUTES
    from headgen.stages.sculpt.captions import _with_article
    from headgen.stages.sculpt.text import encode
    train, lab, para, plab = [], [], [], []
    for a in SHAPE_ATTRIBUTES:
        for d, ph, pp in ((1, a.more, a.paraphrase_more), (-1, a.less, a.paraphrase_less)):
            for p in ph:
                for adv in ("", "very"):
                    train.append("a person with " + _with_article(p, adv))
                    lab.append((a.name, d))
            para.append(pp)
            plab.append((a.name, d))
    for g, (_, more, _, pp) in EXPRESSION_GROUPS.items():
        for p in more:
            train.append(f"a person {p}")
            lab.append((g, 1))
        para.append(pp)
        plab.append((g, 1))
    lines = ["| encoder | load s | ms / sentence (batched) | ms / prompt (single) | paraphrase top-1 attribute+direction | attribute only |",
             "|---|---|---|---|---|---|"]
    for enc in ("minilm", "e5"):
        t = time.perf_counter()
        encode(["warm up"], enc)
        tl = time.perf_counter() - t
        t = time.perf_counter()
        T = encode(train, enc)
        P = encode(para, enc)
        tb = (time.perf_counter() - t) / (len(train) + len(para)) * 1000
        ts = []
        for p in para[:10]:
            t = time.perf_counter()
            encode([p], enc)
            ts.append(time.perf_counter() - t)
        nn = np.argmax(P @ T.T, 1)
        acc = np.mean([lab[j] == plab[i] for i, j in enumerate(nn)])
        acca = np.mean([lab[j][0] == plab[i][0] for i, j in enumerate(nn)])
        lines.append(f"| {enc} | {tl:.1f} | {tb:.1f} | {1000 * np.median(ts):.1f} | {acc:.2f} ({len(para)} paraphrases) | {acca:.2f} |")
    return lines


def quality(sc) -> tuple[list[str], dict]:
    from headgen.stages.sculpt.evaluate import base_heads, evaluate_edit, prompts_for
    rows = prompts_for(sc.space)
    bases = base_heads(3)
    res = {}
    for r in rows:
        ev = [evaluate_edit(sc, r["prompt"], r["attribute"], r["sign"], s, e, seed=0) for s, e in bases]
        res[(r["attribute"], r["sign"], r["style"])] = (r, ev)
    lines = ["| attribute | dir | slightly: asked (std / w) | much / very: asked | paraphrase: prompt -> asked | worst other (% range, any style) | outside RMS mm (max) | understood (much/very) |",
             "|---|---|---|---|---|---|---|---|"]
    summary = {"n": 0, "dir_ok": 0, "much_gt_slight": 0, "other_lt10": 0, "outside_lt1": 0, "para_n": 0, "para_ok": 0,
               "n_attr": 0}
    keys = sorted({(k[0], k[1]) for k in res}, key=lambda k: (k[0] not in _shape_names(), k[0], -k[1]))
    for att, sign in keys:
        sl = res.get((att, sign, "slightly"))
        mu = res.get((att, sign, "much"))
        pa = res.get((att, sign, "paraphrase"))
        if sl is None or mu is None:
            continue
        a_sl = np.mean([e["asked"] for e in sl[1]])
        a_mu = np.mean([e["asked"] for e in mu[1]])
        allev = sl[1] + mu[1]
        worst = max(allev, key=lambda e: e["other_max_pct"])
        out_max = max(e["outside_rms_mm"] for e in allev)
        summary["n_attr"] += 1
        summary["n"] += len(allev)
        summary["dir_ok"] += sum(e["asked"] > 0 for e in allev)
        summary["much_gt_slight"] += int(a_mu > a_sl)
        summary["other_lt10"] += sum(e["other_max_pct"] < 10 for e in allev)
        summary["outside_lt1"] += sum(e["outside_rms_mm"] < 1 for e in allev)
        para = "-"
        if pa is not None:
            a_pa = np.mean([e["asked"] for e in pa[1]])
            summary["para_n"] += 1
            summary["para_ok"] += int(a_pa > 0.25)
            para = f"\"{pa[0]['prompt']}\" -> {a_pa:+.2f}"
        und = ", ".join(f"{k} {v:+.2f}" for k, v in sorted(mu[1][0]["understood"].items(), key=lambda kv: -abs(kv[1]))[:3])
        lines.append(f"| {att} | {'+' if sign > 0 else '-'} | {a_sl:+.2f} | {a_mu:+.2f} | {para} | "
                     f"{worst['other_max_pct']:.1f} ({worst['other_max_attr']}) | {out_max:.2f} | {und or mu[1][0].get('error', '')[:60]} |")
    return lines, summary


def _shape_names():
    from headgen.models.attributes import SHAPE_NAMES
    return SHAPE_NAMES


def seeds_check(sc) -> list[str]:
    from headgen.models.attributes import SHAPE_NAMES
    base = (np.zeros(100), np.zeros(53))
    out = []
    for prompt, att, sign in (("a very long face", "face length", 1), ("a slightly wide nose", "nose width", 1),
                              ("broadly smiling", "smiling", 1)):
        r1 = sc.sculpt(prompt, *base, seed=3)
        r2 = sc.sculpt(prompt, *base, seed=3)
        same = float(np.abs(r1.shapes - r2.shapes).max() + np.abs(r1.expressions - r2.expressions).max())
        rs = sc.sculpt(prompt, *base, seed=7, n_samples=4)
        b = sc.space.measure(torch.zeros(1, 100, dtype=torch.float64), torch.zeros(1, 53, dtype=torch.float64))
        a = sc.space.measure(torch.from_numpy(rs.shapes), torch.from_numpy(rs.expressions))
        scale = float(sc.space.sd[SHAPE_NAMES.index(att)]) if att in SHAPE_NAMES else 1.0
        ch = sign * (a[att] - b[att][0]) / scale
        with torch.no_grad():
            v = sc.model(shape=torch.from_numpy(rs.shapes), expression=torch.from_numpy(rs.expressions)).vertices_model
        pair = [float((v[i] - v[j]).norm(dim=-1).square().mean().sqrt()) * 1000 for i in range(4) for j in range(i + 1, 4)]
        out.append(f"| {prompt} | {same:.1e} | {', '.join(f'{c:+.2f}' for c in ch)} | {np.mean(pair):.2f} |")
    return ["| prompt | same seed max diff | 4 seeds: asked change | mean pairwise vertex RMS mm |", "|---|---|---|---|"] + out


def timing(sc) -> str:
    base = (np.zeros(100), np.zeros(53))
    ps = ["a very long face", "a man with a wide nose, smiling", "slightly small eyes and a receding chin",
          "thin lips", "raised eyebrows"]
    sc.sculpt(ps[0], *base)
    ts = []
    for p in ps * 2:
        t = time.perf_counter()
        sc.sculpt(p, *base)
        ts.append(time.perf_counter() - t)
    return f"edit (encode + read + 40 DDIM steps x2 CFG + apply): median {np.median(ts) * 1000:.0f} ms, max {np.max(ts) * 1000:.0f} ms over {len(ts)} prompts"


def sds_speed() -> list[str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from sculpt_sd_tiny import build_tiny_sd
    from headgen.stages.sculpt.core import load_model_for_sculpt
    from headgen.stages.sculpt.sds import StableDiffusionScore, load_sd_pipeline, optimize_head
    out = []
    model = load_model_for_sculpt()
    with tempfile.TemporaryDirectory() as d:
        build_tiny_sd(d)
        pipe = load_sd_pipeline(d)
        sc = StableDiffusionScore(pipe, seed=0)
        optimize_head(model, sc, "a long face", torch.zeros(100), torch.zeros(53), iters=2, size=64)
        _, _, st = optimize_head(model, sc, "a long face", torch.zeros(100), torch.zeros(53), iters=10, size=64)
        out.append(f"tiny random SD (built from configs), CPU, 64 px renders, 2 views/iter: {st['it_per_s']:.2f} it/s")
    if torch.cuda.is_available():
        from sculpt_sd_tiny import build_sd15_random
        with tempfile.TemporaryDirectory() as d:
            build_sd15_random(d)
            pipe = load_sd_pipeline(d, device="cuda", dtype=torch.float16)
            sc = StableDiffusionScore(pipe, seed=0)
            m = load_model_for_sculpt(device="cuda")
            optimize_head(m, sc, "a long face", torch.zeros(100), torch.zeros(53), iters=2, size=512)
            torch.cuda.synchronize()
            _, _, st = optimize_head(m, sc, "a long face", torch.zeros(100), torch.zeros(53), iters=20, size=512)
            out.append(f"SD-1.5 architecture (random weights), {torch.cuda.get_device_name()}, 512 px: {st['it_per_s']:.2f} it/s")
    else:
        out.append("full-size architecture on a GPU: not measured (no GPU in this run)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--encoders", action="store_true")
    ap.add_argument("--sds", action="store_true")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench/results/sculpt_cpu.md"))
    a = ap.parse_args()
    from headgen.stages.sculpt.core import Sculptor, default_weights_path, load_model_for_sculpt, torch_threads, train_sculpt
    md = ["# Text-guided sculpting benchmark (bench/sculpt.py)", "",
          f"Machine: {torch.get_num_threads()} CPU threads available, shared (load average at start "
          f"{open('/proc/loadavg').read().split()[0]}); networks run on 1 thread.", ""]
    model = load_model_for_sculpt()
    path = Path(a.weights) if a.weights else default_weights_path(model)
    if a.encoders:
        md += ["## Sentence encoder choice", ""] + encoders_table() + [""]
        print("\n".join(md))
    if a.train:
        st = train_sculpt(path, model=model)
        md += ["## Training (default recipe)", "",
               f"attribute space {st['space_seconds']:.1f} s, dataset {st['data_seconds']:.1f} s "
               f"({st['n_samples']} heads, {st['n_unique_captions']} unique captions), caption embedding "
               f"{st['embed_seconds']:.1f} s, training {st['train_seconds']:.1f} s; total {st['total_seconds']:.0f} s; "
               f"{st['params'] / 1e6:.2f} M parameters, weights file {st['bytes'] / 1e6:.1f} MB; final losses: "
               f"denoiser {st['denoise_loss']:.3f}, reader {st['reader_loss']:.4f}", ""]
    sc = Sculptor(path, model=model)
    ts = sc.blob["train_stats"]
    md += [f"Weights: {path.name}, recipe {sc.blob['recipe']}, training loop {ts['seconds']:.0f} s.", ""]
    if not a.no_quality:
        with torch_threads(1):
            lines, s = quality(sc)
        md += ["## Quality: asked attribute x measured change", "",
               "Edits of 3 base heads (mean + 2 prior draws), seed 0; 'asked' = change of the asked attribute in "
               "prior std (shape) or weight (expression), > 0 = asked direction, mean over the 3 heads; worst other = "
               "largest change of any other attribute in % of its range (target < 10); outside RMS = vertices outside "
               "the attribute's region (target < 1 mm; global attributes have no outside).", ""] + lines + [
               "", f"Summary: {s['dir_ok']}/{s['n']} training-style edits in the asked direction; 'much/very' > 'slightly' "
               f"for {s['much_gt_slight']}/{s['n_attr']} attribute-directions; other attributes < 10 % in "
               f"{s['other_lt10']}/{s['n']}; outside RMS < 1 mm in {s['outside_lt1']}/{s['n']}; paraphrases moving "
               f"the asked attribute by > 0.25: {s['para_ok']}/{s['para_n']}.", ""]
        md += ["## Seeds", ""] + seeds_check(sc) + [""]
        md += ["## Speed", "", timing(sc), ""]
    if a.sds:
        md += ["## Score distillation speed", ""] + sds_speed() + [""]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
