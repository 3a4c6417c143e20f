"""Parsing and dumping of Grove's API types."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from api_samples import load_sample

from grove.api.errors import ErrorType, GroveValidationError
from grove.api.podclique import PodClique
from grove.api.podcliqueset import PodCliqueSet
from grove.api.podgang import PodGang
from grove.api.scalinggroup import PodCliqueScalingGroup
from grove.api.topology import ClusterTopologyBinding


def test_sample_round_trips_to_an_equal_document(sample: dict[str, Any]) -> None:
    assert PodCliqueSet.from_dict(copy.deepcopy(sample)).to_dict() == sample


def test_example_1_has_no_role_name_and_is_accepted() -> None:
    pcs = PodCliqueSet.from_dict(load_sample("single-node-aggregated"))
    assert pcs.spec.template.cliques[0].spec.role_name == ""


def _errors(data: dict[str, Any]) -> list[tuple[ErrorType, str]]:
    with pytest.raises(GroveValidationError) as info:
        PodCliqueSet.from_dict(data)
    return [(e.type, e.path) for e in info.value.errors]


def test_unknown_fields_are_rejected_with_their_path() -> None:
    data = load_sample("multi-node-aggregated")
    data["spec"]["template"]["cliques"][1]["spec"]["replica"] = 3
    data["spec"]["template"]["podCliqueScalingGroups"][0]["minAvail"] = 1
    assert _errors(data) == [
        (ErrorType.FORBIDDEN, "spec.template.cliques[1].spec.replica"),
        (ErrorType.FORBIDDEN, "spec.template.podCliqueScalingGroups[0].minAvail"),
    ]


def test_wrong_types_and_missing_fields_are_all_reported() -> None:
    data = load_sample("single-node-disaggregated")
    data["spec"]["replicas"] = "two"
    del data["spec"]["template"]["cliques"][1]["spec"]["podSpec"]
    data["spec"]["template"]["cliqueStartupType"] = "Sometimes"
    errors = _errors(data)
    assert (ErrorType.INVALID, "spec.replicas") in errors
    assert (ErrorType.REQUIRED, "spec.template.cliques[1].spec.podSpec") in errors
    assert (ErrorType.NOT_SUPPORTED, "spec.template.cliqueStartupType") in errors


def test_type_error_renders_like_kubernetes() -> None:
    data = load_sample("single-node-aggregated")
    data["spec"]["replicas"] = True
    with pytest.raises(GroveValidationError) as info:
        PodCliqueSet.from_dict(data)
    assert str(info.value.errors[0]) == 'spec.replicas: Invalid value: "boolean": must be of type integer'
    assert str(info.value).startswith('PodCliqueSet "single-node-aggregated" is invalid: ')


def test_wrong_kind_is_rejected() -> None:
    data = load_sample("single-node-aggregated")
    data["kind"] = "PodClique"
    assert _errors(data) == [(ErrorType.NOT_SUPPORTED, "kind")]


def test_every_kind_round_trips_a_full_object() -> None:
    pclq = {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodClique",
        "metadata": {"name": "a-0-w", "namespace": "ns", "labels": {"x": "y"}, "resourceVersion": "7"},
        "spec": {
            "roleName": "w",
            "podSpec": {"containers": [{"name": "c"}]},
            "replicas": 2,
            "minAvailable": 1,
        },
        "status": {
            "replicas": 2,
            "readyReplicas": 1,
            "updatedReplicas": 2,
            "scheduleGatedReplicas": 0,
            "scheduledReplicas": 2,
            "hpaPodSelector": "a=b",
            "conditions": [
                {
                    "type": "PodCliqueScheduled",
                    "status": "True",
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                    "reason": "SufficientScheduledPods",
                    "message": "",
                }
            ],
            "updateProgress": {
                "podCliqueSetGenerationHash": "h",
                "podTemplateHash": "t",
                "readyPodsSelectedToUpdate": {"current": "p", "completed": ["q"]},
            },
        },
    }
    pcsg = {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodCliqueScalingGroup",
        "metadata": {"name": "a-0-g"},
        "spec": {"replicas": 2, "minAvailable": 1, "cliqueNames": ["l", "w"]},
        "status": {
            "replicas": 2,
            "selector": "s",
            "availableReplicas": 1,
            "updateProgress": {
                "updateStartedAt": "2025-01-01T00:00:00Z",
                "podCliqueSetGenerationHash": "h",
                "readyReplicaIndicesSelectedToUpdate": {"current": 1, "completed": [0]},
            },
        },
    }
    pg = {
        "apiVersion": "scheduler.grove.io/v1alpha1",
        "kind": "PodGang",
        "metadata": {"name": "a-0"},
        "spec": {
            "podgroups": [
                {
                    "name": "a-0-w",
                    "podReferences": [{"namespace": "ns", "name": "a-0-w-abcde"}],
                    "minReplicas": 1,
                    "topologyConstraint": {"packConstraint": {"required": "k"}},
                }
            ],
            "topologyConstraintGroupConfigs": [{"name": "g", "podGroupNames": ["a-0-w"]}],
            "priorityClassName": "high",
        },
        "status": {"phase": "Pending", "placementScore": 0.5},
    }
    ct = {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "ClusterTopologyBinding",
        "metadata": {"name": "default"},
        "spec": {"levels": [{"domain": "zone", "key": "topology.kubernetes.io/zone"}]},
    }
    for kind, data in (
        (PodClique, pclq),
        (PodCliqueScalingGroup, pcsg),
        (PodGang, pg),
        (ClusterTopologyBinding, ct),
    ):
        assert kind.from_dict(copy.deepcopy(data)).to_dict() == data


def test_metadata_keeps_fields_grove_does_not_model() -> None:
    data = load_sample("single-node-aggregated")
    data["metadata"]["selfLink"] = "/x"
    data["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    assert PodCliqueSet.from_dict(copy.deepcopy(data)).to_dict() == data


def test_topology_constraint_helpers() -> None:
    ct = ClusterTopologyBinding.from_dict(
        {
            "metadata": {"name": "t"},
            "spec": {"levels": [{"domain": "zone", "key": "z"}, {"domain": "host", "key": "h"}]},
        }
    )
    assert ct.domains() == ["zone", "host"]
    assert ct.key_for("host") == "h"
    assert ct.key_for("rack") is None
