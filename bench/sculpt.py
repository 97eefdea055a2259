"""Benchmark of text-guided sculpting (issue 15) -> bench/results/sculpt_cpu.md.

    OMP_WAIT_POLICY=PASSIVE python bench/sculpt.py [--weights W.pt | --train] [--encoders] [--sds]

* ``--encoders``: paraphrase retrieval of the two packaged sentence encoders (minilm, e5): for each held-out
  paraphrase, is the nearest training-style phrase one of the same attribute (and direction)? + speed.
* ``--train``: trains the default model (timed) into the user cache (or ``--weights``).
* quality table (always): every shape attribute x direction and every expression group, prompts worded as in
  training ("slightly" / "very") and held-out paraphrases, applied to 3 base heads (mean + 2 prior draws):
  asked change (std units / weight), largest other change (% of range), RMS outside the region (mm),
  understood attributes. Seeds: same seed twice -> identical; 4 seeds -> spread and all in the asked direction.
* appearance (avatars): every appearance attribute of ``headgen.avatar.appearance`` ("slightly / much lighter
  skin", "blond hair", held-out paraphrases) applied to a synthetic avatar of known colours and the GRID
  avatars cached by ``bench/avatar.py --no-refine``: measured change, cross-talk, identity change.
* timing: an edit (prompt encoding + reader + 40 DDIM steps with CFG + projection) on CPU, 1 thread.
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


def quality(sc, paraphrases_only: bool = False) -> tuple[list[str], dict]:
    from headgen.stages.sculpt.evaluate import base_heads, evaluate_edit, prompts_for
    rows = prompts_for(sc.space)
    if paraphrases_only:
        rows = [r for r in rows if r["style"].startswith("paraphrase")]
    bases = base_heads(3)
    res = {}
    for r in rows:
        ev = [evaluate_edit(sc, r["prompt"], r["attribute"], r["sign"], s, e, seed=0) for s, e in bases]
        res[(r["attribute"], r["sign"], r["style"])] = (r, ev)
    lines = ["| attribute | dir | slightly: asked (std / w) | much / very: asked | paraphrase A: prompt -> asked | paraphrases B: prompt -> asked | worst other (% range, any style) | outside RMS mm (max) | understood (much/very) |",
             "|---|---|---|---|---|---|---|---|---|"]
    from headgen.stages.sculpt.core import EXPR_LEVELS, SHAPE_LEVELS
    shape_set = set(_shape_names())

    def in_band(e, att, level):        # the asked change inside the training bin of the level (2 % slack)
        lo, hi = (SHAPE_LEVELS if att in shape_set else EXPR_LEVELS)[level][1]
        return lo * 0.98 <= e["asked"] <= hi * 1.02
    summary = {"sl_band": 0, "mu_band": 0, "n_band": 0, "n": 0, "dir_ok": 0, "much_gt_slight": 0, "other_lt10": 0, "outside_lt1": 0, "para_n": 0, "para_ok": 0,
               "n_attr": 0, "b_n": 0, "b_ok": 0, "b_pair_ok": 0, "b_pairs": 0, "para_other_lt10": 0, "para_edits": 0}
    keys = sorted({(k[0], k[1]) for k in res}, key=lambda k: (k[0] not in _shape_names(), k[0], -k[1]))
    for att, sign in keys:
        sl = res.get((att, sign, "slightly"))
        mu = res.get((att, sign, "much"))
        pa = res.get((att, sign, "paraphrase"))
        pbs = [res[(att, sign, f"paraphrase B{i}")] for i in (1, 2) if (att, sign, f"paraphrase B{i}") in res]
        allev = (sl[1] + mu[1]) if sl is not None and mu is not None else []
        a_sl = np.mean([e["asked"] for e in sl[1]]) if sl else float("nan")
        a_mu = np.mean([e["asked"] for e in mu[1]]) if mu else float("nan")
        if allev:
            summary["n_attr"] += 1
            summary["n"] += len(allev)
            summary["dir_ok"] += sum(e["asked"] > 0 for e in allev)
            summary["much_gt_slight"] += int(a_mu > a_sl)
            summary["n_band"] += len(sl[1])
            summary["sl_band"] += sum(in_band(e, att, 0) for e in sl[1])
            summary["mu_band"] += sum(in_band(e, att, 2) for e in mu[1])
            summary["other_lt10"] += sum(e["other_max_pct"] < 10 for e in allev)
            summary["outside_lt1"] += sum(e["outside_rms_mm"] < 1 for e in allev)
        para = "-"
        if pa is not None:
            a_pa = np.mean([e["asked"] for e in pa[1]])
            summary["para_n"] += 1
            summary["para_ok"] += int(a_pa > 0.25)
            para = f"\"{pa[0]['prompt']}\" -> {a_pa:+.2f}"
        pb = []
        for r, ev in pbs:
            a_pb = np.mean([e["asked"] for e in ev])
            summary["b_n"] += 1
            summary["b_ok"] += int(a_pb > 0.25)
            pb.append(f"\"{r['prompt']}\" -> {a_pb:+.2f}")
        if pbs:
            summary["b_pairs"] += 1
            summary["b_pair_ok"] += int(any(np.mean([e["asked"] for e in ev]) > 0.25 for _, ev in pbs))
        for x in ([pa] if pa else []) + pbs:
            summary["para_edits"] += len(x[1])
            summary["para_other_lt10"] += sum(e["other_max_pct"] < 10 for e in x[1])
        show = mu or pa or pbs[0]
        worst = max(allev or show[1], key=lambda e: e["other_max_pct"])
        out_max = max(e["outside_rms_mm"] for e in (allev or show[1]))
        und = ", ".join(f"{k} {v:+.2f}" for k, v in sorted(show[1][0]["understood"].items(), key=lambda kv: -abs(kv[1]))[:3])
        lines.append(f"| {att} | {'+' if sign > 0 else '-'} | {a_sl:+.2f} | {a_mu:+.2f} | {para} | {'; '.join(pb) or '-'} | "
                     f"{worst['other_max_pct']:.1f} ({worst['other_max_attr']}) | {out_max:.2f} | {und or (show[1][0].get('error') or '')[:60]} |")
    return lines, summary


def composite_reading(sc, n: int = 120, seed: int = 5) -> list[str]:
    """Composite prompts: n random combinations of 2-3 training-worded prompts of different attributes
    ("a much longer face, slightly smiling and blond hair"), read with and without clause reading; share of
    the components read in the asked direction above the mention threshold, and strong reads (strength
    >= 0.3) of attributes no component asked for."""
    from headgen.stages.sculpt.core import MENTION_COLOUR, MENTION_EXPR, MENTION_SHAPE
    from headgen.stages.sculpt.evaluate import prompts_for
    names, K = sc.names, sc.space.K
    rows = [r for r in prompts_for(sc.space) if r["style"] in ("slightly", "much")]
    rows += [{"attribute": a, "sign": s_, "prompt": p} for a, s_, p in (
        ("skin lightness", 1, "much lighter skin"), ("skin lightness", -1, "slightly darker skin"),
        ("blond hair", 1, "blond hair"), ("red hair", 1, "red hair"), ("hair lightness", -1, "much darker hair"))
        if a in names]
    rng = np.random.default_rng(seed)
    comps = []
    for _ in range(n):
        k = int(rng.choice([2, 3]))
        pick = []
        for j in rng.permutation(len(rows)):
            if rows[j]["attribute"] not in [p["attribute"] for p in pick]:
                pick.append(rows[j])
            if len(pick) == k:
                break
        joiner = str(rng.choice([", ", " and ", " with "]))
        comps.append((str(rng.choice(["", "a person with "])) + joiner.join(p["prompt"] for p in pick), pick))

    def thr(j, a):
        if j < K:
            return MENTION_SHAPE
        if j < sc.n_geom:
            return MENTION_EXPR
        return MENTION_SHAPE if sc._app_kind[a] == "signed" else MENTION_COLOUR
    out = ["| reading | components read (asked direction, above threshold) | strong reads of unasked attributes |",
           "|---|---|---|"]
    for cl in (False, True):
        hit = tot = fp = 0
        for text, pick in comps:
            r = sc.read(text, clauses=cl)
            asked = {names.index(p["attribute"]) for p in pick}
            for p in pick:
                j = names.index(p["attribute"])
                tot += 1
                hit += int(p["sign"] * r[j] >= thr(j, p["attribute"]))
            st = sc._strength(r)
            fp += sum(1 for j in range(len(names)) if j not in asked and st[j] >= 0.3)
        out.append(f"| {'whole prompt + clauses (default)' if cl else 'whole prompt only'} | {hit}/{tot} | {fp} |")
    return out + ["", f"({n} prompts, e.g. \"{comps[0][0]}\")"]


def overlap_report(sc) -> tuple[list[str], dict]:
    """Held-out check: no paraphrase (set A or B) may appear word-for-word in the weights' training captions;
    word 2/3-gram overlap of each set with the captions."""
    from headgen.stages.sculpt.core import training_captions
    from headgen.stages.sculpt.evaluate import PARAPHRASES_B, caption_overlap, paraphrase_set_a
    rec = dict(sc.blob["recipe"])
    rr = rec.pop("rich_reader", None)
    caps = set(training_captions(sc.space, rec).captions)
    if rr:       # the rich-wording reader's captions (recipe 8)
        caps |= set(training_captions(sc.space, dict(rr, relative=0.0)).captions)
    caps = sorted(caps)
    sets = {"A": list(paraphrase_set_a().values()), "B": [p for ps in PARAPHRASES_B.values() for p in ps]}
    lines = [f"Training captions regenerated from the weights' recipe: {len(caps)} unique.", "",
             "| set | paraphrases | verbatim in a caption | word 2-grams found in captions | word 3-grams found in captions |",
             "|---|---|---|---|---|"]
    out = {}
    for name, ps in sets.items():
        o = caption_overlap(caps, ps)
        out[name] = o
        lines.append(f"| {name} | {len(ps)} | {len(o['verbatim'])}{' (' + ', '.join(o['verbatim']) + ')' if o['verbatim'] else ''} | "
                     f"{100 * o['ngram'][2]:.0f} % | {100 * o['ngram'][3]:.0f} % |")
    longest = sorted(((p, l) for o in out.values() for p, l in o["longest"]), key=lambda pl: -len(pl[1].split()))[:8]
    lines += ["", "Longest word n-grams the paraphrases share with the captions: "
              + "; ".join(f"\"{p}\" ~ \"{l}\"" for p, l in longest)]
    return lines, out


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


def _bench_avatars(max_clips: int = 4) -> list[tuple[str, object]]:
    """A synthetic avatar of known colours (skin (0.85, 0.65, 0.55), dark-brown hair) and, when present, the
    GRID avatars trained by ``bench/avatar.py --no-refine`` (bench/cache/avatar/<clip>/video_600_norefine,
    not shipped)."""
    from headgen.avatar import load_avatar
    from headgen.testing.avatars import painted_avatar
    _, av, _ = painted_avatar(zero_shape=True)
    out = [("synthetic", av)]
    for d in sorted((ROOT / "bench/cache/avatar").glob("*/video_600_norefine"))[:max_clips]:
        if (d / "avatar_rig.npz").is_file():
            out.append((f"GRID {d.parent.name}", load_avatar(d)))
    return out


def appearance_table(sc, paraphrases_only: bool = False) -> tuple[list[str], dict]:
    """Appearance prompts on avatars: asked change (L* for lightness, towards the named colour in delta E for
    hair colours), other appearance measurements (% of range), identity change the prompt caused (vertex RMS).
    Styles: slightly / much / plain (training wording), paraphrase (set A), paraphrase B1/B2 (set B)."""
    from headgen.stages.sculpt.evaluate import PARAPHRASES_B
    from headgen.avatar.appearance import (APPEARANCE_ATTRIBUTES, HAIR_COLOURS, appearance_regions,
                                           edit_appearance, measure_appearance)
    from headgen.stages.sculpt.captions import comparative
    from headgen.stages.sculpt.core import UnrelatedPromptError
    avatars = _bench_avatars()
    regs = [appearance_regions(av) for _, av in avatars]
    rng_of = {a.name: a.range for a in APPEARANCE_ATTRIBUTES}
    rows = []
    for a in APPEARANCE_ATTRIBUTES:
        if a.kind == "signed":
            for sign, words, para in ((1, a.more, a.paraphrase_more), (-1, a.less, a.paraphrase_less)):
                comp = comparative(words[0]) or words[0]
                rows += [(a, sign, "slightly", f"slightly {comp}"), (a, sign, "much", f"much {comp}"),
                         (a, sign, "paraphrase", para)]
        else:
            rows += [(a, 1, "plain", a.more[0]), (a, 1, "paraphrase", a.paraphrase_more)]
    rows = [rw for rw in rows if rw[2] != "paraphrase" or rw[3]]
    rows += [(a, sign, f"paraphrase B{i + 1}", p) for a in APPEARANCE_ATTRIBUTES for sign in (1, -1)
             for i, p in enumerate(PARAPHRASES_B.get((a.name, sign), ()))]
    if paraphrases_only:
        rows = [rw for rw in rows if rw[2].startswith("paraphrase")]
    lines = ["| attribute | dir | style | prompt | avatars: asked change (mean) | direction ok | worst other (% range) | identity change mm (max) | understood |",
             "|---|---|---|---|---|---|---|---|---|"]
    summ = {"n": 0, "dir": 0, "other": 0, "geom": 0, "para_n": 0, "para_ok": 0, "pairs": 0, "much_gt": 0,
            "b_n": 0, "b_ok": 0, "para_geom": 0, "para_edits": 0}
    asked_of = {}
    sp = sc.space
    for a, sign, style, prompt in rows:
        ch, oth, geo, ok = [], [], [], 0
        und = {}
        for (name, av), reg in zip(avatars, regs):
            shape0 = av.shape.double().numpy()[: sp.S]
            try:
                r = sc.sculpt(prompt, shape0, np.zeros(sp.E))
                changes = r.appearance
                und = {k: v for k, v in r.understanding.intensities.items()}
                with torch.no_grad():
                    v0 = sp.model(shape=torch.from_numpy(shape0[None])).vertices_model[0]
                    v1 = sp.model(shape=torch.from_numpy(r.shapes[:1])).vertices_model[0]
                geo.append(float((v1 - v0).norm(dim=-1).square().mean().sqrt()) * 1000)
            except UnrelatedPromptError:
                changes, und = {}, {}
                geo.append(0.0)
            b = measure_appearance(av, reg)
            f = measure_appearance(edit_appearance(av, changes, reg), reg) if changes else b
            if a.kind == "signed":
                c = sign * (f[a.name] - b[a.name])
                ok += c > 0
                related = {"lightness"} if a.name != "lightness" else {"skin lightness", "hair lightness"}
            else:
                col = a.name.split()[0]
                c = b[f"hair delta E {col}"] - f[f"hair delta E {col}"]
                ok += (f["hair colour"] == col) and c > 0
                related = {"hair lightness", "lightness"}
            ch.append(c)
            others = {n: 100 * abs(f[n] - b[n]) / rng_of[n] for n in ("skin lightness", "hair lightness", "lightness")
                      if n != a.name and n not in related}
            oth.append(max(others.items(), key=lambda kv: kv[1]) if others else ("-", 0.0))
        worst = max(oth, key=lambda kv: kv[1])
        mean = float(np.mean(ch))
        asked_of[(a.name, sign, style)] = mean
        if style.startswith("paraphrase"):
            k = "para" if style == "paraphrase" else "b"
            summ[f"{k}_n"] += 1
            summ[f"{k}_ok"] += int(ok == len(avatars))
            summ["para_edits"] += len(avatars)
            summ["para_geom"] += sum(g < 1.0 for g in geo)
        else:
            summ["n"] += len(avatars)
            summ["dir"] += ok
            summ["other"] += sum(o[1] < 10 for o in oth)
            summ["geom"] += sum(g < 1.0 for g in geo)
        u = ", ".join(f"{k} {v:+.2f}" for k, v in sorted(und.items(), key=lambda kv: -abs(kv[1]))[:3])
        unit = "L*" if a.kind == "signed" else "dE"
        lines.append(f"| {a.name} | {'+' if sign > 0 else '-'} | {style} | \"{prompt}\" | {mean:+.1f} {unit} | "
                     f"{ok}/{len(avatars)} | {worst[1]:.1f} ({worst[0]}) | {max(geo):.2f} | {u} |")
    for a in APPEARANCE_ATTRIBUTES:
        if a.kind == "signed" and (a.name, 1, "much") in asked_of:
            for sign in (1, -1):
                summ["pairs"] += 1
                summ["much_gt"] += int(asked_of[(a.name, sign, "much")] > asked_of[(a.name, sign, "slightly")])
    return lines, summ | {"avatars": [n for n, _ in avatars]}


SHEET_PROMPTS = ("blond hair", "much darker skin", "grey hair and much lighter skin", "red hair, a much wider nose")


def appearance_sheet(sc, out_png: Path) -> str:
    """Before/after renders (front and 3/4 view, neutral expression) of the first GRID avatar (or the
    synthetic one) for SHEET_PROMPTS -> a PNG contact sheet; returns a one-line description."""
    from PIL import Image

    from headgen.avatar.appearance import appearance_regions, edit_appearance
    from headgen.stages.sculpt.run import _avatar_vertices
    from headgen.stages.sculpt.sds import render_avatar_views
    name, av = _bench_avatars()[-1 if len(_bench_avatars()) > 1 else 0]
    reg = appearance_regions(av)
    v0 = av.neutral_vertices.float()
    centre = (v0.max(0).values + v0.min(0).values) / 2
    cols = []
    shape0 = av.shape.double().numpy()
    for prompt in ("",) + SHEET_PROMPTS:
        a, verts = av, v0
        if prompt:
            r = sc.sculpt(prompt, shape0[: sc.space.S], np.zeros(sc.space.E))
            a = edit_appearance(av, r.appearance, reg) if r.appearance else av
            verts = _avatar_vertices(av, r.shapes[0])
        with torch.no_grad():
            img = render_avatar_views(a, verts, torch.tensor([0.0, 35.0]), 256, centre)
        cols.append(np.concatenate([im.clamp(0, 1).numpy() for im in img], 0))
    sheet = (np.concatenate(cols, 1) * 255).astype(np.uint8)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(out_png)
    return (f"{out_png.name}: {name}, columns: input, " + ", ".join(f'"{p}"' for p in SHEET_PROMPTS)
            + "; rows: front, 35 degrees")


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
    ap.add_argument("--paraphrases-only", action="store_true",
                    help="quality and appearance tables on the held-out paraphrases only (sets A and B), no sheet/seeds/speed")
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
    from headgen.stages.sculpt import core as _core
    md += [f"Prompt reading: trained readers + zero-shot reading {'on' if _core.ZERO_SHOT else 'off'} (phrases "
           f"{len(sc._zs_texts)}, top-{_core.ZERO_SHOT_TOPK} mean cosine >= {_core.ZERO_SHOT_MIN_COS}, lead "
           f"{_core.ZERO_SHOT_MARGIN} over other attributes, {_core.ZERO_SHOT_DIR_MARGIN} over the opposite direction, "
           f"side readings {_core.ZERO_SHOT_SIDE_GAP} below dropped; chosen on the development set C, "
           f"bench/sculpt_dev.py).", ""]
    ol, ov = overlap_report(sc)
    md += ["## Held-out check: paraphrases vs training captions", ""] + ol + [""]
    if any(o["verbatim"] for o in ov.values()):
        md += ["**FAILED: a held-out paraphrase appears word-for-word in the training captions; its scores are not "
               "held-out scores.**", ""]
    if not a.no_quality:
        po = a.paraphrases_only
        with torch_threads(1):
            lines, s = quality(sc, po)
        md += ["## Quality: asked attribute x measured change", "",
               "Edits of 3 base heads (mean + 2 prior draws), seed 0; 'asked' = change of the asked attribute in "
               "prior std (shape) or weight (expression), > 0 = asked direction, mean over the 3 heads; worst other = "
               "largest change of any other attribute in % of its range (target < 10); outside RMS = vertices outside "
               "the attribute's region (target < 1 mm; global attributes have no outside).", ""] + lines + [
               "", f"Summary: {s['dir_ok']}/{s['n']} training-style edits in the asked direction; 'much/very' > 'slightly' "
               f"for {s['much_gt_slight']}/{s['n_attr']} attribute-directions; change inside the training bin of "
               f"its level (slightly 0.7-1.4 std / weight 0.15-0.4, much/very 2.1-3 / 0.75-1): slightly "
               f"{s['sl_band']}/{s['n_band']}, much/very {s['mu_band']}/{s['n_band']}; other attributes < 10 % in "
               f"{s['other_lt10']}/{s['n']}; outside RMS < 1 mm in {s['outside_lt1']}/{s['n']}; paraphrases moving "
               f"the asked attribute by > 0.25: set A {s['para_ok']}/{s['para_n']} attribute-directions, set B "
               f"{s['b_ok']}/{s['b_n']} prompts ({s['b_pair_ok']}/{s['b_pairs']} attribute-directions with at least one of "
               f"its two); paraphrase edits with other attributes < 10 %: {s['para_other_lt10']}/{s['para_edits']}.", ""]
        with torch_threads(1):
            md += ["## Composite prompts", ""] + composite_reading(sc) + [""]
        with torch_threads(1):
            al, asum = appearance_table(sc, po)
        md += ["## Appearance attributes on avatars", "",
               f"Avatars: {', '.join(asum['avatars'])} (synthetic: skin sRGB (0.85, 0.65, 0.55), dark-brown hair; "
               "GRID: the default avatars of bench/avatar.py --no-refine when its cache is present). The prompt is "
               "read by the sculpt model, its appearance part applied by headgen.avatar.appearance.edit_appearance "
               "and measured on the Gaussians' colours. Asked change: signed L* (lightness attributes) or the drop of "
               "the hair's delta E to the named colour; direction ok = moved the asked way (colours: and the nearest "
               "named colour is the asked one); worst other = the unrelated appearance measurements (% of range: "
               "40 L* skin / overall, 60 L* hair); identity change = RMS vertex displacement the prompt's shape "
               "reading caused.", ""] + al + [
               "", f"Summary: direction ok {asum['dir']}/{asum['n']} training-style edits; 'much' > 'slightly' for "
               f"{asum['much_gt']}/{asum['pairs']} lightness attribute-directions; other appearance < 10 % in "
               f"{asum['other']}/{asum['n']}; identity change < 1 mm in {asum['geom']}/{asum['n']}; paraphrases in the "
               f"asked direction on every avatar: set A {asum['para_ok']}/{asum['para_n']}, set B "
               f"{asum['b_ok']}/{asum['b_n']}; paraphrase identity change < 1 mm in {asum['para_geom']}/{asum['para_edits']}.", ""]
    if not a.no_quality and not a.paraphrases_only:
        with torch_threads(1):
            md += [appearance_sheet(sc, Path(a.out).with_name("sculpt_appearance.png")), ""]
        md += ["## Seeds", ""] + seeds_check(sc) + [""]
        md += ["## Speed", "", timing(sc), ""]
    if a.sds:
        md += ["## Score distillation speed", ""] + sds_speed() + [""]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
