"""Gang termination stands aside while a rolling update replaces a replica: that needs the update to be
tracked as in progress for as long as it really lasts, also for the second update of a PodCliqueSet and for
one made only of scaling groups (whose breach conditions then read Unknown/UpdateInProgress)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from grove.controllers import conditions as cond
from grove.controllers.resources import PODCLIQUESCALINGGROUPS, PODCLIQUESETS, PODS
from grove.controllers.status import find_condition
from grove.runtime.client import Client
from grove_expect import expected, load_sample, wait_converged


async def test_every_rolling_update_is_in_progress_until_its_pods_are_replaced(
    operator: Any, namespace: str, client: Client, wait_for: Any
) -> None:
    manifest = load_sample("multi-node-aggregated.yaml", namespace)
    name = manifest["metadata"]["name"]
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    breach_states: list[tuple[str | None, str | None]] = []

    async def watch_breach() -> None:
        async with client.watch(PODCLIQUESCALINGGROUPS, namespace) as stream:
            async for event in stream:
                if event.type not in ("ADDED", "MODIFIED"):
                    continue  # bookmarks
                c = find_condition(
                    (event.object.get("status") or {}).get("conditions"),
                    cond.CONDITION_MIN_AVAILABLE_BREACHED,
                )
                if c is not None:
                    breach_states.append((c.get("status"), c.get("reason")))

    watcher = asyncio.create_task(watch_breach())
    try:
        await wait_for(lambda: breach_states, message="watch of the scaling group started")
        for value in ("first", "second"):
            breach_states.clear()
            for clique in manifest["spec"]["template"]["cliques"]:
                clique["spec"]["podSpec"]["containers"][0]["env"] = [{"name": "VERSION", "value": value}]
            patch = {"spec": {"template": {"cliques": manifest["spec"]["template"]["cliques"]}}}
            await client.patch(PODCLIQUESETS, name, patch, namespace)

            async def rolled_out(value: str = value) -> bool:
                pods = [
                    p
                    for p in (await client.list(PODS, namespace)).items
                    if not p["metadata"].get("deletionTimestamp")
                ]
                versions = [
                    e.get("value")
                    for p in pods
                    for e in p["spec"]["containers"][0].get("env", [])
                    if e["name"] == "VERSION"
                ]
                status = (await client.get(PODCLIQUESETS, name, namespace)).get("status") or {}
                ended = (status.get("updateProgress") or {}).get("updateEndedAt")
                return (
                    len(pods) == 8
                    and versions == [value] * 8
                    and bool(ended)
                    and status.get("updatedReplicas") == 1
                )

            await wait_for(
                rolled_out, timeout=30, interval=0.1, message=f"{value} update rolled out and ended"
            )
            assert ("Unknown", cond.REASON_UPDATE_IN_PROGRESS) in breach_states, breach_states
            await wait_for(
                lambda: breach_states and breach_states[-1][0] == "False",
                message="breach False after the update",
            )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
