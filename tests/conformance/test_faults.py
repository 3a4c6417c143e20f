"""Fault injection (dev cluster only): failing and slow requests. These test the emulator's own fault hooks
(``DevCluster.faults``); a real kube-apiserver has none, so on a real cluster each test skips naming the
hook it tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# The emulator hook each test exercises (its skip reason on a real cluster).
HOOKS = {
    "test_all_requests_fail_with_500_then_recover": "fault hook faults.fail_requests(1.0, 500) and reset",
    "test_429_carries_retry_after": "fault hook faults.fail_requests(1.0, 429) and its Retry-After",
    "test_fraction_of_requests_fail": "fault hook faults.fail_requests(0.5, 500)",
    "test_added_latency": "fault hook faults.add_latency(0.2)",
}


@pytest.fixture
def faults(cluster: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    dev = cluster.dev
    if dev is None:
        hook = HOOKS[request.node.originalname]
        pytest.skip(f"tests the embedded dev cluster's {hook}; a real kube-apiserver has no such hook")
    yield dev
    dev.reset_faults()


@pytest.mark.devonly
async def test_all_requests_fail_with_500_then_recover(raw: Any, namespace: str, faults: Any) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    await faults.acall(faults.cluster.faults.fail_requests, 1.0, 500)
    status, body, _ = await raw.request("GET", path)
    assert status == 500 and body["reason"] == "InternalError"
    status, _, _ = await raw.request("GET", "/api/v1")
    assert status == 200, "discovery is never failed"
    await faults.acall(faults.cluster.faults.reset)
    status, _, _ = await raw.request("GET", path)
    assert status == 200


@pytest.mark.devonly
async def test_429_carries_retry_after(raw: Any, namespace: str, faults: Any) -> None:
    await faults.acall(faults.cluster.faults.fail_requests, 1.0, 429)
    status, body, headers = await raw.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")
    assert status == 429 and body["reason"] == "TooManyRequests"
    assert headers["Retry-After"] == "1"


@pytest.mark.devonly
async def test_fraction_of_requests_fail(raw: Any, namespace: str, faults: Any) -> None:
    await faults.acall(faults.cluster.faults.fail_requests, 0.5, 500)
    statuses = [
        (await raw.request("GET", f"/api/v1/namespaces/{namespace}/configmaps"))[0] for _ in range(60)
    ]
    assert 500 in statuses and 200 in statuses


@pytest.mark.devonly
async def test_added_latency(raw: Any, namespace: str, faults: Any) -> None:
    import asyncio

    await faults.acall(faults.cluster.faults.add_latency, 0.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await raw.ok("GET", f"/api/v1/namespaces/{namespace}/configmaps")
    assert loop.time() - start >= 0.2
