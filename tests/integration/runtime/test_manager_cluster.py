"""Managers on the cluster: one leader among two, failover on graceful stop (lease released) and on a
partitioned leader (lease expires), graceful shutdown finishing in-flight work, health and metrics endpoints,
and the event recorder's dedup."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from runtime_it_helpers import FAST, configmap

from grove.runtime.client import Client
from grove.runtime.controller import Request
from grove.runtime.errors import NotFound
from grove.runtime.leaderelection import LeaderElectionConfig
from grove.runtime.manager import LeaderElectionLost, Manager, ManagerOptions
from grove.runtime.resources import CONFIGMAPS, EVENTS, LEASES, Resource

WaitFor = Callable[..., Awaitable[Any]]

# Short, but with client-go's proportions: lease > renew deadline > 1.2 * retry period.
LEASE, RENEW, RETRY = 3.0, 2.0, 0.25


@asynccontextmanager
async def running_manager(
    cluster: Any, namespace: str, lease: str | None, reconciled: list[str], gate: asyncio.Event | None = None
) -> AsyncIterator[tuple[Manager, asyncio.Task[None]]]:
    """A manager with its own client, one ConfigMap controller recording what it reconciles."""
    client = await Client.connect(cluster.kubeconfig)
    election = (
        LeaderElectionConfig(lease, namespace, lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY)
        if lease
        else None
    )
    mgr = Manager(client, ManagerOptions(metrics_port=0, leader_election=election, informer_options=FAST))
    # Only the test's ConfigMaps: the root CA publisher's kube-root-ca.crt would take the (gated) worker.
    informer = mgr.informer(CONFIGMAPS, namespace=namespace, field_selector="metadata.name!=kube-root-ca.crt")

    async def reconcile(req: Request) -> None:
        if gate is not None:
            await gate.wait()
        reconciled.append(req.name)

    mgr.new_controller("cm", reconcile).for_(informer)
    task = asyncio.create_task(mgr.run())
    try:
        yield mgr, task
    finally:
        mgr.request_stop()
        with_result = await asyncio.gather(task, return_exceptions=True)
        await client.close()
        if isinstance(with_result[0], BaseException) and not isinstance(with_result[0], LeaderElectionLost):
            raise with_result[0]


async def holder(client: Client, name: str, namespace: str) -> str:
    try:
        lease = await client.get(LEASES, name, namespace)
    except NotFound:
        return ""
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


async def test_two_managers_one_leader_and_failover_on_graceful_stop(
    cluster: Any, client: Client, namespace: str, wait_for: WaitFor
) -> None:
    lease = f"lease-{uuid.uuid4().hex[:6]}"
    seen_a: list[str] = []
    seen_b: list[str] = []
    async with (
        running_manager(cluster, namespace, lease, seen_a) as (a, _),
        running_manager(cluster, namespace, lease, seen_b) as (b, _),
    ):
        await wait_for(lambda: a.is_leader or b.is_leader, message="a leader")
        leader, standby = (a, b) if a.is_leader else (b, a)
        leader_seen, standby_seen = (seen_a, seen_b) if leader is a else (seen_b, seen_a)
        assert leader.elector is not None and standby.elector is not None
        assert await holder(client, lease, namespace) == leader.elector.config.identity

        await client.create(CONFIGMAPS, configmap("one", namespace))
        await wait_for(lambda: "one" in leader_seen, message="the leader reconciling")
        await wait_for(lambda: standby.informers.has_synced(), message="warm standby caches")
        assert standby_seen == [] and not standby.is_leader
        assert leader.metrics.registry.get_sample_value("leader_election_master_status", {"name": lease}) == 1
        assert (
            standby.metrics.registry.get_sample_value("leader_election_master_status", {"name": lease}) == 0
        )

        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        leader.request_stop()
        await wait_for(lambda: standby.is_leader, timeout=LEASE * 3, message="the standby taking over")
        failover = loop.time() - stopped_at
        # Released on stop: the standby needs about one retry period, well within the lease duration.
        assert failover < LEASE
        assert await holder(client, lease, namespace) == standby.elector.config.identity
        await wait_for(lambda: "one" in standby_seen, message="the new leader reconciling from its cache")
        await client.create(CONFIGMAPS, configmap("two", namespace))
        await wait_for(lambda: "two" in standby_seen)
        assert "two" not in leader_seen


async def test_partitioned_leader_steps_down_before_the_standby_takes_over(
    cluster: Any, client: Client, namespace: str, wait_for: WaitFor
) -> None:
    lease = f"lease-{uuid.uuid4().hex[:6]}"
    async with running_manager(cluster, namespace, lease, []) as (a, task_a):
        await wait_for(lambda: a.is_leader, message="a leading")
        async with running_manager(cluster, namespace, lease, []) as (b, _):
            await wait_for(lambda: b.informers.has_synced(), message="b running")
            # Partition a: its API calls now fail to connect, so it cannot renew (and cannot release).
            a.client.host = "http://127.0.0.1:9"
            both = 0

            def watch_both() -> bool:
                nonlocal both
                if a.is_leader and b.is_leader:
                    both += 1
                return b.is_leader

            await wait_for(
                watch_both, timeout=LEASE * 4, interval=0.01, message="b taking over an expired lease"
            )
            assert both == 0  # never two leaders at once: a stepped down (renew deadline) before expiry
            with pytest.raises(LeaderElectionLost):
                await asyncio.wait_for(asyncio.shield(task_a), LEASE * 2)
            assert await holder(client, lease, namespace) == b.elector.config.identity  # type: ignore[union-attr]


async def test_graceful_shutdown_finishes_in_flight_and_releases_the_lease(
    cluster: Any, client: Client, namespace: str, wait_for: WaitFor
) -> None:
    lease = f"lease-{uuid.uuid4().hex[:6]}"
    gate = asyncio.Event()
    seen: list[str] = []
    async with running_manager(cluster, namespace, lease, seen, gate) as (mgr, task):
        await wait_for(lambda: mgr.is_leader)
        await client.create(CONFIGMAPS, configmap("slow", namespace))
        ctrl = mgr.controllers[0]
        await wait_for(
            lambda: ctrl.queue.is_processing(Request(namespace, "slow")), message="a reconcile in flight"
        )

        base = f"http://127.0.0.1:{mgr.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200 and await r.text() == "ok"
            async with http.get(f"{base}/readyz?verbose") as r:
                assert r.status == 200 and "[+]informers-synced ok" in await r.text()
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
        for name in (
            "controller_runtime_active_workers",
            "controller_runtime_max_concurrent_reconciles",
            "workqueue_depth",
            "rest_client_requests_total",
            "leader_election_master_status",
            "process_resident_memory_bytes",
        ):
            assert name in text, name
        assert 'controller_runtime_active_workers{controller="cm"} 1.0' in text

        mgr.request_stop()
        await asyncio.sleep(0)
        assert not task.done()  # waiting for the in-flight reconcile
        gate.set()
        await asyncio.wait_for(asyncio.shield(task), 10)
        assert seen == ["slow"]
        assert await holder(client, lease, namespace) == ""  # released: holder cleared


async def test_event_recorder_deduplicates_with_a_count(
    cluster: Any, client: Client, namespace: str, wait_for: WaitFor
) -> None:
    mgr = Manager(client, ManagerOptions(metrics_port=None, process_metrics=False))
    recorder = mgr.event_recorder("runtime-test")
    target = await client.create(CONFIGMAPS, configmap("target", namespace))
    await mgr.start()
    try:
        for _ in range(3):
            recorder.normal(target, "Synced", "all good")
        recorder.warning(target, "Failed", "something else")
        await mgr.events.flush()

        async def events() -> list[dict[str, Any]]:
            return (await client.list(EVENTS, namespace)).items

        items = await wait_for(lambda: _two(events), message="two events")
        by_reason = {e["reason"]: e for e in items}
        assert by_reason["Synced"]["count"] == 3
        assert by_reason["Synced"]["type"] == "Normal"
        assert by_reason["Synced"]["involvedObject"]["uid"] == target["metadata"]["uid"]
        assert by_reason["Synced"]["source"]["component"] == "runtime-test"
        assert by_reason["Failed"]["count"] == 1 and by_reason["Failed"]["type"] == "Warning"
        with pytest.raises(ValueError, match="event_type"):
            recorder.event(target, "Loud", "X", "y")
    finally:
        mgr.request_stop()
        await mgr.shutdown()


async def _two(fetch: Callable[[], Awaitable[list[dict[str, Any]]]]) -> list[dict[str, Any]] | None:
    items = await fetch()
    return items if len(items) == 2 else None


async def test_controllers_without_leader_election_run_on_a_standby(
    cluster: Any, client: Client, namespace: str, wait_for: WaitFor
) -> None:
    lease = f"lease-{uuid.uuid4().hex[:6]}"
    await client.create(
        LEASES,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": lease, "namespace": namespace},
            "spec": {"holderIdentity": "someone-else", "leaseDurationSeconds": 3600},
        },
    )
    mgr_client = await Client.connect(cluster.kubeconfig)
    election = LeaderElectionConfig(
        lease, namespace, lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY
    )
    mgr = Manager(
        mgr_client, ManagerOptions(metrics_port=None, leader_election=election, informer_options=FAST)
    )
    # Only the test's ConfigMaps: the root CA publisher's kube-root-ca.crt would take the (gated) worker.
    informer = mgr.informer(CONFIGMAPS, namespace=namespace, field_selector="metadata.name!=kube-root-ca.crt")
    free: list[str] = []
    gated: list[str] = []

    async def reconcile_free(req: Request) -> None:
        free.append(req.name)

    async def reconcile_gated(req: Request) -> None:
        gated.append(req.name)

    mgr.new_controller("free", reconcile_free, need_leader_election=False).for_(informer)
    mgr.new_controller("gated", reconcile_gated).for_(informer)
    task = asyncio.create_task(mgr.run())
    try:
        await client.create(CONFIGMAPS, configmap("x", namespace))
        await wait_for(lambda: "x" in free, message="the controller without leader election reconciling")
        assert not mgr.is_leader and gated == []
    finally:
        mgr.request_stop()
        await task
        await mgr_client.close()


async def test_sigterm_stops_the_manager_gracefully(
    cluster: Any, client: Client, namespace: str, wait_for: WaitFor
) -> None:
    mgr = Manager(client, ManagerOptions(metrics_port=None, handle_signals=True, informer_options=FAST))
    # Only the test's ConfigMaps: the root CA publisher's kube-root-ca.crt would take the (gated) worker.
    informer = mgr.informer(CONFIGMAPS, namespace=namespace, field_selector="metadata.name!=kube-root-ca.crt")
    seen: list[str] = []

    async def reconcile(req: Request) -> None:
        seen.append(req.name)

    mgr.new_controller("cm", reconcile).for_(informer)
    task = asyncio.create_task(mgr.run())
    await wait_for(lambda: mgr.is_leader and mgr.controllers[0].started, message="the manager running")
    await client.create(CONFIGMAPS, configmap("before-sigterm", namespace))
    await wait_for(lambda: "before-sigterm" in seen)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 10)  # returns normally: a requested stop, not a failure
    assert not mgr.is_leader


async def test_stop_while_controllers_wait_for_caches(client: Client, wait_for: WaitFor) -> None:
    missing = Resource("nope.example.io", "v1", "things", "Thing")
    mgr = Manager(client, ManagerOptions(metrics_port=None, informer_options=FAST))

    async def reconcile(req: Request) -> None:
        return None

    ctrl = mgr.new_controller("stuck", reconcile).for_(mgr.informer(missing, namespace="default"))
    task = asyncio.create_task(mgr.run())
    await wait_for(lambda: ctrl.started, message="the controller waiting for its cache")
    assert not mgr.informers.has_synced()
    mgr.request_stop()
    await asyncio.wait_for(task, 10)
    assert ctrl.queue.shutting_down
