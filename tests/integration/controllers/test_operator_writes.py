"""The PodClique controller writes nothing twice while its cache lags behind its own writes.

The controllers are driven by hand (reconcile functions called directly, no workers) against the dev cluster,
and one informer is stopped so that its cache is frozen where a lagging cache would be: before the watch
event of the controller's own write. Writes are counted by the controller's own client
(``rest_client_requests``), so even a write the API server would find to change nothing is counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from grove.api import labels
from grove.controllers.operator import OperatorOptions, build_context
from grove.controllers.podclique import UNGATE_RECHECK, PodCliqueController, gang_initialized
from grove.controllers.podcliqueset import PodCliqueSetController
from grove.controllers.pods import has_grove_gate
from grove.controllers.resources import PODCLIQUESETS, PODS
from grove.controllers.unobserved import UnobservedWrites
from grove.runtime.client import Client
from grove.runtime.controller import Request
from grove.runtime.manager import Manager, ManagerOptions
from grove.runtime.meta import Obj
from grove_expect import load_sample

pytestmark = pytest.mark.devonly

SAMPLE = "single-node-aggregated.yaml"
"""One PodCliqueSet replica with one standalone clique of 2 pods."""


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Driven:
    """A PodCliqueSet and its PodClique, with the two controllers driven by hand."""

    manager: Manager
    pcs: PodCliqueSetController
    pclq: PodCliqueController
    pcs_request: Request
    pclq_request: Request
    clock: FakeClock

    def patches(self) -> int:
        """PATCH requests the controllers' client sent so far."""
        total = 0.0
        for family in self.manager.metrics.registry.collect():
            if family.name == "rest_client_requests":
                total += sum(
                    s.value
                    for s in family.samples
                    if s.name == "rest_client_requests_total" and s.labels.get("method") == "PATCH"
                )
        return int(total)

    def pods(self) -> list[Obj]:
        """The PodClique's pods in the cache."""
        store = self.pclq.ctx.caches.pods.store
        return [p for p in store.list() if labels.PODCLIQUE in (p["metadata"].get("labels") or {})]


async def until(what: str, check: Callable[[], Any], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Polls ``check`` until it is truthy (the caches follow the API server asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest_asyncio.fixture
async def driven(cluster: Any, namespace: str, grove_crds_installed: Any) -> AsyncIterator[Driven]:
    """The sample's PodClique with both pods created and cached, and the gang not created yet."""
    client = await Client.connect(cluster.kubeconfig)
    manager = Manager(client, ManagerOptions(metrics_port=None, process_metrics=False))
    options = OperatorOptions(namespace=namespace, metrics_port=None, leader_election=False)
    ctx = build_context(manager, client, options)
    pcs = PodCliqueSetController(ctx)
    pclq = PodCliqueController(ctx)
    clock = FakeClock()
    pclq.ungated = UnobservedWrites(UNGATE_RECHECK, clock=clock)
    # Registering wires the controllers' own event handlers (expectations); their workers never run.
    pcs.register(manager, 1)
    pclq.register(manager, 1)
    manifest = load_sample(SAMPLE, namespace)
    name = manifest["metadata"]["name"]
    await client.create(PODCLIQUESETS, manifest)
    manager.informers.start()
    try:
        await until("caches synced", manager.informers.has_synced)
        caches = ctx.caches
        await until("PodCliqueSet cached", lambda: caches.pcs.store.get_by_name(namespace, name))
        d = Driven(
            manager,
            pcs,
            pclq,
            Request(namespace, name),
            Request(namespace, f"{name}-0-model-worker"),
            clock,
        )
        await pcs.reconcile(d.pcs_request)
        await until("PodClique cached", lambda: caches.pclq.store.get_by_name(namespace, d.pclq_request.name))
        await pclq.reconcile(d.pclq_request)
        await until("2 pods cached", lambda: len(d.pods()) == 2)
        yield d
    finally:
        await manager.informers.stop()
        await client.close()


async def initialize_gang(d: Driven) -> None:
    """The PodCliqueSet controller creates the PodGang and marks it Initialized (each once cached)."""
    store = d.pcs.ctx.caches.podgangs.store
    ns, gang = d.pcs_request.namespace, d.pcs_request.name + "-0"
    await d.pcs.reconcile(d.pcs_request)
    await until("PodGang cached", lambda: store.get_by_name(ns, gang))
    await d.pcs.reconcile(d.pcs_request)
    await until("PodGang Initialized", lambda: gang_initialized(store.get_by_name(ns, gang)))


async def test_each_gate_is_removed_once_until_the_memory_expires(driven: Driven, client: Client) -> None:
    d = driven
    await initialize_gang(d)
    # Freeze the pod cache: it keeps showing both gates after they are removed.
    await d.pclq.ctx.caches.pods.stop()
    assert all(has_grove_gate(p) for p in d.pods())

    before = d.patches()
    await d.pclq.reconcile(d.pclq_request)
    assert d.patches() - before == 2, "one gate-removal patch per pod"
    listed = await client.list(PODS, d.pclq_request.namespace)
    assert not any(has_grove_gate(p) for p in listed.items)

    before = d.patches()
    result = await d.pclq.reconcile(d.pclq_request)
    assert d.patches() == before, "no second patch (nor a status from the stale pods) while the cache lags"
    assert result is not None and result.requeue_after == UNGATE_RECHECK, "a recheck is scheduled"

    # Should the cache never show the removal, it is written again once the memory expires.
    d.clock.now += UNGATE_RECHECK
    before = d.patches()
    await d.pclq.reconcile(d.pclq_request)
    assert d.patches() - before == 2


async def test_a_status_is_not_written_again_from_a_stale_cache(driven: Driven) -> None:
    d = driven
    pclqs = d.pclq.ctx.caches.pclq
    # Freeze the PodClique cache: it keeps showing the PodClique without the status written below.
    await pclqs.stop()
    cached = pclqs.store.get_by_name(*d.pclq_request)
    assert not (cached.get("status") or {}).get("replicas")

    before = d.patches()
    await d.pclq.reconcile(d.pclq_request)
    assert d.patches() - before == 1, "the status (2 gated pods) is written"

    before = d.patches()
    await d.pclq.reconcile(d.pclq_request)
    await d.pclq.reconcile(d.pclq_request)
    assert d.patches() == before, "the same status is not written again"

    # A real change is still written: the pods lose their gates (the pod cache follows).
    await initialize_gang(d)
    await d.pclq.reconcile(d.pclq_request)
    await until("pods ungated in the cache", lambda: not any(has_grove_gate(p) for p in d.pods()))
    before = d.patches()
    await d.pclq.reconcile(d.pclq_request)
    assert d.patches() - before == 1, "the status with the gates gone is written"
