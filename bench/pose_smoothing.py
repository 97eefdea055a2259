"""Benchmark: what the pose stage's video smoothing does to head-pose jitter and to the mouth (issue 18).

Usage: ``python bench/pose_smoothing.py [--clips N] [--out bench/results/pose_smoothing_after.json]``;
``python bench/pose_smoothing.py --compare BEFORE.json AFTER.json --out OUT.md`` writes the before/after
table of two such runs (e.g. the code before and after a change, run with ``PYTHONPATH`` on each tree).

Per GRID clip (shared assets, 75 frames at 25 fps), in one process:

* ``headgen pose CLIP -o A --max-faces 1`` (video mode) with smoothing (the default) and with
  ``--no-smooth`` (the baseline of the same run), each read back from its pose.json with
  ``read_pose(...).main_track()``;
* ``headgen fit CLIP -o B --no-overlay`` (ICT, landmark fit on its own unsmoothed MediaPipe pass)
  -> the fitted ``jawOpen`` per frame from fit.npz (``read_fit``).

The CLIs run as subprocesses of this script's Python, so ``PYTHONPATH`` picks the code measured.

Metrics:

* ``ypr_jitter``: frame-to-frame jitter of yaw / pitch / roll, degrees: the std over the clip of the
  change of each angle between consecutive frames (as tests/test_pose_landmarks.py and
  bench/pose_known.py define it); angles from pose.json's rotation and translation
  (``view_relative_rotation`` + ``rotation_to_ypr``, the pose.json convention).
* ``lip_gap_jitter_silence``: the lip gap is ``|p13 - p14|`` (inner-lip midpoints of pose.json's
  landmarks_468, px). Silent frames: the clip's ``headgen.audio.envelope.speech_envelope`` (default
  settings; GRID's background noise reads 0.1-0.5 there) below ``min + 0.35 (max - min)`` of that
  clip, and at least 3 frames (120 ms) away from any frame above it (lips move before and after the
  sound): on GRID the leading ~0.3-0.9 s and often a trailing stretch. Jitter = std of the lip-gap
  change over consecutive pairs of silent frames, px.
* ``region_jitter_silence``: the same frame-to-frame std for the landmarks of each smoothing region
  (``headgen.stages.pose.smoothing.face_regions``: upper face, mouth and jaw, eyes), over all their
  points and both axes, in silent frames, px.
* ``corr_lag``: Pearson correlation of the fitted jawOpen(t) with the lip gap(t + lag) for lags
  -3..3 frames (lag > 0: the pose.json mouth comes *later* than the fit's); ``corr0`` = lag 0,
  ``best_lag`` = argmax.

Writes a JSON with everything per clip plus a markdown table next to it (same name, ``.md``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from headgen.metrics.series import lagged_correlation

LAGS = range(-3, 4)
SILENCE_THRESHOLD = 0.35   # fraction of the clip's envelope range
SILENCE_MARGIN = 3


def lip_gap(lm468) -> np.ndarray:
    """(T, 468, 2) px -> (T,) distance between MediaPipe inner-lip midpoints 13 and 14, px."""
    lm = np.asarray(lm468, np.float64)
    return np.linalg.norm(lm[:, 13, :2] - lm[:, 14, :2], axis=-1)


def lagged_corr(a, b, lags=LAGS) -> dict[int, float]:
    """Pearson r of a(t) with b(t + lag) over the overlapping frames, per lag (frames)."""
    return lagged_correlation(a, b, lags)


def silent_frames(clip, n_frames: int, fps: float) -> np.ndarray:
    """(T,) bool: frames away from speech (see module doc)."""
    from headgen.audio.envelope import speech_envelope
    from headgen.io.audio import read_audio

    audio, sr = read_audio(clip, 16000)
    env = speech_envelope(audio, sr, fps, n_frames)
    lo, hi = float(env.min()), float(env.max())
    loud = env > lo + SILENCE_THRESHOLD * (hi - lo)
    near = np.zeros(n_frames, bool)
    for i in np.flatnonzero(loud):
        near[max(0, i - SILENCE_MARGIN): i + SILENCE_MARGIN + 1] = True
    return ~near


def pair_jitter(x, mask=None) -> float:
    """Std of x[t+1] - x[t] over the pairs where both frames are in ``mask`` (all when None)."""
    x = np.asarray(x, np.float64)
    d = np.diff(x, axis=0)
    if mask is not None:
        ok = mask[1:] & mask[:-1]
        d = d[ok]
    return float(np.std(d, axis=0).mean()) if len(d) > 1 else float("nan")


def region_labels() -> np.ndarray:
    """(468,) 0 upper face, 1 mouth and jaw, 2 eyes (the pose stage's smoothing regions)."""
    try:
        from headgen.stages.pose.smoothing import face_regions
    except ImportError:   # code from before issue 18 (measuring the former smoothing): same geometry
        from headgen.landmarks.canonical import load_canonical_face

        v = load_canonical_face().vertices
        lab = np.where(v[:, 1] < -0.023, 1, 0)
        lab[((np.abs(v[:, 0]) - 0.0318) / 0.019) ** 2 + ((v[:, 1] - 0.0262) / 0.011) ** 2 <= 1] = 2
        return lab
    return face_regions()


def ypr_of(track) -> np.ndarray:
    """(T, 3) yaw, pitch, roll degrees of a PoseTrack."""
    from headgen.geometry.headpose import rotation_to_ypr, view_relative_rotation

    return np.array([rotation_to_ypr(view_relative_rotation(R.astype(np.float64), t.astype(np.float64)))
                     for R, t in zip(track.rotation, track.translation)])


def _cli(*args: str) -> None:
    """Run ``headgen ARGS`` as a user would (``python -m headgen.cli``); raise with its stderr on failure."""
    r = subprocess.run([sys.executable, "-m", "headgen.cli", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"headgen {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")


def measure_clip(clip: Path, work: Path) -> dict:
    """``headgen pose`` (smoothed and ``--no-smooth``) + ``headgen fit`` of one clip -> metrics (module doc)."""
    from headgen.artifacts.fit import read_fit
    from headgen.artifacts.pose import read_pose

    lab = region_labels()
    fit_dir = work / f"{clip.stem}_fit"
    if not (fit_dir / "fit.npz").exists():
        _cli("fit", str(clip), "-o", str(fit_dir), "--no-overlay", "--device", "cpu")
    jaw = read_fit(fit_dir / "fit.npz").expression_column("jawOpen")
    out = {}
    for name, flags in (("raw", ["--no-smooth"]), ("smoothed", [])):
        d = work / f"{clip.stem}_{name}"
        _cli("pose", str(clip), "-o", str(d), "--max-faces", "1", *flags)
        tr = read_pose(d / "pose.json").main_track(clip)
        assert tr.valid.all(), f"{clip.name}: face missing in some frames"
        gap = lip_gap(tr.landmarks_468)
        sil = silent_frames(clip, len(gap), tr.fps)
        ypr = ypr_of(tr)
        cor = lagged_corr(jaw, gap)
        best = max(cor, key=lambda k: cor[k])
        out[name] = {"ypr_jitter": [pair_jitter(ypr[:, i]) for i in range(3)],
                     "lip_gap_jitter_silence": pair_jitter(gap, sil),
                     "region_jitter_silence": {r: pair_jitter(tr.landmarks_468[:, lab == k].reshape(len(gap), -1), sil)
                                               for k, r in enumerate(("upper", "mouth", "eyes"))},
                     "silent_frames": int(sil.sum()),
                     "corr_lag": {str(k): round(v, 4) for k, v in cor.items()},
                     "corr0": cor[0], "best_lag": int(best)}
    return out


def _f3(v) -> str:
    return "/".join(f"{x:.3f}" for x in v)


def table(results: dict, label: str) -> str:
    """Markdown table of one run's per-clip metrics (raw = --no-smooth baseline, smoothed = default)."""
    lines = [f"GRID clips, {label}. ypr: yaw/pitch/roll jitter, std of the frame-to-frame change (deg); "
             "gap: std of the frame-to-frame change of the lip gap |p13 - p14| in silent frames (px); "
             "regions: the same for the upper-face/mouth/eye landmarks (px); corr0: jawOpen (fit) vs lip gap "
             "(pose.json) at lag 0; lag: best lag (frames, > 0 = pose.json late).",
             "",
             "| clip | ypr raw | ypr smoothed | gap raw | gap smoothed | regions raw | regions smoothed "
             "| corr0 raw | corr0 smoothed | lag raw | lag smoothed |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def row(name, a, b):
        return (f"| {name} | {_f3(a['ypr_jitter'])} | {_f3(b['ypr_jitter'])} | {a['lip_gap_jitter_silence']:.3f} | "
                f"{b['lip_gap_jitter_silence']:.3f} | {_f3(a['region_jitter_silence'].values())} | "
                f"{_f3(b['region_jitter_silence'].values())} | {a['corr0']:.3f} | {b['corr0']:.3f} | "
                f"{a['best_lag']} | {b['best_lag']} |")

    for name, r in results.items():
        lines.append(row(name, r["raw"], r["smoothed"]))
    if results:
        lines.append(row("mean (lag: most common)", *(mean_metrics(results, w) for w in ("raw", "smoothed"))))
    return "\n".join(lines) + "\n"


def mean_metrics(results: dict, which: str) -> dict:
    """Mean over clips of one variant's metrics (best_lag: the most common lag)."""
    rs = [r[which] for r in results.values()]
    lags = [r["best_lag"] for r in rs]
    return {"ypr_jitter": np.nanmean([r["ypr_jitter"] for r in rs], 0).tolist(),
            "lip_gap_jitter_silence": float(np.nanmean([r["lip_gap_jitter_silence"] for r in rs])),
            "region_jitter_silence": {k: float(np.nanmean([r["region_jitter_silence"][k] for r in rs]))
                                      for k in rs[0]["region_jitter_silence"]},
            "corr0": float(np.mean([r["corr0"] for r in rs])), "best_lag": max(set(lags), key=lags.count)}


def compare(before: dict, after: dict) -> str:
    """Markdown before/after table of two result files (the smoothed runs; the --no-smooth baseline of the
    'after' run as the reference)."""
    lines = [f"Before: {before['label']}; after: {after['label']}. Smoothed pose.json (default) before and after; "
             "raw = `--no-smooth` (same run as 'after'). ypr jitter in deg, lip-gap and region (upper face / "
             "mouth+jaw / eyes) jitter in silence in px, corr = corr(jawOpen, lip gap) at lag 0, lag = best lag.",
             "",
             "| clip | ypr jitter raw / before / after | lip-gap jitter raw / before / after | regions before | "
             "regions after | corr0 raw / before / after | lag raw / before / after |",
             "|---|---|---|---|---|---|---|"]
    names = list(after["clips"])
    rows = [(n, after["clips"][n]["raw"], before["clips"][n]["smoothed"], after["clips"][n]["smoothed"])
            for n in names if n in before["clips"]]
    sub_b = {n: before["clips"][n] for n in names if n in before["clips"]}
    sub_a = {n: after["clips"][n] for n in sub_b}
    rows.append(("mean (lag: most common)", mean_metrics(sub_a, "raw"), mean_metrics(sub_b, "smoothed"), mean_metrics(sub_a, "smoothed")))
    for n, r, b, a in rows:
        lines.append(f"| {n} | {_f3(r['ypr_jitter'])} / {_f3(b['ypr_jitter'])} / {_f3(a['ypr_jitter'])} | "
                     f"{r['lip_gap_jitter_silence']:.3f} / {b['lip_gap_jitter_silence']:.3f} / "
                     f"{a['lip_gap_jitter_silence']:.3f} | {_f3(b['region_jitter_silence'].values())} | "
                     f"{_f3(a['region_jitter_silence'].values())} | {r['corr0']:.3f} / {b['corr0']:.3f} / "
                     f"{a['corr0']:.3f} | {r['best_lag']} / {b['best_lag']} / {a['best_lag']} |")
    return "\n".join(lines) + "\n"


#: Variants of the landmark smoothing replayed by ``--variants`` (SmoothingParams fields).
VARIANTS = {
    "default (mouth, eyes unfiltered)": {},
    "mouth+eyes One-Euro (1.5 Hz, beta 150, 10 Hz)": {"mouth": (1.5, 150.0, 10.0), "eyes": (1.5, 150.0, 10.0)},
    "mouth+eyes One-Euro (1.5 Hz, beta 6, 3 Hz)": {"mouth": (1.5, 6.0, 3.0), "eyes": (1.5, 6.0, 3.0)},
}


def subframe_delay(reference, delayed, max_delay: float = 2.0, step: float = 0.02) -> float:
    """Delay d (frames, >= 0) for which ``delayed(t)`` best matches ``a * reference(t - d) + b`` (least
    squares over d on a grid, linear interpolation between frames)."""
    t = np.arange(len(reference), dtype=np.float64)
    best = (np.inf, 0.0)
    for d in np.arange(0.0, max_delay + 1e-9, step):
        sh = np.interp(t - d, t, reference)[5:]
        A = np.stack([sh, np.ones_like(sh)], 1)
        coef = np.linalg.lstsq(A, delayed[5:], rcond=None)[0]
        best = min(best, (float(((A @ coef - delayed[5:]) ** 2).sum()), float(d)))
    return best[1]


def replay_variants(clips, work: Path) -> str:
    """Markdown table: the landmark smoothing variants of :data:`VARIANTS` replayed on each clip's raw
    MediaPipe landmarks (one tracking pass per clip): lip-gap jitter in silence, corr0 / best lag with the
    fitted jawOpen (fit.npz from ``work``, made by the main run), and the lip gap's sub-frame delay
    relative to the unfiltered landmarks."""
    from headgen.artifacts.fit import read_fit
    from headgen.io.video import read_video
    from headgen.landmarks.mediapipe_backend import FaceLandmarker
    from headgen.stages.pose.smoothing import HeadSmoother, SmoothingParams

    rows = {name: [] for name in VARIANTS}
    with FaceLandmarker(max_faces=1, video=True) as det:
        for clip in clips:
            det.reset()
            frames, fps = read_video(clip)
            L = np.stack([det.detect(f)[0].landmarks_468 for f in frames]).astype(np.float64)
            jaw = read_fit(work / f"{clip.stem}_fit" / "fit.npz").expression_column("jawOpen")
            sil = silent_frames(clip, len(L), fps)
            size = float(np.hypot(*(L[0, :, :2].max(0) - L[0, :, :2].min(0))))
            g_raw = lip_gap(L)
            for name, kw in VARIANTS.items():
                sm = HeadSmoother(size, SmoothingParams(**kw))
                g = lip_gap(np.stack([sm.smooth_landmarks(i / fps, x) for i, x in enumerate(L)]))
                cor = lagged_corr(jaw, g)
                rows[name].append((pair_jitter(g, sil), cor[0], max(cor, key=cor.get), subframe_delay(g_raw, g)))
    lines = ["| landmark smoothing (replayed) | lip-gap jitter in silence (px) | corr0 mean (min) | best lags "
             "| lip-gap delay vs unfiltered (frames, mean) |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        j, c, lag, d = (np.array(x) for x in zip(*r))
        lines.append(f"| {name} | {np.nanmean(j):.3f} | {c.mean():.3f} ({c.min():.3f}) | "
                     f"{', '.join(str(int(x)) for x in lag)} | {d.mean():.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=8, help="number of GRID clips (default all 8)")
    ap.add_argument("--out", default="bench/results/pose_smoothing_cpu.json")
    ap.add_argument("--label", default=None, help="label for the table (default: git HEAD)")
    ap.add_argument("--work", default=None, help="folder for pose.json / fit.npz (default: a temp dir); "
                    "fit.npz files found there are reused")
    ap.add_argument("--variants", action="store_true",
                    help="also replay the landmark smoothing variants of VARIANTS (needs the current code)")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), default=None,
                    help="print (and write to --out as .md) the before/after table of two result files; no runs")
    args = ap.parse_args(argv)
    if args.compare:
        before, after = (json.loads(Path(p).read_text()) for p in args.compare)
        md = compare(before, after)
        print(md)
        Path(args.out).with_suffix(".md").write_text(md)
        return
    from headgen.assets import sample_videos

    label = args.label
    if label is None:
        try:
            label = "code at " + subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                                text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            label = "current code"
    clips = sample_videos()[: args.clips]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = {}
        for clip in clips:
            results[clip.stem] = measure_clip(clip, work)
            r = results[clip.stem]
            print(clip.stem, {k: (round(v["corr0"], 3), v["best_lag"], round(v["lip_gap_jitter_silence"], 3),
                                  [round(x, 3) for x in v["ypr_jitter"]]) for k, v in r.items()}, flush=True)
        md = table(results, label)
        if args.variants:
            md += "\nLandmark smoothing variants replayed on the same raw landmarks:\n\n" + replay_variants(clips, work)
    print(md)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"label": label, "silence_threshold": SILENCE_THRESHOLD,
                               "silence_margin_frames": SILENCE_MARGIN, "clips": results}, indent=1) + "\n")
    out.with_suffix(".md").write_text(md)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
