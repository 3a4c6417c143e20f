"""Server-side apply and ``metadata.managedFields`` (a compact structured-merge-diff).

Field ownership is tracked per manager entry (manager, operation, subresource) as a set of field paths in
the ``fieldsV1`` vocabulary: ``f:<field>``, ``k:<json keys>`` for items of lists that merge by key,
``v:<json value>`` for items of set lists, ``.`` for a list item itself. List semantics come from the
resource type's ``merge_keys`` (built-ins: patch merge keys; CRDs: ``x-kubernetes-list-type``); every other
list is atomic.

* Update operations (create, PUT, non-apply patches) give their manager the fields they changed and take
  those fields from every other manager.
* Apply merges the configuration into the live object, removes fields the manager applied before and no
  longer applies (unless another manager owns them), and fails with 409 Conflict when it would change a
  field another manager owns, unless ``force`` (then ownership moves).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from grove.devcluster import errors, meta
from grove.devcluster.errors import ApiError
from grove.devcluster.meta import deep_copy

if TYPE_CHECKING:
    from grove.devcluster.resources import ResourceType

JSON = dict[str, Any]
Path = tuple[str, ...]

_IGNORED_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
}
_ELEMENT = object()

_applying: list[JSON] = []


@contextlib.contextmanager
def applying(config: JSON) -> Iterator[None]:
    """Mark the create inside as an Apply of ``config`` (server-side apply creating the object)."""
    _applying.append(config)
    try:
        yield
    finally:
        _applying.pop()


def _json_scalar(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _key_id(item: JSON, keys: list[str]) -> str:
    parts = [f'"{k}":{_json_scalar(item[k])}' for k in sorted(keys) if k in item]
    return "k:{" + ",".join(parts) + "}"


def _value_id(value: Any) -> str:
    return "v:" + _json_scalar(value)


def leaf_values(
    value: Any,
    merge_keys: dict[str, str],
    *,
    subresource: str | None = None,
    status_subresource: bool = False,
) -> dict[Path, Any]:
    """Every owned-field path of an object mapped to its value (list items map to a marker)."""
    out: dict[Path, Any] = {}
    if not isinstance(value, dict):
        return out
    for k, v in value.items():
        if k in ("apiVersion", "kind"):
            continue
        if subresource == "status" and k != "status":
            continue
        if subresource is None and status_subresource and k == "status":
            continue
        if k == "metadata" and isinstance(v, dict):
            for mk, mv in v.items():
                if mk not in _IGNORED_META:
                    _walk(mv, ("f:metadata", "f:" + mk), "metadata." + mk, merge_keys, out)
            continue
        _walk(v, ("f:" + k,), k, merge_keys, out)
    return out


def _walk(value: Any, path: Path, schema_path: str, merge_keys: dict[str, str], out: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _walk(v, (*path, "f:" + k), f"{schema_path}.{k}", merge_keys, out)
        return
    if isinstance(value, list) and schema_path in merge_keys:
        keys = [k for k in merge_keys[schema_path].split(",") if k]
        if not value:
            out[path] = value
            return
        for item in value:
            if keys and isinstance(item, dict):
                ipath = (*path, _key_id(item, keys))
                out[(*ipath, ".")] = _ELEMENT
                for k, v in item.items():
                    _walk(v, (*ipath, "f:" + k), f"{schema_path}[].{k}", merge_keys, out)
            else:
                out[(*path, _value_id(item))] = _ELEMENT
        return
    out[path] = value


def to_fields_v1(paths: set[Path] | frozenset[Path]) -> JSON:
    """A set of paths as a ``fieldsV1`` tree."""
    root: JSON = {}
    for p in sorted(paths):
        node = root
        for part in p:
            node = node.setdefault(part, {})
    return root


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    """The paths of a ``fieldsV1`` tree."""
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    if not tree and prefix:
        out.add(prefix)
    for k, v in tree.items():
        if k == ".":
            out.add((*prefix, "."))
        else:
            out |= from_fields_v1(v, (*prefix, k))
    return out


class _Entry:
    __slots__ = ("api_version", "fields", "manager", "operation", "subresource", "time")

    def __init__(
        self, manager: str, operation: str, subresource: str, api_version: str, time: str, fields: set[Path]
    ):
        self.manager = manager
        self.operation = operation
        self.subresource = subresource
        self.api_version = api_version
        self.time = time
        self.fields = fields

    @classmethod
    def parse(cls, raw: JSON) -> _Entry:
        return cls(
            str(raw.get("manager", "")),
            str(raw.get("operation", "Update")),
            str(raw.get("subresource", "")),
            str(raw.get("apiVersion", "")),
            str(raw.get("time", "")),
            from_fields_v1(raw.get("fieldsV1")),
        )

    def key(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def dump(self) -> JSON:
        out: JSON = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = to_fields_v1(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _entries(obj: JSON) -> list[_Entry]:
    raw = obj.get("metadata", {}).get("managedFields") or []
    return [_Entry.parse(e) for e in raw if isinstance(e, dict)]


def _dump(entries: list[_Entry]) -> list[JSON]:
    return [e.dump() for e in entries if e.fields]


def track_create(rtype: ResourceType, body: JSON, field_manager: str | None) -> None:
    """Record the creating manager's fields in ``body``'s managedFields."""
    md = body["metadata"]
    if not field_manager:
        md.pop("managedFields", None)
        return
    if _applying:
        config = _applying[-1]
        fields = set(leaf_values(config, rtype.merge_keys))
        op = "Apply"
    else:
        fields = set(leaf_values(body, rtype.merge_keys, status_subresource=rtype.status_subresource))
        op = "Update"
    entry = _Entry(field_manager, op, "", rtype.api_version, meta.now_rfc3339(), fields)
    md["managedFields"] = _dump([entry])


def _strip_mf(obj: JSON) -> JSON:
    out = dict(obj)
    out["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return out


def track_update(
    rtype: ResourceType,
    new: JSON,
    old: JSON,
    field_manager: str | None,
    operation: str,
    subresource: str | None,
    apply_config: JSON | None,
    force: bool,
) -> None:
    """Set ``new``'s managedFields after an update of ``old`` by ``field_manager``."""
    md = new["metadata"]
    old_mf = old["metadata"].get("managedFields")
    if operation == "Apply":
        return
    base = old
    requested = md.get("managedFields")
    if requested is not None and requested != old_mf and isinstance(requested, list):
        # A request may rewrite managedFields (kubectl's client-side to server-side apply upgrade does);
        # [{}] clears them, an empty list leaves them as they are.
        if requested == [{}]:
            md.pop("managedFields", None)
            return
        if requested and all(isinstance(e, dict) and e.get("manager") for e in requested):
            base = {"metadata": {"managedFields": requested}}
            old_mf = requested
    if not field_manager or _strip_mf(new) == _strip_mf(old):
        if old_mf is None:
            md.pop("managedFields", None)
        else:
            md["managedFields"] = old_mf
        return
    keys = rtype.merge_keys
    old_lv = leaf_values(old, keys, subresource=subresource, status_subresource=rtype.status_subresource)
    new_lv = leaf_values(new, keys, subresource=subresource, status_subresource=rtype.status_subresource)
    changed = {p for p, v in new_lv.items() if old_lv.get(p, _MISSING) != v}
    removed = set(old_lv) - set(new_lv)
    entries = _entries(base)
    mine = (field_manager, "Update", subresource or "")
    found = False
    for e in entries:
        if e.key() == mine:
            e.fields = (e.fields | changed) - removed
            e.time = meta.now_rfc3339()
            e.api_version = rtype.api_version
            found = True
        else:
            e.fields = e.fields - changed - removed
    if not found and changed:
        entries.append(
            _Entry(field_manager, "Update", subresource or "", rtype.api_version, meta.now_rfc3339(), changed)
        )
    dumped = _dump(entries)
    if dumped:
        md["managedFields"] = dumped
    else:
        md.pop("managedFields", None)


_MISSING = object()


def check_config(rtype: ResourceType, patch: Any, name: str, namespace: str) -> JSON:
    """Validate an apply configuration (``apiVersion``, ``kind``, a name matching the URL)."""
    if not isinstance(patch, dict):
        raise errors.bad_request("apply configuration must be an object")
    if not patch.get("apiVersion") or not patch.get("kind"):
        raise errors.bad_request(
            f"invalid object type: {patch.get('apiVersion', '')}, Kind={patch.get('kind', '')}"
        )
    if patch["kind"] != rtype.kind:
        raise errors.bad_request(
            f"the kind in the apply configuration ({patch['kind']}) does not match {rtype.kind}"
        )
    md = patch.get("metadata")
    if not isinstance(md, dict):
        raise errors.bad_request("apply configuration needs metadata.name")
    if md.get("name") and md["name"] != name:
        raise errors.bad_request(
            f"the name of the object ({md['name']}) does not match the name on the URL ({name})"
        )
    if rtype.namespaced and md.get("namespace") and md["namespace"] != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    return patch


def config_for_create(rtype: ResourceType, config: JSON) -> JSON:
    """The object an apply creates (an owned copy of the configuration)."""
    obj: JSON = deep_copy(config)
    return obj


def _conflict_message(conflicts: list[tuple[str, Path]], api_version: str) -> str:
    parts = [f'conflict with "{m}" using {api_version}: {_dotted(p)}' for m, p in conflicts]
    if len(parts) == 1:
        return f"Apply failed with 1 conflict: {parts[0]}"
    return f"Apply failed with {len(parts)} conflicts: " + "\n".join(parts)


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        if part.startswith("f:"):
            out += "." + part[2:]
        elif part.startswith(("k:", "v:")):
            out += "[" + part[2:] + "]"
    return out


def apply(
    rtype: ResourceType, live: JSON, config: JSON, manager: str, force: bool, subresource: str | None
) -> JSON:
    """The object after applying ``config`` as ``manager``; raises 409 on conflicts unless ``force``."""
    keys = rtype.merge_keys
    sub = subresource if subresource == "status" else None
    cfg = leaf_values(config, keys, subresource=sub, status_subresource=rtype.status_subresource)
    cur = leaf_values(live, keys, subresource=sub, status_subresource=rtype.status_subresource)
    entries = _entries(live)
    mine_key = (manager, "Apply", subresource or "")
    conflicts: list[tuple[str, Path]] = []
    for e in entries:
        if e.key() == mine_key or (e.manager == manager and e.operation == "Apply"):
            continue
        for p in e.fields & cfg.keys():
            if cur.get(p, _MISSING) != cfg[p]:
                conflicts.append((e.manager, p))
    if conflicts and not force and manager == "kubectl":
        # kube-apiserver's lastAppliedManager: `kubectl apply --server-side` takes over, without
        # conflicts, the fields a client-side apply set (per the last-applied annotation) if untouched since.
        allowed = _last_applied_fields(live, keys, cur)
        if all(p in allowed for _m, p in conflicts):
            force = True
    if conflicts and not force:
        causes = [
            {"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": _dotted(p)}
            for m, p in conflicts
        ]
        err = ApiError(409, "Conflict", _conflict_message(conflicts, rtype.api_version))
        err.details = {"name": live["metadata"]["name"], "kind": rtype.plural, "causes": causes}
        if rtype.group:
            err.details["group"] = rtype.group
        raise err
    lost = {p for _, p in conflicts}
    prev: set[Path] = set()
    for e in entries:
        if e.key() == mine_key:
            prev = e.fields
        else:
            e.fields = e.fields - lost
    others: set[Path] = set()
    for e in entries:
        if e.key() != mine_key:
            others |= e.fields
    to_remove = prev - cfg.keys() - others
    merged = _merge(live, config, "", keys)
    if to_remove:
        merged = _remove(merged, sorted(to_remove, key=len, reverse=True), keys)
    new_entries = [e for e in entries if e.key() != mine_key]
    mine = _Entry(manager, "Apply", subresource or "", rtype.api_version, meta.now_rfc3339(), set(cfg))
    old_mine = next((e for e in entries if e.key() == mine_key), None)
    if old_mine is not None and old_mine.fields == mine.fields and _same_values(cur, cfg):
        mine.time = old_mine.time
    if old_mine is not None:
        new_entries.insert(min(entries.index(old_mine), len(new_entries)), mine)
    else:
        new_entries.append(mine)
    out = dict(merged)
    out["metadata"] = dict(merged.get("metadata") or {})
    dumped = _dump(new_entries)
    if dumped:
        out["metadata"]["managedFields"] = dumped
    else:
        out["metadata"].pop("managedFields", None)
    return out


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied_fields(live: JSON, keys: dict[str, str], cur: dict[Path, Any]) -> set[Path]:
    raw = (live["metadata"].get("annotations") or {}).get(LAST_APPLIED)
    if not raw:
        return set()
    try:
        last = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return set()
    if not isinstance(last, dict):
        return set()
    return {p for p, v in leaf_values(last, keys).items() if cur.get(p, _MISSING) == v}


def _same_values(cur: dict[Path, Any], cfg: dict[Path, Any]) -> bool:
    return all(cur.get(p, _MISSING) == v for p, v in cfg.items())


def _merge(live: Any, config: Any, schema_path: str, keys: dict[str, str]) -> Any:
    if isinstance(config, dict) and isinstance(live, dict):
        out = dict(live)
        for k, v in config.items():
            child = f"{schema_path}.{k}" if schema_path else k
            if schema_path == "" and k == "metadata" and isinstance(v, dict):
                v = {mk: mv for mk, mv in v.items() if mk not in ("managedFields", "resourceVersion", "uid")}
            out[k] = _merge(live.get(k), v, child, keys)
        return out
    if isinstance(config, list) and isinstance(live, list) and schema_path in keys:
        mkeys = [k for k in keys[schema_path].split(",") if k]
        merged = list(live)
        for item in config:
            if mkeys and isinstance(item, dict):
                ident = _key_id(item, mkeys)
                idx = next(
                    (i for i, x in enumerate(merged) if isinstance(x, dict) and _key_id(x, mkeys) == ident),
                    None,
                )
                if idx is None:
                    merged.append(deep_copy(item))
                else:
                    merged[idx] = _merge(merged[idx], item, schema_path + "[]", keys)
            elif item not in merged:
                merged.append(deep_copy(item))
        return merged
    return deep_copy(config)


def _remove(obj: Any, paths: list[Path], keys: dict[str, str]) -> Any:
    out = deep_copy(obj)
    for p in paths:
        _remove_one(out, p, "", keys)
    return out


def _remove_one(node: Any, path: Path, schema_path: str, keys: dict[str, str]) -> None:
    if not path:
        return
    head, rest = path[0], path[1:]
    if head.startswith("f:") and isinstance(node, dict):
        name = head[2:]
        child_schema = f"{schema_path}.{name}" if schema_path else name
        if name not in node:
            return
        if not rest:
            del node[name]
            return
        _remove_one(node[name], rest, child_schema, keys)
        return
    if isinstance(node, list):
        for i, item in enumerate(node):
            mkeys = [k for k in keys.get(schema_path, "").split(",") if k]
            ident = (
                _key_id(item, mkeys) if head.startswith("k:") and isinstance(item, dict) else _value_id(item)
            )
            if ident != head:
                continue
            if not rest or rest == (".",):
                del node[i]
            else:
                _remove_one(item, rest, schema_path + "[]", keys)
            return
