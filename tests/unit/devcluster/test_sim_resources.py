"""Quantities, pod requests, tolerations and node affinity as Kubernetes computes them."""

from __future__ import annotations

from fractions import Fraction

import pytest

from grove.devcluster.eviction import eviction_delay
from grove.devcluster.nodematch import (
    pod_matches_node,
    preferred_affinity_weight,
    tolerates,
    untolerated_taint,
)
from grove.devcluster.podresources import pod_requests
from grove.devcluster.quantity import amount, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("2", Fraction(2)),
        ("1.5Gi", Fraction(3 * 2**29)),
        ("128Mi", Fraction(128 * 2**20)),
        ("1e3", Fraction(1000)),
        ("2k", Fraction(2000)),
        (".5", Fraction(1, 2)),
        (3, Fraction(3)),
    ],
)
def test_quantities_parse_exactly(text: object, value: Fraction) -> None:
    assert parse_quantity(text) == value


def test_cpu_is_compared_in_millicores_and_everything_else_rounded_up() -> None:
    assert amount("cpu", "100m") == 100
    assert amount("cpu", "0.0001") == 1
    assert amount("memory", "1Gi") == 2**30
    assert amount("memory", "0.5") == 1


def test_a_malformed_quantity_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"spec\.x: '12 cores' is not a quantity"):
        parse_quantity("12 cores", "spec.x")


def _c(name: str, cpu: str, restart: str | None = None) -> dict[str, object]:
    c: dict[str, object] = {"name": name, "image": "i", "resources": {"requests": {"cpu": cpu}}}
    if restart:
        c["restartPolicy"] = restart
    return c


def test_pod_requests_sum_containers_floor_at_init_containers_and_add_sidecars_and_overhead() -> None:
    spec = {
        "containers": [_c("a", "1"), _c("b", "500m")],
        "initContainers": [_c("big-init", "4"), _c("sidecar", "250m", "Always"), _c("late-init", "3")],
        "overhead": {"cpu": "100m"},
    }
    # max(1.5 + 0.25 sidecar, 4, 3 + 0.25) + 0.1 overhead
    assert pod_requests(spec)["cpu"] == 4100


def test_non_zero_requests_substitute_the_scheduler_defaults() -> None:
    spec = {"containers": [{"name": "a", "image": "i"}]}
    assert pod_requests(spec) == {}
    assert pod_requests(spec, non_zero=True) == {"cpu": 100, "memory": 200 * 2**20}


def test_tolerations_match_by_key_value_effect_and_operator() -> None:
    taint = {"key": "fake-node", "value": "true", "effect": "NoSchedule"}
    assert tolerates(
        {"key": "fake-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"}, taint
    )
    assert tolerates({"key": "fake-node", "operator": "Exists"}, taint)
    assert tolerates({"operator": "Exists"}, taint)
    assert not tolerates({"key": "fake-node", "value": "false"}, taint)
    assert not tolerates({"key": "fake-node", "operator": "Exists", "effect": "NoExecute"}, taint)
    prefer = {"key": "x", "effect": "PreferNoSchedule"}
    assert untolerated_taint([prefer, taint], []) == taint


def test_node_selector_and_affinity_operators() -> None:
    labels = {"zone": "a", "gpus": "8"}
    spec = {
        "nodeSelector": {"zone": "a"},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "gpus", "operator": "Gt", "values": ["16"]}]},
                        {
                            "matchExpressions": [
                                {"key": "gpus", "operator": "Lt", "values": ["16"]},
                                {"key": "rack", "operator": "DoesNotExist"},
                            ]
                        },
                    ]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 5,
                        "preference": {
                            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]
                        },
                    },
                    {
                        "weight": 7,
                        "preference": {
                            "matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]
                        },
                    },
                ],
            }
        },
    }
    assert pod_matches_node(spec, labels, "n1")
    assert not pod_matches_node(spec, {**labels, "rack": "r"}, "n1")
    assert not pod_matches_node(spec, {"zone": "b", "gpus": "8"}, "n1")
    assert preferred_affinity_weight(spec, labels, "n1") == 5
    empty_term = {
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}
        }
    }
    assert not pod_matches_node(empty_term, labels, "n1")


def test_eviction_waits_for_the_shortest_toleration_of_the_taints_used() -> None:
    unreachable = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
    default = [
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        }
    ]
    assert eviction_delay([unreachable], default) == 300
    assert eviction_delay([unreachable], []) == 0
    assert eviction_delay([unreachable], [{"operator": "Exists"}]) is None
    both = [
        {"operator": "Exists"},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 60},
    ]
    assert eviction_delay([unreachable], both) == 60
