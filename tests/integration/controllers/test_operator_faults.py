"""Convergence survives API faults: 5% of requests failing with 500, dropped watches, forced 410s."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from grove.controllers.resources import PODCLIQUESETS
from grove.runtime.errors import ServerError
from grove_expect import expected, load_sample, wait_converged


async def _retry(call: Callable[[], Awaitable[Any]]) -> Any:
    """The test's own writes are not retried by the client: retry them past the injected 500s."""
    for _ in range(20):
        try:
            return await call()
        except ServerError:
            continue
    raise AssertionError("20 injected failures in a row")


@pytest.fixture
def fault_hooks(cluster: Any) -> Any:
    """The dev cluster, whose API server this test makes fail; skips (before the operator starts) on a real
    one."""
    if cluster.dev is None:
        pytest.skip(
            "needs the embedded dev cluster's fault hooks fail_requests(0.05, 500), drop_watches and "
            "expire_next_watch (410 Gone); a real kube-apiserver cannot be made to fail requests or end "
            "watches on demand"
        )
    return cluster.dev


async def test_converges_through_failing_requests_and_lost_watches(
    fault_hooks: Any, operator: Any, namespace: str, client: Any
) -> None:
    dev = fault_hooks
    manifest = load_sample("complete-inference-pipeline.yaml", namespace)
    name = manifest["metadata"]["name"]
    dev.fail_requests(0.05, 500)
    try:
        await _retry(lambda: client.create(PODCLIQUESETS, manifest))
        await wait_converged(client, namespace, expected(manifest), timeout=60)
        dev.drop_watches()
        dev.expire_next_watch()
        await _retry(lambda: client.scale(PODCLIQUESETS, name, 2, namespace))
        await wait_converged(client, namespace, expected(manifest, replicas=2), timeout=60)
    finally:
        dev.reset_faults()
