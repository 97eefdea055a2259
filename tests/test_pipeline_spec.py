"""Pipeline YAML validation and the stage registry: every problem is one line with file:line:col, exit 2."""
from __future__ import annotations

import ast
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pydantic
import pytest

from headgen.cli import main
from headgen.pipeline import stage as stage_mod
from headgen.pipeline.spec import PipelineError, load_pipeline, parse_set, plan_items
from headgen.pipeline.stage import Stage, StageError, available_stages, get_stage, register_stage


@register_stage
class SpecWrite(Stage):
    name = "spec_write"
    version = "1"
    outputs = {"text": "text.txt"}

    class Params(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        text: str = "hi"
        count: int = 1

    def run(self, inputs, params, out_dir, ctx):
        (out_dir / "text.txt").write_text(params.text * params.count)


@register_stage
class SpecJoin(Stage):
    name = "spec_join"
    inputs = {"a": "path", "b": "path", "more": "paths?"}
    outputs = {"out": "out.txt"}

    def run(self, inputs, params, out_dir, ctx):
        (out_dir / "out.txt").write_text(inputs["a"].read_text() + inputs["b"].read_text())


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def run_cli(capsys, *argv) -> tuple[int, str]:
    rc = main(["run", *[str(a) for a in argv], "--quiet"])
    err = capsys.readouterr().err
    return rc, err


GOOD = """
inputs:
  media: {kind: path}
nodes:
  w1: {stage: spec_write, params: {text: A}}
  w2:
    stage: spec_write
    params:
      count: 2
  j:
    stage: spec_join
    inputs: {a: w1.text, b: $inputs.media}
"""


def test_valid_pipeline_loads_in_topological_order(tmp_path):
    p = write(tmp_path, GOOD)
    pl = load_pipeline(p, sets=["w2.text=Z"])
    assert pl.order == ["w1", "w2", "j"]
    assert pl.nodes["w2"].params == {"text": "Z", "count": 2}       # --set applied, defaults filled
    assert pl.nodes["j"].deps == ["w1"]
    assert pl.descendants("w1") == {"j"}
    assert pl.inputs["media"].kind == "path"


@pytest.mark.parametrize("text, line, col, needle", [
    # unknown stage: points at the stage value
    ("""
     nodes:
       a: {stage: nope_stage}
     """, 2, 14, "unknown stage 'nope_stage'"),
    # unknown parameter: points at the key
    ("""
     nodes:
       a:
         stage: spec_write
         params: {text: x, colour: red}
     """, 4, 23, "unknown parameter 'colour'"),
    # wrong type (pydantic): points at the value
    ("""
     nodes:
       a:
         stage: spec_write
         params:
           count: many
     """, 5, 14, "parameter 'count'"),
    # missing input
    ("""
     nodes:
       w: {stage: spec_write}
       j:
         stage: spec_join
         inputs: {a: w.text}
     """, 5, 5, "missing input 'b'"),
    # unknown upstream output
    ("""
     nodes:
       w: {stage: spec_write}
       j:
         stage: spec_join
         inputs: {a: w.text, b: w.txt}
     """, 5, 28, "has no output 'txt'"),
    # unknown upstream node
    ("""
     nodes:
       w: {stage: spec_write}
       j:
         stage: spec_join
         inputs: {a: w.text, b: ghost.text}
     """, 5, 28, "unknown node 'ghost'"),
    # undeclared pipeline input
    ("""
     nodes:
       w: {stage: spec_write}
       j:
         stage: spec_join
         inputs: {a: w.text, b: $inputs.video}
     """, 5, 28, "undeclared pipeline input 'video'"),
    # unknown input name of the stage
    ("""
     nodes:
       w: {stage: spec_write, inputs: {src: $inputs.x}}
     """, 2, 35, "has no input 'src'"),
    # list given to a single-path input
    ("""
     nodes:
       w: {stage: spec_write}
       j:
         stage: spec_join
         inputs: {a: [w.text], b: w.text}
     """, 5, 17, "takes one path, got a list"),
    # unknown key in a node
    ("""
     nodes:
       w: {stage: spec_write, parms: {}}
     """, 2, 26, "unknown key 'parms'"),
    # bad YAML
    ("""
     nodes:
       w: {stage: spec_write
     x: 1
     """, 3, 2, "invalid YAML"),
])
def test_validation_errors_name_location_exit_2(tmp_path, capsys, text, line, col, needle):
    p = write(tmp_path, text)
    rc, err = run_cli(capsys, p, "-o", tmp_path / "out")
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"{p}:{line}:{col}:" in lines[0], lines[0]
    assert needle in lines[0]
    assert not (tmp_path / "out" / "manifest.json").exists()   # nothing ran


def test_cycle_is_reported_with_the_nodes(tmp_path, capsys):
    p = write(tmp_path, """
    nodes:
      start: {stage: spec_write}
      x:
        stage: spec_join
        inputs: {a: start.text, b: y.out}
      y:
        stage: spec_join
        inputs: {a: x.out, b: start.text}
    """)
    rc, err = run_cli(capsys, p, "-o", tmp_path / "out")
    assert rc == 2
    line = err.strip()
    assert "\n" not in line and "cycle" in line and "x" in line and "y" in line
    assert f"{p}:3:3:" in line or f"{p}:6:3:" in line


def test_self_reference_is_a_cycle(tmp_path):
    p = write(tmp_path, """
    nodes:
      x:
        stage: spec_join
        inputs: {a: x.out, b: x.out}
    """)
    with pytest.raises(PipelineError, match=r"p.yaml:4:\d+: .*cycle"):
        load_pipeline(p)


def test_set_errors_point_at_the_argument(tmp_path, capsys):
    p = write(tmp_path, GOOD)
    media = tmp_path / "m.txt"
    media.write_text("m")
    rc, err = run_cli(capsys, p, "-o", tmp_path / "o", "--input", f"media={media}", "--set", "w1.count=lots")
    assert rc == 2 and "--set w1.count=lots" in err and "parameter 'count'" in err
    rc, err = run_cli(capsys, p, "-o", tmp_path / "o", "--input", f"media={media}", "--set", "w1.size=3")
    assert rc == 2 and "--set w1.size=3" in err and "unknown parameter 'size'" in err
    rc, err = run_cli(capsys, p, "-o", tmp_path / "o", "--input", f"media={media}", "--set", "zz.count=3")
    assert rc == 2 and "unknown node 'zz'" in err
    rc, err = run_cli(capsys, p, "-o", tmp_path / "o", "--input", f"media={media}", "--set", "nonsense")
    assert rc == 2 and "NODE.PARAM=VALUE" in err
    assert parse_set("a.b=[1, 2]") == ("a", ["b"], [1, 2])
    assert parse_set("a.b=true") == ("a", ["b"], True)


def test_input_errors(tmp_path, capsys):
    p = write(tmp_path, GOOD)
    rc, err = run_cli(capsys, p, "-o", tmp_path / "o")
    assert rc == 2 and "missing pipeline input 'media'" in err
    rc, err = run_cli(capsys, p, "-o", tmp_path / "o", "--input", f"media={tmp_path / 'nope.mp4'}")
    assert rc == 2 and "input file not found" in err and "nope.mp4" in err
    rc, err = run_cli(capsys, p, "-o", tmp_path / "o", "--input", f"media={tmp_path / '*.zzz'}")
    assert rc == 2 and "no file matches" in err
    rc, err = run_cli(capsys, p, "-o", tmp_path / "o", "--input", f"video={p}")
    assert rc == 2 and "unknown pipeline input 'video'" in err


def test_fan_out_planning(tmp_path):
    p = write(tmp_path, """
    inputs:
      video: path
      refs: {kind: paths}
      cfg: {kind: path, default: p.yaml}
    nodes:
      w: {stage: spec_write}
    """)
    for n in ("b.mp4", "a.mp4", "a.mpg", "r1.png", "r2.png"):
        (tmp_path / n).write_text(n)
    pl = load_pipeline(p)
    items, fanned = plan_items(pl, [f"video={tmp_path}/a.*", f"refs={tmp_path}/r*.png"])
    assert fanned and [it.name for it in items] == ["a", "a-2"]
    assert items[0].inputs["video"].name == "a.mp4" and items[1].inputs["video"].name == "a.mpg"
    assert [x.name for x in items[0].inputs["refs"]] == ["r1.png", "r2.png"]   # paths: one list
    assert items[0].inputs["cfg"] == Path(tmp_path / "p.yaml")                 # default, relative to YAML
    items, fanned = plan_items(pl, [f"video={tmp_path}/b.mp4"])
    assert not fanned and items[0].name == ""
    items, fanned = plan_items(pl, [f"video={tmp_path}/b.mp4", f"video={tmp_path}/a.mp4"])
    assert fanned and [it.name for it in items] == ["b", "a"]


# ---------------------------------------------------------------------------------------- registry

def test_register_stage_conflict_and_contract():
    class Other(Stage):
        name = "spec_write"

    with pytest.raises(StageError, match="already registered"):
        register_stage(Other)

    class NoName(Stage):
        pass

    with pytest.raises(StageError, match="no 'name'"):
        register_stage(NoName)

    class BadKind(Stage):
        name = "spec_badkind"
        inputs = {"x": "file"}

    with pytest.raises(StageError, match="unknown kind"):
        register_stage(BadKind)
    assert "spec_write" in available_stages()


def test_entry_points_are_loaded_lazily_and_broken_plugins_are_clear(tmp_path, monkeypatch, capsys):
    mod = tmp_path / "hg_lazy_plugin.py"
    mod.write_text(textwrap.dedent("""
        import pydantic
        from headgen.pipeline.stage import Stage
        IMPORTED = True
        class Lazy(Stage):
            name = "lazy_plugin"
            outputs = {"o": "o.txt"}
            def run(self, inputs, params, out_dir, ctx):
                (out_dir / "o.txt").write_text("lazy")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = {
        "lazy_plugin": EntryPoint("lazy_plugin", "hg_lazy_plugin:Lazy", "headgen.stages"),
        "broken": EntryPoint("broken", "hg_no_such_module_xyz.stage:Broken", "headgen.stages"),
        "notastage": EntryPoint("notastage", "textwrap:dedent", "headgen.stages"),
    }
    monkeypatch.setattr(stage_mod, "_entry_points", lambda: eps)
    monkeypatch.delitem(sys.modules, "hg_lazy_plugin", raising=False)
    # a pipeline that does not name the plugin never imports it
    p = write(tmp_path, "nodes:\n  w: {stage: spec_write}\n")
    load_pipeline(p)
    assert "hg_lazy_plugin" not in sys.modules
    assert "lazy_plugin" in available_stages() and "hg_lazy_plugin" not in sys.modules
    # naming it imports it and it runs
    p2 = write(tmp_path, "nodes:\n  l: {stage: lazy_plugin}\n", "p2.yaml")
    rc, err = run_cli(capsys, p2, "-o", tmp_path / "out")
    assert rc == 0, err
    assert "hg_lazy_plugin" in sys.modules
    assert (tmp_path / "out" / "l" / "o.txt").read_text() == "lazy"
    # broken plugin: one clear line at the stage's location
    p3 = write(tmp_path, "nodes:\n  b: {stage: broken}\n", "p3.yaml")
    rc, err = run_cli(capsys, p3, "-o", tmp_path / "out3")
    assert rc == 2
    assert f"{p3}:2:14:" in err and "could not be loaded" in err and "hg_no_such_module_xyz" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(StageError, match="not a headgen.pipeline.stage.Stage"):
        get_stage("notastage")
    stage_mod.unregister_stage("lazy_plugin")


def test_runner_never_imports_stages():
    root = Path(__file__).resolve().parents[1] / "headgen" / "pipeline"
    for f in root.rglob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for n in names:
                assert not n.startswith("headgen.stages"), f"{f} imports {n}"
