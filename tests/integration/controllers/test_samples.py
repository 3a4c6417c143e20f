"""Each tutorial sample converges to exactly the objects the tutorial shows, every pod Running and Ready."""

from __future__ import annotations

from typing import Any

import pytest

from grove.api import labels
from grove.controllers.resources import PODCLIQUESETS
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
