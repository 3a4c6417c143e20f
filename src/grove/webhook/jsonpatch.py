"""RFC 6902 JSON Patch generation: the operations that turn one JSON document into another.

A mutating webhook answers with such a patch (``patchType: JSONPatch``). The diff is minimal for objects
(only changed keys) and element-wise for lists of equal length; a list whose length changed is replaced
whole, which is always correct and keeps the patch readable.
"""

from __future__ import annotations

from typing import Any

__all__ = ["diff", "pointer"]

Operation = dict[str, Any]


def pointer(*parts: str | int) -> str:
    """The RFC 6901 JSON pointer of a path (``~`` and ``/`` escaped)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _same(a: Any, b: Any) -> bool:
    # JSON distinguishes true from 1 and 1 from 1.0 only by type; Python's == does not.
    return type(a) is type(b) and a == b


def diff(old: Any, new: Any) -> list[Operation]:
    """Operations that transform ``old`` into ``new`` when applied in order."""
    ops: list[Operation] = []
    _diff(old, new, (), ops)
    return ops


def _diff(old: Any, new: Any, path: tuple[str | int, ...], ops: list[Operation]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                ops.append({"op": "remove", "path": pointer(*path, key)})
        for key, value in new.items():
            if key not in old:
                ops.append({"op": "add", "path": pointer(*path, key), "value": value})
            else:
                _diff(old[key], value, (*path, key), ops)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _diff(a, b, (*path, i), ops)
        return
    if not _same(old, new):
        ops.append({"op": "replace", "path": pointer(*path), "value": new})
