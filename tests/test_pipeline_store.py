"""The content-addressed store: digests, keys, atomic commits, races; crash safety with a real SIGKILLed
subprocess; two concurrent processes sharing one cache."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from headgen.pipeline.store import Store, cache_key, digest_path

# ------------------------------------------------------------------------------------------- units


def test_digests_are_content_based(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"hello")
    b = tmp_path / "b.bin"
    b.write_bytes(b"hello")
    assert digest_path(a) == digest_path(b)
    b.write_bytes(b"hellO")
    assert digest_path(a) != digest_path(b)
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    for d in (d1, d2):
        (d / "sub").mkdir(parents=True)
        (d / "x.txt").write_text("x")
        (d / "sub" / "y.txt").write_text("y")
    assert digest_path(d1) == digest_path(d2) and digest_path(d1).startswith("d:")
    (d2 / "sub" / "y.txt").rename(d2 / "sub" / "z.txt")         # same bytes, other name
    assert digest_path(d1) != digest_path(d2)
    (d2 / "sub" / "z.txt").rename(d2 / "sub" / "y.txt")
    assert digest_path(d1) == digest_path(d2)
    (d2 / "x.txt").write_text("X")                               # same names, other bytes
    assert digest_path(d1) != digest_path(d2)
    with pytest.raises(FileNotFoundError):
        digest_path(tmp_path / "missing")


def test_cache_key_depends_on_every_part():
    base = cache_key("s", "1", {"a": 1, "b": [1, 2]}, {"x": "f:00"})
    assert base == cache_key("s", "1", {"b": [1, 2], "a": 1}, {"x": "f:00"})   # canonical JSON
    assert len({base, cache_key("t", "1", {"a": 1, "b": [1, 2]}, {"x": "f:00"}),
                cache_key("s", "2", {"a": 1, "b": [1, 2]}, {"x": "f:00"}),
                cache_key("s", "1", {"a": 2, "b": [1, 2]}, {"x": "f:00"}),
                cache_key("s", "1", {"a": 1, "b": [1, 2]}, {"x": "f:01"}),
                cache_key("s", "1", {"a": 1, "b": [1, 2]}, {"y": "f:00"})}) == 6


def _fill(store: Store, key: str, text: str) -> Path:
    tmp = store.new_tmp(key)
    (tmp / "out" / "o.txt").write_text(text)
    return tmp


def test_commit_is_atomic_and_races_keep_the_first(tmp_path):
    st = Store(tmp_path / "store")
    key = "k" * 64
    t1, t2 = _fill(st, key, "first"), _fill(st, key, "second")
    assert st.lookup(key) is None                          # in-progress temp dirs are invisible
    meta = {"key": key, "outputs": {"o": {"path": "o.txt", "digest": "f:1"}}, "who": 1}
    m1, won1 = st.commit(t1, key, meta)
    m2, won2 = st.commit(t2, key, dict(meta, who=2))
    assert won1 and not won2 and m2["who"] == 1
    assert (st.out_dir(key) / "o.txt").read_text() == "first"
    assert not t2.exists() and list(st.tmp_root.iterdir()) == []
    assert st.lookup(key)["who"] == 1


def test_incomplete_entries_are_ignored_and_stale_tmp_removed(tmp_path):
    st = Store(tmp_path / "store")
    key = "a" * 64
    (st.final_dir(key) / "out").mkdir(parents=True)          # e.g. created by hand, no meta.json
    assert st.lookup(key) is None and not st.final_dir(key).exists()
    (st.final_dir(key) / "out").mkdir(parents=True)
    (st.final_dir(key) / "meta.json").write_text("{trunc")   # damaged marker
    assert st.lookup(key) is None
    # temp dir of a dead process on this host is removed; ours is kept
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = st.tmp_root / f"{key}.{st._host}.{dead.pid}.deadbeef"
    (orphan / "out").mkdir(parents=True)
    mine = st.new_tmp(key)
    assert st.cleanup_stale() >= 1
    assert not orphan.exists() and mine.exists()


def test_big_input_digests_are_remembered_across_runs(tmp_path, monkeypatch):
    from headgen.pipeline import store as store_mod
    big = tmp_path / "video.bin"
    big.write_bytes(os.urandom(store_mod.PERSIST_DIGEST_MIN_BYTES + 10))
    d1 = Store(tmp_path / "s").digest_input(big)
    assert d1 == digest_path(big)
    assert len(list((tmp_path / "s" / ".digests").iterdir())) == 1

    def no_hashing(path, st=None):
        raise AssertionError(f"re-hashed {path}")

    monkeypatch.setattr(store_mod, "_file_digest", no_hashing)
    assert Store(tmp_path / "s").digest_input(big) == d1          # fresh store object: from disk
    monkeypatch.undo()
    with open(big, "r+b") as f:                                  # same size, new content
        f.write(b"changed!")
    d2 = Store(tmp_path / "s").digest_input(big)
    assert d2 != d1 and d2 == digest_path(big)


# ------------------------------------------------------------------------- crash + concurrency

SCRIPT = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    import pydantic
    from headgen.pipeline.stage import Stage, register_stage

    class P(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        text: str = "x"
        chunks: int = 5
        delay: float = 0.05

    @register_stage
    class SlowWrite(Stage):
        name = "kill_slow"
        version = "1"
        inputs = {"src": "path?"}
        outputs = {"data": "data.txt", "dir": "dir"}
        Params = P
        def run(self, inputs, params, out_dir, ctx):
            prefix = inputs["src"].read_text() if "src" in inputs else ""
            (out_dir / "dir").mkdir()
            with open(out_dir / "data.txt", "w") as f:
                for i in range(params.chunks):
                    f.write(prefix + params.text + str(i) + "\\n")
                    f.flush()
                    (out_dir / "dir" / f"{i}.txt").write_text(params.text * (i + 1))
                    ctx.progress(i + 1, params.chunks)
                    time.sleep(params.delay)
            marker = Path(sys.argv[0]).parent / f"ran-{ctx.node}-{time.time_ns()}"
            marker.write_text("")

    from headgen.pipeline.cli import main   # the `run` command alone: no torch import, fast start
    sys.exit(main(sys.argv[1:]))
''')

PIPE = textwrap.dedent("""
    nodes:
      a: {stage: kill_slow, params: {text: a, chunks: 2, delay: 0.01}}
      slow: {stage: kill_slow, inputs: {src: a.data}, params: {text: s, chunks: 20, delay: 0.05}}
      b: {stage: kill_slow, params: {text: b, chunks: 2, delay: 0.01}}
      c: {stage: kill_slow, inputs: {src: slow.data}, params: {text: c, chunks: 3, delay: 0.02}}
""")


def expected_data(text: str, chunks: int, prefix: str = "") -> str:
    return "".join(f"{prefix}{text}{i}\n" for i in range(chunks))


def check_store(cache: Path) -> int:
    """Every committed entry is complete: meta parses and every output's digest matches its bytes."""
    n = 0
    for d in cache.iterdir():
        if d.name.startswith("."):
            continue
        meta = json.loads((d / "meta.json").read_text())
        assert meta["key"] == d.name
        for o in meta["outputs"].values():
            assert digest_path(d / "out" / o["path"]) == o["digest"], f"corrupt artifact {d}"
        n += 1
    return n


def check_outputs(out: Path) -> None:
    a = expected_data("a", 2)
    s = expected_data("s", 20, a)
    assert (out / "a" / "data.txt").read_text() == a
    assert (out / "slow" / "data.txt").read_text() == s
    assert (out / "c" / "data.txt").read_text() == expected_data("c", 3, s)
    assert sorted(p.name for p in (out / "slow" / "dir").iterdir()) == sorted(f"{i}.txt" for i in range(20))


def _runs(tmp_path: Path, node: str) -> int:
    return len(list(tmp_path.glob(f"ran-{node}-*")))


@pytest.fixture
def script(tmp_path):
    s = tmp_path / "run_hg.py"
    s.write_text(SCRIPT)
    (tmp_path / "p.yaml").write_text(PIPE)
    return s


def _cmd(script: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(script), "run", str(script.parent / "p.yaml"), "-o", str(out), "--quiet",
            "--workers", "2", *extra]


def test_sigkill_mid_run_then_rerun_recomputes_only_unfinished(tmp_path, script):
    out = tmp_path / "out"
    slower = ("--set", "slow.delay=0.1")     # ~2 s of writing: room to kill it half-way even under load
    proc = subprocess.Popen(_cmd(script, out, *slower), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tmp_root = out / ".cache" / ".tmp"
    deadline = time.time() + 60
    # wait until 'slow' is half-way through writing its output
    while time.time() < deadline:
        partial = [p for p in tmp_root.glob("*/out/dir/*.txt")] if tmp_root.exists() else []
        if len(partial) >= 5 and _runs(tmp_path, "a") == 1:
            break
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail(f"slow stage never started: {proc.communicate()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "manifest.json").exists()
    assert not (out / "slow").exists() and not (out / "c").exists()
    assert any(tmp_root.iterdir()), "the killed stage's temp dir should be left behind"
    assert check_store(out / ".cache") >= 1            # 'a' (and maybe 'b') committed, all complete
    assert _runs(tmp_path, "slow") == 0
    # re-run: finished nodes are cached, the killed one and its descendant run, temp junk is cleaned
    r = subprocess.run(_cmd(script, out, *slower), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    st = {k: v["status"] for k, v in json.loads((out / "manifest.json").read_text())["nodes"].items()}
    assert st["a"] == "cached" and st["slow"] == "done" and st["c"] == "done"
    assert _runs(tmp_path, "a") == 1 and _runs(tmp_path, "slow") == 1 and _runs(tmp_path, "c") == 1
    check_outputs(out)
    assert check_store(out / ".cache") == 4
    assert list(tmp_root.iterdir()) == []


def test_repeated_random_kills_never_corrupt(tmp_path, script):
    out = tmp_path / "out"
    for delay in (0.9, 0.35, 1.3):
        proc = subprocess.Popen(_cmd(script, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if (out / ".cache").exists():
            check_store(out / ".cache")
    r = subprocess.run(_cmd(script, out), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    check_outputs(out)
    assert check_store(out / ".cache") == 4
    assert not [p for p in out.iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_two_concurrent_runs_share_a_cache(tmp_path, script):
    cache = tmp_path / "cache"
    procs = [subprocess.Popen(_cmd(script, tmp_path / f"out{i}", "--cache", str(cache)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for i in range(2):
        check_outputs(tmp_path / f"out{i}")
        m = json.loads((tmp_path / f"out{i}" / "manifest.json").read_text())
        assert all(v["status"] in ("done", "cached") for v in m["nodes"].values())
    assert check_store(cache) == 4
    assert list((cache / ".tmp").iterdir()) == []
    # both manifests name the same artifacts
    k = [{n: v["key"] for n, v in json.loads((tmp_path / f"out{i}" / "manifest.json").read_text())["nodes"].items()}
         for i in range(2)]
    assert k[0] == k[1]
