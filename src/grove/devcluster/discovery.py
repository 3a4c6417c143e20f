"""API discovery documents, legacy (``/api``, ``/apis``, ``/api/v1``, ``/apis/<g>/<v>``) and aggregated
(``apidiscovery.k8s.io/v2`` ``APIGroupDiscoveryList``, which kubectl 1.37 asks for first)."""

from __future__ import annotations

from typing import Any

from grove.devcluster.crds import version_priority
from grove.devcluster.resources import Registry, ResourceType

JSON = dict[str, Any]

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> str | None:
    """The aggregated-discovery media type to answer with, if the client accepts one (preferring v2)."""
    if "as=APIGroupDiscoveryList" not in accept:
        return None
    for part in accept.split(","):
        p = part.replace(" ", "")
        if "as=APIGroupDiscoveryList" in p and "g=apidiscovery.k8s.io" in p:
            if "v=v2beta1" in p:
                return AGGREGATED_V2BETA1
            if "v=v2" in p:
                return AGGREGATED_V2
    return None


def _sorted_versions(versions: list[str]) -> list[str]:
    return sorted(versions, key=version_priority)


def api_versions(server_address: str) -> JSON:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> JSON:
    vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in _sorted_versions(versions)]
    return {"name": name, "versions": vs, "preferredVersion": vs[0]}


def api_group_list(registry: Registry) -> JSON:
    """``GET /apis``."""
    groups = registry.groups()
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(g, vs) for g, vs in sorted(groups.items(), key=_group_order) if g],
    }


def _group_order(item: tuple[str, list[str]]) -> tuple[int, str]:
    # Built-in groups (no dot, or *.k8s.io) first, like kube-apiserver's priority order.
    name = item[0]
    builtin = "." not in name or name.endswith(".k8s.io")
    return (0 if builtin else 1, name)


def api_group(registry: Registry, group: str) -> JSON | None:
    """``GET /apis/<group>``."""
    versions = registry.groups().get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


# Subresources whose kind lives in another group version (kubectl drain finds Eviction's this way).
_SUBRESOURCE_GROUPS = {"Scale": ("autoscaling", "v1"), "Eviction": ("policy", "v1")}


def _resource_entries(t: ResourceType) -> list[JSON]:
    main: JSON = {
        "name": t.plural,
        "singularName": t.singular,
        "namespaced": t.namespaced,
        "kind": t.kind,
        "verbs": list(t.verbs),
    }
    if t.short_names:
        main["shortNames"] = list(t.short_names)
    if t.categories:
        main["categories"] = list(t.categories)
    out = [main]
    for sub, kind, verbs in t.subresources():
        entry: JSON = {"name": f"{t.plural}/{sub}", "singularName": "", "namespaced": t.namespaced}
        if kind in _SUBRESOURCE_GROUPS:
            group, version = _SUBRESOURCE_GROUPS[kind]
            entry.update({"group": group, "version": version})
        entry.update({"kind": kind, "verbs": list(verbs)})
        out.append(entry)
    return out


def api_resource_list(registry: Registry, group: str, version: str) -> JSON | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources: list[JSON] = []
    for t in sorted(types, key=lambda t: t.plural):
        resources.extend(_resource_entries(t))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _aggregated_resource(t: ResourceType) -> JSON:
    entry: JSON = {
        "resource": t.plural,
        "responseKind": {"group": t.group, "version": t.version, "kind": t.kind},
        "scope": "Namespaced" if t.namespaced else "Cluster",
        "singularResource": t.singular,
        "verbs": list(t.verbs),
    }
    if t.short_names:
        entry["shortNames"] = list(t.short_names)
    if t.categories:
        entry["categories"] = list(t.categories)
    subs = []
    for sub, kind, verbs in t.subresources():
        group, version = _SUBRESOURCE_GROUPS.get(kind, (t.group, t.version))
        rk = {"group": group, "version": version, "kind": kind}
        subs.append({"subresource": sub, "responseKind": rk, "verbs": list(verbs)})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: Registry, *, core: bool, media_type: str) -> JSON:
    """``APIGroupDiscoveryList`` for ``/api`` (core) or ``/apis`` (every other group)."""
    groups = registry.groups()
    items: list[JSON] = []
    for g, versions in sorted(groups.items(), key=_group_order):
        if (g == "") != core:
            continue
        vitems = []
        for v in _sorted_versions(versions):
            types = sorted(registry.in_group_version(g, v), key=lambda t: t.plural)
            vitems.append(
                {"version": v, "resources": [_aggregated_resource(t) for t in types], "freshness": "Current"}
            )
        items.append({"metadata": {"name": g, "creationTimestamp": None}, "versions": vitems})
    api_version = "apidiscovery.k8s.io/v2beta1" if "v2beta1" in media_type else "apidiscovery.k8s.io/v2"
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}
