"""Each tutorial sample converges to exactly the objects the tutorial shows, every pod Running and Ready."""

from __future__ import annotations

from typing import Any

import pytest

from grove.api import labels
from grove.controllers.resources import CLUSTER_TOPOLOGY_BINDINGS, PODCLIQUESETS
from grove_expect import SAMPLE_FILES, expected, load_sample, wait_converged


@pytest.mark.parametrize("sample", SAMPLE_FILES)
async def test_sample_converges(
    operator: Any, namespace: str, client: Any, wait_for: Any, sample: str
) -> None:
    manifest = load_sample(sample, namespace)
    name = manifest["metadata"]["name"]
    await client.create(PODCLIQUESETS, manifest)
    got = await wait_converged(client, namespace, expected(manifest))

    async def available() -> Any:
        pcs = await client.get(PODCLIQUESETS, name, namespace)
        status = pcs.get("status") or {}
        return pcs if status.get("availableReplicas") == 1 and status.get("updatedReplicas") == 1 else None

    pcs = await wait_for(available, timeout=10, message="PodCliqueSet available")
    status = pcs["status"]
    assert status["replicas"] == 1
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"SpecValid": "True"}
    for pcsg in got.pcsgs.values():
        assert pcsg["status"]["selector"].endswith(
            f"grove.io/podcliquescalinggroup={pcsg['metadata']['name']}"
        )
    assert status["observedGeneration"] == pcs["metadata"]["generation"]
    assert status["hpaPodSelector"] == (
        f"app.kubernetes.io/managed-by=grove-operator,app.kubernetes.io/part-of={manifest['metadata']['name']}"
    )
    for pod in got.pods:
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        assert env["GROVE_PCS_NAME"]["value"] == manifest["metadata"]["name"]
        assert env["GROVE_PCLQ_NAME"]["value"] == pod["metadata"]["labels"][labels.PODCLIQUE]
        assert list(env)[:5] == [
            "GROVE_PCS_NAME",
            "GROVE_PCS_INDEX",
            "GROVE_PCLQ_NAME",
            "GROVE_HEADLESS_SERVICE",
            "GROVE_PCLQ_POD_INDEX",
        ]
        if labels.SCALING_GROUP in pod["metadata"]["labels"]:
            assert {"GROVE_PCSG_NAME", "GROVE_PCSG_INDEX", "GROVE_PCSG_TEMPLATE_NUM_PODS"} <= set(env)


async def test_topology_constraints_are_translated_into_podgangs(
    operator: Any, namespace: str, client: Any
) -> None:
    ct_name = f"ct-{namespace}"
    ct = {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "ClusterTopologyBinding",
        "metadata": {"name": ct_name},
        "spec": {
            "levels": [
                {"domain": "zone", "key": "topology.kubernetes.io/zone"},
                {"domain": "rack", "key": "topology.grove.io/rack"},
                {"domain": "host", "key": "kubernetes.io/hostname"},
            ]
        },
    }
    await client.create(CLUSTER_TOPOLOGY_BINDINGS, ct)
    try:
        manifest = load_sample("multi-node-aggregated.yaml", namespace)
        template = manifest["spec"]["template"]
        template["topologyConstraint"] = {"topologyName": ct_name, "pack": {"required": "zone"}}
        template["podCliqueScalingGroups"][0]["topologyConstraint"] = {"pack": {"required": "rack"}}
        template["cliques"][1]["topologyConstraint"] = {"pack": {"preferred": "host"}}
        await client.create(PODCLIQUESETS, manifest)
        got = await wait_converged(client, namespace, expected(manifest))
        base = got.podgangs["multinode-aggregated-0"]
        scaled = got.podgangs["multinode-aggregated-0-model-instance-0"]
        for gang in (base, scaled):
            assert gang["metadata"]["annotations"]["grove.io/topology-name"] == ct_name
        assert base["spec"]["topologyConstraint"] == {
            "packConstraint": {"required": "topology.kubernetes.io/zone"}
        }
        assert base["spec"]["topologyConstraintGroupConfigs"] == [
            {
                "name": "multinode-aggregated-0-model-instance-0",
                "podGroupNames": [
                    "multinode-aggregated-0-model-instance-0-leader",
                    "multinode-aggregated-0-model-instance-0-worker",
                ],
                "topologyConstraint": {"packConstraint": {"required": "topology.grove.io/rack"}},
            }
        ]
        assert scaled["spec"]["topologyConstraint"] == {
            "packConstraint": {"required": "topology.grove.io/rack"}
        }
        workers = [g for g in scaled["spec"]["podgroups"] if g["name"].endswith("-worker")]
        assert workers[0]["topologyConstraint"] == {"packConstraint": {"preferred": "kubernetes.io/hostname"}}
        pcs = (await client.get(PODCLIQUESETS, manifest["metadata"]["name"], namespace))["status"]
        conditions = {c["type"]: c["status"] for c in pcs["conditions"]}
        assert conditions == {"SpecValid": "True", "TopologyLevelsUnavailable": "False"}
    finally:
        await client.delete(CLUSTER_TOPOLOGY_BINDINGS, ct_name)
