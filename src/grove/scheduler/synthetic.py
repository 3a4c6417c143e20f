"""Synthetic Kubernetes objects for topology-aware scheduling: labelled node fleets, pods and PodGangs.

Plain JSON dicts exactly as the API server would serve them. Used by the benchmarks and tests, and handy for
demos: ``fleet(4, 5, 25, 10)`` is the 5,000-node zone/block/rack/host cluster of the scheduler benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grove.scheduler.gang import PODGANG_API_VERSION, PODGANG_LABEL, TOPOLOGY_NAME_ANNOTATION

__all__ = [
    "BLOCK_KEY",
    "DEFAULT_LEVELS",
    "GPU",
    "HOST_KEY",
    "RACK_KEY",
    "ZONE_KEY",
    "GroupSpec",
    "cluster_topology",
    "fleet",
    "node",
    "pod",
    "podgang",
]

ZONE_KEY = "topology.kubernetes.io/zone"
BLOCK_KEY = "topology.example.com/block"
RACK_KEY = "topology.example.com/rack"
HOST_KEY = "kubernetes.io/hostname"
GPU = "nvidia.com/gpu"
DEFAULT_LEVELS: tuple[tuple[str, str], ...] = (
    ("zone", ZONE_KEY),
    ("block", BLOCK_KEY),
    ("rack", RACK_KEY),
    ("host", HOST_KEY),
)


def node(
    name: str,
    labels: Mapping[str, str] | None = None,
    *,
    cpu: str = "32",
    memory: str = "256Gi",
    gpu: int = 0,
    pods: int = 110,
    taints: Sequence[Mapping[str, str]] = (),
    unschedulable: bool = False,
) -> dict[str, Any]:
    """A Node with the given allocatable amounts; ``kubernetes.io/hostname`` is always set to its name."""
    allocatable: dict[str, str] = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    if gpu:
        allocatable[GPU] = str(gpu)
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = [dict(t) for t in taints]
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {HOST_KEY: name, **(labels or {})}},
        "spec": spec,
        "status": {"allocatable": allocatable, "capacity": dict(allocatable)},
    }


def fleet(zones: int, blocks: int, racks: int, hosts: int, **node_args: Any) -> list[dict[str, Any]]:
    """``zones * blocks * racks * hosts`` nodes named ``z0-b1-r2-h3``, labelled with every level."""
    out = []
    for z in range(zones):
        for b in range(blocks):
            for r in range(racks):
                for h in range(hosts):
                    labels = {ZONE_KEY: f"z{z}", BLOCK_KEY: f"z{z}-b{b}", RACK_KEY: f"z{z}-b{b}-r{r}"}
                    out.append(node(f"z{z}-b{b}-r{r}-h{h}", labels, **node_args))
    return out


def cluster_topology(
    name: str = "default", levels: Iterable[tuple[str, str]] = DEFAULT_LEVELS
) -> dict[str, Any]:
    """A ClusterTopologyBinding with ``levels`` given as (domain, key) pairs, broad → narrow."""
    return {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "ClusterTopologyBinding",
        "metadata": {"name": name},
        "spec": {"levels": [{"domain": d, "key": k} for d, k in levels]},
    }


def pod(
    name: str,
    *,
    namespace: str = "default",
    gang: str | None = None,
    cpu: str = "1",
    memory: str = "1Gi",
    gpu: int = 0,
    node_name: str | None = None,
    tolerations: Sequence[Mapping[str, str]] = (),
    node_selector: Mapping[str, str] | None = None,
    affinity_terms: Sequence[Mapping[str, Any]] | None = None,
    scheduler_name: str = "grove-scheduler",
) -> dict[str, Any]:
    """A one-container Pod; ``gang`` sets the ``grove.io/podgang`` label, ``node_name`` binds it."""
    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpu:
        requests[GPU] = str(gpu)
    spec: dict[str, Any] = {
        "schedulerName": scheduler_name,
        "containers": [{"name": "main", "image": "busybox", "resources": {"requests": requests}}],
    }
    if tolerations:
        spec["tolerations"] = [dict(t) for t in tolerations]
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if affinity_terms is not None:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(affinity_terms)}
            }
        }
    if node_name:
        spec["nodeName"] = node_name
    labels = {PODGANG_LABEL: gang} if gang else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "labels": labels,
        },
        "spec": spec,
        "status": {"phase": "Running" if node_name else "Pending"},
    }


@dataclass(frozen=True)
class GroupSpec:
    """A pod group of a synthetic PodGang: its pod names, ``minReplicas`` and pack keys."""

    name: str
    pods: Sequence[str]
    min_replicas: int | None = None
    required: str | None = None
    preferred: str | None = None


def _constraint(required: str | None, preferred: str | None) -> dict[str, Any] | None:
    pack = {k: v for k, v in (("required", required), ("preferred", preferred)) if v}
    return {"packConstraint": pack} if pack else None


def podgang(
    name: str,
    groups: Sequence[GroupSpec],
    *,
    namespace: str = "default",
    required: str | None = None,
    preferred: str | None = None,
    configs: Sequence[tuple[str, Sequence[str], str | None, str | None]] = (),
    topology_name: str | None = None,
) -> dict[str, Any]:
    """A PodGang; ``configs`` are (name, pod group names, required key, preferred key) group configs."""
    podgroups = []
    for g in groups:
        entry: dict[str, Any] = {
            "name": g.name,
            "podReferences": [{"namespace": namespace, "name": p} for p in sorted(g.pods)],
            "minReplicas": len(g.pods) if g.min_replicas is None else g.min_replicas,
        }
        c = _constraint(g.required, g.preferred)
        if c:
            entry["topologyConstraint"] = c
        podgroups.append(entry)
    spec: dict[str, Any] = {"podgroups": podgroups}
    c = _constraint(required, preferred)
    if c:
        spec["topologyConstraint"] = c
    if configs:
        entries = []
        for config_name, members, req, pref in configs:
            entry = {"name": config_name, "podGroupNames": list(members)}
            c = _constraint(req, pref)
            if c:
                entry["topologyConstraint"] = c
            entries.append(entry)
        spec["topologyConstraintGroupConfigs"] = entries
    annotations = {TOPOLOGY_NAME_ANNOTATION: topology_name} if topology_name else {}
    return {
        "apiVersion": PODGANG_API_VERSION,
        "kind": "PodGang",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-pg-{name}",
            "annotations": annotations,
        },
        "spec": spec,
    }
