"""Which nodes a pod may run on: taints, ``spec.unschedulable``, nodeSelector, required node affinity.

Semantics follow kube-scheduler's TaintToleration (NoSchedule and NoExecute must be tolerated;
PreferNoSchedule only scores), NodeUnschedulable, and NodeAffinity plugins (terms ORed; within a term,
expressions and fields ANDed; an empty term matches nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "NodeFacts",
    "PodPlacement",
    "SelectorRequirement",
    "SelectorTerm",
    "Taint",
    "Toleration",
    "parse_pod_placement",
    "parse_taints",
]

UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"
_HARD_EFFECTS = ("NoSchedule", "NoExecute")
_LABEL_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
_FIELD_OPERATORS = ("In", "NotIn")
_AFFINITY_PATH = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint."""

    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class Toleration:
    """A pod toleration; empty ``key`` with ``Exists`` tolerates everything, empty ``effect`` any effect."""

    key: str
    operator: str
    value: str
    effect: str

    def tolerates(self, taint: Taint) -> bool:
        """Whether this toleration tolerates ``taint`` (``ToleratesTaint`` in k8s.io/api/core/v1)."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.operator in ("", "Equal") and self.value == taint.value


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the predicates need to know about a node."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    unschedulable: bool


@dataclass(frozen=True, slots=True)
class SelectorRequirement:
    """One ``matchExpressions`` / ``matchFields`` requirement."""

    key: str
    operator: str
    values: tuple[str, ...]

    def matches_value(self, value: str | None) -> bool:
        """Evaluate against a label (or field) value; ``None`` when the node lacks the label."""
        op = self.operator
        if op == "In":
            return value is not None and value in self.values
        if op == "NotIn":
            return value is None or value not in self.values
        if op == "Exists":
            return value is not None
        if op == "DoesNotExist":
            return value is None
        # Gt / Lt: both sides must be integers; anything else does not match, as in labels.Requirement.
        if value is None or len(self.values) != 1:
            return False
        try:
            have, want = int(value), int(self.values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want


@dataclass(frozen=True, slots=True)
class SelectorTerm:
    """One ``nodeSelectorTerms`` entry."""

    expressions: tuple[SelectorRequirement, ...]
    fields: tuple[SelectorRequirement, ...]

    def matches(self, node: NodeFacts) -> bool:
        """Whether ``node`` satisfies every expression and field of this term (empty terms match nothing)."""
        if not self.expressions and not self.fields:
            return False
        labels = node.labels
        for req in self.expressions:
            if not req.matches_value(labels.get(req.key)):
                return False
        return all(req.matches_value(node.name) for req in self.fields)


@dataclass(frozen=True, slots=True)
class PodPlacement:
    """The node constraints of a pod; hashable so that pods with equal constraints share one evaluation."""

    tolerations: tuple[Toleration, ...] = ()
    node_selector: tuple[tuple[str, str], ...] = ()
    affinity_terms: tuple[SelectorTerm, ...] | None = None

    def tolerates(self, taint: Taint) -> bool:
        """Whether some toleration of the pod tolerates ``taint``."""
        return any(t.tolerates(taint) for t in self.tolerations)

    def rejection(self, node: NodeFacts) -> str | None:
        """Why the pod cannot run on ``node`` (``None`` when it can): the first failing predicate."""
        if node.unschedulable and not self.tolerates(Taint(UNSCHEDULABLE_TAINT_KEY, "", "NoSchedule")):
            return "node is unschedulable"
        for taint in node.taints:
            if taint.effect in _HARD_EFFECTS and not self.tolerates(taint):
                return f"untolerated taint {taint.key}:{taint.effect}"
        labels = node.labels
        for key, value in self.node_selector:
            if labels.get(key) != value:
                return "nodeSelector does not match"
        if self.affinity_terms is not None and not any(t.matches(node) for t in self.affinity_terms):
            return "required node affinity does not match"
        return None

    def allows(self, node: NodeFacts) -> bool:
        """Whether the pod may run on ``node``."""
        return self.rejection(node) is None


def _obj(raw: object, field: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{field}: must be an object")
    return raw


def _list(raw: object, field: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{field}: must be a list")
    return raw


def _str(raw: object, field: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValueError(f"{field}: must be a string")
    return raw


def parse_taints(node: Mapping[str, Any]) -> tuple[Taint, ...]:
    """``spec.taints`` of a node."""
    spec = _obj(node.get("spec"), "spec")
    out = []
    for i, raw in enumerate(_list(spec.get("taints"), "spec.taints")):
        t = _obj(raw, f"spec.taints[{i}]")
        out.append(
            Taint(
                _str(t.get("key"), f"spec.taints[{i}].key"),
                _str(t.get("value"), f"spec.taints[{i}].value"),
                _str(t.get("effect"), f"spec.taints[{i}].effect"),
            )
        )
    return tuple(out)


def _requirements(raw: object, field: str, operators: tuple[str, ...]) -> tuple[SelectorRequirement, ...]:
    out = []
    for i, item in enumerate(_list(raw, field)):
        r = _obj(item, f"{field}[{i}]")
        op = _str(r.get("operator"), f"{field}[{i}].operator")
        if op not in operators:
            raise ValueError(f"{field}[{i}].operator: must be one of {', '.join(operators)}, got {op!r}")
        values = tuple(
            _str(v, f"{field}[{i}].values") for v in _list(r.get("values"), f"{field}[{i}].values")
        )
        out.append(SelectorRequirement(_str(r.get("key"), f"{field}[{i}].key"), op, values))
    return tuple(out)


def parse_pod_placement(pod: Mapping[str, Any]) -> PodPlacement:
    """Tolerations, nodeSelector and required node affinity of a pod; ``ValueError`` names a bad field."""
    spec = _obj(pod.get("spec"), "spec")
    tolerations = []
    for i, raw in enumerate(_list(spec.get("tolerations"), "spec.tolerations")):
        t = _obj(raw, f"spec.tolerations[{i}]")
        f = f"spec.tolerations[{i}]"
        tolerations.append(
            Toleration(
                _str(t.get("key"), f + ".key"),
                _str(t.get("operator"), f + ".operator"),
                _str(t.get("value"), f + ".value"),
                _str(t.get("effect"), f + ".effect"),
            )
        )
    selector = _obj(spec.get("nodeSelector"), "spec.nodeSelector")
    node_selector = tuple(sorted((str(k), _str(v, f"spec.nodeSelector.{k}")) for k, v in selector.items()))
    affinity = _obj(
        _obj(spec.get("affinity"), "spec.affinity").get("nodeAffinity"), "spec.affinity.nodeAffinity"
    )
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    terms: tuple[SelectorTerm, ...] | None = None
    if required is not None:
        raw_terms = _list(_obj(required, _AFFINITY_PATH).get("nodeSelectorTerms"), _AFFINITY_PATH)
        parsed = []
        for i, raw in enumerate(raw_terms):
            f = f"{_AFFINITY_PATH}.nodeSelectorTerms[{i}]"
            term = _obj(raw, f)
            parsed.append(
                SelectorTerm(
                    _requirements(term.get("matchExpressions"), f + ".matchExpressions", _LABEL_OPERATORS),
                    _requirements(term.get("matchFields"), f + ".matchFields", _FIELD_OPERATORS),
                )
            )
        for i, parsed_term in enumerate(parsed):
            for j, req in enumerate(parsed_term.fields):
                if req.key != "metadata.name":
                    raise ValueError(
                        f"{_AFFINITY_PATH}.nodeSelectorTerms[{i}].matchFields[{j}].key: "
                        f"only metadata.name is supported, got {req.key!r}"
                    )
        terms = tuple(parsed)
    return PodPlacement(tuple(tolerations), node_selector, terms)
