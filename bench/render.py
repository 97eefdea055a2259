"""Benchmark of the mesh rasteriser (headgen.render) on the full ICT head (26,719 vertices,
52,220 triangles), front view filling ~1/3 of the frame.

Measures frames/s (median of repeated runs, batch 1) of
  - rasterize            (tri ids + perspective-correct barycentrics + depth, no autograd),
  - render (shade)       (rasterize + interpolate vertex normals + Lambert, i.e. render_mesh),
  - render + antialias   (the same plus analytic silhouette anti-aliasing),
  - differentiable pass  (rasterize with verts requiring grad + interpolate + backward),
at 512x512 with the "builtin" C++/OpenMP backend. Baselines in the same process: pytorch3d's CPU
rasteriser at 512x512 when installed, and always the pure-torch reference at 128x128 (ratio
builtin/torch at that size). Reports wall-clock and process CPU time per frame, since shared
machines make wall time noisy.

    python bench/render.py [--size 512] [--iters 30] [--threads 2] [--out bench/results/render_cpu.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a shared/oversubscribed machine spinning
# threads of torch's pool stall each other (measured up to 10x slower). Must be set before torch
# initialises OpenMP; export OMP_WAIT_POLICY=active to measure the default behaviour.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timeit(fn, iters: int, warmup: int = 3) -> dict:
    """Median wall ms, mean CPU ms per call, frames/s from the median."""
    for _ in range(warmup):
        fn()
    walls = []
    c0 = _cpu()
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    cpu_ms = (_cpu() - c0) / iters * 1e3
    med = statistics.median(walls) * 1e3
    return {"wall_ms_median": round(med, 3), "wall_ms_min": round(min(walls) * 1e3, 3),
            "cpu_ms_mean": round(cpu_ms, 3), "fps": round(1e3 / med, 2), "fps_best": round(1e3 / (min(walls) * 1e3), 2)}


def ict_scene(size: int):
    from headgen.assets import ict_facekit_npz
    from headgen.geometry.camera import default_intrinsics

    d = np.load(ict_facekit_npz())
    v = torch.from_numpy(d["neutral_vertices"]).float() * 0.01
    f = torch.from_numpy(d["faces"]).long()
    v = v - (v.max(0).values + v.min(0).values) / 2
    verts_cam = (v * torch.tensor([1.0, -1.0, -1.0]) + torch.tensor([0.0, 0.0, 0.75])).unsqueeze(0)
    return verts_cam, f, default_intrinsics(size, size, 30.0)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="bench/results/render_cpu.json")
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    torch.set_num_threads(a.threads)
    from headgen.render import interpolate, rasterize, render_mesh
    from headgen.render.backends import available

    S = a.size
    verts, faces, K = ict_scene(S)
    res = {"scene": {"mesh": "ICT-FaceKit neutral", "vertices": int(verts.shape[1]), "triangles": int(faces.shape[0]),
                     "size": [S, S]},
           "machine": {"cpu_count": os.cpu_count(), "threads": a.threads, "torch": torch.__version__,
                       "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                       "platform": platform.platform(), "loadavg_before": list(os.getloadavg())}}
    r = rasterize(verts, faces, K, S, S, backend="builtin")
    res["scene"]["coverage"] = round(r.mask.float().mean().item(), 4)

    def rast():
        with torch.no_grad():
            rasterize(verts, faces, K, S, S, backend="builtin")

    def shade():
        with torch.no_grad():
            render_mesh(verts, faces, K, S, S, shading="lambert", backend="builtin")

    def shade_aa():
        with torch.no_grad():
            render_mesh(verts, faces, K, S, S, shading="lambert", backend="builtin", antialias=True)

    vg = verts.clone().requires_grad_(True)
    col = torch.rand(1, verts.shape[1], 3)

    def diff():
        rr = rasterize(vg, faces, K, S, S, backend="builtin")
        interpolate(col, rr, faces).sum().backward()

    res["builtin"] = {"rasterize": timeit(rast, a.iters), "render_shade": timeit(shade, a.iters),
                      "render_shade_antialias": timeit(shade_aa, max(5, a.iters // 2)),
                      "differentiable_fwd_bwd": timeit(diff, max(5, a.iters // 3))}
    if available("pytorch3d"):
        def p3d():
            with torch.no_grad():
                rasterize(verts, faces, K, S, S, backend="pytorch3d")
        res["pytorch3d"] = {"rasterize": timeit(p3d, max(5, a.iters // 3), warmup=1)}
        res["ratio_builtin_vs_pytorch3d_rasterize"] = round(
            res["pytorch3d"]["rasterize"]["wall_ms_median"] / res["builtin"]["rasterize"]["wall_ms_median"], 2)
    else:
        res["pytorch3d"] = "not installed"
    s = 128
    v2, f2, K2 = ict_scene(s)

    def small(backend):
        def fn():
            with torch.no_grad():
                rasterize(v2, f2, K2, s, s, backend=backend)
        return fn

    res["small_128"] = {"builtin": timeit(small("builtin"), a.iters), "torch_reference": timeit(small("torch"), 3, 1)}
    res["ratio_builtin_vs_torch_reference_128"] = round(
        res["small_128"]["torch_reference"]["wall_ms_median"] / res["small_128"]["builtin"]["wall_ms_median"], 1)
    res["machine"]["loadavg_after"] = list(os.getloadavg())
    b = res["builtin"]
    print(f"ICT head {faces.shape[0]} tris at {S}x{S} ({a.threads} threads, load {res['machine']['loadavg_before'][0]:.1f}):")
    for k in ("rasterize", "render_shade", "render_shade_antialias", "differentiable_fwd_bwd"):
        print(f"  builtin {k:24s} {b[k]['fps']:7.1f} fps (median {b[k]['wall_ms_median']:.1f} ms, best "
              f"{b[k]['wall_ms_min']:.1f} ms, cpu {b[k]['cpu_ms_mean']:.1f} ms/frame)")
    if isinstance(res["pytorch3d"], dict):
        print(f"  pytorch3d rasterize {res['pytorch3d']['rasterize']['fps']:.1f} fps -> builtin is "
              f"{res['ratio_builtin_vs_pytorch3d_rasterize']}x faster")
    else:
        print("  pytorch3d: not installed (no comparison)")
    print(f"  at 128x128: builtin {res['small_128']['builtin']['fps']:.1f} fps vs torch reference "
          f"{res['small_128']['torch_reference']['fps']:.2f} fps ({res['ratio_builtin_vs_torch_reference_128']}x)")
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2))
        print(f"wrote {out}")
    return res


if __name__ == "__main__":
    main()
