"""PodGang wire JSON parsing."""

from __future__ import annotations

from typing import Any

import pytest

from grove.scheduler.gang import PodGangError, parse_podgang
from grove.scheduler.synthetic import BLOCK_KEY, RACK_KEY, GroupSpec, podgang


def _gang() -> dict[str, Any]:
    return podgang(
        "mn-0",
        [
            GroupSpec("mn-0-frontend", ["fe-0", "fe-1"], min_replicas=1),
            GroupSpec("mn-0-sga-0-leader", ["l-0"], preferred=RACK_KEY),
            GroupSpec("mn-0-sga-0-worker", ["w-0", "w-1"]),
        ],
        namespace="ns",
        required=BLOCK_KEY,
        configs=[("mn-0-sga-0", ["mn-0-sga-0-leader", "mn-0-sga-0-worker"], RACK_KEY, None)],
        topology_name="default",
    )


def test_parse_full_podgang() -> None:
    g = parse_podgang(_gang())
    assert g.key == "ns/mn-0"
    assert g.topology_name == "default"
    assert g.constraint.required == BLOCK_KEY and g.constraint.preferred is None
    assert [p.name for p in g.podgroups] == ["mn-0-frontend", "mn-0-sga-0-leader", "mn-0-sga-0-worker"]
    assert g.podgroups[0].pods == ("ns/fe-0", "ns/fe-1")
    assert g.podgroups[0].min_replicas == 1
    assert g.podgroups[1].constraint.preferred == RACK_KEY
    assert g.group_configs[0].pod_group_names == ("mn-0-sga-0-leader", "mn-0-sga-0-worker")
    assert g.group_configs[0].constraint.required == RACK_KEY
    assert list(g.pod_keys()) == ["ns/fe-0", "ns/fe-1", "ns/l-0", "ns/w-0", "ns/w-1"]


def test_empty_spec_is_an_empty_gang() -> None:
    g = parse_podgang({"metadata": {"name": "x", "namespace": "d"}})
    assert g.podgroups == () and g.constraint.keys() == ()


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda o: o.update(apiVersion="v1"), r"apiVersion: must be scheduler\.grove\.io/v1alpha1"),
        (lambda o: o["metadata"].pop("name"), r"metadata\.name: must be a non-empty string"),
        (
            lambda o: o["spec"]["podgroups"][0].update(minReplicas=-1),
            r"podgroups\[0\]\.minReplicas: must be a non",
        ),
        (lambda o: o["spec"]["podgroups"][0].update(minReplicas="2"), r"podgroups\[0\]\.minReplicas"),
        (
            lambda o: o["spec"]["podgroups"][1].update(name="mn-0-frontend"),
            r"podgroups\[1\]\.name: 'mn-0-frontend' appears twice",
        ),
        (
            lambda o: o["spec"]["podgroups"][1]["podReferences"].append({"namespace": "ns", "name": "fe-0"}),
            r"podgroups\[1\]\.podReferences\[1\]: pod ns/fe-0 is referenced twice",
        ),
        (
            lambda o: o["spec"]["topologyConstraintGroupConfigs"][0]["podGroupNames"].append("ghost"),
            r"topologyConstraintGroupConfigs\[0\]\.podGroupNames\[2\]: no pod group named 'ghost'",
        ),
        (
            lambda o: o["spec"]["topologyConstraintGroupConfigs"].append(
                {"name": "again", "podGroupNames": ["mn-0-sga-0-worker"]}
            ),
            r"GroupConfigs\[1\]\.podGroupNames\[0\]: pod group 'mn-0-sga-0-worker' belongs to more",
        ),
        (
            lambda o: o["spec"].update(topologyConstraint={"packConstraint": {"required": ""}}),
            r"spec\.topologyConstraint\.packConstraint\.required: must be a non-empty node label key",
        ),
        (lambda o: o["spec"].update(podgroups={}), r"spec\.podgroups: must be a list"),
    ],
)
def test_invalid_podgangs_name_the_field(mutate: Any, error: str) -> None:
    obj = _gang()
    mutate(obj)
    with pytest.raises(PodGangError, match=error):
        parse_podgang(obj)
