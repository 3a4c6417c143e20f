"""Informer benchmark: time and added RSS to sync 10,000 pods from the dev cluster, then watch events/s.

The dev cluster runs in a child process (this same script with ``--serve``), so the RSS measured here is the
informer's own: parsed objects, store, indexes. The pods look like what a Grove PodClique creates (labels,
owner reference, env, tolerations, Running status). After the sync the cluster updates every pod twice as fast
as it can, once while the informer reads along and once while it is blocked (so the events queue up and the
informer's own rate shows); a handler enqueues each event's key into a workqueue, as a controller's would.

Goals on a 2-core machine: 10,000 pods synced with <= 60 MB added RSS; >= 5,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import time
from typing import Any

PODS_N = 10_000
CHURN_ROUNDS = 2
NAMESPACE = "bench"


def _pod(i: int, owner_uids: dict[str, str]) -> dict[str, Any]:
    clique = f"pcs-{i // 500}-worker"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{clique}-{i:05d}",
            "namespace": NAMESPACE,
            "labels": {
                "app.kubernetes.io/managed-by": "grove-operator",
                "app.kubernetes.io/part-of": f"pcs-{i // 500}",
                "grove.io/podclique": clique,
                "grove.io/podgang": f"pcs-{i // 500}",
            },
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": clique,
                    "uid": owner_uids[clique],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.k8s.io/pause:3.9",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "env": [
                        {"name": "GROVE_PCS_NAME", "value": f"pcs-{i // 500}"},
                        {"name": "GROVE_PCS_INDEX", "value": "0"},
                        {"name": "GROVE_PCLQ_POD_INDEX", "value": str(i % 500)},
                    ],
                }
            ],
            "tolerations": [{"key": "fake-node", "operator": "Exists", "effect": "NoSchedule"}],
            "nodeName": f"node-{i % 40}",
            "hostname": f"{clique}-{i % 500}",
            "subdomain": f"pcs-{i // 500}-0",
        },
    }


def _status(i: int) -> dict[str, Any]:
    return {
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:01Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:01Z"},
            ],
            "hostIP": f"10.0.0.{i % 40}",
            "podIP": f"10.244.{i // 250}.{i % 250}",
            "startTime": "2026-01-01T00:00:01Z",
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "restartCount": 0,
                    "image": "registry.k8s.io/pause:3.9",
                    "started": True,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:02Z"}},
                }
            ],
        }
    }


async def serve(n: int) -> None:
    """Child process: a dev cluster with ``n`` pods; obeys "churn" and "quit" on stdin."""
    from grove.devcluster import DevCluster
    from grove.runtime.logging import configure_logging

    configure_logging("warning", stream=sys.stderr)  # stdout is the command channel
    cluster = DevCluster(port=0, watch_history=CHURN_ROUNDS * n + 10)
    await cluster.start()
    store = cluster.store
    store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    # Real nodes and owners: the cluster's garbage collectors delete pods bound to missing nodes and pods
    # whose owner does not exist.
    for k in range(40):
        store.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{k}"}})
    owner_uids = {}
    for k in range((n + 499) // 500):
        owner = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"pcs-{k}-worker"}}
        owner_uids[f"pcs-{k}-worker"] = store.create("configmaps", owner, NAMESPACE)["metadata"]["uid"]
    names = []
    for i in range(n):
        pod = store.create("pods", _pod(i, owner_uids), NAMESPACE)
        names.append(pod["metadata"]["name"])
        store.patch("pods", pod["metadata"]["name"], _status(i), NAMESPACE, subresource="status")
    print(f"READY {cluster.kubeconfig_path}", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "churn":
            start = time.perf_counter()
            for r in range(CHURN_ROUNDS):
                for j, name in enumerate(names):
                    store.patch("pods", name, {"metadata": {"labels": {"bench/round": str(r)}}}, NAMESPACE)
                    if j % 500 == 0:
                        await asyncio.sleep(0)  # let the server write to the watch
            print(f"CHURNED {time.perf_counter() - start:.3f}", flush=True)
        elif line in ("quit", ""):
            break
    await cluster.stop()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def measure(child: subprocess.Popen[str], kubeconfig: str, n: int) -> None:
    from grove.runtime.client import Client
    from grove.runtime.informer import FuncHandler, Informer, strip_managed_fields
    from grove.runtime.logging import configure_logging
    from grove.runtime.meta import object_key
    from grove.runtime.metrics import RuntimeMetrics
    from grove.runtime.resources import PODS
    from grove.runtime.workqueue import RateLimitingQueue

    assert child.stdin is not None and child.stdout is not None
    configure_logging("warning")
    metrics = RuntimeMetrics()
    client = await Client.connect(kubeconfig, metrics=metrics)
    queue: RateLimitingQueue[str] = RateLimitingQueue("bench", metrics=metrics)
    updates = 0
    first_update = last_update = 0.0
    expected = CHURN_ROUNDS * n
    all_seen = asyncio.Event()

    def on_update(old: Any, new: Any) -> None:
        nonlocal updates, first_update, last_update
        now = time.perf_counter()
        if updates == 0:
            first_update = now
        updates += 1
        last_update = now
        queue.add(object_key(new))
        if updates >= expected:
            all_seen.set()

    informer = Informer(client, PODS, namespace=NAMESPACE, transform=strip_managed_fields, metrics=metrics)
    informer.add_event_handler(FuncHandler(add=lambda o, _: queue.add(object_key(o)), update=on_update))

    gc.collect()
    base = rss_mb()
    peak = base
    start = time.perf_counter()
    informer.start()
    while not informer.has_synced():
        peak = max(peak, rss_mb())
        await asyncio.sleep(0.005)
    sync_seconds = time.perf_counter() - start
    peak = max(peak, rss_mb())
    gc.collect()
    settled = rss_mb()
    print(f"pods synced:                  {len(informer.store):>10,}")
    print(f"sync time:                    {sync_seconds:>10.2f} s")
    print(
        f"added RSS after sync:         {settled - base:>10.1f} MB (peak while syncing {peak - base:.1f} MB)"
    )

    child.stdin.write("churn\n")
    child.stdin.flush()
    churned = await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)
    server_seconds = float(churned.split()[1])
    async with asyncio.timeout(120):
        await all_seen.wait()
    span = last_update - first_update
    print(f"watch events processed:       {updates:>10,} (the server wrote them in {server_seconds:.2f} s)")
    print(f"events/s processed (live):    {updates / span:>10,.0f}  (bounded by the server's write rate)")

    # Backlog: block this loop while the server writes, so the events queue up in the socket, then time
    # how fast the informer drains them: its own processing rate.
    updates = 0
    all_seen.clear()
    child.stdin.write("churn\n")
    child.stdin.flush()
    child.stdout.readline()  # blocking on purpose
    drain_start = time.perf_counter()
    async with asyncio.timeout(120):
        await all_seen.wait()
    print(f"events/s processed (backlog): {updates / (last_update - drain_start):>10,.0f}")
    print(f"added RSS after churn:        {rss_mb() - base:>10.1f} MB")
    await informer.stop()
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--pods", type=int, default=PODS_N)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.pods)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        ready = child.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError("the dev cluster child process did not start")
        asyncio.run(measure(child, ready[1], args.pods))
    finally:
        if child.poll() is None:
            child.stdin.write("quit\n")
            child.stdin.flush()
            child.wait(30)


if __name__ == "__main__":
    main()
