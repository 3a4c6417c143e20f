"""Does a pod fit a node's labels and taints: tolerations (``v1.Toleration.ToleratesTaint``), node
selectors and node affinity (``k8s.io/component-helpers/scheduling/corev1/nodeaffinity``).

Pure functions over plain JSON, shared by the scheduler stand-in, the fake kubelets and the NoExecute
taint eviction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

JSON = dict[str, Any]

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
UNSCHEDULABLE_TAINT: JSON = {"key": "node.kubernetes.io/unschedulable", "effect": NO_SCHEDULE}


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Whether one toleration tolerates one taint (empty effect/key match any; operator Equal or Exists)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Whether any toleration tolerates ``taint``."""
    return any(tolerates(t, taint) for t in tolerations)


def untolerated_taint(
    taints: Iterable[Mapping[str, Any]],
    tolerations: Sequence[Mapping[str, Any]],
    effects: tuple[str, ...] = (NO_SCHEDULE, NO_EXECUTE),
) -> Mapping[str, Any] | None:
    """The first taint with one of ``effects`` no toleration tolerates (``FindMatchingUntoleratedTaint``)."""
    for taint in taints:
        if taint.get("effect") in effects and not tolerated(tolerations, taint):
            return taint
    return None


def _requirement_matches(req: Mapping[str, Any], value: str | None) -> bool:
    op = req.get("operator")
    values = req.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        if value is None or len(values) != 1:
            return False
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """A ``NodeSelectorTerm``: all expressions and fields match; an empty term matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    for req in exprs:
        if not _requirement_matches(req, labels.get(req.get("key", ""))):
            return False
    for req in fields:
        if req.get("key") != "metadata.name" or not _requirement_matches(req, name):
            return False
    return True


def node_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str], name: str) -> bool:
    """A ``NodeSelector``: any of its terms matches."""
    if selector is None:
        return True
    return any(term_matches(t, labels, name) for t in selector.get("nodeSelectorTerms") or [])


def pod_matches_node(spec: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """``spec.nodeSelector`` and required node affinity both accept the node (the NodeAffinity filter)."""
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    return node_selector_matches(required, labels, name)


def preferred_affinity_weight(spec: Mapping[str, Any], labels: Mapping[str, str], name: str) -> int:
    """Sum of the weights of the preferred node affinity terms the node matches (NodeAffinity score)."""
    preferred = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    ) or []
    total = 0
    for p in preferred:
        weight = int(p.get("weight") or 0)
        if weight and term_matches(p.get("preference") or {}, labels, name):
            total += weight
    return total
