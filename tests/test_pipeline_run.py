"""Running pipelines with the local executor: outputs, manifest, cache, re-run sets, fan-out, failures,
parallelism, progress/logging. The CLI runs in-process (headgen.cli.main)."""
from __future__ import annotations

import json
import os
import stat
import textwrap
import threading
import time
from pathlib import Path

import pydantic
import pytest

from headgen.cli import main
from headgen.pipeline.runner import run_pipeline
from headgen.pipeline.stage import Stage, register_stage

CALLS: list[str] = []          # "item/node" of every stage execution in this process
SPANS: dict[str, tuple[float, float]] = {}
_lock = threading.Lock()


def record(ctx, t0=None, t1=None):
    with _lock:
        CALLS.append(f"{ctx.item}/{ctx.node}" if ctx.item else ctx.node)
        if t0 is not None:
            SPANS[ctx.node] = (t0, t1)


class _P(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


@register_stage
class RunWrite(Stage):
    name = "run_write"
    version = "1"
    outputs = {"text": "text.txt"}

    class Params(_P):
        text: str = "w"
        count: int = 1

    def run(self, inputs, params, out_dir, ctx):
        record(ctx)
        ctx.log(f"writing {params.text!r}")
        (out_dir / "text.txt").write_text(params.text * params.count)


@register_stage
class RunUpper(Stage):
    name = "run_upper"
    version = "1"
    inputs = {"src": "path"}
    outputs = {"out": "sub/out.txt"}

    class Params(_P):
        suffix: str = ""
        noise: int = 0           # does not change the output

    def run(self, inputs, params, out_dir, ctx):
        record(ctx)
        (out_dir / "sub").mkdir()
        (out_dir / "sub" / "out.txt").write_text(inputs["src"].read_text().upper() + params.suffix)


@register_stage
class RunGather(Stage):
    name = "run_gather"
    version = "1"
    inputs = {"parts": "paths"}
    outputs = {"all": "all.txt"}

    def run(self, inputs, params, out_dir, ctx):
        record(ctx)
        (out_dir / "all.txt").write_text("+".join(p.read_text() for p in inputs["parts"]))


@register_stage
class RunFrames(Stage):
    name = "run_frames"
    version = "1"
    inputs = {"src": "path"}
    outputs = {"frames": "frames", "count": "count.txt"}

    class Params(_P):
        n: int = 3

    def run(self, inputs, params, out_dir, ctx):
        record(ctx)
        d = out_dir / "frames"
        d.mkdir()
        text = inputs["src"].read_text()
        for i in range(params.n):
            (d / f"{i:03d}.txt").write_text(f"{text}:{i}")
            ctx.progress(i + 1, params.n, "frames")
        (out_dir / "count.txt").write_text(str(params.n))


@register_stage
class RunCountFrames(Stage):
    name = "run_count_frames"
    inputs = {"frames": "path"}
    outputs = {"n": "n.txt"}

    def run(self, inputs, params, out_dir, ctx):
        record(ctx)
        (out_dir / "n.txt").write_text(str(len(list(inputs["frames"].iterdir()))))


@register_stage
class RunSleep(Stage):
    name = "run_sleep"
    outputs = {"t": "t.txt"}

    class Params(_P):
        seconds: float = 0.3
        tag: str = ""

    def run(self, inputs, params, out_dir, ctx):
        t0 = time.perf_counter()
        time.sleep(params.seconds)
        record(ctx, t0, time.perf_counter())
        (out_dir / "t.txt").write_text(params.tag)


@register_stage
class RunFail(Stage):
    name = "run_fail"
    inputs = {"src": "path"}
    outputs = {"out": "out.txt"}

    class Params(_P):
        fail: bool = True

    def run(self, inputs, params, out_dir, ctx):
        record(ctx)
        (out_dir / "out.txt").write_text("partial")
        if params.fail:
            raise ValueError("boom in the stage\nsecond line")


@register_stage
class RunNoOutput(Stage):
    name = "run_no_output"
    outputs = {"o": "o.txt", "p": "p.txt"}

    def run(self, inputs, params, out_dir, ctx):
        (out_dir / "o.txt").write_text("only one")


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()
    SPANS.clear()
    yield


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def cli(capsys, *argv, quiet=True) -> tuple[int, str]:
    rc = main(["run", *[str(a) for a in argv]] + (["--quiet"] if quiet else []))
    return rc, capsys.readouterr().err


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def statuses(out: Path) -> dict[str, str]:
    return {k: v["status"] for k, v in manifest(out)["nodes"].items()}


DIAMOND = """
inputs:
  seed: {kind: path}
nodes:
  w1: {stage: run_write, params: {text: a}}
  w2: {stage: run_write, params: {text: b, count: 2}}
  up1: {stage: run_upper, inputs: {src: w1.text}}
  up2: {stage: run_upper, inputs: {src: w2.text}}
  g:
    stage: run_gather
    inputs: {parts: [up1.out, up2.out, $inputs.seed]}
"""


def test_run_outputs_and_manifest(tmp_path, capsys):
    p = write(tmp_path, DIAMOND)
    seed = tmp_path / "seed.txt"
    seed.write_text("s")
    out = tmp_path / "out"
    rc, err = cli(capsys, p, "-o", out, "--input", f"seed={seed}", "--workers", "2")
    assert rc == 0, err
    assert (out / "g" / "all.txt").read_text() == "A+BB+s"
    assert (out / "up2" / "sub" / "out.txt").read_text() == "BB"
    m = manifest(out)
    assert set(m["nodes"]) == {"w1", "w2", "up1", "up2", "g"}
    assert sorted(CALLS) == ["g", "up1", "up2", "w1", "w2"]
    g = m["nodes"]["g"]
    assert g["stage"] == "run_gather" and g["status"] == "done" and g["seconds"] >= 0
    assert g["outputs"] == {"all": "g/all.txt"} and len(g["key"]) == 64
    assert m["nodes"]["up1"]["outputs"] == {"out": "up1/sub/out.txt"}
    for node in m["nodes"].values():
        for rel in node["outputs"].values():
            assert (out / rel).is_file()
    v = m["versions"]
    assert v["headgen"] and v["python"].count(".") == 2 and "torch" in v
    assert v["stages"] == {"run_write": "1", "run_upper": "1", "run_gather": "1"}
    assert m["inputs"] == {"seed": str(seed)}
    # artifacts live in the store and are hard-linked into OUT, read-only
    key = g["key"]
    stored = out / ".cache" / key / "out" / "all.txt"
    assert stored.read_text() == "A+BB+s" and os.path.samefile(stored, out / "g" / "all.txt")
    assert not (os.stat(stored).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    meta = json.loads((out / ".cache" / key / "meta.json").read_text())
    assert meta["stage"] == "run_gather" and meta["outputs"]["all"]["path"] == "all.txt"


def test_second_run_is_cached_and_shared_cache_dir(tmp_path, capsys):
    p = write(tmp_path, DIAMOND)
    seed = tmp_path / "seed.txt"
    seed.write_text("s")
    cache = tmp_path / "cache"
    rc, _ = cli(capsys, p, "-o", tmp_path / "o1", "--input", f"seed={seed}", "--cache", cache)
    assert rc == 0 and len(CALLS) == 5
    CALLS.clear()
    rc, _ = cli(capsys, p, "-o", tmp_path / "o1", "--input", f"seed={seed}", "--cache", cache)
    assert rc == 0 and CALLS == []
    assert set(statuses(tmp_path / "o1").values()) == {"cached"}
    # another OUT sharing the cache gets the outputs without any stage work
    rc, _ = cli(capsys, p, "-o", tmp_path / "o2", "--input", f"seed={seed}", "--cache", cache)
    assert rc == 0 and CALLS == []
    assert (tmp_path / "o2" / "g" / "all.txt").read_text() == "A+BB+s"
    assert not (tmp_path / "o2" / ".cache").exists()
    # same content under another file name -> same keys (content addressed)
    seed2 = tmp_path / "renamed.txt"
    seed2.write_text("s")
    rc, _ = cli(capsys, p, "-o", tmp_path / "o3", "--input", f"seed={seed2}", "--cache", cache)
    assert rc == 0 and CALLS == []
    # changed input content -> only the consumer of that input re-runs
    seed2.write_text("t")
    rc, _ = cli(capsys, p, "-o", tmp_path / "o3", "--input", f"seed={seed2}", "--cache", cache)
    assert rc == 0 and CALLS == ["g"]
    assert (tmp_path / "o3" / "g" / "all.txt").read_text() == "A+BB+t"


def test_param_change_reruns_exactly_node_and_changed_descendants(tmp_path, capsys):
    p = write(tmp_path, DIAMOND)
    seed = tmp_path / "seed.txt"
    seed.write_text("s")
    out = tmp_path / "out"
    args = [p, "-o", out, "--input", f"seed={seed}", "--workers", "2"]
    assert cli(capsys, *args)[0] == 0
    CALLS.clear()
    # output of w1 changes -> w1, up1, g re-run; w2, up2 cached
    assert cli(capsys, *args, "--set", "w1.text=q")[0] == 0
    assert sorted(CALLS) == ["g", "up1", "w1"]
    assert statuses(out) == {"w1": "done", "w2": "cached", "up1": "done", "up2": "cached", "g": "done"}
    assert (out / "g" / "all.txt").read_text() == "Q+BB+s"
    CALLS.clear()
    # a param that does not change up2's output: up2 re-runs, g is cached (same input content)
    assert cli(capsys, *args, "--set", "w1.text=q", "--set", "up2.noise=7")[0] == 0
    assert CALLS == ["up2"]
    assert statuses(out) == {"w1": "cached", "w2": "cached", "up1": "cached", "up2": "done", "g": "cached"}
    CALLS.clear()
    # back to the original params: everything is still in the cache
    assert cli(capsys, *args)[0] == 0
    assert CALLS == [] and (out / "g" / "all.txt").read_text() == "A+BB+s"


def test_directory_outputs_and_progress(tmp_path, capsys):
    p = write(tmp_path, """
    inputs: {src: path}
    nodes:
      fr: {stage: run_frames, inputs: {src: $inputs.src}, params: {n: 4}}
      cnt: {stage: run_count_frames, inputs: {frames: fr.frames}}
    """)
    src = tmp_path / "src.txt"
    src.write_text("x")
    out = tmp_path / "out"
    rc, err = cli(capsys, p, "-o", out, "--input", f"src={src}", "--log-level", "INFO", quiet=False)
    assert rc == 0, err
    assert sorted(f.name for f in (out / "fr" / "frames").iterdir()) == ["000.txt", "001.txt", "002.txt", "003.txt"]
    assert (out / "fr" / "frames" / "002.txt").read_text() == "x:2"
    assert (out / "cnt" / "n.txt").read_text() == "4"
    assert "2 done" in err and "manifest" in err          # overall bar / summary on stderr
    assert manifest(out)["nodes"]["fr"]["outputs"] == {"frames": "fr/frames", "count": "fr/count.txt"}


def test_stage_log_messages_follow_log_level(tmp_path, capsys):
    p = write(tmp_path, "nodes:\n  w: {stage: run_write, params: {text: hello}}\n")
    rc, err = cli(capsys, p, "-o", tmp_path / "o1", "--log-level", "INFO")
    assert rc == 0 and "[w] writing 'hello'" in err
    rc, err = cli(capsys, p, "-o", tmp_path / "o2", "--set", "w.text=bye", "--log-level", "WARNING")
    assert rc == 0 and "writing" not in err
    rc, err = cli(capsys, p, "-o", tmp_path / "o3", "--log-level", "LOUD")
    assert rc == 2 and "--log-level LOUD" in err


def test_fan_out_over_inputs(tmp_path, capsys):
    p = write(tmp_path, """
    inputs:
      clip: {kind: path}
    nodes:
      shared: {stage: run_write, params: {text: s}}
      up: {stage: run_upper, inputs: {src: $inputs.clip}}
      g: {stage: run_gather, inputs: {parts: [up.out, shared.text]}}
    """)
    clips = tmp_path / "clips"
    clips.mkdir()
    for n in ("a", "b", "c"):
        (clips / f"{n}.mpg").write_text(n)
    out = tmp_path / "out"
    rc, err = cli(capsys, p, "-o", out, "--input", f"clip={clips}/*.mpg", "--workers", "3")
    assert rc == 0, err
    for n in ("a", "b", "c"):
        assert (out / n / "g" / "all.txt").read_text() == f"{n.upper()}+s"
        im = json.loads((out / n / "manifest.json").read_text())
        assert set(im["nodes"]) == {"shared", "up", "g"} and im["status"] == "done"
        assert im["nodes"]["g"]["outputs"] == {"all": "g/all.txt"}
        assert im["inputs"]["clip"] == str(clips / f"{n}.mpg")
    top = manifest(out)
    assert set(top["items"]) == {"a", "b", "c"} and top["status"] == "done"
    assert top["items"]["b"]["manifest"] == "b/manifest.json"
    assert top["nodes"]["b/g"]["outputs"] == {"all": "b/g/all.txt"}
    # the item-independent node is computed once and shared; per-item nodes once each
    assert sorted(CALLS) == ["a/g", "a/shared", "a/up", "b/g", "b/up", "c/g", "c/up"]
    assert sum(v["status"] == "done" for k, v in top["nodes"].items() if k.endswith("/shared")) == 1
    # explicit repeated --input also fans out
    CALLS.clear()
    rc, _ = cli(capsys, p, "-o", tmp_path / "o2", "--input", f"clip={clips / 'a.mpg'}",
                "--input", f"clip={clips / 'c.mpg'}", "--cache", out / ".cache")
    assert rc == 0 and CALLS == [] and set(manifest(tmp_path / "o2")["items"]) == {"a", "c"}


def test_failure_keeps_finished_artifacts_and_skips_descendants(tmp_path, capsys):
    p = write(tmp_path, """
    nodes:
      w: {stage: run_write}
      bad: {stage: run_fail, inputs: {src: w.text}}
      after: {stage: run_upper, inputs: {src: bad.out}}
      after2: {stage: run_gather, inputs: {parts: [after.out, w.text]}}
      ok: {stage: run_upper, inputs: {src: w.text}}
    """)
    out = tmp_path / "out"
    rc, err = cli(capsys, p, "-o", out, "--workers", "1")
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("headgen: error") and "node 'bad'" in lines[0] and "ValueError: boom in the stage" in lines[0]
    assert "second line" not in err.split("headgen: error")[1]
    m = manifest(out)
    st = {k: v["status"] for k, v in m["nodes"].items()}
    assert st == {"w": "done", "bad": "failed", "after": "skipped", "after2": "skipped", "ok": "done"}
    assert m["status"] == "failed"
    assert m["nodes"]["bad"]["error"] == "ValueError: boom in the stage"
    assert "bad" in m["nodes"]["after"]["error"]
    assert (out / "ok" / "sub" / "out.txt").read_text() == "W"
    assert not (out / "bad").exists() and not (out / "after").exists()
    # no half-written artifact of the failed node in the store
    keys = [d.name for d in (out / ".cache").iterdir() if not d.name.startswith(".")]
    assert m["nodes"]["bad"]["key"] not in keys and len(keys) == 2
    assert list((out / ".cache" / ".tmp").iterdir()) == []
    # fixing the problem re-runs only the unfinished part
    CALLS.clear()
    rc, err = cli(capsys, p, "-o", out, "--set", "bad.fail=false")
    assert rc == 0, err
    assert sorted(CALLS) == ["after", "after2", "bad"]
    assert (out / "after2" / "all.txt").read_text() == "PARTIAL+w"


def test_missing_declared_output_fails_the_node(tmp_path, capsys):
    p = write(tmp_path, "nodes:\n  n: {stage: run_no_output}\n")
    rc, err = cli(capsys, p, "-o", tmp_path / "out")
    assert rc == 1 and "did not write its declared output 'p'" in err
    assert manifest(tmp_path / "out")["nodes"]["n"]["status"] == "failed"


def test_independent_nodes_run_in_parallel_bounded_by_workers(tmp_path, capsys):
    p = write(tmp_path, """
    nodes:
      s1: {stage: run_sleep, params: {seconds: 0.4, tag: "1"}}
      s2: {stage: run_sleep, params: {seconds: 0.4, tag: "2"}}
    """)
    t0 = time.perf_counter()
    assert cli(capsys, p, "-o", tmp_path / "par", "--workers", "2")[0] == 0
    wall = time.perf_counter() - t0
    (a0, a1), (b0, b1) = SPANS["s1"], SPANS["s2"]
    assert a0 < b1 and b0 < a1, "s1 and s2 did not overlap with 2 workers"
    assert wall < 0.75
    SPANS.clear()
    assert cli(capsys, p, "-o", tmp_path / "seq", "--workers", "1", "--set", "s1.tag=x", "--set", "s2.tag=y")[0] == 0
    (a0, a1), (b0, b1) = SPANS["s1"], SPANS["s2"]
    assert a1 <= b0 or b1 <= a0, "ran concurrently with --workers 1"


def test_python_api_and_dict_inputs(tmp_path):
    p = write(tmp_path, DIAMOND)
    seed = tmp_path / "seed.txt"
    seed.write_text("s")
    res = run_pipeline(p, tmp_path / "out", inputs={"seed": seed}, workers=2)
    assert res.ok and not res.fanned_out
    assert res.statuses() == {"w1": "done", "w2": "done", "up1": "done", "up2": "done", "g": "done"}
    assert res.nodes["g"].outputs["all"].read_text() == "A+BB+s"
    assert res.manifest_path == (tmp_path / "out" / "manifest.json").absolute()


def test_unknown_executor_is_a_usage_error(tmp_path, capsys):
    p = write(tmp_path, "nodes:\n  w: {stage: run_write}\n")
    rc, err = cli(capsys, p, "-o", tmp_path / "out", "--executor", "dask")
    assert rc == 2 and "unknown executor" in err


def test_ray_executor_without_ray_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "ray", None)      # import ray -> ImportError
    p = write(tmp_path, "nodes:\n  w: {stage: run_write}\n")
    rc, err = cli(capsys, p, "-o", tmp_path / "out", "--executor", "ray")
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert "pip install 'headgen[ray]'" in err and "--executor ray" in err
    assert CALLS == []


def test_interrupt_writes_manifest(tmp_path, monkeypatch):
    from headgen.pipeline import runner as runner_mod
    p = write(tmp_path, """
    nodes:
      w: {stage: run_write}
      s: {stage: run_sleep, params: {seconds: 0.2}}
      up: {stage: run_upper, inputs: {src: s.t}}
    """)
    real_wait = runner_mod.wait
    calls = {"n": 0}

    def interrupted_wait(fs, return_when):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_wait(fs, return_when=return_when)

    monkeypatch.setattr(runner_mod, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(p, tmp_path / "out", workers=1)
    st = statuses(tmp_path / "out")
    assert st["up"] == "skipped" and "failed" in st.values()
    assert manifest(tmp_path / "out")["status"] == "failed"


def test_outputs_replaced_when_changed_and_placement_junk_cleaned(tmp_path, capsys):
    import subprocess
    import sys
    p = write(tmp_path, "nodes:\n  w: {stage: run_write, params: {text: a}}\n")
    out = tmp_path / "out"
    assert cli(capsys, p, "-o", out)[0] == 0
    ino = os.stat(out / "w" / "text.txt").st_ino
    (out / "w" / "stray.txt").write_text("left by hand")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    junk = out / f".tmp-w-{dead.pid}-abcd1234"
    junk.mkdir()
    assert cli(capsys, p, "-o", out)[0] == 0             # cached, but OUT/w is rebuilt exactly
    assert sorted(f.name for f in (out / "w").iterdir()) == ["text.txt"]
    assert os.stat(out / "w" / "text.txt").st_ino == ino and not junk.exists()
    assert cli(capsys, p, "-o", out, "--set", "w.text=b")[0] == 0
    assert (out / "w" / "text.txt").read_text() == "b"


def test_stage_progress_drives_per_node_bars(tmp_path, monkeypatch):
    from headgen.pipeline import runner as runner_mod
    from headgen.pipeline.progress import NullProgress
    events: list[tuple] = []

    class Recorder(NullProgress):
        def __init__(self, total, title=""):
            events.append(("total", total))

        def node_started(self, nid, label):
            events.append(("start", nid))

        def node_progress(self, nid, done, total, desc):
            events.append(("progress", nid, done, total, desc))

        def node_finished(self, nid, status):
            events.append(("finish", nid, status))

    monkeypatch.setattr(runner_mod, "RichProgress", Recorder)
    p = write(tmp_path, """
    inputs: {src: path}
    nodes:
      fr: {stage: run_frames, inputs: {src: $inputs.src}, params: {n: 3}}
      cnt: {stage: run_count_frames, inputs: {frames: fr.frames}}
    """)
    src = tmp_path / "s.txt"
    src.write_text("s")
    assert run_pipeline(p, tmp_path / "out", inputs={"src": src}, quiet=False).ok
    assert events[0] == ("total", 2)
    assert [e for e in events if e[0] == "progress"] == [("progress", "fr", i, 3, "frames") for i in (1, 2, 3)]
    assert ("start", "fr") in events and ("finish", "fr", "done") in events and ("finish", "cnt", "done") in events
    assert events.index(("start", "fr")) < events.index(("progress", "fr", 1, 3, "frames")) \
        < events.index(("finish", "fr", "done"))
    events.clear()
    assert run_pipeline(p, tmp_path / "out", inputs={"src": src}, quiet=True).ok
    assert events == []                                   # --quiet: no progress object at all
