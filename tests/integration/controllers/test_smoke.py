from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from grove.controllers.resources import PODCLIQUES, PODCLIQUESETS, PODGANGS, PODS, SERVICES

SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "samples"


async def test_sample(operator: Any, namespace: str, client: Any, wait_for: Any) -> None:
    pcs = yaml.safe_load((SAMPLES / "single-node-aggregated.yaml").read_text())
    pcs["metadata"]["namespace"] = namespace
    await client.create(PODCLIQUESETS, pcs)

    async def pods() -> Any:
        got = (await client.list(PODS, namespace)).items
        return got if len(got) == 2 else None

    await wait_for(pods, timeout=10)

    async def ungated() -> Any:
        got = (await client.list(PODS, namespace)).items
        return all(not p["spec"].get("schedulingGates") for p in got) and got

    got = await wait_for(ungated, timeout=10)
    print([p["metadata"]["name"] for p in got])
    print((await client.list(PODGANGS, namespace)).items)
    print((await client.list(PODCLIQUES, namespace)).items[0]["status"])
    print((await client.list(SERVICES, namespace)).items[0]["metadata"]["name"])
    print((await client.get(PODCLIQUESETS, "single-node-aggregated", namespace))["status"])
