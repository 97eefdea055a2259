"""Pipeline YAML: schema, loading and validation (before anything runs).

Schema::

    description: optional free text
    inputs:                       # pipeline-level inputs, filled by `--input NAME=PATH`
      media: {kind: path}         # kind: path (one file/dir; several values fan the pipeline out)
      refs: {kind: paths, default: [a.png, b.png]}   #   or paths (a list; several values = one list)
      audio: path                 # shorthand for {kind: path}; `default` paths are relative to the YAML file
    nodes:
      pose:
        stage: pose               # registry name (entry point group "headgen.stages" or register_stage)
        inputs: {media: $inputs.media}      # `$inputs.NAME` = pipeline input, `NODE.OUTPUT` = upstream output
        params: {smooth: true}              # validated by the stage's pydantic Params
      fit:
        stage: fit
        inputs: {media: $inputs.media, pose: pose.pose, extra: [a.out, b.out]}   # lists feed "paths" inputs

Every problem (unknown stage, unknown parameter, wrong type, missing input, unknown upstream output,
cycle, bad `--set`/`--input`) raises :class:`PipelineError` (exit code 2) whose one-line message starts
with the location ``file:line:col`` (or the offending command-line argument).
"""
from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from headgen.errors import HeadgenError
from headgen.pipeline.stage import Stage, StageError, get_stage
from headgen.pipeline.yamlloc import Located, YamlSyntaxError, load_located

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
TOP_KEYS = {"description", "inputs", "nodes"}
NODE_KEYS = {"stage", "inputs", "params", "description"}
INPUT_KEYS = {"kind", "default", "description"}


class PipelineError(HeadgenError):
    """The pipeline or its command-line arguments are invalid (found before anything runs)."""

    exit_code = 2


@dataclass
class InputDecl:
    """A pipeline-level input: ``kind`` "path" or "paths"; ``default`` absolute paths or None."""

    name: str
    kind: str
    default: list[str] | None = None
    description: str = ""


@dataclass(frozen=True)
class Ref:
    """Where a node input comes from: a pipeline input (``node`` is None) or ``node``.``output``."""

    node: str | None
    name: str          # pipeline input name, or the upstream output name

    def __str__(self) -> str:
        return f"$inputs.{self.name}" if self.node is None else f"{self.node}.{self.name}"


@dataclass
class NodeSpec:
    """One validated node. ``params``: JSON-able dict of every parameter (defaults filled in)."""

    name: str
    stage_cls: type[Stage]
    params: dict[str, Any]
    inputs: dict[str, list[Ref]]        # stage input name -> refs (one for kind "path")
    deps: list[str]                      # upstream node names (sorted, unique)
    where: str = ""

    @property
    def stage(self) -> str:
        return self.stage_cls.name

    def input_kind(self, name: str) -> str:
        """'path' or 'paths' (without the optional marker)."""
        return self.stage_cls.inputs[name].rstrip("?")


@dataclass
class Pipeline:
    """A validated pipeline: nodes in a topological order (stable w.r.t. the YAML order)."""

    path: Path
    inputs: dict[str, InputDecl]
    nodes: dict[str, NodeSpec]
    description: str = ""
    order: list[str] = field(default_factory=list)

    def descendants(self, name: str) -> set[str]:
        """Every node that (transitively) consumes an output of ``name``."""
        out: set[str] = set()
        frontier = [name]
        children: dict[str, list[str]] = {n: [] for n in self.nodes}
        for n, spec in self.nodes.items():
            for d in spec.deps:
                children[d].append(n)
        while frontier:
            for c in children[frontier.pop()]:
                if c not in out:
                    out.add(c)
                    frontier.append(c)
        return out


def _err(where: str, problem: str) -> PipelineError:
    return PipelineError(f"{where}: {problem}")


def parse_set(arg: str) -> tuple[str, list[str], Any]:
    """Parse ``node.param[.sub]=value`` (value as YAML) -> (node, [param, sub...], value)."""
    if "=" not in arg:
        raise _err(f"--set {arg}", "expected NODE.PARAM=VALUE")
    lhs, rhs = arg.split("=", 1)
    parts = lhs.strip().split(".")
    if len(parts) < 2 or not all(parts):
        raise _err(f"--set {arg}", "expected NODE.PARAM=VALUE")
    try:
        value = yaml.safe_load(rhs) if rhs.strip() else ""
    except yaml.YAMLError:
        value = rhs
    return parts[0], parts[1:], value


def load_pipeline(path: str | Path, sets: list[str] | tuple[str, ...] = ()) -> Pipeline:
    """Read, validate and return the pipeline at ``path`` with ``--set`` overrides applied.

    Loads only the stages the pipeline names. Raises PipelineError (exit code 2) on any problem.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise PipelineError(f"{path}: cannot read pipeline: {e.strerror or e}") from None
    try:
        doc = load_located(text, str(path))
    except YamlSyntaxError as e:
        raise _err(e.where, e.problem) from None
    return _validate(doc, path, list(sets))


def _validate(doc: Located, path: Path, sets: list[str]) -> Pipeline:
    data = doc.data
    if data is None:
        raise _err(str(path), "empty pipeline (expected a mapping with 'nodes')")
    if not isinstance(data, dict):
        raise _err(doc.where(()), "a pipeline must be a mapping with 'nodes' (and optional 'inputs')")
    for k in data:
        if k not in TOP_KEYS:
            raise _err(doc.where_key((k,)), f"unknown top-level key {k!r} (allowed: {', '.join(sorted(TOP_KEYS))})")
    inputs = _parse_inputs(doc, path)
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise _err(doc.where(("nodes",)), "'nodes' must be a non-empty mapping of node name -> {stage, inputs, params}")

    # --set overrides, remembered so errors can point at the argument instead of the file
    overrides: dict[tuple[str, str], str] = {}
    params_by_node: dict[str, dict] = {}
    for name, body in raw_nodes.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise _err(doc.where_key(("nodes", name)),
                       f"bad node name {name!r} (letters, digits, '_' and '-'; not starting with '-')")
        if not isinstance(body, dict):
            raise _err(doc.where(("nodes", name)), f"node '{name}' must be a mapping with 'stage'")
        for k in body:
            if k not in NODE_KEYS:
                raise _err(doc.where_key(("nodes", name, k)),
                           f"node '{name}': unknown key {k!r} (allowed: {', '.join(sorted(NODE_KEYS))})")
        p = body.get("params", {}) or {}
        if not isinstance(p, dict):
            raise _err(doc.where(("nodes", name, "params")), f"node '{name}': 'params' must be a mapping")
        params_by_node[name] = dict(p)
    for arg in sets:
        node, keys, value = parse_set(arg)
        if node not in raw_nodes:
            raise _err(f"--set {arg}", f"unknown node '{node}' (nodes: {', '.join(raw_nodes)})")
        target = params_by_node[node]
        for k in keys[:-1]:
            sub = target.get(k)
            if not isinstance(sub, dict):
                sub = {}
                target[k] = sub
            target = sub
        target[keys[-1]] = value
        overrides[(node, keys[0])] = f"--set {arg}"

    nodes: dict[str, NodeSpec] = {}
    for name, body in raw_nodes.items():
        nodes[name] = _parse_node(doc, name, body, params_by_node[name], overrides, inputs)
    # references to upstream nodes/outputs
    for name, spec in nodes.items():
        for inp, refs in spec.inputs.items():
            for i, ref in enumerate(refs):
                if ref.node is None:
                    continue
                loc = doc.where(("nodes", name, "inputs", inp) + ((i,) if _is_list(raw_nodes[name], inp) else ()))
                if ref.node == name:
                    raise _err(loc, f"node '{name}': input '{inp}' refers to the node itself ({ref}) (cycle)")
                if ref.node not in nodes:
                    raise _err(loc, f"node '{name}': input '{inp}' refers to unknown node '{ref.node}' "
                                    f"(nodes: {', '.join(nodes)})")
                up = nodes[ref.node]
                if ref.name not in up.stage_cls.outputs:
                    raise _err(loc, f"node '{name}': input '{inp}': node '{ref.node}' (stage '{up.stage}') "
                                    f"has no output '{ref.name}' (outputs: {', '.join(up.stage_cls.outputs) or 'none'})")
    order = _toposort(doc, nodes)
    desc = data.get("description", "") or ""
    return Pipeline(path=path, inputs=inputs, nodes={n: nodes[n] for n in order}, description=str(desc), order=order)


def _is_list(body: dict, inp: str) -> bool:
    return isinstance((body.get("inputs") or {}).get(inp), list)


def _parse_inputs(doc: Located, path: Path) -> dict[str, InputDecl]:
    raw = doc.data.get("inputs") or {}
    if not isinstance(raw, dict):
        raise _err(doc.where(("inputs",)), "'inputs' must be a mapping of input name -> {kind: path|paths}")
    out: dict[str, InputDecl] = {}
    for name, spec in raw.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise _err(doc.where_key(("inputs", name)), f"bad input name {name!r}")
        if spec is None or isinstance(spec, str):
            spec = {"kind": spec or "path"}
        if not isinstance(spec, dict):
            raise _err(doc.where(("inputs", name)), f"input '{name}' must be a kind string or a mapping")
        for k in spec:
            if k not in INPUT_KEYS:
                raise _err(doc.where_key(("inputs", name, k)),
                           f"input '{name}': unknown key {k!r} (allowed: {', '.join(sorted(INPUT_KEYS))})")
        kind = spec.get("kind", "path")
        if kind not in ("path", "paths"):
            raise _err(doc.where(("inputs", name, "kind")), f"input '{name}': kind must be 'path' or 'paths', got {kind!r}")
        default = spec.get("default")
        if default is not None:
            vals = default if isinstance(default, list) else [default]
            if not all(isinstance(v, str) for v in vals) or (kind == "path" and len(vals) != 1):
                raise _err(doc.where(("inputs", name, "default")),
                           f"input '{name}': default must be {'a path' if kind == 'path' else 'a list of paths'}")
            default = [str((path.parent / v)) if not Path(v).is_absolute() else v for v in vals]
        out[name] = InputDecl(name, kind, default, str(spec.get("description", "") or ""))
    return out


def _parse_ref(value: Any, where: str, node: str, inp: str, inputs: dict[str, InputDecl]) -> Ref:
    if not isinstance(value, str) or not value.strip():
        raise _err(where, f"node '{node}': input '{inp}' must be '$inputs.NAME' or 'NODE.OUTPUT', got {value!r}")
    value = value.strip()
    if value.startswith("$"):
        m = re.match(r"^\$inputs\.([A-Za-z0-9_][A-Za-z0-9_-]*)$", value)
        if not m:
            raise _err(where, f"node '{node}': input '{inp}': bad reference {value!r} (expected '$inputs.NAME')")
        if m.group(1) not in inputs:
            raise _err(where, f"node '{node}': input '{inp}' refers to undeclared pipeline input "
                              f"'{m.group(1)}' (declared: {', '.join(inputs) or 'none'})")
        return Ref(None, m.group(1))
    if value.count(".") < 1:
        raise _err(where, f"node '{node}': input '{inp}' must be '$inputs.NAME' or 'NODE.OUTPUT', got {value!r}")
    up, out = value.split(".", 1)
    return Ref(up, out)


def _parse_node(doc: Located, name: str, body: dict, params: dict, overrides: dict,
                inputs: dict[str, InputDecl]) -> NodeSpec:
    base = ("nodes", name)
    stage_name = body.get("stage")
    if not isinstance(stage_name, str) or not stage_name:
        raise _err(doc.where(base + (("stage",) if "stage" in body else ())), f"node '{name}': missing 'stage'")
    try:
        cls = get_stage(stage_name)
    except StageError as e:
        raise _err(doc.where(base + ("stage",)), f"node '{name}': {e}") from None

    # parameters: unknown names first (clear message even if Params allows extras), then pydantic
    fields = cls.Params.model_fields
    for k in params:
        if k not in fields:
            where = overrides.get((name, k)) or doc.where_key(base + ("params", k))
            raise _err(where, f"node '{name}': unknown parameter '{k}' for stage '{stage_name}' "
                              f"(known: {', '.join(fields) or 'none'})")
    try:
        model = cls.Params(**params)
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        loc = first.get("loc") or ()
        key = loc[0] if loc else None
        if key in params:
            where = overrides.get((name, key)) or doc.where(base + ("params",) + tuple(loc))
        else:
            where = doc.where_key(base + ("params",)) if "params" in body else doc.where_key(base)
        what = ".".join(str(x) for x in loc) or "params"
        got = f" (got {first.get('input')!r})" if key in params and "input" in first else ""
        raise _err(where, f"node '{name}': parameter '{what}': {first.get('msg')}{got}") from None
    try:
        dumped = model.model_dump(mode="json")
        json.dumps(dumped)
    except Exception as e:
        raise _err(doc.where(base + ("params",)), f"node '{name}': parameters are not JSON-serialisable: {e}") from None

    raw_inputs = body.get("inputs", {}) or {}
    if not isinstance(raw_inputs, dict):
        raise _err(doc.where(base + ("inputs",)), f"node '{name}': 'inputs' must be a mapping")
    refs: dict[str, list[Ref]] = {}
    for inp, value in raw_inputs.items():
        if inp not in cls.inputs:
            raise _err(doc.where_key(base + ("inputs", inp)),
                       f"node '{name}': stage '{stage_name}' has no input '{inp}' "
                       f"(inputs: {', '.join(cls.inputs) or 'none'})")
        kind = cls.inputs[inp].rstrip("?")
        loc = doc.where(base + ("inputs", inp))
        if isinstance(value, list):
            if kind != "paths":
                raise _err(loc, f"node '{name}': input '{inp}' takes one path, got a list")
            rs = [_parse_ref(v, doc.where(base + ("inputs", inp, i)), name, inp, inputs) for i, v in enumerate(value)]
        else:
            rs = [_parse_ref(value, loc, name, inp, inputs)]
        for r in rs:
            if r.node is None and inputs[r.name].kind == "paths" and kind == "path":
                raise _err(loc, f"node '{name}': input '{inp}' takes one path but pipeline input "
                                f"'{r.name}' is a list (kind: paths)")
        refs[inp] = rs
    for inp, kind in cls.inputs.items():
        if inp not in refs and not kind.endswith("?"):
            raise _err(doc.where_key(base + ("inputs",)) if "inputs" in body else doc.where_key(base),
                       f"node '{name}': missing input '{inp}' of stage '{stage_name}' "
                       f"(wire it to '$inputs.NAME' or 'NODE.OUTPUT')")
    deps = sorted({r.node for rs in refs.values() for r in rs if r.node is not None})
    return NodeSpec(name=name, stage_cls=cls, params=dumped, inputs=refs, deps=deps,
                    where=doc.where_key(base))


def _toposort(doc: Located, nodes: dict[str, NodeSpec]) -> list[str]:
    indeg = {n: len(s.deps) for n, s in nodes.items()}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for n, s in nodes.items():
        for d in s.deps:
            children[d].append(n)
    names = list(nodes)
    ready = [n for n in names if indeg[n] == 0]
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for c in children[n]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
        ready.sort(key=names.index)
    if len(order) == len(nodes):
        return order
    # find one cycle to report
    left = [n for n in names if n not in order]
    color: dict[str, int] = {}
    stack: list[str] = []

    def dfs(n: str) -> list[str] | None:
        color[n] = 1
        stack.append(n)
        for d in nodes[n].deps:
            if color.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in color:
                cyc = dfs(d)
                if cyc:
                    return cyc
        stack.pop()
        color[n] = 2
        return None

    cycle = dfs(left[0]) or left
    cycle = list(reversed(cycle))  # producer -> consumer order
    raise _err(doc.where_key(("nodes", cycle[0])), f"cycle between nodes: {' -> '.join(cycle)}")


# ---------------------------------------------------------------------------------------------------------
# pipeline inputs from the command line -> fan-out items

@dataclass
class Item:
    """One run of the whole pipeline: ``name`` ("" when not fanned out) and its input paths."""

    name: str
    inputs: dict[str, Any]   # pipeline input name -> Path (kind path) or list[Path] (kind paths)


_GLOB_CHARS = re.compile(r"[*?\[]")


def plan_items(pipeline: Pipeline, cli_inputs: list[str] | tuple[str, ...] | dict[str, Any]) -> tuple[list[Item], bool]:
    """Turn ``--input NAME=PATH`` values into fan-out items; returns (items, fanned_out).

    A "path" input given several times, or given a glob, fans the pipeline out (one item per path; several
    fanned-out inputs are zipped and must have equal counts); a "paths" input collects every value
    (globs expanded, sorted) into one list. Item names are the file stems of the first fanned-out input
    (made unique with -2, -3...). Raises PipelineError (exit code 2) for unknown names, missing
    required inputs, files that do not exist, globs that match nothing.
    """
    values: dict[str, list[str]] = {}
    globbed: set[str] = set()
    pairs: list[tuple[str, str, str]] = []
    if isinstance(cli_inputs, dict):
        for k, v in cli_inputs.items():
            for x in (v if isinstance(v, (list, tuple)) else [v]):
                pairs.append((k, str(x), f"--input {k}={x}"))
    else:
        for arg in cli_inputs:
            if "=" not in arg:
                raise _err(f"--input {arg}", "expected NAME=PATH")
            k, v = arg.split("=", 1)
            pairs.append((k.strip(), v, f"--input {arg}"))
    for k, v, where in pairs:
        if k not in pipeline.inputs:
            raise _err(where, f"unknown pipeline input '{k}' (declared in {pipeline.path}: "
                              f"{', '.join(pipeline.inputs) or 'none'})")
        if _GLOB_CHARS.search(v) and not Path(v).exists():
            matches = sorted(glob.glob(v))
            if not matches:
                raise _err(where, f"no file matches {v!r}")
            values.setdefault(k, []).extend(matches)
            globbed.add(k)
        else:
            if not Path(v).exists():
                raise _err(where, f"input file not found: {v}")
            values.setdefault(k, []).append(v)
    for name, decl in pipeline.inputs.items():
        if name not in values:
            if decl.default is None:
                used_by = [n for n, s in pipeline.nodes.items() if any(r.node is None and r.name == name
                                                                     for rs in s.inputs.values() for r in rs)]
                if used_by:
                    raise _err(str(pipeline.path), f"missing pipeline input '{name}' "
                                                   f"(give --input {name}=PATH; used by {', '.join(used_by)})")
                continue
            for v in decl.default:
                if not Path(v).exists():
                    raise _err(str(pipeline.path), f"default of pipeline input '{name}' not found: {v}")
            values[name] = list(decl.default)
    fan = [n for n in pipeline.inputs if n in values and pipeline.inputs[n].kind == "path"
           and (len(values[n]) > 1 or n in globbed)]
    if not fan:
        one = {n: (Path(v[0]) if pipeline.inputs[n].kind == "path" else [Path(x) for x in v])
               for n, v in values.items()}
        return [Item("", one)], False
    count = len(values[fan[0]])
    for n in fan[1:]:
        if len(values[n]) != count:
            raise _err(f"--input {n}", f"fanned-out inputs need equal counts: '{fan[0]}' has {count} "
                                       f"values, '{n}' has {len(values[n])}")
    items: list[Item] = []
    used: set[str] = set()
    for i in range(count):
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(values[fan[0]][i]).stem) or "item"
        if stem.startswith("."):
            stem = "_" + stem[1:]
        name, k = stem, 2
        while name in used or name == "manifest.json":
            name, k = f"{stem}-{k}", k + 1
        used.add(name)
        inp: dict[str, Any] = {}
        for n, v in values.items():
            if n in fan:
                inp[n] = Path(v[i])
            elif pipeline.inputs[n].kind == "path":
                inp[n] = Path(v[0])
            else:
                inp[n] = [Path(x) for x in v]
        items.append(Item(name, inp))
    return items, True
