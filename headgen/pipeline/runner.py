"""The DAG runner: validates, plans fan-out items, schedules nodes topologically on an executor,
serves cache hits, materialises outputs into OUT and writes manifests.

Semantics:
- A node runs once all its upstream nodes are done or cached; independent nodes (and fan-out items) run
  in parallel on the executor's workers. If an upstream node failed or was skipped, the node is "skipped".
- Cache key = sha256(stage name, stage version, all params, digests of the input artifacts). Upstream
  inputs are digested by content, so after a param change a descendant re-runs only if its inputs' content
  changed (a param change that leaves an output byte-identical stops re-computation there).
- Outputs are committed into the store (``OUT/.cache`` or ``cache``) and hard-linked (copied across file
  systems) into ``OUT/[<item>/]<node>/<output path>``; the store's files are read-only so editing an OUT
  file in place cannot corrupt the cache. Downstream stages read the store's paths.
- A failing node keeps every finished artifact, marks its descendants "skipped", and the manifest is
  still written; the CLI then exits 1 naming the failed node.
"""
from __future__ import annotations

import heapq
import logging
import os
import shutil
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headgen.errors import HeadgenError, InputError
from headgen.io.atomic import replace_dir
from headgen.pipeline.executors import make_executor
from headgen.pipeline.manifest import versions, write_manifest
from headgen.pipeline.progress import NullProgress, RichProgress
from headgen.pipeline.spec import Item, Pipeline, PipelineError, load_pipeline, plan_items
from headgen.pipeline.store import Store, cache_key, materialize, pid_alive
from headgen.pipeline.task import NodeResult, NodeTask, one_line

log = logging.getLogger("headgen.pipeline")


class PipelineRunError(HeadgenError):
    """At least one node failed (exit code 1); the message names the first failed node and its error."""

    exit_code = 1


def default_workers() -> int:
    """Default parallel node count: half the CPUs, at least 2, at most 8."""
    return max(2, min(8, (os.cpu_count() or 2) // 2))


@dataclass
class NodeRun:
    """State of one (item, node) during and after a run."""

    item: str
    node: str
    stage: str
    status: str = "pending"     # pending/running -> done/cached/failed/skipped
    seconds: float = 0.0
    key: str | None = None
    meta: dict | None = None
    error: str | None = None
    traceback: str | None = None
    outputs: dict[str, Path] = field(default_factory=dict)   # output name -> path under OUT

    @property
    def id(self) -> str:
        return f"{self.item}/{self.node}" if self.item else self.node


@dataclass
class RunResult:
    """What run_pipeline did: per-node states, the manifest path, and whether everything succeeded."""

    out: Path
    manifest_path: Path
    manifest: dict
    nodes: dict[str, NodeRun]          # keyed by NodeRun.id
    fanned_out: bool

    @property
    def ok(self) -> bool:
        return all(n.status in ("done", "cached") for n in self.nodes.values())

    def statuses(self) -> dict[str, str]:
        """{node id: status}."""
        return {k: v.status for k, v in self.nodes.items()}

    def failed(self) -> list[NodeRun]:
        return [n for n in self.nodes.values() if n.status == "failed"]


def _files_under(root: Path) -> list[str]:
    return [os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs]


def _placed_exactly(src: Path, rels: list[str], node_dir: Path) -> bool:
    """True if ``node_dir`` holds exactly the outputs ``rels`` of ``src``, hard-linked (nothing to do)."""
    try:
        want: list[str] = []
        for rel in rels:
            if (src / rel).is_dir():
                want += [os.path.join(rel, f) for f in _files_under(src / rel)]
            else:
                want.append(rel)
        if sorted(os.path.normpath(w) for w in want) != sorted(_files_under(node_dir)):
            return False
        return all(os.path.samefile(src / w, node_dir / w) for w in want)
    except OSError:
        return False


def _cleanup_out(base: Path) -> None:
    """Remove .tmp-*/.old-* placement dirs left in ``base`` by killed runs (dead pids only)."""
    try:
        entries = list(os.scandir(base))
    except OSError:
        return
    for e in entries:
        if e.name.startswith((".tmp-", ".old-")):
            parts = e.name.rsplit("-", 2)
            if len(parts) == 3 and parts[1].isdigit() and not pid_alive(int(parts[1])):
                shutil.rmtree(e.path, ignore_errors=True)


def run_pipeline(pipeline: Pipeline | str | Path, out: str | Path, inputs: list[str] | dict | tuple = (),
                 sets: list[str] | tuple = (), executor: str = "local", workers: int | None = None,
                 cache: str | Path | None = None, address: str | None = None, quiet: bool = True,
                 log_level: int | None = None) -> RunResult:
    """Run a pipeline (a validated Pipeline or a YAML path, with ``sets`` overrides) into ``out``.

    ``inputs``: ``["NAME=PATH", ...]`` (globs allowed) or ``{NAME: path | [paths]}``. Returns a RunResult
    (check ``.ok``); raises PipelineError (exit code 2) for invalid pipelines/arguments before running.
    """
    if not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(pipeline, sets)
    elif sets:
        pipeline = load_pipeline(pipeline.path, sets)
    items, fanned = plan_items(pipeline, inputs)
    if executor not in ("local", "ray"):
        raise PipelineError(f"--executor {executor}: unknown executor (use 'local' or 'ray')")
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise PipelineError(f"-o {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    store = Store(Path(cache).absolute() if cache else out / ".cache")
    store.cleanup_stale()
    for base in [out] + [out / it.name for it in items if it.name]:
        _cleanup_out(base)
    if workers is not None and workers < 1:
        raise PipelineError(f"--workers {workers}: must be at least 1")
    level = log_level if log_level is not None else logging.getLogger().getEffectiveLevel()
    # Ray: the cluster's resources bound parallelism unless --workers caps the tasks in flight
    ex = make_executor(executor, workers if executor == "ray" else (workers or default_workers()), address)
    t_start = time.perf_counter()
    runs: dict[str, NodeRun] = {}
    try:
        n_total = len(items) * len(pipeline.nodes)
        prog = NullProgress() if quiet else RichProgress(n_total, title=pipeline.path.name)
        with prog:
            _schedule(pipeline, items, fanned, out, store, ex, prog, level, runs)
    except BaseException:   # Ctrl-C (or a runner bug): drop queued work, keep the manifest
        ex.close(cancel=True)
        raise
    else:
        ex.close()
    finally:
        if runs:
            manifest_path, manifest = _write_manifests(pipeline, items, fanned, out, runs, executor,
                                                       time.perf_counter() - t_start)
    return RunResult(out, manifest_path, manifest, runs, fanned)


def _schedule(pipeline: Pipeline, items: list[Item], fanned: bool, out: Path, store: Store, ex,
              prog, level: int, runs: dict[str, NodeRun]) -> dict[str, NodeRun]:
    for it in items:
        for name, spec in pipeline.nodes.items():
            r = NodeRun(it.name, name, spec.stage)
            runs[r.id] = r
    item_by_name = {it.name: it for it in items}
    input_digests: dict[str, str] = {}

    def dig(p: Path) -> str:
        k = str(p)
        if k not in input_digests:
            try:
                input_digests[k] = store.digest_input(p)
            except OSError as e:   # vanished/unreadable since planning: fails the consuming node
                raise InputError(f"{p}: cannot read input: {e.strerror or e}") from None
        return input_digests[k]

    def rid(item: str, node: str) -> str:
        return f"{item}/{node}" if item else node

    waiting: dict[str, int] = {r.id: len(pipeline.nodes[r.node].deps) for r in runs.values()}
    children: dict[str, list[str]] = {n: [] for n in pipeline.nodes}
    for n, s in pipeline.nodes.items():
        for d in s.deps:
            children[d].append(n)
    # ready nodes, earliest item first then topological order: fan-out items finish one after another
    item_idx = {it.name: ii for ii, it in enumerate(items)}
    node_idx = {n: k for k, n in enumerate(pipeline.order)}
    prio = {r.id: (item_idx[r.item], node_idx[r.node]) for r in runs.values()}
    ready: list[tuple] = [(prio[i], i) for i, c in waiting.items() if c == 0]
    heapq.heapify(ready)
    futures: dict[Future, str] = {}
    inflight: dict[str, list[str]] = {}   # key -> other node ids waiting for the same artifact
    remaining = len(runs)

    def finish(r: NodeRun, status: str) -> None:
        nonlocal remaining
        r.status = status
        remaining -= 1
        prog.node_finished(r.id, status)
        if status in ("failed", "skipped"):
            for c in children[r.node]:
                cr = runs[rid(r.item, c)]
                if cr.status == "pending":
                    cr.error = f"upstream node '{r.node}' {status}"
                    finish(cr, "skipped")
        else:
            for c in children[r.node]:
                cid = rid(r.item, c)
                waiting[cid] -= 1
                if waiting[cid] == 0 and runs[cid].status == "pending":
                    heapq.heappush(ready, (prio[cid], cid))

    def place_outputs(r: NodeRun) -> None:
        spec = pipeline.nodes[r.node]
        base = out / r.item if r.item else out
        node_dir = base / r.node
        src = store.out_dir(r.key)
        rels = {name: o["path"] for name, o in r.meta["outputs"].items()}
        if set(rels) != set(spec.stage_cls.outputs):
            raise RuntimeError(f"cached artifact {r.key[:12]} of stage '{spec.stage}' has outputs "
                               f"{sorted(rels)} but the stage declares {sorted(spec.stage_cls.outputs)}: "
                               f"bump the stage's version")

        def fill(tmp: Path) -> None:
            for rel in rels.values():
                materialize(src / rel, tmp / rel)
        base.mkdir(parents=True, exist_ok=True)
        if not (node_dir.exists() or node_dir.is_symlink()):
            node_dir.mkdir()
            fill(node_dir)
        elif node_dir.is_symlink() or not _placed_exactly(src, list(rels.values()), node_dir):
            replace_dir(node_dir, fill)
        r.outputs = {name: node_dir / rel for name, rel in rels.items()}

    def start(i: str) -> None:
        r = runs[i]
        spec = pipeline.nodes[r.node]
        item = item_by_name[r.item]
        paths: dict[str, Any] = {}
        digests: dict[str, Any] = {}
        for inp, refs in spec.inputs.items():
            ps: list[Path] = []
            ds: list[str] = []
            for ref in refs:
                if ref.node is None:
                    v = item.inputs[ref.name]
                    for p in (v if isinstance(v, list) else [v]):
                        ps.append(Path(p).absolute())
                        ds.append(dig(ps[-1]))
                else:
                    up = runs[rid(r.item, ref.node)]
                    o = up.meta["outputs"][ref.name]
                    ps.append(store.out_dir(up.key) / o["path"])
                    ds.append(o["digest"])
            if spec.input_kind(inp) == "paths":
                paths[inp], digests[inp] = [str(p) for p in ps], ds
            else:
                paths[inp], digests[inp] = str(ps[0]), ds[0]
        r.key = cache_key(spec.stage, spec.stage_cls.version, spec.params, digests)
        t0 = time.perf_counter()
        meta = store.lookup(r.key)
        if meta is not None:
            r.meta = meta
            place_outputs(r)
            r.seconds = time.perf_counter() - t0
            finish(r, "cached")
            return
        r.status = "running"
        if r.key in inflight:      # same work already running for another item: wait for it
            inflight[r.key].append(i)
            return
        inflight[r.key] = []
        prog.node_started(r.id, f"{r.id} [{spec.stage}]")

        def cb(done, total=None, desc=None, _id=r.id):
            prog.node_progress(_id, done, total, desc)
        task = NodeTask(r.item, r.node, spec.stage_cls, spec.params, paths, digests, r.key, str(store.root), level)
        log.debug("submit %s (key %s)", r.id, r.key[:12])
        futures[ex.submit(task, cb)] = i

    def complete(i: str, res: NodeResult, follower: bool = False) -> None:
        r = runs[i]
        if not follower:
            for j in inflight.pop(r.key, []):
                complete(j, NodeResult(res.ok, 0.0, res.meta, res.error, res.traceback, won=False), True)
        r.seconds = res.seconds
        if res.ok:
            r.meta = res.meta
            try:
                place_outputs(r)
            except Exception as e:  # noqa: BLE001
                r.error = f"placing outputs in {out}: {one_line(e)}"
                finish(r, "failed")
                return
            finish(r, "done" if res.won else "cached")
        else:
            r.error, r.traceback = res.error, res.traceback
            log.info("node %s (stage %s) failed: %s", r.id, r.stage, res.error)   # the CLI prints one line
            log.debug("%s", res.traceback)
            finish(r, "failed")

    while remaining:
        while ready and len(futures) < ex.max_in_flight:
            _, i = heapq.heappop(ready)
            try:
                start(i)
            except PipelineError:
                raise
            except Exception as e:  # noqa: BLE001 - e.g. an unreadable artifact: fail this node only
                r = runs[i]
                r.error = one_line(e)
                r.traceback = traceback.format_exc()
                finish(r, "failed")
        if not futures:
            if remaining and not ready and not inflight:  # pragma: no cover - would be a scheduler bug
                raise RuntimeError("pipeline scheduler stalled")
            continue
        done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
        for f in done:
            i = futures.pop(f)
            try:
                res = f.result()
            except Exception as e:  # executor-level failure (e.g. a Ray worker died)
                res = NodeResult(False, 0.0, error=one_line(e))
            complete(i, res)
    return runs


def _node_entry(r: NodeRun, rel_to: Path) -> dict:
    e: dict[str, Any] = {"stage": r.stage, "status": r.status, "seconds": round(r.seconds, 4),
                         "outputs": {k: os.path.relpath(p, rel_to) for k, p in r.outputs.items()}}
    if r.key:
        e["key"] = r.key
    if r.error:
        e["error"] = r.error
    return e


def _write_manifests(pipeline: Pipeline, items: list[Item], fanned: bool, out: Path,
                     runs: dict[str, NodeRun], executor: str, seconds: float) -> tuple[Path, dict]:
    for r in runs.values():   # interrupted: whatever did not finish
        if r.status in ("pending", "running"):
            r.status, r.error = ("failed", "interrupted") if r.status == "running" else ("skipped", "interrupted")
    vers = versions({s.stage: s.stage_cls.version for s in pipeline.nodes.values()})

    def status_of(rs: list[NodeRun]) -> str:
        return "done" if all(r.status in ("done", "cached") for r in rs) else "failed"

    def inputs_of(it: Item) -> dict:
        return {k: ([str(Path(x).absolute()) for x in v] if isinstance(v, list) else str(Path(v).absolute()))
                for k, v in it.inputs.items()}

    per_item: dict[str, dict] = {}
    for it in items:
        rs = [r for r in runs.values() if r.item == it.name]
        base = out / it.name if it.name else out
        m = {"pipeline": str(pipeline.path.absolute()), "executor": executor, "status": status_of(rs),
             "inputs": inputs_of(it), "nodes": {r.node: _node_entry(r, base) for r in rs}, "versions": vers}
        if not fanned:
            m["seconds"] = round(seconds, 4)
            write_manifest(out / "manifest.json", m)
            return out / "manifest.json", m
        write_manifest(base / "manifest.json", m)
        counts: dict[str, int] = {}
        for r in rs:
            counts[r.status] = counts.get(r.status, 0) + 1
        per_item[it.name] = {"status": m["status"], "manifest": f"{it.name}/manifest.json",
                             "inputs": m["inputs"], "counts": counts}
    top = {"pipeline": str(pipeline.path.absolute()), "executor": executor,
           "status": status_of(list(runs.values())), "seconds": round(seconds, 4), "items": per_item,
           "nodes": {r.id: _node_entry(r, out) for r in runs.values()}, "versions": vers}
    write_manifest(out / "manifest.json", top)
    return out / "manifest.json", top


def raise_for_failures(result: RunResult) -> None:
    """Raise PipelineRunError (one line: the first failed node, its stage and error) if any node failed."""
    failed = result.failed()
    if not failed:
        return
    f = failed[0]
    more = f" (+{len(failed) - 1} more failed)" if len(failed) > 1 else ""
    raise PipelineRunError(f"node '{f.id}' (stage {f.stage}) failed: {f.error}{more}; "
                           f"see {result.manifest_path}")
