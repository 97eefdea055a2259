"""The Ray executor against a local Ray (one module-scoped cluster): parity with the local executor
(keys, manifest, outputs), shared cache, failures, fan-out, per-stage resource requests."""
from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pydantic
import pytest

ray = pytest.importorskip("ray")

from headgen.pipeline.cli import main  # noqa: E402
from headgen.pipeline.stage import Stage, register_stage  # noqa: E402


class _P(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


@register_stage
class RayWrite(Stage):
    name = "ray_write"
    outputs = {"text": "text.txt", "frames": "frames"}

    class Params(_P):
        text: str = "w"

    def run(self, inputs, params, out_dir, ctx):
        (out_dir / "text.txt").write_text(params.text)
        (out_dir / "frames").mkdir()
        for i in range(3):
            (out_dir / "frames" / f"{i}.txt").write_text(params.text * i)
            ctx.progress(i + 1, 3)


@register_stage
class RayJoin(Stage):
    name = "ray_join"
    inputs = {"parts": "paths"}
    outputs = {"out": "out.txt"}

    class Params(_P):
        sep: str = "+"

    def run(self, inputs, params, out_dir, ctx):
        (out_dir / "out.txt").write_text(params.sep.join(p.read_text() for p in inputs["parts"]))


@register_stage
class RayHeavy(Stage):
    name = "ray_heavy"
    outputs = {"span": "span.json"}

    class Params(_P):
        tag: str = ""
        cpus: int = 1

    @classmethod
    def resources_for(cls, params):
        # the request depends on the node's parameters (class default would be 1 CPU)
        return {"num_cpus": params["cpus"], "num_gpus": 0}

    def run(self, inputs, params, out_dir, ctx):
        t0 = time.time()
        time.sleep(0.3)
        (out_dir / "span.json").write_text(json.dumps([t0, time.time()]))


@register_stage
class RayFail(Stage):
    name = "ray_fail"
    inputs = {"src": "path"}
    outputs = {"o": "o.txt"}

    def run(self, inputs, params, out_dir, ctx):
        raise RuntimeError("remote boom")


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def run(capsys, *argv) -> tuple[int, str]:
    rc = main(["run", *[str(a) for a in argv], "--quiet"])
    return rc, capsys.readouterr().err


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


PIPE = """
inputs: {seed: path}
nodes:
  w1: {stage: ray_write, params: {text: a}}
  w2: {stage: ray_write, params: {text: b}}
  j:
    stage: ray_join
    inputs: {parts: [w1.text, w2.text, $inputs.seed]}
  j2: {stage: ray_join, inputs: {parts: [j.out, w1.text]}, params: {sep: "|"}}
"""


def files(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): p.read_text() for p in sorted(d.rglob("*"))
            if p.is_file() and ".cache" not in p.parts and p.name != "manifest.json"}


def test_ray_parity_with_local_and_shared_cache(ray_cluster, tmp_path, capsys):
    p = write(tmp_path, PIPE)
    seed = tmp_path / "seed.txt"
    seed.write_text("s")
    rc, err = run(capsys, p, "-o", tmp_path / "local", "--input", f"seed={seed}")
    assert rc == 0, err
    rc, err = run(capsys, p, "-o", tmp_path / "ray", "--input", f"seed={seed}", "--executor", "ray")
    assert rc == 0, err
    ml, mr = manifest(tmp_path / "local"), manifest(tmp_path / "ray")
    assert mr["executor"] == "ray"
    assert {n: (v["key"], v["outputs"], v["status"]) for n, v in ml["nodes"].items()} == \
        {n: (v["key"], v["outputs"], v["status"]) for n, v in mr["nodes"].items()}
    assert all(v["status"] == "done" for v in mr["nodes"].values())
    assert ml["versions"] == mr["versions"]
    assert files(tmp_path / "local") == files(tmp_path / "ray")
    assert (tmp_path / "ray" / "j2" / "out.txt").read_text() == "a+b+s|a"
    # a ray run on the local run's cache does no work
    rc, err = run(capsys, p, "-o", tmp_path / "ray2", "--input", f"seed={seed}", "--executor", "ray",
                  "--cache", tmp_path / "local" / ".cache")
    assert rc == 0, err
    assert {v["status"] for v in manifest(tmp_path / "ray2")["nodes"].values()} == {"cached"}
    # a param change re-runs that node and its descendants only
    rc, err = run(capsys, p, "-o", tmp_path / "ray", "--input", f"seed={seed}", "--executor", "ray",
                  "--set", "w2.text=B")
    assert rc == 0, err
    assert {n: v["status"] for n, v in manifest(tmp_path / "ray")["nodes"].items()} == \
        {"w1": "cached", "w2": "done", "j": "done", "j2": "done"}
    assert (tmp_path / "ray" / "j2" / "out.txt").read_text() == "a+B+s|a"


def test_ray_failure_and_fan_out(ray_cluster, tmp_path, capsys):
    p = write(tmp_path, """
    inputs: {clip: path}
    nodes:
      w: {stage: ray_write}
      j: {stage: ray_join, inputs: {parts: [$inputs.clip, w.text]}}
      bad: {stage: ray_fail, inputs: {src: j.out}}
      after: {stage: ray_join, inputs: {parts: [bad.o]}}
    """)
    for n in ("x", "y"):
        (tmp_path / f"{n}.clip").write_text(n)
    out = tmp_path / "out"
    rc, err = run(capsys, p, "-o", out, "--input", f"clip={tmp_path}/*.clip", "--executor", "ray")
    assert rc == 1
    assert "failed: RuntimeError: remote boom" in err and len(err.strip().splitlines()) == 1
    top = manifest(out)
    assert set(top["items"]) == {"x", "y"} and top["status"] == "failed"
    for n in ("x", "y"):
        st = {k: v["status"] for k, v in manifest(out / n)["nodes"].items()}
        assert st["w"] in ("done", "cached") and st["j"] == "done"
        assert st["bad"] == "failed" and st["after"] == "skipped"
        assert (out / n / "j" / "out.txt").read_text() == f"{n}+w"


def test_ray_resource_requests_are_honoured(ray_cluster, tmp_path, capsys):
    # two nodes needing 2 CPUs each on a 2-CPU cluster cannot overlap
    p = write(tmp_path, """
    nodes:
      h1: {stage: ray_heavy, params: {tag: "1", cpus: 2}}
      h2: {stage: ray_heavy, params: {tag: "2", cpus: 2}}
    """)
    rc, err = run(capsys, p, "-o", tmp_path / "out", "--executor", "ray")
    assert rc == 0, err
    (a0, a1), (b0, b1) = (json.loads((tmp_path / "out" / n / "span.json").read_text()) for n in ("h1", "h2"))
    assert a1 <= b0 or b1 <= a0
