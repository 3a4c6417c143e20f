"""Helpers over raw Kubernetes objects (parsed JSON dicts): keys, metadata fields, owner references, copies.

Objects handed out by informers and the cache are shared and **read-only by contract**: the same dict is in
the store and passed to every handler and reconciler. Never mutate one in place; call :func:`mutable_copy`
and change the copy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]
"""A Kubernetes object as parsed JSON."""


def mutable_copy(obj: Mapping[str, Any]) -> Obj:
    """A deep copy of ``obj`` that the caller owns and may change (e.g. to send with ``Client.update``)."""
    return copy.deepcopy(dict(obj))


def metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``obj.metadata`` or an empty mapping."""
    md = obj.get("metadata")
    return md if isinstance(md, Mapping) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    """``metadata.name`` ("" when missing)."""
    return str(metadata(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    """``metadata.namespace`` ("" for cluster-scoped objects)."""
    return str(metadata(obj).get("namespace") or "")


def uid_of(obj: Mapping[str, Any]) -> str:
    """``metadata.uid`` ("" when missing)."""
    return str(metadata(obj).get("uid") or "")


def resource_version_of(obj: Mapping[str, Any]) -> str:
    """``metadata.resourceVersion`` ("" when missing)."""
    return str(metadata(obj).get("resourceVersion") or "")


def generation_of(obj: Mapping[str, Any]) -> int:
    """``metadata.generation`` (0 when missing)."""
    return int(metadata(obj).get("generation") or 0)


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    """``metadata.labels`` or an empty mapping."""
    return metadata(obj).get("labels") or {}


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    """``metadata.annotations`` or an empty mapping."""
    return metadata(obj).get("annotations") or {}


def object_key(obj: Mapping[str, Any]) -> str:
    """The store key: ``namespace/name``, or ``name`` when cluster-scoped (client-go MetaNamespaceKeyFunc)."""
    md = metadata(obj)
    name = md.get("name")
    if not name:
        raise ValueError("metadata.name: required to key an object")
    ns = md.get("namespace")
    return f"{ns}/{name}" if ns else str(name)


def split_key(key: str) -> tuple[str, str]:
    """``(namespace, name)`` of a store key; namespace is "" for cluster-scoped keys."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else ("", ns)


def api_group_of(api_version: str) -> str:
    """The group of an apiVersion ("" for the core group ``v1``)."""
    group, sep, _ = api_version.rpartition("/")
    return group if sep else ""


def controller_owner(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in metadata(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def owner_reference(
    owner: Mapping[str, Any], *, controller: bool = True, block_owner_deletion: bool = True
) -> Obj:
    """An ownerReference pointing at ``owner`` (which must carry apiVersion, kind, name and uid)."""
    md = metadata(owner)
    for field, value in (
        ("apiVersion", owner.get("apiVersion")),
        ("kind", owner.get("kind")),
        ("metadata.name", md.get("name")),
        ("metadata.uid", md.get("uid")),
    ):
        if not value:
            raise ValueError(f"owner.{field}: required to build an ownerReference")
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": md["name"],
        "uid": md["uid"],
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }
