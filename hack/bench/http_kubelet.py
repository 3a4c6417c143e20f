"""HTTP fake kubelets at scale (:class:`grove.envtest.kubelet.HttpKubelets`): 200 nodes, 10,000 pods.

The API server has its own processes: by default the emulator with no nodes of its own (this script with
``--serve``); with ``GROVE_K8S_ASSETS=DIR``, inside a private loopback-only network namespace, a real
control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)::

    GROVE_K8S_ASSETS=/tmp/k8s unshare --net --pid --fork --kill-child \\
        sh -c 'ip link set lo up && exec .venv/bin/python hack/bench/http_kubelet.py'

This process runs the kubelets (kubelet delay 0, 32 writes in flight) and, with a client of its own and
32 concurrent requests, creates the pods bound round-robin to the nodes (no scheduler in the loop: the
figures are the kubelets'). Printed:

* seconds to register the nodes;
* seconds from the first create to the last, and until every pod is Running and Ready in the kubelets'
  watch cache;
* the kubelets' writes per pod and in all, by kind;
* the stalest node Lease seen during the run (sampled every 2 s; kube-controller-manager marks a node
  NotReady about 50 s after its last renewal) and whether every node is still Ready at the end;
* this process's CPU seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from grove.devcluster.simulation import SimulationOptions
from grove.envtest.kubelet import HttpKubelets
from grove.runtime.client import Client
from grove.runtime.errors import NotFound
from grove.runtime.informer import FuncHandler
from grove.runtime.resources import LEASES, NAMESPACES, NODES, PODS, SERVICE_ACCOUNTS

NAMESPACE = "bench"
CONCURRENCY = 32


def serve(kubeconfig: str) -> None:
    """The emulator without nodes, until SIGTERM (``--serve``)."""
    from grove.devcluster import DevCluster

    async def run() -> None:
        cluster = DevCluster(nodes=0, port=0, kubeconfig_path=kubeconfig, watch_history=100_000)
        await cluster.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await cluster.stop()

    asyncio.run(run())


@contextlib.contextmanager
def api_server() -> Iterator[tuple[str, str]]:
    """(kubeconfig, what it is) of the emulator in a child process or the real control plane."""
    assets = os.environ.get("GROVE_K8S_ASSETS")
    if assets:
        from grove.envtest.controlplane import ControlPlane, ControlPlaneOptions

        plane = ControlPlane(ControlPlaneOptions(assets=Path(assets))).start()
        try:
            yield str(plane.kubeconfig_path), "kube-apiserver v1.36.2 + kube-controller-manager"
        finally:
            plane.stop()
        return
    with tempfile.TemporaryDirectory(prefix="grove-bench-") as tmp:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", kubeconfig],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(kubeconfig):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the emulator did not start")
                time.sleep(0.05)
            yield kubeconfig, "the emulator (nodes=0)"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def pod(i: int, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p-{i:05d}", "labels": {"app": "bench"}},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "main",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }
            ],
        },
    }


def _ready(p: dict[str, Any]) -> bool:
    status = p.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ()
    )


def _age(micro_time: str) -> float:
    renewed = datetime.strptime(micro_time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return time.time() - renewed.timestamp()


async def run(kubeconfig: str, server: str, nodes: int, pods: int) -> None:
    kubelets = HttpKubelets(kubeconfig, nodes=nodes, options=SimulationOptions(start_delay=0))
    writes: Counter[str] = Counter()
    submit = kubelets.writes.submit

    def counting(key: str, *args: Any, **kwargs: Any) -> None:
        writes[key.split("/", 1)[0]] += 1
        submit(key, *args, **kwargs)

    kubelets.writes.submit = counting  # type: ignore[method-assign]
    started = time.perf_counter()
    await kubelets.start()
    registered = time.perf_counter() - started
    writes.clear()
    client = await Client.connect(kubeconfig)
    stalest = 0.0
    try:
        await client.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
        while True:
            try:
                await client.get(SERVICE_ACCOUNTS, "default", NAMESPACE)
                break
            except NotFound:
                await asyncio.sleep(0.1)
        names = kubelets.names
        ready: set[str] = set()
        done = asyncio.Event()

        def on_change(p: dict[str, Any]) -> None:
            if p["metadata"].get("namespace") == NAMESPACE and _ready(p):
                ready.add(p["metadata"]["name"])
                if len(ready) == pods:
                    done.set()

        kubelets.kubelet.informer.add_event_handler(
            FuncHandler(add=lambda p, _initial: on_change(p), update=lambda _old, p: on_change(p))
        )

        async def watch_leases() -> None:
            nonlocal stalest
            while not done.is_set():
                for lease in (await client.list(LEASES, "kube-node-lease")).items:
                    if lease["metadata"]["name"] in names:
                        stalest = max(stalest, _age(lease["spec"]["renewTime"]))
                await asyncio.sleep(2)

        leases = asyncio.create_task(watch_leases())
        queue = list(range(pods))
        first = time.perf_counter()

        async def creator() -> None:
            while queue:
                i = queue.pop()
                await client.create(PODS, pod(i, names[i % len(names)]), NAMESPACE)

        await asyncio.gather(*(creator() for _ in range(CONCURRENCY)))
        created = time.perf_counter() - first
        await done.wait()
        all_ready = time.perf_counter() - first
        await leases
        node_objs = (await client.list(NODES)).items
        still_ready = sum(
            1
            for n in node_objs
            if n["metadata"]["name"] in names
            and any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
        )
    finally:
        await client.close()
        await kubelets.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"server: {server}; {nodes} nodes, {pods} pods bound round-robin, {CONCURRENCY} concurrent creates")
    print(f"nodes registered (Node, status, Lease): {registered:.2f} s")
    print(f"pods created: {created:.2f} s ({pods / created:.0f}/s)")
    print(f"all pods Running and Ready: {all_ready:.2f} s after the first create ({pods / all_ready:.0f}/s)")
    by_kind = ", ".join(f"{kind} {n}" for kind, n in sorted(writes.items()))
    print(f"kubelet writes: {sum(writes.values())} ({sum(writes.values()) / pods:.2f} per pod; {by_kind})")
    print(f"stalest node Lease seen: {stalest:.1f} s; nodes Ready at the end: {still_ready}/{nodes}")
    cpu = usage.ru_utime + usage.ru_stime
    print(f"this process: {cpu:.1f} CPU s, peak RSS {usage.ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--serve", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.serve:
        serve(args.serve)
        return
    with api_server() as (kubeconfig, server):
        asyncio.run(run(kubeconfig, server, args.nodes, args.pods))


if __name__ == "__main__":
    main()
