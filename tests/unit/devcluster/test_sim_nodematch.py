"""Tolerations, node affinity and eviction delays as Kubernetes computes them."""

from __future__ import annotations

from grove.devcluster.eviction import eviction_delay
from grove.devcluster.nodematch import (
    pod_matches_node,
    preferred_affinity_weight,
    tolerates,
    untolerated_taint,
)


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
