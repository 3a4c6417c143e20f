"""Fake kubelets and scheduler benchmark: 1,000 pods created on a 100-node dev cluster until all are
Running and Ready.

``grove dev --nodes 100 --pod-start-delay 0`` runs in its own process; this process creates the pods from
kubernetes_asyncio with 32 concurrent requests and follows them with a watch (as an operator would), so
the two processes share the machine's cores. The kubelet delay is 0, so the figures measure the machinery
(scheduling, binding, kubelet status writes, watch delivery), not the simulated container start time.
Prints one line per figure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

NODES = 100
PODS = 1000
CONCURRENCY = 32
NAMESPACE = "bench"
GROVE = str(Path(sys.executable).with_name("grove"))


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p-{i:04d}", "labels": {"app": "bench"}},
        "spec": {
            "tolerations": [
                {"key": "fake-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
            ],
            "containers": [
                {
                    "name": "main",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ],
        },
    }


def start_server(tmp: str) -> tuple[subprocess.Popen[bytes], str]:
    kubeconfig = os.path.join(tmp, "kubeconfig")
    proc = subprocess.Popen(
        [
            GROVE,
            "dev",
            "--port",
            "0",
            "--nodes",
            str(NODES),
            "--pod-start-delay",
            "0",
            "--kubeconfig",
            kubeconfig,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(kubeconfig):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("grove dev did not start")
        time.sleep(0.05)
    return proc, kubeconfig


def _ready(p: dict[str, Any]) -> bool:
    status = p.get("status") or {}
    conds = status.get("conditions") or []
    return status.get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in conds
    )


async def follow(
    core: k8s.CoreV1Api, bound: dict[str, float], ready: dict[str, float], done: asyncio.Event
) -> None:
    """A raw JSON watch (as the operator's informers read it), recording when each pod was bound and ready."""
    resp = await core.list_namespaced_pod(NAMESPACE, watch=True, timeout_seconds=120, _preload_content=False)
    try:
        async for line in resp.content:
            p = orjson.loads(line)["object"]
            now = time.perf_counter()
            name = p["metadata"]["name"]
            if p["spec"].get("nodeName") and name not in bound:
                bound[name] = now
            if _ready(p) and name not in ready:
                ready[name] = now
                if len(ready) == PODS:
                    done.set()
                    return
    finally:
        resp.close()


async def run(kubeconfig: str) -> None:
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = CONCURRENCY
    async with k8s.ApiClient(configuration) as api:
        core = k8s.CoreV1Api(api)
        await core.create_namespace({"metadata": {"name": NAMESPACE}})
        bound: dict[str, float] = {}
        ready: dict[str, float] = {}
        done = asyncio.Event()
        follower = asyncio.create_task(follow(core, bound, ready, done))
        await asyncio.sleep(0.2)  # let the watch open before the first create
        queue = list(range(PODS))
        start = time.perf_counter()

        async def creator() -> None:
            while queue:
                await core.create_namespaced_pod(NAMESPACE, pod(queue.pop()))

        await asyncio.gather(*(creator() for _ in range(CONCURRENCY)))
        created = time.perf_counter() - start
        await asyncio.wait_for(done.wait(), timeout=120)
        await follower
        all_bound = max(bound.values()) - start
        all_ready = max(ready.values()) - start
        nodes_used = len({p.spec.node_name for p in (await core.list_namespaced_pod(NAMESPACE)).items})
    print(
        f"created {PODS} pods over HTTP ({CONCURRENCY} concurrent): {created:.2f} s ({PODS / created:.0f}/s)"
    )
    print(f"all {PODS} pods bound by the scheduler: {all_bound:.2f} s after the first create")
    print(
        f"all {PODS} pods Running and Ready: {all_ready:.2f} s after the first create "
        f"({PODS / all_ready:.0f}/s)"
    )
    print(f"pods spread over {nodes_used} of {NODES} nodes")


async def in_process() -> None:
    """The same pods written straight into the store: what the scheduler and kubelets alone sustain."""
    import logging

    import structlog

    from grove.devcluster import DevCluster
    from grove.devcluster.simulation import SimulationOptions

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    cluster = DevCluster(port=0, nodes=NODES, simulation=SimulationOptions(start_delay=0))
    await cluster.start()
    store = cluster.store
    store.create("namespaces", {"metadata": {"name": NAMESPACE}})
    running = 0
    done = asyncio.Event()

    def on_event(rtype: Any, ev: Any) -> None:
        nonlocal running
        if rtype.plural == "pods" and ev.type == "MODIFIED" and _ready(ev.object) and not _ready(ev.prev):
            running += 1
            if running == PODS:
                done.set()

    store.subscribe(on_event)
    start = time.perf_counter()
    for i in range(PODS):
        store.create("pods", pod(i), NAMESPACE, field_manager="bench")
        if i % 50 == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(done.wait(), timeout=120)
    elapsed = time.perf_counter() - start
    await cluster.stop()
    print(
        f"in-process (no HTTP): {PODS} pods created and Running in {elapsed:.2f} s ({PODS / elapsed:.0f}/s)"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="grove-bench-") as tmp:
        proc, kubeconfig = start_server(tmp)
        try:
            asyncio.run(run(kubeconfig))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    asyncio.run(in_process())


if __name__ == "__main__":
    main()
