"""The informer transforms keep everything the ledger reads and drop the rest."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from grove.scheduler.pods import parse_pod
from grove.scheduler.predicates import parse_taints
from grove.scheduler.resources import node_allocatable
from grove.scheduler.slim import slim_node, slim_pod
from grove.scheduler.synthetic import node, pod


def _rich_pod() -> dict[str, Any]:
    p = pod(
        "w-0",
        gang="g",
        cpu="2",
        gpu=1,
        tolerations=[{"key": "fake-node", "operator": "Exists", "effect": "NoSchedule"}],
        node_selector={"pool": "a"},
        affinity_terms=[{"matchExpressions": [{"key": "rack", "operator": "In", "values": ["r1"]}]}],
    )
    p["metadata"].update(
        labels={"grove.io/podgang": "g", "app": "x", "grove.io/podclique": "c"},
        annotations={"big": "x" * 1000},
        resourceVersion="42",
        deletionTimestamp="2026-01-01T00:00:00Z",
        ownerReferences=[{"kind": "PodClique", "name": "c", "uid": "u", "apiVersion": "grove.io/v1alpha1"}],
    )
    p["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    p["spec"]["initContainers"] = [
        {"name": "sidecar", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
        {
            "name": "init",
            "image": "x",
            "env": [{"name": "A", "value": "b"}],
            "resources": {"requests": {"cpu": "4"}},
        },
    ]
    p["spec"]["containers"][0]["env"] = [{"name": "A", "value": "b"}] * 20
    p["spec"]["containers"][0]["resources"]["limits"] = {"cpu": "8"}
    p["spec"]["overhead"] = {"cpu": "100m"}
    p["spec"]["resources"] = {"requests": {"memory": "3Gi"}}
    p["spec"]["affinity"]["podAntiAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": []}
    p["spec"]["volumes"] = [{"name": "v", "emptyDir": {}}]
    p["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "podIP": "10.0.0.1",
    }
    return p


def test_slim_pod_parses_the_same_and_is_smaller() -> None:
    p = _rich_pod()
    before = copy.deepcopy(p)
    slim = slim_pod(p)
    assert p == before, "the transform must not modify its input"
    assert parse_pod(slim) == parse_pod(p)
    assert slim["metadata"] == {
        "name": "w-0",
        "namespace": "default",
        "uid": "uid-default-w-0",
        "resourceVersion": "42",
        "deletionTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"grove.io/podgang": "g"},
    }
    assert slim["status"] == {"phase": "Running"}
    assert len(json.dumps(slim)) < len(json.dumps(p)) / 3


def test_slim_pod_without_gang_or_status() -> None:
    p = pod("plain")
    del p["status"]
    slim = slim_pod(p)
    assert "labels" not in slim["metadata"] and "status" not in slim
    assert parse_pod(slim) == parse_pod(p)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda p: p["spec"].__setitem__("containers", "nope"),
        lambda p: p["spec"]["containers"][0].__setitem__("resources", ["x"]),
        lambda p: p["metadata"].__setitem__("labels", ["x"]),
        lambda p: p["spec"].__setitem__("affinity", "x"),
        lambda p: p.__setitem__("spec", "x"),
    ],
)
def test_slim_pod_keeps_malformed_fields_for_the_ledger_to_report(breakage: Any) -> None:
    p = pod("bad", gang="g")
    breakage(p)
    with pytest.raises(ValueError) as original:
        parse_pod(p)
    with pytest.raises(ValueError) as slimmed:
        parse_pod(slim_pod(p))
    assert str(slimmed.value) == str(original.value)


def test_slim_node_keeps_labels_taints_and_allocatable() -> None:
    n = node("n1", {"rack": "r1"}, cpu="8", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])
    n["spec"]["unschedulable"] = True
    n["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    n["status"]["images"] = [{"names": ["x"], "sizeBytes": 1}] * 50
    n["metadata"]["resourceVersion"] = "7"
    slim = slim_node(n)
    assert slim["metadata"] == {"name": "n1", "resourceVersion": "7", "labels": n["metadata"]["labels"]}
    assert slim["spec"] == {"taints": n["spec"]["taints"], "unschedulable": True}
    assert parse_taints(slim) == parse_taints(n)
    assert node_allocatable(slim) == node_allocatable(n)
    assert "conditions" not in slim["status"]
