"""The HTTP fake kubelets' write path: status patches as the kubelet sends them, and the write queue's
order per object, priority, bounded concurrency and retries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from grove.envtest.kubelet import apply_status_patch, status_diff
from grove.envtest.writes import WriteQueue
from grove.runtime.client import RetryPolicy
from grove.runtime.errors import Invalid, ServerError


def _cond(type_: str, status: str, **extra: str) -> dict[str, str]:
    return {"type": type_, "status": status, "lastTransitionTime": "2026-01-01T00:00:00Z", **extra}


def test_status_diff_sends_only_what_changed() -> None:
    current = {
        "phase": "Running",
        "hostIP": "172.18.0.2",
        "conditions": [
            _cond("Ready", "False", reason="ReadinessGatesNotReady"),
            _cond("example.com/g", "True"),
        ],
    }
    wanted = {
        "phase": "Running",
        "hostIP": "172.18.0.2",
        "conditions": [_cond("Ready", "True"), _cond("PodScheduled", "True")],
    }
    patch = status_diff(current, wanted)
    # Others' conditions are not sent (a strategic merge patch keeps them); a condition that drops its
    # reason and message says so with nulls.
    assert patch == {
        "conditions": [
            {**_cond("Ready", "True"), "reason": None, "message": None},
            {**_cond("PodScheduled", "True"), "reason": None, "message": None},
        ]
    }
    assert status_diff(apply_status_patch(current, patch), wanted) is None


def test_a_condition_differing_only_in_what_a_server_adds_is_unchanged() -> None:
    stored = {"conditions": [{**_cond("Ready", "True"), "lastProbeTime": None}]}
    assert status_diff(stored, {"conditions": [{**_cond("Ready", "True"), "observedGeneration": 1}]}) is None


def test_applying_a_patch_merges_conditions_by_type_and_drops_nulls() -> None:
    status = {"phase": "Pending", "conditions": [_cond("Ready", "False", reason="ContainersNotReady")]}
    out = apply_status_patch(
        status, {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "reason": None}]}
    )
    assert out == {"phase": "Running", "conditions": [{**_cond("Ready", "True")}]}
    assert status["phase"] == "Pending"


async def test_writes_run_in_order_per_key_and_in_parallel_across_keys() -> None:
    queue = WriteQueue(concurrency=4)
    queue.start()
    log: list[str] = []
    release, four_running, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()
    in_flight = 0
    peak = 0

    def write(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            if in_flight == 4:
                four_running.set()
            await release.wait()
            log.append(name)
            in_flight -= 1
            if len(log) == 18:
                finished.set()

        return run

    try:
        for key in ("a", "b", "c", "d", "e", "f"):
            for step in range(3):
                queue.submit(key, write(f"{key}{step}"))
        async with asyncio.timeout(5):
            await four_running.wait()
            release.set()
            await finished.wait()
    finally:
        await queue.stop()
    assert peak == 4
    for key in "abcdef":
        assert [e for e in log if e[0] == key] == [f"{key}0", f"{key}1", f"{key}2"]


async def test_urgent_keys_go_first() -> None:
    queue = WriteQueue(concurrency=1)
    log: list[str] = []
    finished = asyncio.Event()

    def write(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            log.append(name)
            if len(log) == 4:
                finished.set()

        return run

    for i in range(3):
        queue.submit(f"pod/{i}", write(f"pod{i}"))
    queue.submit("lease/n", write("lease"), urgent=True)
    queue.start()
    try:
        async with asyncio.timeout(5):
            await finished.wait()
    finally:
        await queue.stop()
    assert log[0] == "lease"


@pytest.mark.parametrize(
    ("error", "attempts", "ok"),
    [
        (ServerError(500, "InternalError", "boom"), 3, True),
        (Invalid(422, "Invalid", "no"), 1, False),
    ],
)
async def test_server_errors_are_retried_and_done_is_told_once(
    error: Exception, attempts: int, ok: bool
) -> None:
    queue = WriteQueue(concurrency=1, retry=RetryPolicy(max_retries=5, base_delay=0.001, max_delay=0.001))
    calls = 0
    outcomes: list[bool] = []
    told = asyncio.Event()

    def done(ok: bool) -> None:
        outcomes.append(ok)
        told.set()

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise error

    queue.start()
    try:
        queue.submit("pod/x", flaky, done=done)
        async with asyncio.timeout(5):
            await told.wait()
    finally:
        await queue.stop()
    assert (calls, outcomes) == (attempts, [ok])
