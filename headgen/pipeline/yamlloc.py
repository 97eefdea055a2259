"""YAML loading that remembers where every value came from (file:line:col) for one-line errors."""
from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple  # a key path into the loaded document, e.g. ("nodes", "fit", "params", "iters")


class YamlSyntaxError(ValueError):
    """The text is not valid YAML; ``where`` is 'file:line:col', ``problem`` the parser's message."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class Located:
    """A loaded YAML document plus the position of every value and mapping key.

    ``data``: plain Python (dict/list/scalars). ``where(path)`` -> 'file:line:col' of the value at
    ``path`` (falls back to the closest recorded ancestor); ``where_key(path)`` -> position of the key
    naming the value at ``path``.
    """

    def __init__(self, filename: str, data: Any, marks: dict[tuple, tuple[int, int]],
                 key_marks: dict[tuple, tuple[int, int]]):
        self.filename = filename
        self.data = data
        self._marks = marks
        self._key_marks = key_marks

    def _fmt(self, mark: tuple[int, int] | None) -> str:
        if mark is None:
            return self.filename
        return f"{self.filename}:{mark[0]}:{mark[1]}"

    def where(self, path: tuple) -> str:
        """'file:line:col' (1-based) of the value at ``path`` or of its closest recorded ancestor."""
        p = tuple(path)
        while p:
            if p in self._marks:
                return self._fmt(self._marks[p])
            p = p[:-1]
        return self._fmt(self._marks.get((), None))

    def where_key(self, path: tuple) -> str:
        """'file:line:col' of the mapping key for ``path`` (falls back to :meth:`where`)."""
        p = tuple(path)
        if p in self._key_marks:
            return self._fmt(self._key_marks[p])
        return self.where(p)


# libyaml's parser is ~10x faster; its nodes carry the same start marks
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_located(text: str, filename: str) -> Located:
    """Parse YAML ``text`` (one document, safe tags only) recording positions; raises YamlSyntaxError."""
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            m = e.problem_mark or e.context_mark
            where = f"{filename}:{m.line + 1}:{m.column + 1}" if m else filename
            raise YamlSyntaxError(where, f"invalid YAML: {e.problem or e.context}") from None
        except yaml.YAMLError as e:
            raise YamlSyntaxError(filename, f"invalid YAML: {e}") from None
        marks: dict[tuple, tuple[int, int]] = {}
        key_marks: dict[tuple, tuple[int, int]] = {}

        def pos(node: yaml.Node) -> tuple[int, int]:
            return (node.start_mark.line + 1, node.start_mark.column + 1)

        def build(node: yaml.Node, path: tuple) -> Any:
            marks[path] = pos(node)
            if isinstance(node, yaml.MappingNode):
                loader.flatten_mapping(node)
                out: dict = {}
                for knode, vnode in node.value:
                    key = loader.construct_object(knode, deep=True)
                    try:
                        hash(key)
                    except TypeError:
                        raise YamlSyntaxError(f"{filename}:{pos(knode)[0]}:{pos(knode)[1]}",
                                              "mapping keys must be scalars") from None
                    if key in out:
                        raise YamlSyntaxError(f"{filename}:{pos(knode)[0]}:{pos(knode)[1]}",
                                              f"duplicate key {key!r}")
                    key_marks[path + (key,)] = pos(knode)
                    out[key] = build(vnode, path + (key,))
                return out
            if isinstance(node, yaml.SequenceNode):
                return [build(v, path + (i,)) for i, v in enumerate(node.value)]
            try:
                return loader.construct_object(node, deep=True)
            except yaml.YAMLError as e:
                raise YamlSyntaxError(f"{filename}:{pos(node)[0]}:{pos(node)[1]}", f"invalid value: {e}") from None

        data = None if root is None else build(root, ())
        return Located(filename, data, marks, key_marks)
    finally:
        loader.dispose()
