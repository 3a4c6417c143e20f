"""Informer transforms that keep only what the ledger reads, so caching every pod of the cluster (pods of
every scheduler count against node capacity) stays cheap.

A pod keeps its identity, the ``grove.io/podgang`` label, ``deletionTimestamp``, ``spec.nodeName``, the
container requests (and init containers' ``restartPolicy``), pod-level resources and overhead, tolerations,
nodeSelector, required node affinity and ``status.phase``; a node its labels, taints, ``unschedulable`` and
allocatable/capacity. Anything of an unexpected type is kept as it came, so the ledger reports the bad field
instead of the transform hiding it. The transforms build new dicts and never modify what they are given
(cached leaf objects are shared between objects, see :mod:`grove.runtime.decode`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grove.runtime.meta import Obj
from grove.scheduler.gang import PODGANG_LABEL

__all__ = ["slim_node", "slim_pod"]

_IDENTITY = ("name", "namespace", "uid", "resourceVersion")
_POD_SPEC = ("nodeName", "nodeSelector", "tolerations", "overhead", "resources")


def _pick(source: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: source[k] for k in keys if k in source}


def _slim_containers(containers: object) -> object:
    if not isinstance(containers, list) or not all(isinstance(c, Mapping) for c in containers):
        return containers
    out = []
    for c in containers:
        slim: dict[str, Any] = {}
        resources = c.get("resources")
        if isinstance(resources, Mapping):
            if "requests" in resources:
                slim["resources"] = {"requests": resources["requests"]}
        elif resources is not None:
            slim["resources"] = resources
        if "restartPolicy" in c:
            slim["restartPolicy"] = c["restartPolicy"]
        out.append(slim)
    return out


def slim_pod(obj: Obj) -> Obj:
    """A pod reduced to what scheduling decisions read."""
    meta, spec, status = obj.get("metadata"), obj.get("spec"), obj.get("status")
    if not all(isinstance(x, Mapping) for x in (meta, spec)) or not isinstance(status, Mapping | None):
        return obj
    assert isinstance(meta, Mapping) and isinstance(spec, Mapping)
    slim_meta = _pick(meta, (*_IDENTITY, "deletionTimestamp"))
    labels = meta.get("labels")
    if isinstance(labels, Mapping):
        if PODGANG_LABEL in labels:
            slim_meta["labels"] = {PODGANG_LABEL: labels[PODGANG_LABEL]}
    elif labels is not None:
        slim_meta["labels"] = labels
    slim_spec = _pick(spec, _POD_SPEC)
    for key in ("containers", "initContainers"):
        if key in spec:
            slim_spec[key] = _slim_containers(spec[key])
    affinity = spec.get("affinity")
    if isinstance(affinity, Mapping):
        if "nodeAffinity" in affinity:
            slim_spec["affinity"] = {"nodeAffinity": affinity["nodeAffinity"]}
    elif affinity is not None:
        slim_spec["affinity"] = affinity
    out: Obj = {"metadata": slim_meta, "spec": slim_spec}
    if status and "phase" in status:
        out["status"] = {"phase": status["phase"]}
    return out


def slim_node(obj: Obj) -> Obj:
    """A node reduced to its labels, taints, ``unschedulable`` and allocatable amounts."""
    meta, spec, status = obj.get("metadata"), obj.get("spec"), obj.get("status")
    if not isinstance(meta, Mapping) or not all(isinstance(x, Mapping | None) for x in (spec, status)):
        return obj
    slim_meta = _pick(meta, (*_IDENTITY, "labels"))
    out: Obj = {"metadata": slim_meta, "spec": _pick(spec or {}, ("taints", "unschedulable"))}
    out["status"] = _pick(status or {}, ("allocatable", "capacity"))
    return out
