"""Cost of the Grove object metrics: what a Prometheus scrape of the operator costs with 500 PodCliqueSet
replicas, with and without the object collector.

The dev cluster runs in a child process (``grove dev --no-operator``), the operator in this one (no leader
election). Two shapes of 500 replicas each are applied one after the other and waited for until available:

- ``simple``: one clique of 2 pods per replica (1,000 pods; per replica 1 PodClique, 1 PodGang), the shape
  of docs/operator.md's performance figures;
- ``groups``: per replica a standalone clique of 2 pods and a scaling group of a 1-pod leader and a 1-pod
  worker (2,000 pods; per replica 3 PodCliques, 1 scaling group, 1 PodGang).

After each, on the operator's loop (where ``/metrics`` is rendered, so a scrape blocks reconciles for
exactly this long), medians of 20: ``generate_latest`` of the whole registry with and without the Grove
collector (the difference is its cost), and a full scrape over HTTP.

Goal: the collector's share stays under 50 ms per scrape for the ``simple`` shape on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import generate_latest

from grove.controllers.metrics import GroveObjectCollector
from grove.controllers.operator import OperatorOptions, run_operator
from grove.controllers.resources import PODCLIQUESETS
from grove.runtime.client import Client
from grove.runtime.logging import configure_logging
from grove.runtime.resources import NAMESPACES

REPLICAS = 500
NAMESPACE = "bench-metrics"
ROUNDS = 20
GROVE_SERIES_PREFIXES = (
    "grove_podcliqueset_",
    "grove_podcliquescalinggroup_",
    "grove_podclique_",
    "grove_podgang_",
)


def _pod_spec(name: str) -> dict[str, Any]:
    return {
        "tolerations": [{"key": "fake-node", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [
            {"name": name, "image": "registry.k8s.io/pause:3.9", "resources": {"requests": {"cpu": "10m"}}}
        ],
    }


def _clique(name: str, replicas: int) -> dict[str, Any]:
    return {"name": name, "spec": {"roleName": name, "replicas": replicas, "podSpec": _pod_spec(name)}}


SHAPES: dict[str, dict[str, Any]] = {
    "simple": {"cliques": [_clique("worker", 2)]},
    "groups": {
        "cliques": [_clique("frontend", 2), _clique("leader", 1), _clique("worker", 1)],
        "podCliqueScalingGroups": [{"name": "model", "cliqueNames": ["leader", "worker"]}],
    },
}


def _manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodCliqueSet",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"replicas": REPLICAS, "template": SHAPES[name]},
    }


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _render(collector_on: bool, registry: Any, collector: GroveObjectCollector) -> tuple[float, bytes]:
    if not collector_on:
        registry.unregister(collector)
    try:
        times = []
        body = b""
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            body = generate_latest(registry)
            times.append(time.perf_counter() - t0)
    finally:
        if not collector_on:
            registry.register(collector)
    return _median_ms(times), body


def _timed(fn: Any) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


async def _wait_available(client: Client, name: str, deadline: float) -> float:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while True:
        pcs = await client.get(PODCLIQUESETS, name, NAMESPACE)
        if (pcs.get("status") or {}).get("availableReplicas") == REPLICAS:
            return loop.time() - t0
        if loop.time() - t0 > deadline:
            raise SystemExit(f"not available after {deadline}s: {pcs.get('status')}")
        await asyncio.sleep(0.5)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="grove-bench-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        grove = str(Path(sys.executable).with_name("grove"))
        cluster = subprocess.Popen(
            [grove, "dev", "--no-operator", "--nodes", "100", "--port", "0", "--kubeconfig", str(kubeconfig)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not kubeconfig.exists():
                if time.monotonic() > deadline or cluster.poll() is not None:
                    raise SystemExit("the dev cluster did not start")
                time.sleep(0.1)
            asyncio.run(_run(str(kubeconfig)))
        finally:
            cluster.terminate()
            cluster.wait(30)


async def _run(kubeconfig: str) -> None:
    configure_logging("warning")
    client = await Client.connect(kubeconfig)
    handle = None
    try:
        for _ in range(600):
            try:
                await client.list(PODCLIQUESETS, "default")
                break
            except Exception:
                await asyncio.sleep(0.1)
        await client.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
        handle = await run_operator(
            kubeconfig, OperatorOptions(leader_election=False, metrics_port=0, metrics_host="127.0.0.1")
        )
        await handle.wait_leading()
        registry = handle.manager.metrics.registry
        # The collector object, to render with and without it (prometheus_client has no public lookup).
        collector = next(c for c in registry._collector_to_names if isinstance(c, GroveObjectCollector))
        for shape in SHAPES:
            await client.create(PODCLIQUESETS, _manifest(shape))
            converged = await _wait_available(client, shape, 300)
            collect_ms = _median_ms(_timed(lambda: list(collector.collect())))
            with_ms, body = _render(True, registry, collector)
            without_ms, _ = _render(False, registry, collector)
            lines = body.decode().splitlines()
            series = sum(1 for ln in lines if ln.startswith(GROVE_SERIES_PREFIXES))
            http_times = []
            async with aiohttp.ClientSession() as session:
                for _ in range(ROUNDS):
                    t0 = time.perf_counter()
                    async with session.get(f"http://127.0.0.1:{handle.manager.port}/metrics") as resp:
                        await resp.read()
                    http_times.append(time.perf_counter() - t0)
            share = with_ms - without_ms
            print(f"== after '{shape}' ({REPLICAS} replicas) was available ({converged:.1f} s)")
            print(f"Grove object series: {series}; exposition {len(body) / 1024:.0f} KiB")
            print(f"render with the Grove collector: {with_ms:.1f} ms; without: {without_ms:.1f} ms")
            print(
                f"Grove collector's share: {share:.1f} ms per scrape ({share * 1000 / series:.1f} us/series)"
            )
            print(f"  of which reading the caches (collect): {collect_ms:.1f} ms; the rest renders text")
            print(f"HTTP scrape: {_median_ms(http_times):.1f} ms")
    finally:
        if handle is not None:
            await handle.stop()
        await client.close()


if __name__ == "__main__":
    main()
