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

from grove.api.podresources import pod_requests, requested_resource_names, resource_list
from grove.api.quantity import CPU, MEMORY, PODS
from grove.devcluster.nodematch import (
    PREFER_NO_SCHEDULE,
    UNSCHEDULABLE_TAINT,
    pod_matches_node,
    preferred_affinity_weight,
    tolerated,
    untolerated_taint,
)

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
        "request_items",
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
        self.request_items = [
            (n, v)
            for n, v in sorted(
                self.requests.items(),
                key=lambda kv: (_RESOURCE_ORDER.get(kv[0], len(_RESOURCE_ORDER)), kv[0]),
            )
            if v > 0 and n != PODS
        ]
        self.resource_names = requested_resource_names(self.spec)


class NodeInfo:
    """A node and the pods the scheduler counts on it (bound or assumed, not terminated)."""

    __slots__ = (
        "alloc_cpu",
        "alloc_memory",
        "allocatable",
        "labels",
        "name",
        "node",
        "non_zero_cpu",
        "non_zero_memory",
        "pods",
        "prefer_taints",
        "requested",
        "taint_key",
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
        self.taint_key = tuple((t.get("key"), t.get("value"), t.get("effect")) for t in self.taints)
        self.prefer_taints: list[JSON] = [t for t in taints if t.get("effect") == PREFER_NO_SCHEDULE]
        self.unschedulable = bool(spec.get("unschedulable"))
        try:
            self.allocatable = resource_list((node.get("status") or {}).get("allocatable"), "allocatable")
        except ValueError:
            self.allocatable = {}
        self.alloc_cpu = self.allocatable.get(CPU, 0)
        self.alloc_memory = self.allocatable.get(MEMORY, 0)
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


_UNSCHEDULABLE_STATUS = NodeStatus((REASON_UNSCHEDULABLE_NODE,), True, UNSCHEDULABLE)
_TAINT_STATUS = NodeStatus((REASON_TAINT,), True, TAINTS)
_AFFINITY_STATUS = NodeStatus((REASON_AFFINITY,), True, AFFINITY)


def filter_node(
    pi: PodInfo,
    ni: NodeInfo,
    ignored_resources: frozenset[str] = frozenset(),
    taint_cache: dict[tuple[Any, ...], bool] | None = None,
) -> NodeStatus | None:
    """Run the filters on one node; None when the pod fits. ``taint_cache`` remembers, for one pod,
    whether each distinct set of taints blocks it (most nodes share theirs)."""
    if ni.unschedulable and not tolerated(pi.tolerations, UNSCHEDULABLE_TAINT):
        return _UNSCHEDULABLE_STATUS
    if ni.taints:
        blocked = taint_cache.get(ni.taint_key) if taint_cache is not None else None
        if blocked is None:
            blocked = untolerated_taint(ni.taints, pi.tolerations) is not None
            if taint_cache is not None:
                taint_cache[ni.taint_key] = blocked
        if blocked:
            return _TAINT_STATUS
    if not pod_matches_node(pi.spec, ni.labels, ni.name):
        return _AFFINITY_STATUS
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
    for name, need in pi.request_items:
        if name in ignored_resources:
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


def _resource_scores(ni: NodeInfo, pi: PodInfo) -> int:
    """LeastAllocated plus BalancedAllocation over cpu and memory (requests with the non-zero defaults)."""
    cap_cpu, cap_mem = ni.alloc_cpu, ni.alloc_memory
    req_cpu = ni.non_zero_cpu + pi.non_zero[0]
    req_mem = ni.non_zero_memory + pi.non_zero[1]
    least = 0
    if cap_cpu > 0 and req_cpu <= cap_cpu:
        least += (cap_cpu - req_cpu) * MAX_NODE_SCORE // cap_cpu
    if cap_mem > 0 and req_mem <= cap_mem:
        least += (cap_mem - req_mem) * MAX_NODE_SCORE // cap_mem
    frac_cpu = min(req_cpu / cap_cpu, 1.0) if cap_cpu > 0 else 1.0
    frac_mem = min(req_mem / cap_mem, 1.0) if cap_mem > 0 else 1.0
    balanced = int((1 - abs(frac_cpu - frac_mem) / 2) * MAX_NODE_SCORE)
    return _WEIGHT_FIT * (least // 2) + _WEIGHT_BALANCED * balanced


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
    scores = [_resource_scores(ni, pi) for ni in nodes]
    if any(ni.prefer_taints for ni in nodes):
        counts = [sum(1 for t in ni.prefer_taints if not tolerated(pi.tolerations, t)) for ni in nodes]
        taint_scores = _normalize(counts, reverse=True)
    else:
        taint_scores = [MAX_NODE_SCORE] * len(nodes)
    node_affinity = (pi.spec.get("affinity") or {}).get("nodeAffinity") or {}
    if node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"):
        affinity = _normalize(
            [preferred_affinity_weight(pi.spec, ni.labels, ni.name) for ni in nodes], reverse=False
        )
    else:
        affinity = [0] * len(nodes)
    return [
        scores[i] + _WEIGHT_TAINT * taint_scores[i] + _WEIGHT_AFFINITY * affinity[i]
        for i in range(len(nodes))
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
