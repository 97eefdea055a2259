"""Benchmark of headgen.splat.rasterize backends: forward / backward ms and peak memory.

Baselines run in the same process: on a GPU every backend is compared with gsplat; on CPU our "cpu"
extension is compared with the pure-torch reference ("torch"), which is dense (every pixel x every
Gaussian) and cannot run at head-avatar scales, so that comparison uses small scenes (stated in the
output). Head-avatar scales: N = 10k / 50k / 100k Gaussians of 1-6 mm in a head-sized ellipsoid seen
from 0.5 m (35 deg vertical fov), 512^2 and 1024^2 px, RGB, classic mode.

    python bench/splat.py [--quick] [--device cpu|cuda] [--out bench/results/splat_cpu.json]

Also reported: process CPU time (all threads) per call, which is less sensitive to a shared, loaded machine
than wall time. Peak memory: CUDA: torch.cuda.max_memory_allocated; CPU: peak resident-set growth sampled every 2 ms
during the call (approximate).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path

# Passive OpenMP waiting (overridable): on a shared / oversubscribed machine, spinning OpenMP threads
# make short parallel regions 10x slower (measured here: 10k Gaussians at 64^2, 9 ms passive vs ~100 ms
# active on 2 busy cores). Must be set before torch (and libgomp) load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from headgen.splat import rasterize  # noqa: E402
from headgen.splat.backends import gsplat_available  # noqa: E402
from headgen.testing.scenes import random_scene  # noqa: E402

PARAMS = ("means", "quats", "scales", "opacities", "colors_or_sh")
SCALE_RANGE = (0.001, 0.006)


class _RssPeak:
    """Peak RSS growth (bytes) over a block, sampled from /proc/self/statm by a thread."""

    def __init__(self, period: float = 0.002):
        self.period, self.peak, self._stop = period, 0, False
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _loop(self):
        while not self._stop:
            self.peak = max(self.peak, self._rss() - self.base)
            time.sleep(self.period)

    def __enter__(self):
        self.base = self._rss()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._t.join()
        self.peak = max(self.peak, self._rss() - self.base)


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def measure(backend: str, n: int, width: int, height: int, device: str, reps: int) -> dict:
    """Median forward / backward ms and peak memory (MB) of one backend on one scene."""
    scene = random_scene(n, width=width, height=height, seed=0, scale_range=SCALE_RANGE, device=device)
    fwd, bwd, peaks, cpu_f, cpu_b = [], [], [], [], []
    for it in range(reps + 1):  # first iteration = warm-up (extension load, caches)
        s = {k: (v.detach().clone().requires_grad_(k in PARAMS) if torch.is_tensor(v) else v) for k, v in scene.items()}
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        rss = _RssPeak() if device == "cpu" else None
        if rss:
            rss.__enter__()
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        img, alpha, meta = rasterize(**s, backend=backend)
        _sync(device)
        t1, c1 = time.perf_counter(), time.process_time()
        (img.sum() + alpha.sum()).backward()
        _sync(device)
        t2, c2 = time.perf_counter(), time.process_time()
        if rss:
            rss.__exit__()
            peak = rss.peak
        else:
            peak = torch.cuda.max_memory_allocated() - base
        if it > 0:
            fwd.append((t1 - t0) * 1e3)
            bwd.append((t2 - t1) * 1e3)
            cpu_f.append((c1 - c0) * 1e3)
            cpu_b.append((c2 - c1) * 1e3)
            peaks.append(peak / 2**20)
        visible = int(meta["visibility"].sum())
        del img, alpha, meta, s
    return dict(backend=backend, n=n, width=width, height=height, fwd_ms=statistics.median(fwd),
                bwd_ms=statistics.median(bwd), fwd_cpu_ms=statistics.median(cpu_f),
                bwd_cpu_ms=statistics.median(cpu_b), peak_mb=max(peaks), visible=visible, reps=reps)


def profile(backend: str, n: int, res: int, device: str, rows: int = 12) -> None:
    """Print torch.profiler's table (top ops by device time) of one warm forward + backward."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    scene = random_scene(n, width=res, height=res, seed=0, scale_range=SCALE_RANGE, device=device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    for it in range(2):
        s = {k: (v.detach().clone().requires_grad_(k in PARAMS) if torch.is_tensor(v) else v) for k, v in scene.items()}
        _sync(device)
        with torch_profile(activities=acts) as prof:
            img, alpha, _ = rasterize(**s, backend=backend)
            (img.sum() + alpha.sum()).backward()
            _sync(device)
    key = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    print(f"--- profile {backend} N={n} {res}x{res}")
    print(prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=60))


def _ratio(base: dict, other: dict) -> dict:
    return dict(n=base["n"], width=base["width"], height=base["height"], baseline=base["backend"],
                backend=other["backend"], fwd_speedup=base["fwd_ms"] / other["fwd_ms"],
                bwd_speedup=base["bwd_ms"] / other["bwd_ms"],
                total_speedup=(base["fwd_ms"] + base["bwd_ms"]) / (other["fwd_ms"] + other["bwd_ms"]),
                mem_ratio=other["peak_mb"] / max(base["peak_mb"], 1e-3))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, fewer repetitions")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--out", default=None, help="json path (default bench/results/splat_<device>.json)")
    ap.add_argument("--profile", action="store_true", help="also print a profiler table of the largest scene")
    args = ap.parse_args()
    dev = args.device
    if dev == "cpu":  # fixed mmap threshold: large tensors are mmapped/unmapped, so RSS growth tracks them
        try:
            import ctypes
            ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD
        except (OSError, AttributeError):
            pass
    reps = 1 if args.quick else (20 if dev == "cuda" else 3)  # GPU calls take ~1 ms: more samples
    sizes = [(10_000, 256)] if args.quick else [(n, r) for r in (512, 1024) for n in (10_000, 50_000, 100_000)]
    # torch reference: dense, O(pixels x Gaussians) memory under autograd -> small scenes only
    ref_sizes = [(1_000, 96)] if args.quick else [(2_000, 128), (10_000, 64)]
    results, ratios = [], []

    def run(backend, n, res):
        r = measure(backend, n, res, res, dev, reps)
        results.append(r)
        print(f"{backend:>7} N={n:>7} {res}x{res}: fwd {r['fwd_ms']:9.1f} ms  bwd {r['bwd_ms']:9.1f} ms  "
              f"(process cpu {r['fwd_cpu_ms']:.0f} + {r['bwd_cpu_ms']:.0f} ms)  "
              f"peak {r['peak_mb']:8.1f} MB  visible {r['visible']}", flush=True)
        return r

    if dev == "cuda":
        backends = ["cuda"] + (["gsplat"] if gsplat_available() else [])
        for n, res in sizes:
            rs = {b: run(b, n, res) for b in backends}
            if "gsplat" in rs:
                ratios.append(_ratio(rs["gsplat"], rs["cuda"]))
        note = "GPU: ratios are gsplat time / ours (>1: ours faster); mem_ratio = ours / gsplat"
    else:
        for n, res in sizes:
            run("cpu", n, res)
        for n, res in ref_sizes:
            base = run("torch", n, res)
            ratios.append(_ratio(base, run("cpu", n, res)))
        note = ("CPU: the torch reference is dense (every pixel against every Gaussian) and runs only at the small "
                f"sizes {ref_sizes} (N, px); ratios there are torch time / cpu-extension time (>1: extension faster); "
                "the head-avatar sizes are measured for the extension alone")
    if args.profile:
        for b in (["cuda"] + (["gsplat"] if gsplat_available() else [])) if dev == "cuda" else ["cpu"]:
            profile(b, *sizes[-1], dev)
    for r in ratios:
        print(f"ratio {r['baseline']}/{r['backend']} N={r['n']} {r['width']}x{r['height']}: fwd {r['fwd_speedup']:.1f}x "
              f"bwd {r['bwd_speedup']:.1f}x total {r['total_speedup']:.1f}x mem {r['mem_ratio']:.2f}")
    print(note)
    out = Path(args.out or Path(__file__).parent / "results" / f"splat_{dev}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    info = dict(device=dev, torch=torch.__version__, threads=torch.get_num_threads(),
                omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"), cpu=platform.processor(),
                cpu_count=os.cpu_count(), load_avg=os.getloadavg(), quick=args.quick,
                gpu=torch.cuda.get_device_name() if dev == "cuda" else None,
                scene=f"random head-sized ellipsoid, scales {SCALE_RANGE} m, camera 0.5 m, 35 deg fov, RGB, classic",
                note=note)
    out.write_text(json.dumps(dict(info=info, results=results, ratios=ratios), indent=2))
    md = [f"# splat benchmark ({dev})", "", note, "",
          f"torch {info['torch']}, {info['threads']} threads, load average at end {tuple(round(x, 1) for x in info['load_avg'])}",
          "", "| backend | N | px | fwd ms | bwd ms | process CPU ms fwd+bwd | peak MB |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['backend']} | {r['n']} | {r['width']}x{r['height']} | {r['fwd_ms']:.1f} | {r['bwd_ms']:.1f} | "
           f"{r['fwd_cpu_ms']:.0f}+{r['bwd_cpu_ms']:.0f} | {r['peak_mb']:.0f} |" for r in results]
    md += ["", "| baseline / ours | N | px | fwd | bwd | total | mem ours/baseline |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['baseline']} / {r['backend']} | {r['n']} | {r['width']}x{r['height']} | {r['fwd_speedup']:.1f}x | "
           f"{r['bwd_speedup']:.1f}x | {r['total_speedup']:.1f}x | {r['mem_ratio']:.2f} |" for r in ratios]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
