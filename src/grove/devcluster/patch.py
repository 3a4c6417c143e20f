"""Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

All functions are pure: they return a new document and never modify their inputs (unchanged subtrees are
shared with the input, which is fine because stored objects are immutable by contract).

Strategic merge patch follows ``k8s.io/apimachinery/pkg/util/strategicpatch``: lists named in the resource
type's ``merge_keys`` merge by that key (``""`` marks a list of primitives merged as a set), every other list
is replaced; the directives ``$patch`` (replace/delete/merge), ``$retainKeys``,
``$deleteFromPrimitiveList/<field>`` and ``$setElementOrder/<field>`` are understood.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grove.devcluster import errors
from grove.devcluster.errors import ApiError
from grove.devcluster.meta import deep_copy

if TYPE_CHECKING:
    from grove.devcluster.resources import ResourceType

JSON = dict[str, Any]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return deep_copy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = merge_patch(out.get(k), v)
        else:
            out[k] = deep_copy(v)
    return out


# ----------------------------------------------------------------------------- RFC 6902


def _invalid_patch(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise errors.bad_request(f"invalid JSON pointer {path!r}: must start with '/'")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise _invalid_patch(f"invalid array index {token!r}")
    i = int(token)
    limit = len(container) if for_add else len(container) - 1
    if i > limit:
        raise _invalid_patch(f"array index {i} out of bounds")
    return i


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise _invalid_patch(f"doc is missing path: {path!r}")
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, for_add=False)]
        else:
            raise _invalid_patch(f"doc is missing path: {path!r}")
    return cur


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _invalid_patch(f"doc is missing path: {path!r}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False)]
    raise _invalid_patch(f"doc is missing path: {path!r}")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise _invalid_patch(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise _invalid_patch("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _invalid_patch(f"Unable to remove nonexistent key: {last}: missing value")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, for_add=False))
    raise _invalid_patch(f"doc is missing path: {path!r}")


def json_patch(target: Any, patch: Any) -> Any:
    """RFC 6902 operations add/remove/replace/move/copy/test; 422 when one cannot apply."""
    if not isinstance(patch, list):
        raise errors.bad_request("json patch must be a list of operations")
    doc = deep_copy(target)
    for op in patch:
        if not isinstance(op, dict) or "op" not in op:
            raise errors.bad_request(f"invalid json patch operation: {op!r}")
        kind = op["op"]
        path = str(op.get("path", ""))
        source = str(op.get("from", ""))
        if kind == "add":
            doc = _add(doc, path, deep_copy(op.get("value")))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc, _ = _remove(doc, path)
            doc = _add(doc, path, deep_copy(op.get("value")))
        elif kind == "move":
            doc, value = _remove(doc, source)
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, deep_copy(_get(doc, source)))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _invalid_patch(f"testing value {path} failed: test failed")
        else:
            raise errors.bad_request(f"Unexpected kind: {kind}")
    return doc


# ----------------------------------------------------------------------------- strategic merge patch

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"


def strategic_merge_patch(target: JSON, patch: Any, rtype: ResourceType) -> JSON:
    """Apply a strategic merge patch to ``target`` using ``rtype.merge_keys``."""
    if not isinstance(patch, dict):
        raise errors.bad_request("strategic merge patch must be a JSON object")
    out = _smp_map(target, patch, "", rtype.merge_keys)
    return out if isinstance(out, dict) else {}


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _smp_map(target: Any, patch: JSON, path: str, keys: dict[str, str]) -> Any:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != _DIRECTIVE})
    out = dict(target) if isinstance(target, dict) else {}
    orders: dict[str, list[Any]] = {}
    for k, v in patch.items():
        if k in (_DIRECTIVE, _RETAIN_KEYS):
            continue
        if k.startswith(_SET_ORDER):
            orders[k[len(_SET_ORDER) :]] = v if isinstance(v, list) else []
            continue
        if k.startswith(_DELETE_PRIMITIVE):
            field = k[len(_DELETE_PRIMITIVE) :]
            cur = out.get(field)
            if isinstance(cur, list) and isinstance(v, list):
                out[field] = [x for x in cur if x not in v]
            continue
        child = _child(path, k)
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            merged = _smp_map(out.get(k), v, child, keys)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list) and child in keys:
            out[k] = _smp_list(out.get(k), v, child, keys)
        else:
            out[k] = _strip_directives(v)
    for field, order in orders.items():
        if isinstance(out.get(field), list):
            out[field] = _reorder(out[field], order, keys.get(_child(path, field), ""))
    retain = patch.get(_RETAIN_KEYS)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _smp_list(target: Any, patch: list[Any], path: str, keys: dict[str, str]) -> list[Any]:
    merge_key = keys[path]
    cur = list(target) if isinstance(target, list) else []
    if any(isinstance(p, dict) and p.get(_DIRECTIVE) == "replace" for p in patch):
        return [
            _strip_directives(p)
            for p in patch
            if not (isinstance(p, dict) and p.get(_DIRECTIVE) == "replace")
        ]
    if not merge_key:
        for item in patch:
            if item not in cur:
                cur.append(item)
        return cur
    item_path = path + "[]"
    for item in patch:
        if not isinstance(item, dict):
            raise errors.bad_request(
                f"strategic merge patch: list {path} needs objects with key {merge_key!r}"
            )
        kv = item.get(merge_key)
        idx = next(
            (i for i, c in enumerate(cur) if isinstance(c, dict) and c.get(merge_key) == kv),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            if idx is not None:
                del cur[idx]
            continue
        if idx is None:
            cur.append(_strip_directives(item))
        else:
            merged = _smp_map(cur[idx], item, item_path, keys)
            if merged is None:
                del cur[idx]
            else:
                cur[idx] = merged
    return cur


def _reorder(items: list[Any], order: list[Any], merge_key: str) -> list[Any]:
    def ident(x: Any) -> Any:
        return x.get(merge_key) if merge_key and isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    rank = {repr(w): i for i, w in enumerate(wanted)}
    ordered = sorted((x for x in items if repr(ident(x)) in rank), key=lambda x: rank[repr(ident(x))])
    rest = [x for x in items if repr(ident(x)) not in rank]
    return ordered + rest


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if v is not None and not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
