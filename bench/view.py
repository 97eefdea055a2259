"""Viewer benchmark on the CPU: time from ``headgen view`` to the first frame drawn in headless Chromium
(SwiftShader software WebGL), and the browser's frame rate while a 50k-Gaussian avatar plays.

    .venv/bin/python bench/view.py [--gaussians 50000] [--seconds 6] [--out bench/results/view_cpu.md]

* first frame: ``headgen view --headless PATH --screenshot`` run as a command (wall time from the command's
  start to the PNG, which includes waiting until two consecutive frames agree and shutting down), and the
  same steps in-process with their breakdown (load the result + start the server, launch Chromium ->
  websocket connected, launch -> first frame drawn) for the avatar and for a fitted mesh;
* playback: the avatar driven by a 25 fps clip (jawOpen and head yaw sweeps), deformed server-side per frame
  (``headgen.avatar.deform``) and streamed to the page; the page's requestAnimationFrame rate over
  ``--seconds`` (viser draws on every animation frame, so this is the drawn frame rate), measured through the
  DevTools protocol, with the scene paused and while playing; plus the frames/s the server pushed.
Everything runs on this machine's cores (2 here), shared with whatever else runs: the load average is
reported beside the numbers.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RAF_JS = """new Promise(r => { let n = 0; const t0 = performance.now();
  function f() { n++; const dt = performance.now() - t0;
    if (dt < %d) requestAnimationFrame(f); else r([n, dt / 1000]); }
  requestAnimationFrame(f); })"""


def make_avatar(folder: Path, n: int) -> Path:
    """A striped n-Gaussian ICT avatar (headgen.avatar.build_avatar) in ``folder`` (cached)."""
    from headgen.avatar import ICT_AVATAR_PARTS, build_avatar, save_avatar
    from headgen.models import load_head_model
    if (folder / "avatar_rig.npz").is_file():
        return folder
    m = load_head_model("ict", parts=list(ICT_AVATAR_PARTS))
    with torch.no_grad():
        v = m.neutral().vertices[0]
    c = v[m.faces].mean(1)
    colors = torch.stack([0.6 + 0.3 * torch.sin(c[:, 1] * 150), 0.45 + 0.2 * torch.cos(c[:, 0] * 120),
                          0.35 + 0.1 * torch.sin(c[:, 2] * 90)], 1).clamp(0, 1)
    save_avatar(folder, build_avatar(m, n_gaussians=n, colors=colors, opacity=0.95))
    return folder


def make_clip(path: Path, seconds: float = 4.0, fps: float = 25.0) -> Path:
    """A fit.npz in the model frame's front view: jawOpen 0..1 and yaw +-20 deg sweeps."""
    from headgen.artifacts.fit import write_fit
    from headgen.geometry.rotations import axis_angle_to_matrix
    from headgen.models import load_head_model
    m = load_head_model("ict", parts="face")
    T = int(seconds * fps)
    t = np.arange(T) / fps
    E = np.zeros((T, m.n_expression), np.float32)
    E[:, m.expression_names.index("jawOpen")] = 0.5 - 0.5 * np.cos(2 * np.pi * t / 1.2)
    yaw = np.deg2rad(20) * np.sin(2 * np.pi * t / 2.0)
    R = axis_angle_to_matrix(torch.as_tensor(np.stack([0 * yaw, yaw, 0 * yaw], 1))).numpy()
    R = np.diag([1.0, -1.0, -1.0]) @ R            # facing the camera (OpenCV frame)
    write_fit(path, dict(model=np.array("ict"), shape=np.zeros(100, np.float32), expression=E,
                         expression_names=np.array(m.expression_names), rotation=R.astype(np.float32),
                         translation=np.tile([0.0, 0.0, 0.6], (T, 1)).astype(np.float32),
                         K=np.array([[700, 0, 400], [0, 700, 300], [0, 0, 1]], np.float32),
                         image_size=np.array([800, 600], np.int32), fps=np.float32(fps)))
    return path


def cli_first_frame(path: Path, size: str) -> float:
    """Wall seconds of ``headgen view --headless PATH --screenshot`` (command start -> PNG written, exit)."""
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "headgen.cli", "view", "--headless", str(path), "--screenshot",
                            f"{d}/shot.png", "--size", size], capture_output=True, text=True, timeout=600)
        dt = time.perf_counter() - t0
        if r.returncode != 0 or not Path(f"{d}/shot.png").is_file():
            raise SystemExit(f"headgen view failed: {r.stderr.strip()[-500:]}")
    return dt


def playback(avatar: Path, clip: Path, seconds: float, size=(800, 600)) -> dict:
    """Browser frame rate with the avatar paused and playing the clip (see the module docstring), page of
    ``size`` (w, h)."""
    from headgen.export.sources import load_clip
    from headgen.viewer import Viewer
    from headgen.viewer.browser import HeadlessBrowser
    v = Viewer(load_clip(clip, avatar=avatar), port=0, environment=False)
    try:
        with HeadlessBrowser(v.url, size=size) as b:
            v.wait_for_client(120)
            v.render(size[0] // 2, size[1] // 2, timeout=300)   # the avatar is on screen
            n, dt = b.evaluate(RAF_JS % int(seconds * 1000), timeout=seconds + 120)
            paused = n / dt
            f0, t0 = v.frame, time.perf_counter()
            pushed = [0]
            last = [v.frame]

            def count() -> None:   # frames the server sent while the page was measured
                while v.playing:
                    if v.frame != last[0]:
                        pushed[0] += 1
                        last[0] = v.frame
                    time.sleep(0.002)
            import threading
            v.playing = True
            th = threading.Thread(target=count, daemon=True)
            th.start()
            n, dt = b.evaluate(RAF_JS % int(seconds * 1000), timeout=seconds + 120)
            wall = time.perf_counter() - t0
            v.playing = False
            th.join(2)
            del f0
            return {"paused_fps": paused, "playing_fps": n / dt, "server_fps": pushed[0] / wall,
                    "n_gaussians": len(v.clip.splats)}
    finally:
        v.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gaussians", type=int, default=50000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--out", default=str(ROOT / "bench/results/view_cpu.md"))
    args = ap.parse_args()
    from headgen.viewer import screenshot
    from headgen.viewer.browser import find_chromium
    if find_chromium() is None:
        raise SystemExit("bench/view.py needs Chromium (apt-get install chromium)")
    cache = ROOT / "bench/cache"
    cache.mkdir(parents=True, exist_ok=True)
    avatar = make_avatar(cache / f"view_avatar_{args.gaussians}", args.gaussians)
    clip = make_clip(cache / "view_clip_fit.npz")
    rows = []
    load0 = os.getloadavg()[0]
    for name, path in (("avatar, %d Gaussians" % args.gaussians, avatar), ("fitted mesh (fit.npz)", clip)):
        cli = cli_first_frame(path, "800x600")
        with tempfile.TemporaryDirectory() as d:
            r = screenshot(path, f"{d}/s.png", size=(800, 600))
        rows.append((name, cli, r))
        print(f"{name}: headgen view --headless {cli:.1f} s; in-process load {r['load_s']:.1f} s, "
              f"browser connected {r['browser_connect_s']:.1f} s, first frame {r['first_frame_s']:.1f} s after launch",
              flush=True)
    pbs = {}
    for size in ((800, 600), (400, 300)):
        pb = pbs[size] = playback(avatar, clip, args.seconds, size)
        print(f"playback {size}: paused {pb['paused_fps']:.2f} fps, playing {pb['playing_fps']:.2f} fps, server "
              f"pushed {pb['server_fps']:.1f} frames/s", flush=True)
    load1 = os.getloadavg()[0]
    lines = [
        "# Viewer on the CPU: headless Chromium (SwiftShader) - `bench/view.py`", "",
        f"Machine: {os.cpu_count()} CPU cores (shared; load average {load0:.1f} at the start, {load1:.1f} at the "
        f"end), Chromium software WebGL (ANGLE/SwiftShader), viser {__import__('viser').__version__}, "
        f"800x600 page. Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
        "## Time to the first frame", "",
        "| scene | `headgen view --headless` command, s | load + server, s | Chromium launch -> connected, s |"
        " launch -> first frame drawn, s |",
        "|---|---|---|---|---|"]
    for name, cli, r in rows:
        lines.append(f"| {name} | {cli:.1f} | {r['load_s']:.1f} | {r['browser_connect_s']:.1f} | "
                     f"{r['first_frame_s']:.1f} |")
    lines += ["", "The command's time also includes Python start-up, waiting until two consecutive frames agree "
              "and shutting down. Image-based lighting is off in headless mode (SwiftShader takes ~30 s to "
              "prepare the environment map; the GUI has a checkbox for it).", "",
              f"## Playback of the {pb['n_gaussians']}-Gaussian avatar", "",
              "| page size | browser draw rate, paused (frames/s) | browser draw rate, playing a 25 fps clip "
              "(frames/s) | clip frames the server deformed and sent (frames/s) |", "|---|---|---|---|"]
    lines += [f"| {w}x{h} | {p['paused_fps']:.2f} | {p['playing_fps']:.2f} | {p['server_fps']:.1f} |"
              for (w, h), p in pbs.items()]
    lines += ["",
              "Playing: every clip frame the server reaches is deformed (`headgen.avatar.deform`) and sent as a new "
              "Gaussian buffer; the page re-sorts and draws it. The draw rate is the page's "
              "requestAnimationFrame rate over %.0f s, measured through the DevTools protocol." % args.seconds, ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
