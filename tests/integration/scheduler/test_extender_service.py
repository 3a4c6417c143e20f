"""The extender service against a cluster: informers feed the ledger, bindings go through pods/binding,
gang decisions become Events on the PodGang, metrics are served, and a restart rebuilds from the cluster."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from scheduler_it_helpers import Scheduler, Topo, api_pod, create_gang

from grove.runtime.client import Client
from grove.runtime.resources import EVENTS
from grove.scheduler.kinds import PODS
from grove.scheduler.synthetic import GroupSpec

Wait = Callable[..., Awaitable[Any]]


async def _schedule_all(
    sched: Scheduler, pods: list[dict[str, Any]], nodes: list[str], wait_for: Wait
) -> dict[str, str]:
    """kube-scheduler's loop: retry each pod until filter leaves one node, then bind it there."""
    placed: dict[str, str] = {}
    for p in pods:
        placed[p["metadata"]["name"]] = await wait_for(
            lambda p=p: sched.place(p, nodes), timeout=20, message=f"{p['metadata']['name']}"
        )
    return placed


async def test_gang_is_planned_in_one_rack_bound_and_reported(
    client: Client,
    topo: Topo,
    namespace: str,
    start_extender: Callable[..., Any],
    http: aiohttp.ClientSession,
    wait_for: Wait,
) -> None:
    # rack r0: 2 hosts x 2 cpu (4 cpu); rack r1: 3 hosts x 2 cpu (6 cpu). Five 1-cpu pods fit only in r1.
    await topo.create(client, [(0, 0, 0, 2), (0, 0, 1, 3)], cpu="2")
    service = await start_extender()
    names = [f"w-{i}" for i in range(5)]
    pods = await create_gang(
        client, namespace, "g", [GroupSpec("w", names)], topo=topo, required=topo.key("rack")
    )
    placed = await _schedule_all(Scheduler(http, service.url), pods, topo.nodes, wait_for)
    assert {topo.rack_of(n) for n in placed.values()} == {f"{topo.prefix}-z0-b0-r1"}

    stored = (await client.list(PODS, namespace)).items
    assert {p["metadata"]["name"]: p["spec"].get("nodeName") for p in stored} == placed

    async def planned_event() -> list[dict[str, Any]]:
        events = (await client.list(EVENTS, namespace)).items
        return [
            e for e in events if e["involvedObject"]["kind"] == "PodGang" and e["reason"] == "GangPlanned"
        ]

    (event,) = await wait_for(planned_event, message="GangPlanned event")
    assert event["involvedObject"]["name"] == "g"
    assert event["involvedObject"]["uid"]
    assert event["type"] == "Normal"
    assert "planned 5 pods" in event["message"]

    async with http.get(f"http://127.0.0.1:{service.manager.port}/metrics") as resp:
        text = await resp.text()
    assert "grove_scheduler_gangs_planned_total 1.0" in text
    assert 'grove_scheduler_pods_bound_total{outcome="ok"} 5.0' in text
    assert 'grove_scheduler_extender_request_duration_seconds_count{verb="filter"}' in text
    labels = f'domain="z0/z0-b0/z0-b0-r1",level="rack",resource="cpu",topology="{topo.name}"'
    assert f"grove_scheduler_domain_free{{{labels}}} 1000.0" in text


async def test_unschedulable_gang_is_reported_once_on_the_podgang(
    client: Client,
    topo: Topo,
    namespace: str,
    start_extender: Callable[..., Any],
    http: aiohttp.ClientSession,
    wait_for: Wait,
) -> None:
    await topo.create(client, [(0, 0, 0, 2), (0, 0, 1, 2)], cpu="2")
    service = await start_extender()
    names = [f"w-{i}" for i in range(5)]
    pods = await create_gang(
        client, namespace, "big", [GroupSpec("w", names)], topo=topo, required=topo.key("rack")
    )
    sched = Scheduler(http, service.url)

    async def unresolvable() -> dict[str, Any] | None:
        result = await sched.filter(pods[0], topo.nodes)
        return result if result["FailedAndUnresolvableNodes"] else None

    result = await wait_for(unresolvable, message="the gang's failure")
    message = f"gang {namespace}/big needs 5 pods (5 cpu, 5Gi) in one rack; the largest free rack fits 4"
    assert result["FailedAndUnresolvableNodes"] == dict.fromkeys(topo.nodes, message)
    assert result["NodeNames"] == []

    async def warning() -> list[dict[str, Any]]:
        events = (await client.list(EVENTS, namespace)).items
        return [e for e in events if e["reason"] == "GangUnschedulable"]

    (event,) = await wait_for(warning, message="GangUnschedulable event")
    assert (event["type"], event["message"], event["involvedObject"]["name"]) == ("Warning", message, "big")
    assert all(not p["spec"].get("nodeName") for p in (await client.list(PODS, namespace)).items)


async def test_pods_outside_gangs_pass_through_and_bind(
    client: Client,
    topo: Topo,
    namespace: str,
    start_extender: Callable[..., Any],
    http: aiohttp.ClientSession,
) -> None:
    await topo.create(client, [(0, 0, 0, 2)])
    service = await start_extender()
    sched = Scheduler(http, service.url)
    plain = await client.create(PODS, api_pod("plain", namespace, None))
    result = await sched.filter(plain, topo.nodes)
    assert (result["NodeNames"], result["FailedNodes"], result["FailedAndUnresolvableNodes"]) == (
        topo.nodes,
        {},
        {},
    )
    scores = await sched.post("prioritize", {"Pod": plain, "Nodes": None, "NodeNames": topo.nodes})
    assert scores == [{"Host": n, "Score": 0} for n in topo.nodes]
    assert await sched.bind(plain, topo.nodes[1]) == {"Error": ""}
    assert (await client.get(PODS, "plain", namespace))["spec"]["nodeName"] == topo.nodes[1]
    # A second binding of a bound pod is refused by the API server and reported as the bind error.
    again = await sched.bind(plain, topo.nodes[0])
    assert "binding" in again["Error"] and again["Error"].startswith(f"binding {namespace}/plain to ")
