"""``sculpt.json``: what the sculpt stage understood from a prompt and what it changed (UTF-8 JSON).

Schema (version 1)::

    {
      "format": "headgen-sculpt", "version": 1,
      "prompt": str,
      "method": "diffusion" | "sds",
      "input": {"kind": "fit" | "avatar" | "model", "path": str | null, "model": "ict", "frame": int},
      "params": {...},                      # the stage's Params as given (seed, strength, samples, ...)
      "understood": [                       # attributes the prompt asks for, strongest first
        {"attribute": str, "kind": "shape" | "expression" | "appearance", "intensity": float,
         "direction": "more" | "less" | "absent"}],
                                            # shape: signed intensity, +-0.5 slightly, +-1, +-1.5 very/much;
                                            # expression: asked weight 0..1, -1 = negated ("not smiling");
                                            # appearance (headgen.avatar.appearance): lightness signed as
                                            # shape, hair colours as a weight
      "nearest": [{"attribute": str, "similarity": float}],   # best-matching attribute phrases (cosine)
      "attributes": {name: {"unit": "mm" | "ratio" | "weight" | "L*" | "ITA deg" | "delta E", "before": float,
                            "after": float, "change": float, "range": float}},  # every attribute, main result
                                            # (sample 0); range: 4 prior std (shape) or 1 (weights); an avatar
                                            # input adds its appearance attributes (lightness in CIELAB L*,
                                            # "skin tone" as ITA degrees, each named hair colour as the delta E
                                            # of the hair's mean colour to it: smaller = more of that colour)
      "samples": [{"index": int, "head": "samples/sample_00.obj", "changes": {name: float}}],
      "seconds": float,                     # sculpting time (understanding + sampling), no I/O
      "notes": [str]                        # what was not done (e.g. appearance attributes without an avatar)
    }
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from headgen.errors import InputError
from headgen.io.atomic import write_json_atomic

FORMAT, VERSION = "headgen-sculpt", 1
REQUIRED = ("prompt", "method", "input", "understood", "attributes")


@dataclass
class SculptArtifact:
    """The fields of sculpt.json (see the module docstring)."""
    prompt: str
    method: str
    input: dict
    understood: list[dict]
    attributes: dict[str, dict]
    params: dict = field(default_factory=dict)
    nearest: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def change(self, name: str) -> float:
        """after - before of one attribute (KeyError if unknown)."""
        return float(self.attributes[name]["change"])

    def to_dict(self) -> dict:
        """The JSON object."""
        return {"format": FORMAT, "version": VERSION, "prompt": self.prompt, "method": self.method,
                "input": self.input, "params": self.params, "understood": self.understood,
                "nearest": self.nearest, "attributes": self.attributes, "samples": self.samples,
                "seconds": self.seconds, "notes": self.notes}


def write_sculpt(path: str | Path, art: SculptArtifact) -> Path:
    """Write sculpt.json atomically -> path."""
    for a in art.attributes.values():
        for k in ("before", "after", "change", "range"):
            a[k] = float(a[k])
    write_json_atomic(Path(path), art.to_dict())
    return Path(path)


def read_sculpt(path: str | Path) -> SculptArtifact:
    """Read sculpt.json (a folder: its sculpt.json). InputError naming the file when missing or malformed."""
    path = Path(path)
    if path.is_dir():
        path = path / "sculpt.json"
    if not path.is_file():
        raise InputError(f"{path}: no such sculpt.json")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise InputError(f"{path}: not a headgen sculpt.json")
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise InputError(f"{path}: sculpt.json lacks {', '.join(missing)}")
    return SculptArtifact(prompt=d["prompt"], method=d["method"], input=d["input"], understood=d["understood"],
                          attributes=d["attributes"], params=d.get("params", {}), nearest=d.get("nearest", []),
                          samples=d.get("samples", []), seconds=float(d.get("seconds", 0.0)),
                          notes=d.get("notes", []))
