"""Pipeline-runner overhead per node on a synthetic 200-node DAG of no-op stages.

Baseline: the same stage ``run`` calls made directly in topological order (each into its own fresh
directory). Measured: the local executor (cold cache, then fully cached) and the Ray executor (cold cache;
Ray start-up excluded). Prints ms/node of overhead (runner time - direct time) / nodes and the ratios.
Targets: local <= 5 ms/node, Ray <= 50 ms/node.

    python bench/runner.py [--nodes 200] [--workers 2] [--no-ray]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pydantic

from headgen.pipeline.stage import Stage, StageContext, register_stage


class NoOpParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    i: int = 0


@register_stage
class BenchNoOp(Stage):
    """Writes one tiny file; reads nothing (inputs only create the dependency)."""

    name = "bench_noop"
    version = "1"
    inputs = {"deps": "paths?"}
    outputs = {"o": "o.txt"}
    Params = NoOpParams

    def run(self, inputs, params, out_dir, ctx):
        (out_dir / "o.txt").write_text(str(params.i))


def make_dag(n: int, width: int = 10) -> list[tuple[str, list[str]]]:
    """n nodes in layers of ``width``; each node depends on two nodes of the previous layer."""
    nodes = []
    for i in range(n):
        layer, pos = divmod(i, width)
        deps = [] if layer == 0 else sorted({f"n{(layer - 1) * width + pos}",
                                             f"n{(layer - 1) * width + (pos + 1) % width}"})
        nodes.append((f"n{i}", deps))
    return nodes


def write_yaml(path: Path, dag) -> None:
    lines = ["nodes:"]
    for name, deps in dag:
        idx = int(name[1:])
        inp = f", inputs: {{deps: [{', '.join(d + '.o' for d in deps)}]}}" if deps else ""
        lines.append(f"  {name}: {{stage: bench_noop, params: {{i: {idx}}}{inp}}}")
    path.write_text("\n".join(lines) + "\n")


def direct(dag, root: Path) -> float:
    """Call the stage functions directly in topological order; returns seconds."""
    t0 = time.perf_counter()
    outs: dict[str, Path] = {}
    for name, deps in dag:
        d = root / name
        d.mkdir(parents=True)
        inputs = {"deps": [outs[x] for x in deps]} if deps else {}
        BenchNoOp().run(inputs, NoOpParams(i=int(name[1:])), d, StageContext(name, "bench_noop"))
        outs[name] = d / "o.txt"
    return time.perf_counter() - t0


def timed_run(yaml_path: Path, out: Path, **kw) -> tuple[float, dict]:
    from headgen.pipeline.runner import run_pipeline
    t0 = time.perf_counter()
    res = run_pipeline(yaml_path, out, quiet=True, **kw)
    dt = time.perf_counter() - t0
    assert res.ok, [f.error for f in res.failed()]
    counts: dict[str, int] = {}
    for s in res.statuses().values():
        counts[s] = counts.get(s, 0) + 1
    return dt, counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="best of N for direct/local timings")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args(argv)
    n = args.nodes
    dag = make_dag(n)
    tmp = Path(tempfile.mkdtemp(prefix="hg-bench-runner-"))
    try:
        yaml_path = tmp / "dag.yaml"
        write_yaml(yaml_path, dag)
        t_direct = min(direct(dag, tmp / f"direct{r}") for r in range(args.repeat))
        cold, warm = [], []
        for r in range(args.repeat):
            dt, counts = timed_run(yaml_path, tmp / f"local{r}", workers=args.workers)
            assert counts == {"done": n}, counts
            cold.append(dt)
            dt, counts = timed_run(yaml_path, tmp / f"local{r}", workers=args.workers)
            assert counts == {"cached": n}, counts
            warm.append(dt)
        t_cold, t_warm = min(cold), min(warm)
        print(f"DAG: {n} no-op nodes, {args.workers} workers")
        print(f"direct calls        : {t_direct * 1e3 / n:7.3f} ms/node ({t_direct:.3f} s)")
        print(f"local, cold cache   : {t_cold * 1e3 / n:7.3f} ms/node total, overhead "
              f"{(t_cold - t_direct) * 1e3 / n:7.3f} ms/node, ratio {t_cold / t_direct:6.1f}x  (target <= 5 ms/node)")
        print(f"local, all cached   : {t_warm * 1e3 / n:7.3f} ms/node total, ratio {t_warm / t_direct:6.1f}x")
        if not args.no_ray:
            try:
                import ray
            except ImportError:
                print("ray: not installed (pip install 'headgen[ray]'); skipped")
                return 0
            t0 = time.perf_counter()
            ray.init(num_cpus=max(2, args.workers), include_dashboard=False, logging_level="ERROR",
                     log_to_driver=False)
            t_init = time.perf_counter() - t0
            try:
                # warm the worker pool with a tiny run so worker start-up is not counted per node
                timed_run(yaml_path, tmp / "raywarm", executor="ray", sets=["n0.i=-1"])
                dt, counts = timed_run(yaml_path, tmp / "ray", executor="ray")
                assert counts.get("done") == n, counts
            finally:
                ray.shutdown()
            print(f"ray, cold cache     : {dt * 1e3 / n:7.3f} ms/node total, overhead "
                  f"{(dt - t_direct) * 1e3 / n:7.3f} ms/node, ratio {dt / t_direct:6.1f}x  (target <= 50 ms/node; "
                  f"ray.init {t_init:.1f} s excluded)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
