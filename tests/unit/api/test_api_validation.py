"""One test per validation rule: an accepted and a rejected manifest, with the exact error type and path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from api_edit import DELETE, edit

from grove.api.defaults import default_podcliqueset
from grove.api.errors import ErrorType
from grove.api.podcliqueset import PodCliqueSet
from grove.api.topology import ClusterTopologyBinding
from grove.api.validation import validate_create, validate_update

R, INV, D, NS, F, TL = (
    ErrorType.REQUIRED,
    ErrorType.INVALID,
    ErrorType.DUPLICATE,
    ErrorType.NOT_SUPPORTED,
    ErrorType.FORBIDDEN,
    ErrorType.TOO_LONG,
)
T = "spec.template"
C0, C1, C2 = f"{T}.cliques[0]", f"{T}.cliques[1]", f"{T}.cliques[2]"
G0 = f"{T}.podCliqueScalingGroups[0]"


def _clique(name: str, replicas: int) -> dict[str, Any]:
    return {
        "name": name,
        "spec": {"replicas": replicas, "podSpec": {"containers": [{"name": "c", "image": "x"}]}},
    }


def base() -> dict[str, Any]:
    """A valid PodCliqueSet with a standalone clique and a scaling group of two cliques."""
    return {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodCliqueSet",
        "metadata": {"name": "inference", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "template": {
                "cliques": [_clique("frontend", 2), _clique("leader", 1), _clique("worker", 3)],
                "podCliqueScalingGroups": [
                    {"name": "model", "cliqueNames": ["leader", "worker"], "replicas": 2}
                ],
            },
        },
    }


TOPOLOGY = ClusterTopologyBinding.from_dict(
    {
        "metadata": {"name": "gb200"},
        "spec": {
            "levels": [
                {"domain": "zone", "key": "topology.kubernetes.io/zone"},
                {"domain": "rack", "key": "example.com/rack"},
                {"domain": "host", "key": "kubernetes.io/hostname"},
            ]
        },
    }
)


def _pcs(changes: dict[str, Any]) -> PodCliqueSet:
    return default_podcliqueset(PodCliqueSet.from_dict(edit(base(), copy.deepcopy(changes))))


def create_errors(
    changes: dict[str, Any], topology: ClusterTopologyBinding | None = None
) -> list[tuple[ErrorType, str]]:
    return [(e.type, e.path) for e in validate_create(_pcs(changes), topology)]


SHORT = {f"{C0}.name": "a", f"{C1}.name": "b", f"{C2}.name": "c"}

# id: (accepted changes, rejected changes, expected errors of the rejected manifest)
CREATE_RULES: dict[str, tuple[dict[str, Any], dict[str, Any], list[tuple[ErrorType, str]]]] = {
    "pcs-name-dns1035": ({"metadata.name": "a-1"}, {"metadata.name": "1a"}, [(INV, "metadata.name")]),
    "replicas-non-negative": ({"spec.replicas": 0}, {"spec.replicas": -1}, [(INV, "spec.replicas")]),
    "cliques-required": (
        {f"{T}.podCliqueScalingGroups": DELETE, f"{T}.cliques": [_clique("a", 1)]},
        {f"{T}.podCliqueScalingGroups": DELETE, f"{T}.cliques": []},
        [(R, f"{T}.cliques")],
    ),
    "clique-name-dns-label": (
        {f"{C0}.name": "front-end"},
        {f"{C0}.name": "Front_End"},
        [(INV, f"{C0}.name")],
    ),
    "clique-name-unique": (
        {f"{T}.cliques[+]": _clique("backend", 1)},
        {f"{T}.cliques[+]": _clique("frontend", 1)},
        [(D, f"{T}.cliques[3].name")],
    ),
    "role-name-unique": (
        {f"{C1}.spec.roleName": "lead"},
        {f"{C1}.spec.roleName": "frontend"},
        [(D, f"{C1}.spec.roleName")],
    ),
    "clique-replicas-positive": (
        {f"{C0}.spec.replicas": 1},
        {f"{C0}.spec.replicas": -1, f"{C0}.spec.minAvailable": 1},
        [(INV, f"{C0}.spec.replicas")],
    ),
    "min-available-positive": (
        {f"{C0}.spec.minAvailable": 1},
        {f"{C0}.spec.minAvailable": 0},
        [(INV, f"{C0}.spec.minAvailable")],
    ),
    "min-available-at-most-replicas": (
        {f"{C0}.spec.minAvailable": 2},
        {f"{C0}.spec.minAvailable": 3},
        [(INV, f"{C0}.spec.minAvailable")],
    ),
    "autoscaling-forbidden-in-group": (
        {f"{C0}.spec.autoScalingConfig": {"maxReplicas": 4}},
        {f"{C1}.spec.autoScalingConfig": {"maxReplicas": 4}},
        [(F, f"{C1}.spec.autoScalingConfig")],
    ),
    "autoscaling-min-replicas-at-least-min-available": (
        {f"{C0}.spec.autoScalingConfig": {"minReplicas": 2, "maxReplicas": 4}},
        {f"{C0}.spec.autoScalingConfig": {"minReplicas": 1, "maxReplicas": 4}},
        [(INV, f"{C0}.spec.autoScalingConfig.minReplicas")],
    ),
    "autoscaling-max-replicas-at-least-replicas": (
        {f"{C0}.spec.autoScalingConfig": {"maxReplicas": 2}},
        {f"{C0}.spec.autoScalingConfig": {"maxReplicas": 1}},
        [(INV, f"{C0}.spec.autoScalingConfig.maxReplicas")],
    ),
    "autoscaling-metrics-schema": (
        {f"{C0}.spec.autoScalingConfig": {"maxReplicas": 4, "metrics": [{"type": "Resource"}]}},
        {f"{C0}.spec.autoScalingConfig": {"maxReplicas": 4, "metrics": [{"typ": "Resource"}]}},
        [
            (R, f"{C0}.spec.autoScalingConfig.metrics[0].type"),
            (F, f"{C0}.spec.autoScalingConfig.metrics[0].typ"),
        ],
    ),
    "podspec-types": (
        {f"{C0}.spec.podSpec.containers[0].image": "nginx"},
        {f"{C0}.spec.podSpec.containers[0].image": 5},
        [(INV, f"{C0}.spec.podSpec.containers[0].image")],
    ),
    "podspec-unknown-field": (
        {f"{C0}.spec.podSpec.containers[0].workingDir": "/"},
        {f"{C0}.spec.podSpec.containers[0].imagee": "nginx"},
        [(F, f"{C0}.spec.podSpec.containers[0].imagee")],
    ),
    "podspec-required-field": (
        {f"{C0}.spec.podSpec.containers[0].ports": [{"containerPort": 80}]},
        {f"{C0}.spec.podSpec.containers[0].ports": [{"name": "http"}]},
        [(R, f"{C0}.spec.podSpec.containers[0].ports[0].containerPort")],
    ),
    "podspec-quantity": (
        {f"{C0}.spec.podSpec.containers[0].resources": {"requests": {"cpu": 1, "memory": "2Gi"}}},
        {f"{C0}.spec.podSpec.containers[0].resources": {"requests": {"cpu": "1 core"}}},
        [(INV, f"{C0}.spec.podSpec.containers[0].resources.requests[cpu]")],
    ),
    "podspec-int-or-string": (
        {f"{C0}.spec.podSpec.containers[0].readinessProbe": {"httpGet": {"port": "http"}}},
        {f"{C0}.spec.podSpec.containers[0].readinessProbe": {"httpGet": {"port": True}}},
        [(INV, f"{C0}.spec.podSpec.containers[0].readinessProbe.httpGet.port")],
    ),
    "podspec-list-map-keys-unique": (
        {f"{C0}.spec.podSpec.containers[+]": {"name": "d", "image": "x"}},
        {f"{C0}.spec.podSpec.containers[+]": {"name": "c", "image": "x"}},
        [(D, f"{C0}.spec.podSpec.containers[1]")],
    ),
    "node-name-forbidden-on-create": (
        {f"{C0}.spec.podSpec.nodeSelector": {"a": "b"}},
        {f"{C0}.spec.podSpec.nodeName": "node-1"},
        [(F, f"{C0}.spec.podSpec.nodeName")],
    ),
    "topology-spread-forbidden-on-create": (
        {f"{C0}.spec.podSpec.affinity": {}},
        {
            f"{C0}.spec.podSpec.topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
            ]
        },
        [(F, f"{C0}.spec.podSpec.topologySpreadConstraints")],
    ),
    "containers-required": (
        {f"{C0}.spec.podSpec.containers": [{"name": "c", "image": "x"}]},
        {f"{C0}.spec.podSpec.containers": []},
        [(R, f"{C0}.spec.podSpec.containers")],
    ),
    "container-image-required": (
        {f"{C0}.spec.podSpec.containers[0].image": "nginx:1.27"},
        {f"{C0}.spec.podSpec.containers[0].image": ""},
        [(R, f"{C0}.spec.podSpec.containers[0].image")],
    ),
    "container-names-unique-across-init": (
        {f"{C0}.spec.podSpec.initContainers": [{"name": "init", "image": "x"}]},
        {f"{C0}.spec.podSpec.initContainers": [{"name": "c", "image": "x"}]},
        [(D, f"{C0}.spec.podSpec.containers[0].name")],
    ),
    "env-var-names": (
        {f"{C0}.spec.podSpec.containers[0].env": [{"name": "MY_VAR.x-1", "value": "1"}]},
        {f"{C0}.spec.podSpec.containers[0].env": [{"name": "1VAR", "value": "1"}]},
        [(INV, f"{C0}.spec.podSpec.containers[0].env[0].name")],
    ),
    "env-var-names-unique": (
        {f"{C0}.spec.podSpec.containers[0].env": [{"name": "A"}, {"name": "B"}]},
        {f"{C0}.spec.podSpec.containers[0].env": [{"name": "A"}, {"name": "A"}]},
        [(D, f"{C0}.spec.podSpec.containers[0].env[1]")],
    ),
    "scheduler-supported": (
        {f"{C}.spec.podSpec.schedulerName": "grove-scheduler" for C in (C0, C1, C2)},
        {f"{C}.spec.podSpec.schedulerName": "volcano" for C in (C0, C1, C2)},
        [(NS, f"{C}.spec.podSpec.schedulerName") for C in (C0, C1, C2)],
    ),
    "scheduler-same-for-all-cliques": (
        {f"{C0}.spec.podSpec.schedulerName": "", f"{C2}.spec.podSpec.schedulerName": "default-scheduler"},
        {f"{C2}.spec.podSpec.schedulerName": "grove-scheduler"},
        [(INV, f"{C2}.spec.podSpec.schedulerName")],
    ),
    "starts-after-known-names": (
        {f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit", f"{C2}.spec.startsAfter": ["leader"]},
        {f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit", f"{C2}.spec.startsAfter": ["leadr"]},
        [(INV, f"{C2}.spec.startsAfter[0]")],
    ),
    "starts-after-not-self": (
        {f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit", f"{C2}.spec.startsAfter": ["frontend"]},
        {f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit", f"{C2}.spec.startsAfter": ["worker"]},
        [(INV, f"{C2}.spec.startsAfter[0]")],
    ),
    "starts-after-unique": (
        {
            f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit",
            f"{C2}.spec.startsAfter": ["leader", "frontend"],
        },
        {
            f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit",
            f"{C2}.spec.startsAfter": ["leader", "leader"],
        },
        [(D, f"{C2}.spec.startsAfter[1]")],
    ),
    "starts-after-no-cycles": (
        {
            f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit",
            f"{C1}.spec.startsAfter": ["frontend"],
            f"{C2}.spec.startsAfter": ["leader", "frontend"],
        },
        {
            f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit",
            f"{C0}.spec.startsAfter": ["worker"],
            f"{C1}.spec.startsAfter": ["frontend"],
            f"{C2}.spec.startsAfter": ["leader"],
        },
        [(INV, f"{C0}.spec.startsAfter")],
    ),
    "group-name-dns-label": (
        {f"{G0}.name": "model-2"},
        {f"{G0}.name": "Model"},
        [(INV, f"{G0}.name")],
    ),
    "group-name-unique": (
        {f"{T}.podCliqueScalingGroups[+]": {"name": "fe", "cliqueNames": ["frontend"]}},
        {f"{T}.podCliqueScalingGroups[+]": {"name": "model", "cliqueNames": ["frontend"]}},
        [(D, f"{T}.podCliqueScalingGroups[1].name")],
    ),
    "group-clique-names-required": (
        {f"{G0}.cliqueNames": ["leader"]},
        {f"{G0}.cliqueNames": []},
        [(R, f"{G0}.cliqueNames")],
    ),
    "group-clique-names-exist": (
        {f"{G0}.cliqueNames": ["leader", "worker"]},
        {f"{G0}.cliqueNames": ["leader", "wrker"]},
        [(INV, f"{G0}.cliqueNames[1]")],
    ),
    "group-clique-names-unique": (
        {f"{G0}.cliqueNames": ["worker", "leader"]},
        {f"{G0}.cliqueNames": ["leader", "worker", "leader"]},
        [(D, f"{G0}.cliqueNames[2]")],
    ),
    "clique-in-one-group-only": (
        {f"{T}.podCliqueScalingGroups[+]": {"name": "fe", "cliqueNames": ["frontend"]}},
        {f"{T}.podCliqueScalingGroups[+]": {"name": "other", "cliqueNames": ["worker"]}},
        [(INV, f"{T}.podCliqueScalingGroups[1].cliqueNames[0]")],
    ),
    "group-replicas-positive": ({f"{G0}.replicas": 1}, {f"{G0}.replicas": 0}, [(INV, f"{G0}.replicas")]),
    "group-min-available-positive": (
        {f"{G0}.minAvailable": 2},
        {f"{G0}.minAvailable": 0},
        [(INV, f"{G0}.minAvailable")],
    ),
    "group-min-available-at-most-replicas": (
        {f"{G0}.minAvailable": 2},
        {f"{G0}.minAvailable": 3},
        [(INV, f"{G0}.minAvailable")],
    ),
    "group-scale-config-bounds": (
        {f"{G0}.minAvailable": 2, f"{G0}.scaleConfig": {"minReplicas": 2, "maxReplicas": 4}},
        {f"{G0}.minAvailable": 2, f"{G0}.scaleConfig": {"minReplicas": 1, "maxReplicas": 4}},
        [(INV, f"{G0}.scaleConfig.minReplicas")],
    ),
    "group-scale-config-max": (
        {f"{G0}.scaleConfig": {"maxReplicas": 2}},
        {f"{G0}.scaleConfig": {"maxReplicas": 1}},
        [(INV, f"{G0}.scaleConfig.maxReplicas")],
    ),
    "termination-delay-duration": (
        {f"{T}.terminationDelay": "1h30m"},
        {f"{T}.terminationDelay": "forever"},
        [(INV, f"{T}.terminationDelay")],
    ),
    "termination-delay-positive": (
        {f"{T}.terminationDelay": "30s"},
        {f"{T}.terminationDelay": "0s"},
        [(INV, f"{T}.terminationDelay")],
    ),
    "clique-labels": (
        {f"{C0}.labels": {"example.com/tier": "web"}},
        {f"{C0}.labels": {"bad key!": "web"}},
        [(INV, f"{C0}.labels")],
    ),
    "clique-label-values": (
        {f"{C0}.labels": {"tier": "web-1"}},
        {f"{C0}.labels": {"tier": "web tier"}},
        [(INV, f"{C0}.labels[tier]")],
    ),
    "resource-claim-templates-unique": (
        {
            f"{T}.resourceClaimTemplates": [
                {"name": "gpu", "templateSpec": {"spec": {"devices": {"requests": [{"name": "g"}]}}}},
                {"name": "nic", "templateSpec": {"spec": {"devices": {"requests": [{"name": "n"}]}}}},
            ]
        },
        {
            f"{T}.resourceClaimTemplates": [
                {"name": "gpu", "templateSpec": {"spec": {"devices": {"requests": [{"name": "g"}]}}}},
                {"name": "gpu", "templateSpec": {"spec": {"devices": {"requests": [{"name": "n"}]}}}},
            ]
        },
        [(D, f"{T}.resourceClaimTemplates[1].name")],
    ),
    "resource-claim-template-needs-a-request": (
        {
            f"{T}.resourceClaimTemplates": [
                {"name": "gpu", "templateSpec": {"spec": {"devices": {"requests": [{"name": "g"}]}}}}
            ]
        },
        {f"{T}.resourceClaimTemplates": [{"name": "gpu", "templateSpec": {"spec": {"devices": {}}}}]},
        [(R, f"{T}.resourceClaimTemplates[0].templateSpec.spec.devices.requests")],
    ),
    "resource-sharing-filter-names": (
        {
            f"{T}.resourceSharing": [
                {"name": "gpu", "scope": "PerReplica", "filter": {"childCliqueNames": ["frontend"]}}
            ]
        },
        {
            f"{T}.resourceSharing": [
                {"name": "gpu", "scope": "PerReplica", "filter": {"childCliqueNames": ["leader"]}}
            ]
        },
        [(INV, f"{T}.resourceSharing[0].filter.childCliqueNames[0]")],
    ),
    "resource-sharing-filter-groups": (
        {
            f"{T}.resourceSharing": [
                {"name": "g", "scope": "AllReplicas", "filter": {"childScalingGroupNames": ["model"]}}
            ]
        },
        {
            f"{T}.resourceSharing": [
                {"name": "g", "scope": "AllReplicas", "filter": {"childScalingGroupNames": ["m"]}}
            ]
        },
        [(INV, f"{T}.resourceSharing[0].filter.childScalingGroupNames[0]")],
    ),
    "resource-sharing-unique": (
        {
            f"{C0}.resourceSharing": [
                {"name": "a", "scope": "PerReplica"},
                {"name": "b", "scope": "PerReplica"},
            ]
        },
        {
            f"{C0}.resourceSharing": [
                {"name": "a", "scope": "PerReplica"},
                {"name": "a", "scope": "AllReplicas"},
            ]
        },
        [(D, f"{C0}.resourceSharing[1].name")],
    ),
    "pcs-generated-names-fit": (
        # "grove.io-pcs-" + name (the Role's name label) must fit 63.
        {"metadata.name": "p" * 50, f"{T}.podCliqueScalingGroups": DELETE, **SHORT},
        {"metadata.name": "p" * 51, f"{T}.podCliqueScalingGroups": DELETE, **SHORT},
        [(TL, "metadata.name")],
    ),
    "clique-generated-pod-name-fits": (
        # "inference-0-" + clique + "-" + 5 random characters must fit 63.
        {f"{C0}.name": "f" * 45},
        {f"{C0}.name": "f" * 46},
        [(TL, f"{C0}.name")],
    ),
    "group-generated-names-fit": (
        # "inference-0-" + group + "-1-worker-" + 5 random characters must fit 63.
        {f"{G0}.name": "g" * 36},
        {f"{G0}.name": "g" * 37},
        [(TL, f"{C1}.name"), (TL, f"{C2}.name")],
    ),
    "hostname-counts-autoscaling-maximum": (
        # "inference-0-" + clique + "-" + largest pod index must fit 63.
        {f"{C0}.name": "f" * 45, f"{C0}.spec.autoScalingConfig": {"maxReplicas": 100000}},
        {f"{C0}.name": "f" * 45, f"{C0}.spec.autoScalingConfig": {"maxReplicas": 1000001}},
        [(TL, f"{C0}.name")],
    ),
    "scaled-podgang-name-counts-scale-config": (
        {f"{G0}.name": "g" * 36, f"{C1}.name": "l", f"{C2}.name": "w", f"{G0}.cliqueNames": ["l", "w"]},
        {
            f"{G0}.name": "g" * 48,
            f"{C1}.name": "l",
            f"{C2}.name": "w",
            f"{G0}.cliqueNames": ["l", "w"],
            f"{G0}.scaleConfig": {"maxReplicas": 10**12},
        },
        [(TL, f"{G0}.name"), (TL, f"{C1}.name"), (TL, f"{C2}.name")],
    ),
}


@pytest.mark.parametrize("rule", CREATE_RULES)
def test_create_rule(rule: str) -> None:
    accepted, rejected, expected = CREATE_RULES[rule]
    assert create_errors(accepted) == []
    assert create_errors(rejected) == expected


def test_errors_are_all_reported_and_render_like_kubernetes() -> None:
    errors = validate_create(
        _pcs(
            {
                f"{G0}.cliqueNames": ["leader", "wrker"],
                f"{C0}.spec.minAvailable": 5,
                "spec.replicas": -1,
            }
        )
    )
    rendered = [str(e) for e in errors]
    expected = 'Invalid value: "wrker": no clique named "wrker"'
    assert f"spec.template.podCliqueScalingGroups[0].cliqueNames[1]: {expected}" in rendered
    assert (
        "spec.template.cliques[0].spec.minAvailable: Invalid value: 5: must not be greater than replicas (2)"
        in (rendered)
    )
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in rendered


def test_cycle_message_names_the_cycle() -> None:
    errors = validate_create(
        _pcs(
            {
                f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit",
                f"{C1}.spec.startsAfter": ["worker"],
                f"{C2}.spec.startsAfter": ["leader"],
            }
        )
    )
    assert [e.detail for e in errors] == ["startsAfter dependencies form a cycle: leader -> worker -> leader"]


def test_starts_after_is_not_checked_unless_explicit() -> None:
    assert create_errors({f"{C2}.spec.startsAfter": ["nobody"]}) == []


def test_name_length_error_names_the_generated_name_and_limit() -> None:
    (error,) = validate_create(_pcs({f"{C0}.name": "f" * 46}))
    assert str(error) == (
        f'{C0}.name: Too long: generated pod name "inference-0-{"f" * 46}-xxxxx" would be 64 characters, '
        "may not be more than 63"
    )


# Topology constraints: (accepted changes, rejected changes, expected errors, checked against TOPOLOGY?)
PCS_TC = f"{T}.topologyConstraint"
G0_TC = f"{G0}.topologyConstraint"
C2_TC = f"{C2}.topologyConstraint"
TOPOLOGY_RULES: dict[str, tuple[dict[str, Any], dict[str, Any], list[tuple[ErrorType, str]], bool]] = {
    "pack-required": (
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}}},
        {PCS_TC: {"topologyName": "gb200"}},
        [(R, f"{PCS_TC}.pack")],
        False,
    ),
    "pack-needs-required-or-preferred": (
        {PCS_TC: {"topologyName": "gb200", "pack": {"preferred": "rack"}}},
        {PCS_TC: {"topologyName": "gb200", "pack": {}}},
        [(R, f"{PCS_TC}.pack")],
        False,
    ),
    "pack-domain-forbidden-on-create": (
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}}},
        {PCS_TC: {"topologyName": "gb200", "packDomain": "zone"}},
        [(F, f"{PCS_TC}.packDomain")],
        False,
    ),
    "not-both-pack-required-and-pack-domain": (
        {PCS_TC: {"topologyName": "gb200", "pack": {"preferred": "host"}}},
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}, "packDomain": "zone"}},
        [(F, f"{PCS_TC}.pack.required"), (F, f"{PCS_TC}.packDomain")],
        False,
    ),
    "domain-syntax": (
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "rack-1"}}},
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "Rack"}}},
        [(INV, f"{PCS_TC}.pack.required")],
        False,
    ),
    "topology-name-required-or-inherited": (
        {
            PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}},
            C2_TC: {"pack": {"required": "host"}},
        },
        {C2_TC: {"pack": {"required": "host"}}},
        [(R, f"{C2_TC}.topologyName")],
        False,
    ),
    "one-topology-name-per-pcs": (
        {
            PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}},
            G0_TC: {"topologyName": "gb200", "pack": {"required": "rack"}},
        },
        {
            PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}},
            G0_TC: {"topologyName": "h100", "pack": {"required": "rack"}},
        },
        [(INV, f"{G0_TC}.topologyName")],
        False,
    ),
    "topology-binding-exists": (
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}}},
        {PCS_TC: {"topologyName": "h100", "pack": {"required": "zone"}}},
        [(INV, f"{PCS_TC}.topologyName")],
        True,
    ),
    "domains-are-binding-levels": (
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone", "preferred": "host"}}},
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone", "preferred": "numa"}}},
        [(INV, f"{PCS_TC}.pack.preferred")],
        True,
    ),
    "child-required-narrower-than-parent": (
        {
            PCS_TC: {"topologyName": "gb200", "pack": {"required": "rack"}},
            G0_TC: {"pack": {"required": "host"}},
        },
        {
            PCS_TC: {"topologyName": "gb200", "pack": {"required": "rack"}},
            G0_TC: {"pack": {"required": "zone"}},
        },
        [(INV, f"{G0_TC}.pack.required")],
        True,
    ),
    "clique-narrower-than-its-group": (
        {
            G0_TC: {"topologyName": "gb200", "pack": {"required": "rack"}},
            C2_TC: {"pack": {"required": "rack"}},
        },
        {
            G0_TC: {"topologyName": "gb200", "pack": {"required": "rack"}},
            C2_TC: {"pack": {"required": "zone"}},
        },
        [(INV, f"{C2_TC}.pack.required")],
        True,
    ),
    "child-preferred-narrower-than-parent": (
        {
            PCS_TC: {"topologyName": "gb200", "pack": {"preferred": "rack"}},
            G0_TC: {"pack": {"preferred": "host"}},
        },
        {
            PCS_TC: {"topologyName": "gb200", "pack": {"preferred": "rack"}},
            G0_TC: {"pack": {"preferred": "zone"}},
        },
        [(INV, f"{G0_TC}.pack.preferred")],
        True,
    ),
}


@pytest.mark.parametrize("rule", TOPOLOGY_RULES)
def test_topology_rule(rule: str) -> None:
    accepted, rejected, expected, with_binding = TOPOLOGY_RULES[rule]
    topology = TOPOLOGY if with_binding else None
    assert create_errors(accepted, topology) == []
    assert create_errors(rejected, topology) == expected


def test_constraints_are_not_checked_against_levels_without_a_binding() -> None:
    assert create_errors({PCS_TC: {"topologyName": "gb200", "pack": {"required": "galaxy"}}}) == []


# Updates: (changes to the old object, changes of the new object that are accepted, rejected, expected errors)
UPDATE_RULES: dict[
    str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[tuple[ErrorType, str]]]
] = {
    "replicas-and-pod-template-may-change": (
        {f"{C0}.spec.minAvailable": 2},
        {"spec.replicas": 3, f"{C0}.spec.replicas": 5, f"{C0}.spec.podSpec.containers[0].image": "y"},
        {},
        [],
    ),
    "clique-set-fixed": (
        {},
        {},
        {f"{T}.cliques[+]": _clique("extra", 1)},
        [(F, f"{T}.cliques")],
    ),
    "clique-order-fixed-when-in-order": (
        {f"{T}.cliqueStartupType": "CliqueStartupTypeInOrder"},
        {f"{T}.cliqueStartupType": "CliqueStartupTypeInOrder"},
        {
            f"{T}.cliqueStartupType": "CliqueStartupTypeInOrder",
            f"{T}.cliques": [_clique("leader", 1), _clique("frontend", 2), _clique("worker", 3)],
        },
        [(F, f"{T}.cliques")],
    ),
    "clique-order-free-when-any-order": (
        {},
        {f"{T}.cliques": [_clique("leader", 1), _clique("frontend", 2), _clique("worker", 3)]},
        {},
        [],
    ),
    "role-name-immutable": (
        {},
        {f"{C1}.spec.roleName": "leader"},
        {f"{C1}.spec.roleName": "boss"},
        [(INV, f"{C1}.spec.roleName")],
    ),
    "min-available-immutable": (
        {},
        {f"{C0}.spec.minAvailable": 2},
        {f"{C0}.spec.minAvailable": 1},
        [(INV, f"{C0}.spec.minAvailable")],
    ),
    "starts-after-immutable": (
        {f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit", f"{C2}.spec.startsAfter": ["leader"]},
        {f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit", f"{C2}.spec.startsAfter": ["leader"]},
        {f"{T}.cliqueStartupType": "CliqueStartupTypeExplicit", f"{C2}.spec.startsAfter": ["frontend"]},
        [(INV, f"{C2}.spec.startsAfter")],
    ),
    "scheduler-name-immutable": (
        {},
        {f"{C}.spec.podSpec.schedulerName": "default-scheduler" for C in (C0, C1, C2)},
        {f"{C}.spec.podSpec.schedulerName": "grove-scheduler" for C in (C0, C1, C2)},
        [(INV, f"{C}.spec.podSpec.schedulerName") for C in (C0, C1, C2)],
    ),
    "startup-type-immutable": (
        {},
        {f"{T}.cliqueStartupType": "CliqueStartupTypeAnyOrder"},
        {f"{T}.cliqueStartupType": "CliqueStartupTypeInOrder"},
        [(INV, f"{T}.cliqueStartupType")],
    ),
    "group-set-fixed": (
        {},
        {f"{G0}.replicas": 5},
        {f"{T}.podCliqueScalingGroups[+]": {"name": "fe", "cliqueNames": ["frontend"]}},
        [(F, f"{T}.podCliqueScalingGroups")],
    ),
    "group-clique-names-immutable": (
        {},
        {},
        {f"{G0}.cliqueNames": ["worker", "leader"]},
        [(INV, f"{G0}.cliqueNames")],
    ),
    "group-min-available-immutable": (
        {},
        {f"{G0}.minAvailable": 1},
        {f"{G0}.minAvailable": 2},
        [(INV, f"{G0}.minAvailable")],
    ),
    "resource-sharing-immutable": (
        {},
        {},
        {f"{C0}.resourceSharing": [{"name": "a", "scope": "PerReplica"}]},
        [(INV, f"{C0}.resourceSharing")],
    ),
    "topology-constraint-immutable": (
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}}},
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}}},
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "rack"}}},
        [(INV, PCS_TC)],
    ),
    "legacy-pack-domain-may-move-to-pack-required-and-gain-a-name": (
        {PCS_TC: {"packDomain": "zone"}},
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "zone"}}},
        {PCS_TC: {"topologyName": "gb200", "pack": {"required": "rack"}}},
        [(INV, PCS_TC)],
    ),
    "node-name-allowed-on-update": ({}, {f"{C0}.spec.podSpec.nodeName": "node-1"}, {}, []),
}


@pytest.mark.parametrize("rule", UPDATE_RULES)
def test_update_rule(rule: str) -> None:
    old_changes, accepted, rejected, expected = UPDATE_RULES[rule]
    old = _pcs(old_changes)
    assert [(e.type, e.path) for e in validate_update(old, _pcs({**old_changes, **accepted}))] == []
    if rejected:
        got = [(e.type, e.path) for e in validate_update(old, _pcs({**old_changes, **rejected}))]
        assert got == expected


def test_immutable_field_message() -> None:
    old = _pcs({})
    (error,) = validate_update(old, _pcs({f"{C0}.spec.minAvailable": 1}))
    assert str(error) == f"{C0}.spec.minAvailable: Invalid value: 1: field is immutable"


def test_samples_are_valid(sample: dict[str, Any]) -> None:
    assert validate_create(default_podcliqueset(PodCliqueSet.from_dict(sample))) == []
