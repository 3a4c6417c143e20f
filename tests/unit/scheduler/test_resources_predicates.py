"""Pod requests as kube-scheduler computes them; taints, nodeSelector and node affinity."""

from __future__ import annotations

from typing import Any

import pytest

from grove.scheduler.predicates import NodeFacts, Taint, parse_pod_placement, parse_taints
from grove.scheduler.resources import node_allocatable, pod_requests
from grove.scheduler.synthetic import node, pod

GI = 2**30


def _pod_with(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": spec}


def _c(cpu: str, memory: str | None = None, **extra: Any) -> dict[str, Any]:
    req = {"cpu": cpu} | ({"memory": memory} if memory else {})
    return {"name": "c", "resources": {"requests": req}, **extra}


def test_requests_sum_containers_and_add_one_pod() -> None:
    p = _pod_with({"containers": [_c("500m", "1Gi"), _c("1", "2Gi")]})
    assert pod_requests(p) == {"cpu": 1500, "memory": 3 * GI, "pods": 1}


def test_zero_requests_are_dropped() -> None:
    p = _pod_with({"containers": [_c("1", "0")]})
    assert pod_requests(p) == {"cpu": 1000, "pods": 1}


def test_node_allocatable_falls_back_to_capacity() -> None:
    n = node("n1", cpu="8", memory="16Gi", gpu=4)
    assert node_allocatable(n) == {"cpu": 8000, "memory": 16 * GI, "pods": 110, "nvidia.com/gpu": 4}
    del n["status"]["allocatable"]
    assert node_allocatable(n)["cpu"] == 8000


def _facts(n: dict[str, Any]) -> NodeFacts:
    return NodeFacts(
        n["metadata"]["name"], n["metadata"]["labels"], parse_taints(n), bool(n["spec"].get("unschedulable"))
    )


def test_taints_need_tolerations_for_noschedule_and_noexecute_only() -> None:
    gpu_taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    soft = {"key": "soft", "effect": "PreferNoSchedule"}
    tainted = _facts(node("n1", taints=[gpu_taint, soft]))
    plain = parse_pod_placement(pod("p"))
    assert plain.rejection(tainted) == "untolerated taint nvidia.com/gpu:NoSchedule"
    equal = parse_pod_placement(pod("p", tolerations=[{"key": "nvidia.com/gpu", "value": "present"}]))
    assert equal.allows(tainted)
    wrong_value = parse_pod_placement(pod("p", tolerations=[{"key": "nvidia.com/gpu", "value": "absent"}]))
    assert not wrong_value.allows(tainted)
    exists = parse_pod_placement(pod("p", tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]))
    assert exists.allows(tainted)
    wrong_effect = parse_pod_placement(
        pod("p", tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}])
    )
    assert not wrong_effect.allows(tainted)
    everything = parse_pod_placement(pod("p", tolerations=[{"operator": "Exists"}]))
    assert everything.allows(_facts(node("n2", taints=[{"key": "x", "effect": "NoExecute"}])))
    assert not plain.allows(_facts(node("n2", taints=[{"key": "x", "effect": "NoExecute"}])))


def test_unschedulable_node() -> None:
    cordoned = _facts(node("n1", unschedulable=True))
    assert parse_pod_placement(pod("p")).rejection(cordoned) == "node is unschedulable"
    tol = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
    assert parse_pod_placement(pod("p", tolerations=[tol])).allows(cordoned)


def test_node_selector() -> None:
    n = _facts(node("n1", {"pool": "gpu"}))
    assert parse_pod_placement(pod("p", node_selector={"pool": "gpu"})).allows(n)
    assert not parse_pod_placement(pod("p", node_selector={"pool": "cpu"})).allows(n)
    assert not parse_pod_placement(pod("p", node_selector={"other": "x"})).allows(n)


def _term(*exprs: tuple[str, str, list[str]], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"matchExpressions": [{"key": k, "operator": op, "values": v} for k, op, v in exprs]}
    if fields:
        t["matchFields"] = fields
    return t


@pytest.mark.parametrize(
    ("term", "ok"),
    [
        (_term(("pool", "In", ["gpu", "x"])), True),
        (_term(("pool", "In", ["cpu"])), False),
        (_term(("pool", "NotIn", ["cpu"])), True),
        (_term(("missing", "NotIn", ["cpu"])), True),
        (_term(("pool", "Exists", [])), True),
        (_term(("missing", "Exists", [])), False),
        (_term(("missing", "DoesNotExist", [])), True),
        (_term(("pool", "DoesNotExist", [])), False),
        (_term(("gen", "Gt", ["3"])), True),
        (_term(("gen", "Gt", ["4"])), False),
        (_term(("gen", "Lt", ["5"])), True),
        (_term(("pool", "Lt", ["5"])), False),
        (_term(("missing", "Gt", ["1"])), False),
        (_term(("pool", "In", ["gpu"]), ("gen", "Lt", ["4"])), False),
        (_term(fields=[{"key": "metadata.name", "operator": "In", "values": ["n1"]}]), True),
        (_term(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]), False),
        ({}, False),
    ],
)
def test_required_node_affinity(term: dict[str, Any], ok: bool) -> None:
    n = _facts(node("n1", {"pool": "gpu", "gen": "4"}))
    assert parse_pod_placement(pod("p", affinity_terms=[term])).allows(n) is ok


def test_affinity_terms_are_ored() -> None:
    n = _facts(node("n1", {"pool": "gpu"}))
    terms = [_term(("pool", "In", ["cpu"])), _term(("pool", "In", ["gpu"]))]
    assert parse_pod_placement(pod("p", affinity_terms=terms)).allows(n)
    assert not parse_pod_placement(pod("p", affinity_terms=[])).allows(n)


def test_bad_affinity_operator_names_the_field() -> None:
    with pytest.raises(
        ValueError, match=r"nodeSelectorTerms\[0\]\.matchExpressions\[0\]\.operator: must be one of"
    ):
        parse_pod_placement(pod("p", affinity_terms=[_term(("a", "Like", ["x"]))]))
    bad_field = _term(fields=[{"key": "metadata.labels", "operator": "In", "values": ["x"]}])
    with pytest.raises(ValueError, match=r"only metadata\.name is supported"):
        parse_pod_placement(pod("p", affinity_terms=[bad_field]))


def test_taint_tolerated_by_toleration_dataclass() -> None:
    facts = NodeFacts("n", {}, (Taint("a", "1", "NoSchedule"),), False)
    assert not parse_pod_placement(pod("p")).allows(facts)
