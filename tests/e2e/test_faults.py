"""API faults while the five tutorial samples converge, scale out, scale in and are deleted: every phase still
ends in exactly the expected state, and no object is created twice or deleted by mistake (see ``scenario``).

* watch loss: every open watch is dropped after every 40th write in the namespace (four times per phase),
  and every other drop forces the re-watch to 410 Gone, so informers resume and relist in the middle of
  convergence (more often, and informers rightly back off as client-go does from watches that close
  before delivering anything, which only makes the test slow);
* conflicts: a fifth of the updates of Grove objects in the namespace are refused with 409 Conflict, and a
  concurrent writer keeps annotating every PodClique, scaling group and PodGang (bumping their
  resourceVersions under the operator's feet, so its resourceVersion-guarded PodGang status writes
  conflict for real); its annotations must survive;
* 5% of all API requests fail with 500.

Faults are driven by the write stream (a dev cluster subscriber or admission hook), not by timers, and are
turned off at the end of each test. The test's own writes retry through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from grove.controllers.resources import PODCLIQUES, PODCLIQUESCALINGGROUPS, PODGANGS
from grove.devcluster.errors import conflict
from grove.runtime.client import Client
from grove.runtime.errors import NotFound

from .scenario import PHASES, Ledger, retrying, wait_exact

pytestmark = pytest.mark.devonly

BUMP = "e2e.grove.io/bump"


async def run_phases(
    client: Client,
    namespace: str,
    timeout: float,  # noqa: ASYNC109 - a polling deadline
    each_phase: Callable[[], None] = lambda: None,
) -> None:
    """Every phase: ``each_phase()``, act, then wait for its exact state."""
    for phase in PHASES:
        each_phase()
        await phase.act(client, namespace)
        await wait_exact(client, namespace, phase, timeout)


class WatchBreaker:
    """Drops every watch after every ``every``-th write in the namespace, ``per_phase`` times per phase;
    every other drop also makes the re-watch fail with 410 Gone."""

    def __init__(self, dev: Any, ledger: Ledger, every: int = 40, per_phase: int = 4) -> None:
        self.dev = dev
        self.ledger = ledger
        self.every = every
        self.per_phase = per_phase
        self.budget = 0
        self.writes = self.drops = self.expiries = 0
        self.lock = threading.Lock()

    def phase(self) -> None:
        """A new phase: drop watches up to ``per_phase`` times more."""
        with self.lock:
            self.budget = self.per_phase

    def on_event(self, rtype: Any, ev: Any) -> None:
        """The store subscriber (on the cluster's loop)."""
        self.ledger.on_event(rtype, ev)
        if ev.namespace != self.ledger.namespace:
            return
        with self.lock:
            self.writes += 1
            if self.budget == 0 or self.writes % self.every:
                return
            self.budget -= 1
            self.drops += 1
            expire = self.drops % 2 == 0
            self.expiries += expire
        faults = self.dev.cluster.faults
        if expire:
            faults.expire_next_watch()
        faults.drop_watches()


FAULTS = {
    "test_watch_loss_and_forced_410s": "dropping every open watch and answering the re-watch 410 Gone",
    "test_conflicts_and_a_concurrent_writer": "an admission hook refusing a fifth of the updates with 409",
    "test_five_percent_of_requests_fail_with_500": "failing 5% of all API requests with 500",
}


@pytest.fixture
def dev(cluster: Any, request: pytest.FixtureRequest) -> Any:
    """The dev cluster, whose fault hooks these tests drive; on a real cluster each test skips saying
    which fault it needs (a real API server has no way to inject it)."""
    if cluster.dev is None:
        fault = FAULTS[request.node.originalname]
        pytest.skip(f"needs the embedded dev cluster's fault injection ({fault}); this is a real cluster")
    return cluster.dev


@pytest.fixture
def ledger(namespace: str, dev: Any) -> Iterator[Ledger]:
    """A ledger of the namespace's creations and deletions, subscribed for the test."""
    ledger = Ledger(namespace, dev.cluster.store)
    unsubscribe = dev.call(dev.cluster.store.subscribe, ledger.on_event)
    yield ledger
    dev.call(unsubscribe)


async def test_watch_loss_and_forced_410s(
    operator: Any,
    namespace: str,
    client: Any,
    dev: Any,
    timeout: float,  # noqa: ASYNC109
) -> None:
    breaker = WatchBreaker(dev, Ledger(namespace, dev.cluster.store))
    unsubscribe = dev.call(dev.cluster.store.subscribe, breaker.on_event)
    try:
        await run_phases(client, namespace, timeout, breaker.phase)
        # Still subscribed: an object created for a deleted owner after the last phase's state was exact
        # (a lagging cache) is removed by the garbage collector, and only a subscribed ledger sees that.
        await breaker.ledger.settle(timeout)
    finally:
        dev.call(unsubscribe)
    assert breaker.drops >= 8 and breaker.expiries >= 4, (breaker.drops, breaker.expiries)
    problems = breaker.ledger.problems(PHASES, namespace)
    assert problems == [], "\n".join(problems)


class ConflictInjector:
    """An admission hook refusing a fraction of the updates of Grove objects in one namespace with 409."""

    GROUPS = ("grove.io", "scheduler.grove.io")

    def __init__(self, namespace: str, fraction: float, seed: int) -> None:
        self.namespace = namespace
        self.fraction = fraction
        self.rng = random.Random(seed)
        self.enabled = True
        self.injected = 0
        self.lock = threading.Lock()

    def __call__(self, op: str, rtype: Any, new: Any, old: Any) -> None:
        if not self.enabled or op != "UPDATE" or rtype.group not in self.GROUPS:
            return
        md = new.get("metadata") or {}
        if md.get("namespace") != self.namespace:
            return
        with self.lock:
            if self.rng.random() >= self.fraction:
                return
            self.injected += 1
        raise conflict(
            rtype.plural, rtype.group, md.get("name", ""), "the object has been modified (injected)"
        )


async def _bump_until(
    stop: asyncio.Event, client: Client, namespace: str, last: dict[tuple[str, str], str]
) -> None:
    """Annotate every PodClique, scaling group and PodGang of the namespace, round after round, until
    ``stop``; ``last`` records the value each object was last given."""
    n = 0
    while not stop.is_set():
        n += 1
        for resource in (PODCLIQUES, PODCLIQUESCALINGGROUPS, PODGANGS):
            for obj in (await client.list(resource, namespace)).items:
                if stop.is_set():
                    return
                name = obj["metadata"]["name"]
                with contextlib.suppress(NotFound):
                    await retrying(
                        lambda r=resource, o=name, v=str(n): client.patch(
                            r, o, {"metadata": {"annotations": {BUMP: v}}}, namespace
                        )
                    )
                    last[(resource.kind, name)] = str(n)
        await asyncio.sleep(0.05)  # pacing of the load, not synchronisation


async def test_conflicts_and_a_concurrent_writer(
    operator: Any,
    namespace: str,
    client: Any,
    dev: Any,
    ledger: Ledger,
    timeout: float,  # noqa: ASYNC109
) -> None:
    injector = ConflictInjector(namespace, fraction=0.2, seed=11)
    dev.call(dev.cluster.store.add_admission, injector)
    last: dict[tuple[str, str], str] = {}
    stop = asyncio.Event()
    bumper = asyncio.create_task(_bump_until(stop, client, namespace, last))
    try:
        await run_phases(client, namespace, timeout)
    finally:
        stop.set()
        await bumper
        injector.enabled = False
    assert injector.injected >= 20, injector.injected
    await ledger.settle(timeout)
    problems = ledger.problems(PHASES, namespace)
    assert problems == [], "\n".join(problems)
    print(
        "created for a deleted owner (removed by the garbage collector):",
        dict(ledger.created_for_deleted_owner),
    )
    lost = []
    for resource in (PODCLIQUES, PODCLIQUESCALINGGROUPS, PODGANGS):
        for obj in (await client.list(resource, namespace)).items:
            key = (resource.kind, obj["metadata"]["name"])
            have = (obj["metadata"].get("annotations") or {}).get(BUMP)
            if key in last and have != last[key]:
                lost.append(f"{key[0]} {key[1]}: {BUMP}={have!r}, last written {last[key]!r}")
    assert lost == [], "the operator overwrote another writer's annotations"


async def test_five_percent_of_requests_fail_with_500(
    operator: Any,
    namespace: str,
    client: Any,
    dev: Any,
    ledger: Ledger,
    timeout: float,  # noqa: ASYNC109
) -> None:
    dev.fail_requests(0.05, 500)
    try:
        await run_phases(client, namespace, timeout)
    finally:
        dev.reset_faults()
    await ledger.settle(timeout)
    problems = ledger.problems(PHASES, namespace)
    assert problems == [], "\n".join(problems)
    print(
        "created for a deleted owner (removed by the garbage collector):",
        dict(ledger.created_for_deleted_owner),
    )
