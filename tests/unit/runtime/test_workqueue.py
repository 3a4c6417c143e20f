"""Workqueue semantics (client-go util/workqueue): fair, stingy, dirty-while-processing, delays."""

from __future__ import annotations

import asyncio
import random

import pytest

from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.ratelimit import ItemExponentialFailureRateLimiter
from grove.runtime.workqueue import DelayingQueue, RateLimitingQueue, ShutDown, WorkQueue


async def _get_now(q: WorkQueue[str]) -> str:
    return await asyncio.wait_for(q.get(), timeout=5)


async def test_fifo_order_and_duplicates_collapse() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    for item in ["a", "b", "a", "c", "b"]:
        q.add(item)
    assert len(q) == 3
    assert [await _get_now(q) for _ in range(3)] == ["a", "b", "c"]


async def test_item_added_while_processing_is_processed_again_after_done() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    item = await _get_now(q)
    q.add("a")
    q.add("a")
    # Not handed out a second time while the first worker still holds it.
    assert len(q) == 0
    assert q.is_processing("a")
    q.done(item)
    assert len(q) == 1
    assert await _get_now(q) == "a"
    q.done("a")
    assert len(q) == 0


async def test_get_waits_for_add() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 5) == "x"


async def test_cancelled_getter_does_not_lose_a_wakeup() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("x")  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs: `second` must get the item.
    assert await asyncio.wait_for(second, 5) == "x"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_shutdown_hands_out_remaining_items_then_raises() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    q.add("b")
    q.shut_down()
    q.add("c")  # ignored
    assert await _get_now(q) == "a"
    assert await _get_now(q) == "b"
    with pytest.raises(ShutDown):
        await _get_now(q)


async def test_shutdown_wakes_blocked_getters() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.shut_down()
    for g in getters:
        with pytest.raises(ShutDown):
            await asyncio.wait_for(g, 5)


async def test_shutdown_with_drain_waits_for_in_flight_items() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    item = await _get_now(q)
    drain = asyncio.create_task(q.shut_down_with_drain())
    await asyncio.sleep(0)
    assert not drain.done()
    q.done(item)
    await asyncio.wait_for(drain, 5)


async def test_no_key_is_processed_by_two_workers_at_once() -> None:
    q: WorkQueue[int] = WorkQueue("t")
    in_flight: set[int] = set()
    processed: list[int] = []
    violations: list[int] = []
    rng = random.Random(7)

    async def worker() -> None:
        while True:
            try:
                item = await q.get()
            except ShutDown:
                return
            if item in in_flight:
                violations.append(item)
            in_flight.add(item)
            for _ in range(rng.randint(0, 3)):
                await asyncio.sleep(0)
            in_flight.discard(item)
            processed.append(item)
            q.done(item)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    for _ in range(2000):
        q.add(rng.randint(0, 20))
        if rng.random() < 0.3:
            await asyncio.sleep(0)
    await q.shut_down_with_drain()
    await asyncio.wait_for(asyncio.gather(*workers), 10)
    assert violations == []
    assert set(processed) <= set(range(21))


async def test_add_after_makes_item_available_after_delay() -> None:
    q: DelayingQueue[str] = DelayingQueue("t")
    q.add_after("a", 0.05)
    assert len(q) == 0
    assert q.waiting() == 1
    assert await _get_now(q) == "a"
    assert q.waiting() == 0


async def test_add_after_keeps_the_earlier_ready_time() -> None:
    q: DelayingQueue[str] = DelayingQueue("t")
    q.add_after("late-then-early", 3600)
    q.add_after("late-then-early", 0.01)
    q.add_after("early-then-late", 0.01)
    q.add_after("early-then-late", 3600)
    got = {await _get_now(q), await _get_now(q)}
    assert got == {"late-then-early", "early-then-late"}
    assert q.waiting() == 0


async def test_add_after_non_positive_delay_adds_now() -> None:
    q: DelayingQueue[str] = DelayingQueue("t")
    q.add_after("a", 0)
    assert len(q) == 1


async def test_add_after_is_ignored_after_shutdown() -> None:
    q: DelayingQueue[str] = DelayingQueue("t")
    q.add_after("a", 0.01)
    q.shut_down()
    q.add_after("b", 0.01)
    assert q.waiting() == 0
    with pytest.raises(ShutDown):
        await _get_now(q)


async def test_rate_limited_backoff_grows_and_forget_resets() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue(
        "t", rate_limiter=ItemExponentialFailureRateLimiter(0.001, 1)
    )
    for expected in range(1, 4):
        q.add_rate_limited("a")
        assert q.num_requeues("a") == expected
        assert await _get_now(q) == "a"
        q.done("a")
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_metrics_follow_the_queue() -> None:
    metrics = RuntimeMetrics()
    q: RateLimitingQueue[str] = RateLimitingQueue("myq", metrics=metrics, controller="ctl")

    def sample(name: str) -> float:
        value = metrics.registry.get_sample_value(name, {"name": "myq", "controller": "ctl"})
        assert value is not None, name
        return value

    q.add("a")
    q.add("a")
    q.add("b")
    assert sample("workqueue_adds_total") == 2
    assert sample("workqueue_depth") == 2
    item = await _get_now(q)
    assert sample("workqueue_depth") == 1
    assert sample("workqueue_queue_duration_seconds_count") == 1
    assert sample("workqueue_unfinished_work_seconds") >= 0
    assert sample("workqueue_longest_running_processor_seconds") >= 0
    q.done(item)
    assert sample("workqueue_work_duration_seconds_count") == 1
    assert sample("workqueue_longest_running_processor_seconds") == 0
    q.add_rate_limited("c")
    assert sample("workqueue_retries_total") == 1
