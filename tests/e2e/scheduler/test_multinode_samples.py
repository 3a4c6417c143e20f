"""The seed's multi-node examples through the operator and the extender: with ``schedulerName:
grove-scheduler`` and a scaling-group constraint ``pack.required: rack`` on ``dev-topology``, every
PodCliqueScalingGroup replica (leader and workers) lands in one rack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from placement_helpers import RACK, Stack, Wait

from grove.controllers.resources import PODCLIQUESETS
from grove.devstack import DEV_TOPOLOGY
from grove.runtime.client import Client
from grove.scheduler.kinds import PODGANGS, PODS

pytestmark = pytest.mark.usefixtures("grove_operator")

SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "samples"
PCSG_LABEL = "grove.io/podcliquescalinggroup"
PCSG_INDEX_LABEL = "grove.io/podcliquescalinggroup-replica-index"


def _topology_aware(sample: str, namespace: str, replicas: int) -> tuple[dict[str, Any], int]:
    """The sample with the grove-scheduler, rack packing per scaling-group replica and ``replicas`` PCS
    replicas; and how many pods it makes."""
    pcs = yaml.safe_load((SAMPLES / sample).read_text())
    pcs["metadata"]["namespace"] = namespace
    pcs["spec"]["replicas"] = replicas
    template = pcs["spec"]["template"]
    sizes = {}
    for clique in template["cliques"]:
        clique["spec"]["podSpec"]["schedulerName"] = "grove-scheduler"
        sizes[clique["name"]] = clique["spec"]["replicas"]
    per_replica = 0
    for group in template["podCliqueScalingGroups"]:
        group["topologyConstraint"] = {"topologyName": DEV_TOPOLOGY, "pack": {"required": "rack"}}
        members = sum(sizes[c] for c in group["cliqueNames"])
        per_replica += group.get("replicas", 1) * members
    standalone = sum(sizes.values()) - sum(
        sizes[c] for g in template["podCliqueScalingGroups"] for c in g["cliqueNames"]
    )
    return pcs, replicas * (per_replica + standalone)


@pytest.mark.parametrize("sample", ["multi-node-aggregated.yaml", "multi-node-disaggregated.yaml"])
async def test_each_scaling_group_replica_lands_in_one_rack(
    stack: Stack, client: Client, ns: str, wait: Wait, sample: str
) -> None:
    pcs, expected = _topology_aware(sample, ns, replicas=2)
    await client.create(PODCLIQUESETS, pcs)
    labels = await stack.labels_of(client)

    async def all_running() -> list[dict[str, Any]] | None:
        pods = (await client.list(PODS, ns)).items
        running = [p for p in pods if p["spec"].get("nodeName") and p["status"].get("phase") == "Running"]
        return running if len(pods) == expected and len(running) == expected else None

    pods = await wait(all_running, deadline=60, message=f"{expected} pods of {sample} running")
    replicas: dict[tuple[str, str], set[str]] = {}
    for p in pods:
        meta = p["metadata"]["labels"]
        key = (meta[PCSG_LABEL], meta[PCSG_INDEX_LABEL])
        replicas.setdefault(key, set()).add(labels[p["spec"]["nodeName"]][RACK])
    assert replicas, "the sample has scaling groups"
    assert all(len(racks) == 1 for racks in replicas.values()), replicas
    # Every PodGang the operator made carries the translated constraint and the topology name.
    for gang in (await client.list(PODGANGS, ns)).items:
        assert gang["metadata"]["annotations"]["grove.io/topology-name"] == DEV_TOPOLOGY
        constraints = [
            c["topologyConstraint"] for c in gang["spec"].get("topologyConstraintGroupConfigs", [])
        ]
        if "topologyConstraint" in gang["spec"]:
            constraints.append(gang["spec"]["topologyConstraint"])
        assert constraints and all(c["packConstraint"]["required"] == RACK for c in constraints)
    await client.delete(PODCLIQUESETS, pcs["metadata"]["name"], ns)
