"""Talking heads on real photos (issue 16): quality per sample photo and the wall time of ``headgen demo``.

Speech: a 5.0 s utterance made of 0.5 s of silence, CMU ARCTIC slt a0009 (3.1 s) and 1.4 s of silence
(bench/cache/talking_head/speech_5s.wav), so the closed-mouth criterion has real pauses to look at; the
pauses and the ARCTIC phone labels (shifted by 0.5 s) give the silent frames.

For every photo in ../shared/assets/faces/: the job ``configs/talking_head.yaml`` (pose -> fit -> one-shot
avatar -> animate -> talking_head, 512x512) and, on the same artifacts, in the same run, the variants
  * avatar   - the default (Gaussian avatar over the mesh-warped photo, with detail transfer);
  * avatar_nodetail - the avatar's own pixels on the face (detail 0; the mesh warp only fills its gaps);
  * mesh     - the photo warped by the fitted mesh alone (no avatar);
  * preview  - the former demo (the ``preview`` stage: the fitted head textured from the photo, portrait
               framing, jaw from the loudness envelope) - the baseline the issue quotes (SFace 0.52-0.62).
Measured on every output frame (evaluate.py): identity = mean SFace cosine to the photo (target >= 0.7 for
frontal photos, |yaw| < 30 deg in pose.json); lip sync = Pearson r between MediaPipe's mouth opening
(landmarks 13-14 over 10-152) and the animation's jawOpen (target >= 0.8), and the largest opening in
silent frames against the photo's own (closed: within 0.01 of it); stability = mean |gray difference| to the
photo (the 512 view) outside the head mask, eroded 4 px (target < 2 gray levels).

Also per photo, the ceiling a renderer can reach on this measure: the same opening read off the driven
mesh itself (MediaPipe-468 embedding of the fitted ICT head, landmarks 13-14 over 10-152), correlated with
jawOpen ("mesh lips r"), and its slope per unit jawOpen.

``--fresh`` empties the bench's pipeline cache first: its keys hold stage versions, not code, so after a
change in an upstream stage (animate, avatar) only a fresh cache measures the code in the tree. The code
state (HEAD and the files under headgen/ that differ from it) is recorded with the results.

Timing: ``headgen demo`` in a subprocess from a cold cache (a fresh OUT, so every node runs) on the sample
portrait with the 5 s utterance; per-node seconds from its manifest. The CPU is shared with other engineers'
jobs while this runs, so timings are noisy (the load average is reported).

Usage: python bench/talking_head.py [--fresh] [--faces NAME ...] [--no-timing] [--out bench/results]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / "cache" / "talking_head"
LEAD, TAIL = 0.5, 1.4


def make_speech() -> tuple[Path, list]:
    """The 5 s utterance and its phone segments (silences included)."""
    from headgen.assets import resolve
    from headgen.audio.labels import read_arctic_lab
    from headgen.audio.phones import Segment
    from headgen.io.audio import read_audio, write_audio

    src = resolve("audio/cmu_arctic_slt_a0009.wav")
    x, sr = read_audio(src, sr=16000)
    y = np.concatenate([np.zeros(int(LEAD * sr), np.float32), x, np.zeros(int(TAIL * sr), np.float32)])
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "speech_5s.wav"
    if not path.exists():
        write_audio(path, y, sr)
    dur = len(x) / sr
    segs = [Segment(0.0, LEAD, "SIL")]
    segs += [Segment(s.start + LEAD, s.end + LEAD, s.label)
             for s in read_arctic_lab(resolve("audio/cmu_arctic_slt_a0009_phone.lab"))]
    segs.append(Segment(LEAD + dur, LEAD + dur + TAIL, "SIL"))
    return path, segs


def yaw_of(pose_json: Path) -> float:
    from headgen.artifacts.pose import read_pose
    pa = read_pose(pose_json)
    heads = [h for f in pa.frames for h in f.heads]
    if not heads:
        return float("nan")
    h = max(heads, key=lambda h: float((h.bbox[2] - h.bbox[0]) * (h.bbox[3] - h.bbox[1])))
    return float(h.yaw)


#: whole-pixel moves of the decoded video for the lip-sync sensitivity diagnostic (``lip_r_shifted``)
SHIFTS = ((1, 0), (0, 1), (1, 1))


def shifted(frames: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """(T,H,W,3) frames moved right by ``dx`` and down by ``dy`` whole pixels (edge rows/columns repeated):
    the same picture, only where MediaPipe's face crop lands on it differs."""
    T, H, W, _ = frames.shape
    return np.ascontiguousarray(np.pad(frames, ((0, 0), (dy, 0), (dx, 0), (0, 0)), mode="edge")[:, :H, :W])


def measure(video: Path, photo: np.ndarray, still_view: np.ndarray | None, mask: np.ndarray | None,
            jaw: np.ndarray, silent: np.ndarray, photo_open: float, mesh_lm: np.ndarray | None = None,
            shifts: bool = False) -> dict:
    from headgen.io.video import read_video
    from headgen.stages.talking_head import evaluate as ev

    frames, fps = read_video(video)
    lm = ev.face_landmarks(frames)
    op = ev.opening_of(lm)
    n = min(len(op), len(jaw))
    ids = ev.identity_scores(photo, frames)
    sil = silent[:n]
    res = dict(frames=int(len(frames)), identity=float(np.nanmean(ids)), identity_min=float(np.nanmin(ids)),
               identity_found=float(np.isfinite(ids).mean()), lip_r=ev.pearson(op[:n], jaw[:n]),
               open_max=float(np.nanmax(op)), open_silence_max=float(np.nanmax(op[:n][sil])) if sil.any() else None,
               photo_open=photo_open, silent_frames=int(sil.sum()))
    res["closed_in_silence"] = (res["open_silence_max"] is not None
                                and res["open_silence_max"] <= photo_open + 0.01)
    if shifts:   # diagnostic: the same measure on the same video moved by one pixel (MediaPipe's sensitivity)
        res["lip_r_shifted"] = [ev.pearson(ev.mouth_opening(shifted(frames, dx, dy))[:n], jaw[:n])
                                for dx, dy in SHIFTS]
    if still_view is not None and mask is not None:
        res["stability_gray"] = ev.stability(frames, still_view, mask)
    if mesh_lm is not None:   # diagnostic: MediaPipe's inner lips vs the driven mesh's, in open frames
        off = ev.lip_offsets(lm[:n], mesh_lm[:n])
        wide = jaw[:n] > 0.1
        res["open_frames"] = int(wide.sum())
        res["upper_lip_offset"] = float(np.nanmean(off[wide, 0])) if wide.any() else None
        res["lower_lip_offset"] = float(np.nanmean(off[wide, 1])) if wide.any() else None
        res["upper_lip_offset_silence"] = float(np.nanmean(off[sil, 0])) if sil.any() else None
    return res


def mesh_lips(fit_path: Path, anim, n_frames: int, K: np.ndarray) -> tuple[dict, np.ndarray]:
    """The driven mesh's own mouth opening (MediaPipe-468 embedding, 13-14 over 10-152) vs jawOpen: Pearson r
    and the least-squares slope per unit jawOpen (what the talking head's lips do before any rendering), and
    its landmarks (T,468,2) in the output view of intrinsics K."""
    import torch

    from headgen.artifacts.fit import read_fit
    from headgen.metrics.series import pearson
    from headgen.models import load_head_model
    from headgen.stages.talking_head.drive import build_drive
    from headgen.stages.talking_head.evaluate import opening_of
    from headgen.stages.talking_head.warp import WARP_PARTS, project

    fit = read_fit(fit_path)
    model = load_head_model("ict", parts=list(WARP_PARTS), mediapipe=True)
    d = build_drive(model, fit, 0, anim.arkit, anim.head_rotation, n_frames)
    with torch.no_grad():
        lm = project(model(**d.inputs()).landmarks468, torch.as_tensor(K, dtype=torch.float32)).numpy()
    op = opening_of(lm)
    jaw = anim.column("jawOpen")[:n_frames]
    slope = float(np.polyfit(jaw, op, 1)[0]) if np.ptp(jaw) > 0 else float("nan")
    return dict(r=pearson(op, jaw), slope=slope, rest=float(op[0]), max=float(op.max())), lm


def code_state() -> dict:
    """HEAD and the files under headgen/ that differ from it (others' work in progress in a shared tree)."""
    run = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT).stdout
    return dict(head=run("rev-parse", "--short", "HEAD").strip(),
                dirty=[ln[3:] for ln in run("status", "--porcelain", "--", "headgen").splitlines() if ln.strip()])


def bench_photo(photo_path: Path, speech: Path, segs: list, work: Path) -> dict:
    from headgen.artifacts.animation import read_animation
    from headgen.io.images import read_image
    from headgen.jobs import talking_head
    from headgen.stages.talking_head import evaluate as ev
    from headgen.stages.talking_head.stage import TalkingHeadParams, run_talking_head

    name = photo_path.stem
    out = work / name
    t0 = time.perf_counter()
    video = talking_head(photo_path, speech, out, cache=CACHE / "pipeline_cache")
    assert video.is_file(), video
    job_s = time.perf_counter() - t0
    photo = read_image(photo_path)[..., :3]
    manifest = json.loads((out / "manifest.json").read_text())
    anim = read_animation(out / "animate" / "animation.npz")
    jaw = anim.column("jawOpen")
    silent = ev.silence_frames(segs, len(jaw), anim.fps)
    photo_open = float(ev.mouth_opening([photo])[0])
    row = dict(photo=name, size=list(photo.shape[1::-1]), yaw=yaw_of(out / "pose" / "pose.json"),
               job_seconds=round(job_s, 1), nodes={k: v.get("seconds") for k, v in manifest["nodes"].items()},
               variants={})
    view0 = _still_view(out / "talking_head" / "talking_head.mp4", photo_path, out)
    row["mesh_lips"], mesh_lm = mesh_lips(out / "fit" / "fit.npz", anim, len(jaw), view0.K)
    inputs = {"media": photo_path, "fit": out / "fit" / "fit.npz", "animation": out / "animate" / "animation.npz",
              "speech": speech, "avatar": out / "avatar" / "avatar_rig.npz"}
    variants = {"avatar": (out / "talking_head", None),     # the job's node folder (video: its hard link)
                "avatar_nodetail": (work / f"{name}_nodetail", dict(detail=0.0)),
                "mesh": (work / f"{name}_mesh", dict(mode="mesh"))}
    for key, (d, kw) in variants.items():
        t0 = time.perf_counter()
        if kw is not None:
            run_talking_head(inputs, TalkingHeadParams(**kw), d, log=lambda m: None, warn=lambda m: None)
        secs = time.perf_counter() - t0
        view = _still_view(d / "talking_head.mp4", photo_path, out)
        mask = read_image(d / "talking_head_mask.png")
        mask = mask if mask.ndim == 2 else mask[..., 0]
        same = np.allclose(view.K, view0.K)
        r = measure(d / "talking_head.mp4", photo, view.background, mask, jaw, silent, photo_open,
                    mesh_lm if same else None, shifts=key == "avatar")
        r["seconds"] = round(secs if kw is not None else row["nodes"].get("talking_head") or 0.0, 1)
        row["variants"][key] = r
        print(f"  {name} {key}: " + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}),
              flush=True)
    # baseline: the former demo's preview stage, same fit and speech
    try:
        row["variants"]["preview"] = _preview_baseline(photo_path, out / "fit" / "fit.npz", speech, work / f"{name}_preview",
                                                       photo, jaw, silent, photo_open)
        print(f"  {name} preview: {row['variants']['preview']}", flush=True)
    except Exception as e:  # the baseline stage may be gone
        row["variants"]["preview"] = {"error": f"{type(e).__name__}: {e}"}
    return row


def _still_view(video: Path, photo_path: Path, job_out: Path):
    """The output view (``OutputView``: K, and ``background`` = the photo in that view, what every frame shows
    where nothing moves) of a talking-head video."""
    from headgen.artifacts.fit import read_fit
    from headgen.models import load_head_model
    from headgen.stages.talking_head.view import make_view, read_still
    from headgen.stages.talking_head.warp import project
    import torch

    info = json.loads(video.with_name("talking_head.json").read_text())
    still = read_still(photo_path)
    fit = read_fit(job_out / "fit" / "fit.npz")
    m = load_head_model("ict", parts="face")
    from headgen.models.sequence import fit_tensors, frame_inputs
    p = fit_tensors(fit)
    with torch.no_grad():
        v = m(**frame_inputs(p["shape"], p["expression"], p["extra"], slice(0, 1), p["rotation"], p["translation"])).vertices[0]
    pts = project(v, torch.as_tensor(fit.K, dtype=torch.float32)).numpy()
    W, H = still.shape[1], still.shape[0]
    native = [round(v, 3) for v in info["crop"]] == [-0.5, -0.5, float(W), float(H)] and info["size"] == [W, H]
    size = "native" if native else info["size"][0]
    view = make_view(still, fit.K, pts, size)
    assert list(view.size) == info["size"], (view.size, info["size"])
    return view


def _preview_baseline(photo_path, fit_path, speech, out, photo, jaw, silent, photo_open) -> dict:
    from headgen.pipeline.stage import StageContext, get_stage

    cls = get_stage("preview")
    t0 = time.perf_counter()
    cls().run({"fit": fit_path, "media": photo_path, "audio": speech}, cls.Params(), out, StageContext("preview", "preview"))
    r = measure(out / "preview.mp4", photo, None, None, jaw, silent, photo_open)
    r["seconds"] = round(time.perf_counter() - t0, 1)
    return r


def time_demo(speech: Path, work: Path) -> dict:
    out = work / "demo_cold"
    if out.exists():
        import shutil
        shutil.rmtree(out)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "headgen.cli", "demo", "-o", str(out), "--speech", str(speech), "--quiet"],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    res = dict(wall_seconds=round(wall, 1), returncode=r.returncode, load_before=round(load0, 1),
               load_after=round(load1, 1), cpus=os.cpu_count())
    if r.returncode != 0:
        res["stderr"] = r.stderr.strip().splitlines()[-1:]
        return res
    m = json.loads((out / "manifest.json").read_text())
    res["nodes"] = {k: round(v.get("seconds") or 0.0, 1) for k, v in m["nodes"].items()}
    return res


def contact_sheet(rows: list, work: Path, path: Path, tile: int = 128) -> None:
    """Per photo: the photo | frames of the default (avatar) video in a pause, at the widest jaw opening and
    at another open frame | the head window of the photo and of the widest-open frame (zoom). Small PNG."""
    import cv2

    from headgen.artifacts.animation import read_animation
    from headgen.io.images import write_image
    from headgen.io.video import read_video

    lines = []
    for row in rows:
        name = row["photo"]
        d = work / name / "talking_head"
        frames, _ = read_video(d / "talking_head.mp4")
        info = json.loads((d / "talking_head.json").read_text())
        jaw = read_animation(work / name / "animate" / "animation.npz").column("jawOpen")[:len(frames)]
        order = np.argsort(jaw)
        pick = [3, int(order[-1]), int(order[-6])]
        view = _still_view(d / "talking_head.mp4", ROOT.parent / "shared" / "assets" / "faces" / f"{name}.png",
                           work / name).background
        x0, y0, x1, y1 = info["window"]
        side = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        zx0, zy0 = max(0, cx - side // 2), max(0, cy - side // 2)
        zoom = lambda im: cv2.resize(im[zy0:zy0 + side, zx0:zx0 + side], (tile, tile), interpolation=cv2.INTER_AREA)
        tiles = [cv2.resize(view, (tile, tile), interpolation=cv2.INTER_AREA)]
        tiles += [cv2.resize(frames[i], (tile, tile), interpolation=cv2.INTER_AREA) for i in pick]
        tiles += [zoom(view), zoom(frames[pick[1]])]
        lines.append(np.concatenate(tiles, 1))
    sheet = np.concatenate(lines, 0)
    try:   # a 256-colour palette keeps the committed PNG small
        from PIL import Image
        Image.fromarray(sheet).quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)
    except ImportError:
        write_image(path, sheet)


def write_md(path: Path, rows: list, timing: dict | None, code: dict | None = None) -> None:
    L = ["# Talking heads on the sample photos (bench/talking_head.py)", "",
         "Speech: 0.5 s silence + CMU ARCTIC slt a0009 + 1.4 s silence (5.0 s). 512x512 output. All variants are "
         "computed in the same run on the same fit, avatar and animation. Targets: identity >= 0.7 (frontal "
         "photos), lip r >= 0.8, mouth closed in silence (opening <= photo's + 0.01 of the face height), "
         "stability < 2 gray levels.", "",
         f"Code: {code['head']}" + (f" plus uncommitted changes in {', '.join(code['dirty'])}" if code and code['dirty'] else "")
         + "." if code else "", "",
         "| photo | yaw | variant | identity (mean / min) | lip r | max opening in silence (photo's) | stability (gray) | s |",
         "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for k, r in row["variants"].items():
            if "error" in r:
                L.append(f"| {row['photo']} | {row['yaw']:.0f} | {k} | {r['error']} | | | | |")
                continue
            st = r.get("stability_gray")
            L.append(f"| {row['photo']} | {row['yaw']:.0f} | {k} | {r['identity']:.3f} / {r['identity_min']:.3f} | "
                     f"{r['lip_r']:.3f} | {r['open_silence_max'] if r['open_silence_max'] is None else round(r['open_silence_max'], 4)} "
                     f"({r['photo_open']:.4f}) | {'-' if st is None else f'{st:.2f}'} | {r['seconds']} |")
    L += ["", "MediaPipe's sensitivity (a diagnostic, not part of the measure): lip r of the default (avatar) video "
          "as measured, and of the same decoded frames moved by one whole pixel (right, down, both).", "",
          "| photo | lip r | moved 1 px right / down / both |", "|---|---|---|"]
    for row in rows:
        r = row["variants"].get("avatar", {})
        if r.get("lip_r_shifted"):
            L.append(f"| {row['photo']} | {r['lip_r']:.3f} | " + " / ".join(f"{v:.3f}" for v in r["lip_r_shifted"]) + " |")
    L += ["", "The driven mesh's own lips (no rendering; MediaPipe-468 embedding of the ICT head), same measure: the "
          "ceiling of lip r, and how far the lips part per unit jawOpen (share of the face height).", "",
          "| photo | mesh lips r | opening at rest | slope per unit jawOpen | max opening |", "|---|---|---|---|---|"]
    for row in rows:
        m = row.get("mesh_lips")
        if m:
            L.append(f"| {row['photo']} | {m['r']:.3f} | {m['rest']:.4f} | {m['slope']:.3f} | {m['max']:.4f} |")
    L += ["", "Where MediaPipe puts the inner lips on the output against the driven mesh's inner lips (a diagnostic of "
          "the lip-sync measure, not part of it): mean vertical offset of landmark 13 (upper) and 14 (lower), down "
          "positive, in face heights, over the frames with jawOpen > 0.1 (and 13 in the silent frames).", "",
          "| photo | variant | open frames | upper lip (13) offset | lower lip (14) offset | upper lip offset in silence |",
          "|---|---|---|---|---|---|"]
    f4 = lambda v: "-" if v is None else f"{v:+.4f}"
    for row in rows:
        for k, r in row["variants"].items():
            if r.get("upper_lip_offset") is not None or r.get("open_frames"):
                L.append(f"| {row['photo']} | {k} | {r.get('open_frames')} | {f4(r.get('upper_lip_offset'))} | "
                         f"{f4(r.get('lower_lip_offset'))} | {f4(r.get('upper_lip_offset_silence'))} |")
    if timing:
        L += ["", "## `headgen demo` from a cold cache (sample portrait, the 5 s utterance)", "",
              f"Wall time {timing.get('wall_seconds')} s on {timing.get('cpus')} CPU cores shared with other engineers' "
              f"jobs (load average {timing.get('load_before')} before, {timing.get('load_after')} after: the timings "
              f"are noisy and an upper bound). Target < 180 s.", "",
              "| node | seconds |", "|---|---|"]
        for k, v in (timing.get("nodes") or {}).items():
            L.append(f"| {k} | {v} |")
        if timing.get("stderr"):
            L.append(f"\nfailed: {timing['stderr']}")
    path.write_text("\n".join(L) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", nargs="*", default=None, help="photo names (default: every photo in faces/)")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--sheet-only", action="store_true", help="redraw the contact sheet from the last run")
    ap.add_argument("--fresh", action="store_true", help="empty the bench's pipeline cache and work folders first")
    a = ap.parse_args()
    if a.sheet_only:
        rows = json.loads((a.out / "talking_head_cpu.json").read_text())["rows"]
        ok = [r for r in rows if "error" not in r["variants"].get("avatar", {})]
        contact_sheet(ok, CACHE / "work", a.out / "talking_head_sheet.png")
        return
    from headgen.assets import sample_faces

    if a.fresh:
        import shutil
        for d in (CACHE / "pipeline_cache", CACHE / "work"):
            shutil.rmtree(d, ignore_errors=True)
    code = code_state()
    speech, segs = make_speech()
    work = CACHE / "work"
    work.mkdir(parents=True, exist_ok=True)
    faces = [p for p in sample_faces() if a.faces is None or p.stem in a.faces]
    rows = []
    for p in faces:
        print(f"{p.name} ...", flush=True)
        try:
            rows.append(bench_photo(p, speech, segs, work))
        except Exception as e:
            print(f"  {p.name}: {type(e).__name__}: {e}", flush=True)
            rows.append(dict(photo=p.stem, yaw=float("nan"), variants={"avatar": {"error": f"{type(e).__name__}: {e}"}}))
    timing = None if a.no_timing else time_demo(speech, work)
    if timing:
        print("demo:", timing, flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "talking_head_cpu.json").write_text(json.dumps(dict(rows=rows, demo=timing, code=code), indent=1, default=str))
    write_md(a.out / "talking_head_cpu.md", rows, timing, code)
    ok = [r for r in rows if "error" not in r["variants"].get("avatar", {})]
    if ok:
        contact_sheet(ok, work, a.out / "talking_head_sheet.png")
    print((a.out / "talking_head_cpu.md").read_text())


if __name__ == "__main__":
    main()
