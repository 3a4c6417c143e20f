"""Where a pod may run and how good each node is: kube-scheduler's default Filter and Score plugins over
a node cache, and its diagnostics (the ``0/40 nodes are available: ...`` message).

Filters, in kube-scheduler's order, each stopping the node at the first failure: NodeUnschedulable,
TaintToleration, NodeAffinity (``nodeSelector`` + required node affinity), NodeResourcesFit (requests
against allocatable minus the non-terminal pods on the node, and the pod count). Scores with the default
plugin weights: NodeResourcesFit LeastAllocated (1), NodeResourcesBalancedAllocation (1), TaintToleration
for PreferNoSchedule taints (3) and NodeAffinity for preferred terms (2). Integer arithmetic as upstream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grove.devcluster.nodematch import (
    PREFER_NO_SCHEDULE,
    UNSCHEDULABLE_TAINT,
    pod_matches_node,
    preferred_affinity_weight,
    tolerated,
    untolerated_taint,
)
from grove.devcluster.podresources import MEMORY, PODS, pod_requests, requested_resource_names, resource_list
from grove.devcluster.quantity import CPU

JSON = dict[str, Any]

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"

REASON_UNSCHEDULABLE_NODE = "node(s) were unschedulable"
REASON_TAINT = "node(s) had untolerated taint(s)"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_TOO_MANY_PODS = "Too many pods"
NO_NODES_AVAILABLE = "no nodes available to schedule pods"
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_PREEMPTION_VICTIMS = "No preemption victims found for incoming pod"

# Plugin names recorded as a pod's rejectors (they decide which cluster events re-queue it).
FIT = "NodeResourcesFit"
TAINTS = "TaintToleration"
AFFINITY = "NodeAffinity"
UNSCHEDULABLE = "NodeUnschedulable"
EXTENDER = "Extender"

_WEIGHT_FIT, _WEIGHT_BALANCED, _WEIGHT_TAINT, _WEIGHT_AFFINITY = 1, 1, 3, 2
_RESOURCE_ORDER = {CPU: 0, MEMORY: 1, "ephemeral-storage": 2}


class PodInfo:
    """What scheduling needs of one pod, computed once per pod version."""

    __slots__ = (
        "error",
        "key",
        "non_zero",
        "pod",
        "priority",
        "requests",
        "resource_names",
        "spec",
        "tolerations",
        "uid",
    )

    def __init__(self, pod: JSON) -> None:
        md = pod["metadata"]
        self.pod = pod
        self.key = f"{md.get('namespace', '')}/{md['name']}"
        self.uid: str = md["uid"]
        self.spec: JSON = pod.get("spec") or {}
        self.priority = int(self.spec.get("priority") or 0)
        self.tolerations: list[JSON] = list(self.spec.get("tolerations") or [])
        self.error: str | None = None
        try:
            self.requests = pod_requests(self.spec)
            nz = pod_requests(self.spec, non_zero=True)
            self.non_zero = (nz.get(CPU, 0), nz.get(MEMORY, 0))
        except ValueError as e:
            self.requests, self.non_zero, self.error = {}, (0, 0), str(e)
        self.resource_names = requested_resource_names(self.spec)


class NodeInfo:
    """A node and the pods the scheduler counts on it (bound or assumed, not terminated)."""

    __slots__ = (
        "allocatable",
        "labels",
        "name",
        "node",
        "non_zero_cpu",
        "non_zero_memory",
        "pods",
        "prefer_taints",
        "requested",
        "taints",
        "unschedulable",
        "zone",
    )

    def __init__(self, node: JSON) -> None:
        self.name: str = node["metadata"]["name"]
        self.pods: dict[str, PodInfo] = {}
        self.requested: dict[str, int] = {}
        self.non_zero_cpu = 0
        self.non_zero_memory = 0
        self.set_node(node)

    def set_node(self, node: JSON) -> None:
        """Take a new version of the Node object (allocatable, labels, taints)."""
        self.node = node
        spec = node.get("spec") or {}
        self.labels: Mapping[str, str] = node["metadata"].get("labels") or {}
        taints = spec.get("taints") or []
        self.taints: list[JSON] = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]
        self.prefer_taints: list[JSON] = [t for t in taints if t.get("effect") == PREFER_NO_SCHEDULE]
        self.unschedulable = bool(spec.get("unschedulable"))
        try:
            self.allocatable = resource_list((node.get("status") or {}).get("allocatable"), "allocatable")
        except ValueError:
            self.allocatable = {}
        self.zone = f"{self.labels.get(REGION_LABEL, '')}:\x00:{self.labels.get(ZONE_LABEL, '')}"

    def add_pod(self, pi: PodInfo) -> None:
        """Count ``pi`` on this node."""
        self.remove_pod(pi.key)
        self.pods[pi.key] = pi
        for name, v in pi.requests.items():
            self.requested[name] = self.requested.get(name, 0) + v
        self.non_zero_cpu += pi.non_zero[0]
        self.non_zero_memory += pi.non_zero[1]

    def remove_pod(self, key: str) -> None:
        """Stop counting the pod ``key``."""
        pi = self.pods.pop(key, None)
        if pi is None:
            return
        for name, v in pi.requests.items():
            self.requested[name] = self.requested.get(name, 0) - v
        self.non_zero_cpu -= pi.non_zero[0]
        self.non_zero_memory -= pi.non_zero[1]


@dataclass(frozen=True)
class NodeStatus:
    """Why a node was filtered out; ``unresolvable`` as UnschedulableAndUnresolvable (preemption cannot
    help); ``plugin`` names the rejecting plugin."""

    reasons: tuple[str, ...]
    unresolvable: bool
    plugin: str


def filter_node(
    pi: PodInfo, ni: NodeInfo, ignored_resources: frozenset[str] = frozenset()
) -> NodeStatus | None:
    """Run the filters on one node; None when the pod fits."""
    if ni.unschedulable and not tolerated(pi.tolerations, UNSCHEDULABLE_TAINT):
        return NodeStatus((REASON_UNSCHEDULABLE_NODE,), True, UNSCHEDULABLE)
    if ni.taints and untolerated_taint(ni.taints, pi.tolerations) is not None:
        return NodeStatus((REASON_TAINT,), True, TAINTS)
    if not pod_matches_node(pi.spec, ni.labels, ni.name):
        return NodeStatus((REASON_AFFINITY,), True, AFFINITY)
    return fit_resources(pi, ni, ignored_resources)


def fit_resources(
    pi: PodInfo, ni: NodeInfo, ignored_resources: frozenset[str] = frozenset()
) -> NodeStatus | None:
    """NodeResourcesFit: pod count, then every requested resource; a request above the node's whole
    allocatable amount can never fit (unresolvable)."""
    reasons: list[str] = []
    unresolvable = False
    if len(ni.pods) + 1 > ni.allocatable.get(PODS, 0):
        reasons.append(REASON_TOO_MANY_PODS)
    for name in sorted(pi.requests, key=lambda n: (_RESOURCE_ORDER.get(n, len(_RESOURCE_ORDER)), n)):
        need = pi.requests[name]
        if need <= 0 or name == PODS or name in ignored_resources:
            continue
        cap = ni.allocatable.get(name, 0)
        if need > cap - ni.requested.get(name, 0):
            reasons.append(f"Insufficient {name}")
            if need > cap:
                unresolvable = True
    if not reasons:
        return None
    return NodeStatus(tuple(reasons), unresolvable, FIT)


def num_feasible_nodes_to_find(percentage: int | None, num_all_nodes: int) -> int:
    """How many feasible nodes to look for before scoring (``percentageOfNodesToScore``; 0/None is
    adaptive: 50% minus 1% per 125 nodes, at least 5%; never fewer than 100 nodes)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    pct = percentage or 0
    if pct == 0:
        pct = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    n = num_all_nodes * pct // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND)


def zone_interleaved(nodes: Iterable[NodeInfo]) -> list[NodeInfo]:
    """The scheduler snapshot's node order: one node from each zone in turn (``nodeTree``), so sampling
    spreads across zones; zones and nodes within a zone by name."""
    zones: dict[str, list[NodeInfo]] = {}
    for ni in sorted(nodes, key=lambda n: n.name):
        zones.setdefault(ni.zone, []).append(ni)
    lists = [zones[z] for z in sorted(zones)]
    total = sum(len(lst) for lst in lists)
    out: list[NodeInfo] = []
    i = 0
    while len(out) < total:
        for lst in lists:
            if i < len(lst):
                out.append(lst[i])
        i += 1
    return out


def _least_allocated(ni: NodeInfo, pi: PodInfo) -> int:
    total = 0
    for requested, cap in (
        (ni.non_zero_cpu + pi.non_zero[0], ni.allocatable.get(CPU, 0)),
        (ni.non_zero_memory + pi.non_zero[1], ni.allocatable.get(MEMORY, 0)),
    ):
        if cap > 0 and requested <= cap:
            total += (cap - requested) * MAX_NODE_SCORE // cap
    return total // 2


def _balanced(ni: NodeInfo, pi: PodInfo) -> int:
    fractions = []
    for requested, cap in (
        (ni.non_zero_cpu + pi.non_zero[0], ni.allocatable.get(CPU, 0)),
        (ni.non_zero_memory + pi.non_zero[1], ni.allocatable.get(MEMORY, 0)),
    ):
        fractions.append(min(requested / cap, 1.0) if cap > 0 else 1.0)
    std = abs(fractions[0] - fractions[1]) / 2
    return int((1 - std) * MAX_NODE_SCORE)


def _normalize(scores: list[int], reverse: bool) -> list[int]:
    """``DefaultNormalizeScore`` to 0..100 (``reverse``: fewer is better)."""
    top = max(scores, default=0)
    if top == 0:
        return [MAX_NODE_SCORE if reverse else 0 for _ in scores]
    out = []
    for s in scores:
        v = MAX_NODE_SCORE * s // top
        out.append(MAX_NODE_SCORE - v if reverse else v)
    return out


def score_nodes(pi: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
    """Weighted plugin scores of each feasible node, in order."""
    taint_counts = [
        sum(1 for t in ni.prefer_taints if not tolerated(pi.tolerations, t)) if ni.prefer_taints else 0
        for ni in nodes
    ]
    affinity = [preferred_affinity_weight(pi.spec, ni.labels, ni.name) for ni in nodes]
    taint_scores = _normalize(taint_counts, reverse=True)
    affinity_scores = _normalize(affinity, reverse=False)
    return [
        _WEIGHT_FIT * _least_allocated(ni, pi)
        + _WEIGHT_BALANCED * _balanced(ni, pi)
        + _WEIGHT_TAINT * taint_scores[i]
        + _WEIGHT_AFFINITY * affinity_scores[i]
        for i, ni in enumerate(nodes)
    ]


def _histogram(num_all_nodes: int, reasons: Counter[str]) -> str:
    msg = f"0/{num_all_nodes} nodes are available:"
    parts = sorted(f"{v} {k}" for k, v in reasons.items())
    if parts:
        msg += " " + ", ".join(parts) + "."
    return msg


def fit_error_message(
    num_all_nodes: int, statuses: Mapping[str, NodeStatus], preemption_policy: str | None
) -> str:
    """``FitError.Error()`` followed by the PostFilter plugins' messages (DynamicResources, then
    DefaultPreemption finding no victims, as for pods whose priority nobody is below)."""
    reasons: Counter[str] = Counter()
    for st in statuses.values():
        reasons.update(st.reasons)
    msg = _histogram(num_all_nodes, reasons)
    if preemption_policy == "Never":
        preemption = "not eligible due to preemptionPolicy=Never."
    else:
        outcome: Counter[str] = Counter(
            PREEMPTION_NOT_HELPFUL if st.unresolvable else NO_PREEMPTION_VICTIMS for st in statuses.values()
        )
        preemption = _histogram(num_all_nodes, outcome)
    return f"{msg} no new claims to deallocate, preemption: {preemption}"
