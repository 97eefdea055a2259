"""Regenerate the animate default's jaw calibration (headgen/stages/animate/calibration.py GRID_JAW).

Recipe: the fit stage's fits of the 8 GRID clips in the shared assets (cached in bench/cache/animate_fits/, as
bench/animate_quality.py makes them), phones by forced alignment of the GRID transcript, per-frame loudness and
first formant (the jaw factor), audible in-breaths before speech (headgen.stages.animate.breath);
``calibration.calibrate_jaw`` over all clips pooled. Prints the table; ``--write`` rewrites the GRID_JAW block.

Usage: python bench/animate_calibrate.py [--write]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def grid_observations(clips):
    """[StyleObservation] of the given GRID clip paths (fit + transcript-aligned phones + loudness)."""
    from animate_quality import ensure_fit, phones_cached
    from headgen.artifacts.fit import read_fit
    from headgen.audio.labels import grid_transcript
    from headgen.io.audio import read_audio
    from headgen.stages.animate.speech import frame_prosody
    from headgen.stages.animate.style import observation
    obs = []
    for clip in clips:
        fit = read_fit(ensure_fit(clip))
        x, sr = read_audio(clip, 16000)
        ph = phones_cached(clip, x, sr, grid_transcript(clip.name))[0]
        pr = frame_prosody(x, sr, fit.fps, fit.n_frames)
        obs.append(observation(fit, ph, pr["energy_db"], fit.fps, f1_hz=pr["f1_hz"], hf_db=pr["hf_db"],
                               voiced=pr["voiced"]))
    return obs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    from headgen.assets import sample_videos
    from headgen.stages.animate.calibration import calibrate_jaw
    clips = [Path(p) for p in sample_videos() if Path(p).suffix == ".mpg"]
    jaw = calibrate_jaw(grid_observations(clips))
    body = "GRID_JAW: dict[str, float] = {\n" + "".join(
        f"    {k!r}: {v},\n" for k, v in jaw.items()) + "}\n"
    print(f"# {len(clips)} clips: {', '.join(c.stem for c in clips)}\n" + body)
    if args.write:
        p = ROOT / "headgen/stages/animate/calibration.py"
        s = p.read_text()
        s = re.sub(r"(# BEGIN GRID_JAW[^\n]*\n).*?(# END GRID_JAW)", lambda m: m.group(1) + body + m.group(2), s,
                   flags=re.S)
        p.write_text(s)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
