"""Controller dispatch: the controller-runtime reconcile-result table, metrics, concurrency, mapping, stop.

Events come from a small in-memory event source (the informer's handler interface), not from a cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import structlog

from grove.runtime.cache import DeletedFinalStateUnknown
from grove.runtime.controller import Controller, Request, Result, TerminalError, requests_for_owner
from grove.runtime.informer import EventHandler
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.predicates import GenerationChanged
from grove.runtime.ratelimit import ItemExponentialFailureRateLimiter
from grove.runtime.resources import Resource

Eventually = Callable[[Callable[[], bool]], Awaitable[None]]

OWNER = Resource("example.io", "v1", "widgets", "Widget")


class EventSource:
    """Delivers hand-made events to registered handlers, like an informer that has synced."""

    def __init__(self) -> None:
        self.handlers: list[EventHandler] = []

    def add_event_handler(self, handler: EventHandler) -> EventHandler:
        self.handlers.append(handler)
        return handler

    def remove_event_handler(self, registration: Any) -> None:
        self.handlers.remove(registration)

    async def wait_for_sync(self) -> None:
        return None

    def add(self, obj: dict[str, Any]) -> None:
        for h in self.handlers:
            h.on_add(obj, False)

    def update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        for h in self.handlers:
            h.on_update(old, new)

    def delete(self, obj: dict[str, Any] | DeletedFinalStateUnknown) -> None:
        for h in self.handlers:
            h.on_delete(obj)


def obj(
    name: str, ns: str = "ns", generation: int = 1, owners: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": ns, "generation": generation, "resourceVersion": "1"}
    if owners:
        md["ownerReferences"] = owners
    return {"metadata": md}


def sample(metrics: RuntimeMetrics, metric: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(metric, labels) or 0.0


async def run_controller(
    reconcile: Callable[[Request], Awaitable[Result | None]], **kwargs: Any
) -> tuple[Controller, EventSource, RuntimeMetrics]:
    metrics = RuntimeMetrics()
    source = EventSource()
    kwargs.setdefault("rate_limiter", ItemExponentialFailureRateLimiter(0.001, 0.05))
    ctrl = Controller("test", reconcile, metrics=metrics, **kwargs)
    ctrl.for_(source)
    await ctrl.start()
    return ctrl, source, metrics


async def test_success_forgets_and_counts(eventually: Eventually) -> None:
    seen: list[Request] = []

    async def reconcile(req: Request) -> None:
        seen.append(req)

    ctrl, source, metrics = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(
        lambda: (
            sample(metrics, "controller_runtime_reconcile_total", controller="test", result="success") == 1
        )
    )
    assert seen == [Request("ns", "a")]
    assert ctrl.queue.num_requeues(Request("ns", "a")) == 0
    assert sample(metrics, "controller_runtime_reconcile_time_seconds_count", controller="test") == 1
    assert sample(metrics, "controller_runtime_max_concurrent_reconciles", controller="test") == 1
    await ctrl.stop()


async def test_error_requeues_rate_limited_until_success(eventually: Eventually) -> None:
    attempts = 0

    async def reconcile(req: Request) -> Result:
        nonlocal attempts
        attempts += 1
        if attempts < 4:
            raise RuntimeError("boom")
        return Result(requeue_after=300)  # ignored by the error path, honoured on success

    ctrl, source, metrics = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(lambda: attempts == 4)
    await eventually(
        lambda: (
            sample(metrics, "controller_runtime_reconcile_total", controller="test", result="requeue_after")
            == 1
        )
    )
    assert sample(metrics, "controller_runtime_reconcile_errors_total", controller="test") == 3
    assert sample(metrics, "controller_runtime_reconcile_total", controller="test", result="error") == 3
    assert sample(metrics, "workqueue_retries_total", name="test", controller="test") == 3
    # requeue_after forgot the failures and parked the key for later.
    assert ctrl.queue.num_requeues(Request("ns", "a")) == 0
    assert ctrl.queue.waiting() == 1
    await ctrl.stop()


async def test_backoff_grows_with_each_failure(eventually: Eventually) -> None:
    failures: list[int] = []

    async def reconcile(req: Request) -> None:
        failures.append(ctrl.queue.num_requeues(req))
        raise RuntimeError("always")

    ctrl, source, _ = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(lambda: len(failures) >= 4)
    assert failures[:4] == [0, 1, 2, 3]
    await ctrl.stop()


async def test_terminal_error_is_not_requeued(eventually: Eventually) -> None:
    calls = 0

    async def reconcile(req: Request) -> None:
        nonlocal calls
        calls += 1
        raise TerminalError("bad spec")

    ctrl, source, metrics = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(
        lambda: sample(metrics, "controller_runtime_terminal_reconcile_errors_total", controller="test") == 1
    )
    assert sample(metrics, "controller_runtime_reconcile_errors_total", controller="test") == 1
    assert sample(metrics, "controller_runtime_reconcile_total", controller="test", result="error") == 1
    assert len(ctrl.queue) == 0 and ctrl.queue.waiting() == 0
    assert calls == 1
    await ctrl.stop()


async def test_requeue_true_is_rate_limited(eventually: Eventually) -> None:
    calls = 0

    async def reconcile(req: Request) -> Result:
        nonlocal calls
        calls += 1
        return Result(requeue=calls < 3)

    ctrl, source, metrics = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(lambda: calls == 3)
    await eventually(
        lambda: (
            sample(metrics, "controller_runtime_reconcile_total", controller="test", result="success") == 1
        )
    )
    assert sample(metrics, "controller_runtime_reconcile_total", controller="test", result="requeue") == 2
    await ctrl.stop()


async def test_requeue_after_comes_back(eventually: Eventually) -> None:
    calls = 0

    async def reconcile(req: Request) -> Result | None:
        nonlocal calls
        calls += 1
        return Result(requeue_after=0.02) if calls == 1 else None

    ctrl, source, _ = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(lambda: calls == 2)
    await ctrl.stop()


async def test_reconcile_timeout_counts_and_requeues(eventually: Eventually) -> None:
    calls = 0

    async def reconcile(req: Request) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()

    ctrl, source, metrics = await run_controller(reconcile, reconcile_timeout=0.05)
    source.add(obj("a"))
    await eventually(lambda: calls == 2)
    assert sample(metrics, "controller_runtime_reconcile_timeouts_total", controller="test") == 1
    await ctrl.stop()


async def test_one_key_never_reconciled_concurrently_but_keys_run_in_parallel(eventually: Eventually) -> None:
    in_flight: set[Request] = set()
    max_parallel = 0
    violations = 0
    done = 0

    async def reconcile(req: Request) -> None:
        nonlocal max_parallel, violations, done
        if req in in_flight:
            violations += 1
        in_flight.add(req)
        max_parallel = max(max_parallel, len(in_flight))
        await asyncio.sleep(0.001)
        in_flight.discard(req)
        done += 1

    ctrl, source, metrics = await run_controller(reconcile, max_concurrent_reconciles=4)
    for round_ in range(30):
        for i in range(8):
            source.update(obj(f"o{i}", generation=round_), obj(f"o{i}", generation=round_ + 1))
        await asyncio.sleep(0)
    await eventually(lambda: len(ctrl.queue) == 0 and not in_flight)
    assert violations == 0
    assert max_parallel == 4
    assert sample(metrics, "controller_runtime_active_workers", controller="test") == 0
    await ctrl.stop()


async def test_worker_survives_any_exception(eventually: Eventually) -> None:
    calls: list[str] = []

    async def reconcile(req: Request) -> None:
        calls.append(req.name)
        if req.name == "bad":
            raise KeyError("spec")

    ctrl, source, _ = await run_controller(reconcile, rate_limiter=ItemExponentialFailureRateLimiter(10, 10))
    source.add(obj("bad"))
    source.add(obj("good"))
    await eventually(lambda: "good" in calls)
    await ctrl.stop()


async def test_predicates_filter_events(eventually: Eventually) -> None:
    seen: list[str] = []

    async def reconcile(req: Request) -> None:
        seen.append(req.name)

    metrics = RuntimeMetrics()
    source = EventSource()
    ctrl = Controller("pred", reconcile, metrics=metrics).for_(source, GenerationChanged())
    await ctrl.start()
    source.update(obj("status-only", generation=1), obj("status-only", generation=1))
    source.update(obj("spec", generation=1), obj("spec", generation=2))
    await eventually(lambda: seen == ["spec"])
    await ctrl.stop()


def test_owner_mapping_matches_group_and_kind_of_the_controller_ref() -> None:
    def ref(
        kind: str, name: str, api_version: str = "example.io/v1", controller: bool = True
    ) -> dict[str, Any]:
        return {"apiVersion": api_version, "kind": kind, "name": name, "uid": name, "controller": controller}

    mapper = requests_for_owner(OWNER)
    assert list(mapper(obj("p", owners=[ref("Widget", "w1")]))) == [Request("ns", "w1")]
    # Version does not matter, group and kind do.
    assert list(mapper(obj("p", owners=[ref("Widget", "w1", "example.io/v2")]))) == [Request("ns", "w1")]
    assert list(mapper(obj("p", owners=[ref("Widget", "w1", "other.io/v1")]))) == []
    assert list(mapper(obj("p", owners=[ref("Gadget", "g")]))) == []
    assert list(mapper(obj("p", owners=[ref("Widget", "w1", controller=False)]))) == []
    every = requests_for_owner(OWNER, only_controller=False)
    assert list(every(obj("p", owners=[ref("Widget", "w1", controller=False)]))) == [Request("ns", "w1")]
    cluster_owner = Resource("example.io", "v1", "clusterwidgets", "ClusterWidget", namespaced=False)
    assert list(requests_for_owner(cluster_owner)(obj("p", owners=[ref("ClusterWidget", "c")]))) == [
        Request("", "c")
    ]


async def test_owned_and_mapped_sources_including_tombstones(eventually: Eventually) -> None:
    seen: list[Request] = []

    async def reconcile(req: Request) -> None:
        seen.append(req)

    primary, owned, other = EventSource(), EventSource(), EventSource()
    ctrl = (
        Controller("multi", reconcile)
        .for_(primary)
        .owns(owned, OWNER)
        .watches(other, lambda o: [Request("ns", "from-" + o["metadata"]["name"])])
    )
    await ctrl.start()
    owner_ref = {
        "apiVersion": "example.io/v1",
        "kind": "Widget",
        "name": "w1",
        "uid": "u",
        "controller": True,
    }
    owned.delete(DeletedFinalStateUnknown("ns/pod", obj("pod", owners=[owner_ref])))
    await eventually(lambda: Request("ns", "w1") in seen)
    other.update(obj("x"), obj("y"))
    await eventually(lambda: {Request("ns", "from-x"), Request("ns", "from-y")} <= set(seen))
    await ctrl.stop()


async def test_stop_finishes_in_flight_and_leaves_queued_work(eventually: Eventually) -> None:
    release = asyncio.Event()
    started: list[str] = []
    finished: list[str] = []

    async def reconcile(req: Request) -> None:
        started.append(req.name)
        await release.wait()
        finished.append(req.name)

    ctrl, source, _ = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(lambda: started == ["a"])
    source.add(obj("b"))
    stopping = asyncio.create_task(ctrl.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert finished == ["a"]
    assert started == ["a"]
    source.add(obj("c"))  # handlers are unregistered: nothing happens
    assert source.handlers == []


async def test_stop_cancels_reconciles_past_the_grace_period(eventually: Eventually) -> None:
    cancelled = asyncio.Event()

    async def reconcile(req: Request) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    ctrl, source, _ = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(lambda: ctrl.queue.is_processing(Request("ns", "a")))
    await ctrl.stop(grace_period=0.01)
    assert cancelled.is_set()


async def test_log_context_carries_controller_and_key(eventually: Eventually) -> None:
    seen: dict[str, Any] = {}

    async def reconcile(req: Request) -> None:
        seen.update(structlog.contextvars.get_contextvars())

    ctrl, source, _ = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(lambda: bool(seen))
    assert seen["controller"] == "test"
    assert seen["namespace"] == "ns"
    assert seen["name"] == "a"
    assert seen["reconcile_id"]
    await ctrl.stop()


def test_bad_controller_arguments() -> None:
    async def reconcile(req: Request) -> None:
        return None

    with pytest.raises(ValueError, match="max_concurrent_reconciles"):
        Controller("c", reconcile, max_concurrent_reconciles=0)
    with pytest.raises(ValueError, match="name"):
        Controller("", reconcile)


async def test_start_without_watches_fails() -> None:
    async def reconcile(req: Request) -> None:
        return None

    with pytest.raises(RuntimeError, match="no watches"):
        await Controller("c", reconcile).start()


async def test_stray_cancelled_error_is_an_error_not_a_dead_worker(eventually: Eventually) -> None:
    calls = 0

    async def reconcile(req: Request) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncio.CancelledError()  # leaked from some inner task, not a cancellation of the worker

    ctrl, source, metrics = await run_controller(reconcile)
    source.add(obj("a"))
    await eventually(lambda: calls == 2)
    assert sample(metrics, "controller_runtime_reconcile_errors_total", controller="test") == 1
    await ctrl.stop()
