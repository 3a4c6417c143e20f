"""Several extender replicas: only the lease holder plans, a standby says so and takes over when the leader
goes; a restarted extender rebuilds its ledger from the cluster."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from scheduler_it_helpers import Scheduler, Topo, api_pod, create_gang

from grove.runtime.client import Client
from grove.runtime.leaderelection import LeaderElectionConfig
from grove.scheduler.kinds import PODS
from grove.scheduler.synthetic import GroupSpec

Wait = Callable[..., Awaitable[Any]]


def _election(lease: str, namespace: str, identity: str) -> LeaderElectionConfig:
    # A fast retry so the standby takes over quickly once the leader releases the lease on stop; the lease
    # itself is long, so a loaded machine never makes the leader lose it.
    return LeaderElectionConfig(lease, namespace, identity=identity, retry_period=0.1)


async def _status(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url) as resp:
        return resp.status


async def test_only_the_leader_plans_and_a_standby_takes_over(
    client: Client,
    topo: Topo,
    namespace: str,
    start_extender: Callable[..., Any],
    http: aiohttp.ClientSession,
    wait_for: Wait,
) -> None:
    await topo.create(client, [(0, 0, 0, 2)])
    leader = await start_extender(leader_election=_election("ext", namespace, "ext-a"))
    await wait_for(leader.is_active, message="ext-a leading")
    standby = await start_extender(leader_election=_election("ext", namespace, "ext-b"))
    assert not standby.is_active()

    pods = await create_gang(client, namespace, "g", [GroupSpec("w", ["w-0", "w-1"])], topo=topo)
    plain = await client.create(PODS, api_pod("plain", namespace, None))
    on_standby = Scheduler(http, standby.url)
    result = await on_standby.filter(pods[0], topo.nodes)
    # An error, not node failures: kube-scheduler retries the pod after its backoff.
    reason = "grove scheduler extender ext-b is on standby (leader: ext-a); the pod will be retried"
    assert result["Error"] == reason
    assert (await on_standby.filter(plain, topo.nodes))["NodeNames"] == topo.nodes
    assert (
        standby.ledger.gangs.get(f"{namespace}/g") is None
        or not standby.ledger.gangs[f"{namespace}/g"].planned
    )

    base = standby.url.rsplit("/", 1)[0]
    assert await _status(http, f"{base}/readyz") == 503
    assert await _status(http, leader.url.rsplit("/", 1)[0] + "/readyz") == 200
    # The metrics port's readiness does not depend on leadership (rollouts wait for it).
    assert await _status(http, f"http://127.0.0.1:{standby.manager.port}/readyz") == 200

    await leader.stop()
    await wait_for(standby.is_active, timeout=20, message="ext-b taking over")
    assert await _status(http, f"{base}/readyz") == 200

    placed = await wait_for(lambda: on_standby.place(pods[0], topo.nodes), message="the new leader planning")
    assert placed in topo.nodes


async def test_a_restarted_extender_rebuilds_from_the_cluster(
    client: Client,
    topo: Topo,
    namespace: str,
    start_extender: Callable[..., Any],
    http: aiohttp.ClientSession,
    wait_for: Wait,
) -> None:
    # Two racks of 2 hosts: r0 with 4 cpu per host, r1 with 3. A 4-pod gang (1 cpu each, one rack) goes
    # to the tighter r1.
    await topo.create(client, [(0, 0, 0, 2)], cpu="4")
    await topo.create_nodes(client, [(0, 0, 1, 2)], cpu="3")
    first = await start_extender()
    names = [f"w-{i}" for i in range(4)]
    pods = await create_gang(
        client, namespace, "g", [GroupSpec("w", names)], topo=topo, required=topo.key("rack")
    )
    sched = Scheduler(http, first.url)

    half = [await wait_for(lambda p=p: sched.place(p, topo.nodes), message="first half") for p in pods[:2]]
    rack = topo.rack_of(half[0])
    assert rack == f"{topo.prefix}-z0-b0-r1" and topo.rack_of(half[1]) == rack
    await first.stop()

    # While no extender runs, a new rack appears that a fresh plan of the whole gang would prefer
    # (exactly 4 cpu): the restarted extender must keep the gang where its bound pods are.
    await topo.create_nodes(client, [(0, 0, 2, 1)], cpu="4")
    second = await start_extender()
    gang = second.ledger.gangs[f"{namespace}/g"]
    assert not gang.planned
    assert all(second.ledger.pods[f"{namespace}/{p['metadata']['name']}"].consumes for p in pods[:2])
    node = second.ledger.state.nodes[half[0]]
    assert node.free["cpu"] == node.allocatable["cpu"] - 1000 * half.count(half[0])

    sched = Scheduler(http, second.url)
    rest = [await wait_for(lambda p=p: sched.place(p, topo.nodes), message="second half") for p in pods[2:]]
    assert {topo.rack_of(n) for n in rest} == {rack}
    stored = {
        p["metadata"]["name"]: p["spec"]["nodeName"] for p in (await client.list(PODS, namespace)).items
    }
    assert stored == dict(zip(names, half + rest, strict=True))
