"""Scheduler extender latency on a 5,000-node cluster (4 zones x 5 blocks x 25 racks x 10 hosts, 8 GPUs each).

1. Over HTTP, as kube-scheduler calls it with ``nodeCacheCapable: true``: the extender runs in its own
   process; this process plays kube-scheduler's serial cycle for every pod of a stream of 8-pod gangs
   (leader + 7 workers, each gang packed in one rack): filter with all 5,000 node names, prioritize with the
   nodes that passed, bind. Per call p50/p99; the first filter of each gang includes planning the gang.
2. In process: plan time for gangs of 8, 64 and 256 pods (PodCliqueScalingGroup-like replicas of 1 leader +
   7 workers, each replica required in one rack, the gang required in one block) on a half-used cluster.

Goals: p99 <= 5 ms per call; 256-pod plan <= 50 ms.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import random
import statistics
import time
from typing import Any

import aiohttp
import orjson
import structlog

from grove.scheduler.extender import Extender
from grove.scheduler.gang import parse_podgang
from grove.scheduler.ledger import Ledger
from grove.scheduler.planner import Plan, PlanInput, plan_gang
from grove.scheduler.pods import parse_pod
from grove.scheduler.server import build_app, settle_gc, start
from grove.scheduler.synthetic import (
    BLOCK_KEY,
    GPU,
    RACK_KEY,
    GroupSpec,
    cluster_topology,
    fleet,
    pod,
    podgang,
)
from grove.scheduler.topology import ClusterState, parse_cluster_topology

SHAPE = (4, 5, 25, 10)
NODE_ARGS: dict[str, Any] = {"cpu": "128", "memory": "1Ti", "gpu": 8}
HTTP_GANGS = 150


def replica_gang(name: str, replicas: int, workers: int = 7) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A gang of ``replicas`` x (1 leader + ``workers``), each replica in one rack, all in one block."""
    groups: list[GroupSpec] = []
    configs: list[tuple[str, list[str], str | None, str | None]] = []
    pods: list[dict[str, Any]] = []
    for r in range(replicas):
        leader = [f"{name}-{r}-leader-0"]
        worker = [f"{name}-{r}-worker-{i}" for i in range(workers)]
        groups += [GroupSpec(f"{name}-{r}-leader", leader), GroupSpec(f"{name}-{r}-worker", worker)]
        configs.append((f"{name}-{r}", [f"{name}-{r}-leader", f"{name}-{r}-worker"], RACK_KEY, None))
        pods += [pod(p, gang=name, cpu="4", memory="16Gi") for p in leader]
        pods += [pod(p, gang=name, cpu="16", memory="64Gi", gpu=2) for p in worker]
    return podgang(name, groups, required=BLOCK_KEY, configs=configs), pods


def _quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _serve(port_queue: Any) -> None:
    _quiet_logs()

    async def main() -> None:
        ledger = Ledger()
        ledger.on_topology_upsert(cluster_topology())
        for n in fleet(*SHAPE, **NODE_ARGS):
            ledger.on_node_upsert(n)
        for g in range(HTTP_GANGS):
            gang, pods = replica_gang(f"g{g}", 1)
            for p in pods:
                ledger.on_pod_upsert(p)
            ledger.on_podgang_upsert(gang)

        async def binder(namespace: str, name: str, uid: str, node: str) -> None:
            return None

        settle_gc()
        runner, port = await start(build_app(Extender(ledger, binder)), "127.0.0.1", 0)
        port_queue.put(port)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def http_bench(port: int) -> None:
    names = [n["metadata"]["name"] for n in fleet(*SHAPE, **NODE_ARGS)]
    url = f"http://127.0.0.1:{port}/scheduler"
    filt_first: list[float] = []
    filt: list[float] = []
    prio: list[float] = []
    both: list[float] = []
    async with aiohttp.ClientSession() as session:

        async def call(verb: str, body: bytes) -> tuple[float, Any]:
            started = time.perf_counter()
            async with session.post(
                f"{url}/{verb}", data=body, headers={"Content-Type": "application/json"}
            ) as r:
                raw = await r.read()
            return time.perf_counter() - started, orjson.loads(raw)

        for g in range(HTTP_GANGS):
            _, pods = replica_gang(f"g{g}", 1)
            for i, p in enumerate(pods):
                t_filter, result = await call("filter", orjson.dumps({"Pod": p, "NodeNames": names}))
                passing = result["NodeNames"]
                assert len(passing) == 1, result.get("Error") or result["FailedAndUnresolvableNodes"]
                t_prio, _ = await call("prioritize", orjson.dumps({"Pod": p, "NodeNames": passing}))
                meta = p["metadata"]
                bind = {
                    "PodName": meta["name"],
                    "PodNamespace": "default",
                    "PodUID": meta["uid"],
                    "Node": passing[0],
                }
                await call("bind", orjson.dumps(bind))
                if g < 5:  # warm-up
                    continue
                (filt_first if i == 0 else filt).append(t_filter)
                prio.append(t_prio)
                both.append(t_filter + t_prio)
    ms = 1000.0
    print(
        f"HTTP, nodeCacheCapable, {len(names)} nodes, {HTTP_GANGS} gangs x 8 pods"
        " (serial calls, like kube-scheduler):"
    )
    rows = [
        ("filter (planned pod)", filt),
        ("filter (first pod: plans the gang)", filt_first),
        ("filter, all calls", filt + filt_first),
        ("prioritize", prio),
        ("filter + prioritize per pod", both),
    ]
    for label, values in rows:
        print(f"  {label:36s} p50 {_pct(values, 0.5) * ms:6.2f} ms   p99 {_pct(values, 0.99) * ms:6.2f} ms")
    calls = filt + filt_first + prio
    print(f"  per call (filter or prioritize)      p99 {_pct(calls, 0.99) * ms:6.2f} ms   (goal <= 5 ms)")


def plan_bench() -> None:
    state = ClusterState()
    state.upsert_topology(parse_cluster_topology(cluster_topology()))
    for n in fleet(*SHAPE, **NODE_ARGS):
        state.upsert_node(n)
    settle_gc()
    rng = random.Random(7)
    for name in list(state.nodes):
        if rng.random() < 0.5:
            state.add_usage(name, {GPU: rng.choice([2, 4, 6, 8]), "cpu": 32_000, "pods": 4}, "bound")
    print("Plan time, in process, half-used 5,000-node cluster (median / max of 20 runs):")
    for replicas in (1, 8, 32):
        gang, pods = replica_gang(f"p{replicas}", replicas)
        inp = PlanInput(parse_podgang(gang), {i.key: i for i in map(parse_pod, pods)})
        times = []
        result = None
        for _ in range(20):
            started = time.perf_counter()
            result = plan_gang(state, inp)
            times.append(time.perf_counter() - started)
        assert isinstance(result, Plan), result
        print(
            f"  {len(pods):3d} pods ({replicas:2d} replicas, block + rack per replica): "
            f"median {statistics.median(times) * 1000:6.2f} ms   max {max(times) * 1000:6.2f} ms"
            + ("   (goal <= 50 ms)" if len(pods) == 256 else "")
        )
    flat = [f"u{i}" for i in range(256)]
    inp = PlanInput(
        parse_podgang(podgang("u", [GroupSpec("u", flat)])),
        {i.key: i for i in (parse_pod(pod(n, gang="u", gpu=1)) for n in flat)},
    )
    times = []
    for _ in range(20):
        started = time.perf_counter()
        assert isinstance(plan_gang(state, inp), Plan)
        times.append(time.perf_counter() - started)
    print(
        f"  256 pods (no constraint, whole cluster):       "
        f"median {statistics.median(times) * 1000:6.2f} ms   max {max(times) * 1000:6.2f} ms"
    )


def main() -> None:
    _quiet_logs()
    ctx = multiprocessing.get_context("spawn")
    port_queue = ctx.Queue()
    server = ctx.Process(target=_serve, args=(port_queue,), daemon=True)
    server.start()
    try:
        port = port_queue.get(timeout=120)
        asyncio.run(http_bench(port))
    finally:
        server.terminate()
        server.join()
    plan_bench()


if __name__ == "__main__":
    main()
