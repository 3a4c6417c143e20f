"""Editing nested manifests by path in tests: ``edit(d, {"spec.template.cliques[0].name": "x"})``."""

from __future__ import annotations

import itertools
import re
from typing import Any


class _Delete:
    """Marker that deletes the field; survives deepcopy."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Delete:
        return self


DELETE = _Delete()
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\+|\d+)\]")


def _tokens(path: str) -> list[str | int]:
    out: list[str | int] = []
    for name, index in _TOKEN.findall(path):
        if name:
            out.append(name)
        else:
            out.append(-1 if index == "+" else int(index))
    return out


def edit(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Apply ``path: value`` changes in order; ``[+]`` appends, :data:`DELETE` removes. Returns ``data``."""
    for path, value in changes.items():
        tokens = _tokens(path)
        node: Any = data
        for token, nxt in itertools.pairwise(tokens):
            if isinstance(token, int):
                node = node[token]
            else:
                node = node.setdefault(token, [] if isinstance(nxt, int) else {})
        last = tokens[-1]
        if value is DELETE:
            del node[last]
        elif last == -1:
            node.append(value)
        else:
            node[last] = value
    return data
