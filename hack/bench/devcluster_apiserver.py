"""Dev cluster API server benchmark: pod creates/s, watch events/s to 4 watchers, listing 10k pods.

The API server runs in its own process and the clients here, so the two share the machine's two cores
the way an operator and the emulator do. Watch throughput is measured twice: with writes coming over
HTTP from this process (which then also parses four streams), and with writes made in the server process
by an in-process writer (as the fake kubelets and scheduler do), so only delivery is measured.
Prints one line per figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

CONCURRENCY = 32
CREATES = 3000
LIST_PODS = 10_000
WATCHERS = 4
WATCH_EVENTS = 5000


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p-{i}", "labels": {"app": "bench", "idx": str(i % 10)}},
        "spec": {
            "containers": [
                {"name": "main", "image": "registry.example/app:1", "resources": {"requests": {"cpu": "1"}}}
            ]
        },
    }


async def serve(kubeconfig: str) -> None:
    """Server process: a dev cluster plus an in-process writer started by a ConfigMap named ``go``."""
    from grove.devcluster import DevCluster

    cluster = DevCluster(port=0, watch_history=50_000, kubeconfig_path=kubeconfig)
    store = cluster.store
    go = asyncio.Event()

    def on_event(rtype: Any, ev: Any) -> None:
        if rtype.plural == "configmaps" and ev.object["metadata"]["name"] == "go" and ev.type == "ADDED":
            go.set()

    store.subscribe(on_event)
    await cluster.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, asyncio.create_task(go.wait())], return_when=asyncio.FIRST_COMPLETED)
    if go.is_set():
        for i in range(WATCH_EVENTS):
            store.create("pods", pod(i), "bench-inproc", field_manager="bench", owned=True)
            if i % 50 == 0:
                await asyncio.sleep(0)
    await waiter
    await cluster.stop()


def start_server(tmp: str) -> tuple[subprocess.Popen[bytes], str]:
    kubeconfig = os.path.join(tmp, "kubeconfig")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kubeconfig],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(kubeconfig):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("grove dev did not start")
        time.sleep(0.05)
    return proc, kubeconfig


async def create_pods(core: Any, ns: str, start: int, count: int) -> float:
    queue = iter(range(start, start + count))

    async def worker() -> None:
        for i in queue:
            resp = await core.create_namespaced_pod(ns, pod(i), _preload_content=False)
            await resp.read()
            resp.release()

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - t


async def watch_count(session: aiohttp.ClientSession, url: str, want: int, ready: asyncio.Event) -> int:
    got = 0
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=120)) as resp:
        ready.set()
        async for _line in resp.content:
            got += 1
            if got >= want:
                break
    return got


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, kubeconfig = start_server(tmp)
        try:
            await run(kubeconfig)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


async def run(kubeconfig: str) -> None:
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    host = configuration.host
    async with k8s.ApiClient(configuration) as api:
        core = k8s.CoreV1Api(api)
        await core.create_namespace({"metadata": {"name": "bench"}})
        await core.create_namespace({"metadata": {"name": "bench-watch"}})
        await core.create_namespace({"metadata": {"name": "bench-inproc"}})

        elapsed = await create_pods(core, "bench", 0, CREATES)
        print(f"pod creates/s (kubernetes_asyncio, {CONCURRENCY} concurrent): {CREATES / elapsed:,.0f}")

        rv = json.loads(
            await (await core.list_namespaced_config_map("bench-watch", _preload_content=False)).read()
        )["metadata"]["resourceVersion"]
        async with aiohttp.ClientSession() as session:
            url = f"{host}/api/v1/namespaces/bench-watch/pods?watch=true&resourceVersion={rv}"
            readies = [asyncio.Event() for _ in range(WATCHERS)]
            watchers = [asyncio.create_task(watch_count(session, url, WATCH_EVENTS, r)) for r in readies]
            for r in readies:
                await r.wait()
            t = time.perf_counter()
            await create_pods(core, "bench-watch", 0, WATCH_EVENTS)
            counts = await asyncio.gather(*watchers)
            live = time.perf_counter() - t
            print(
                f"watch events/s to {WATCHERS} watchers, live (writes over HTTP): {sum(counts) / live:,.0f}"
            )

            rv = str(
                json.loads(
                    await (await core.list_namespaced_pod("bench-inproc", _preload_content=False)).read()
                )["metadata"]["resourceVersion"]
            )
            url = f"{host}/api/v1/namespaces/bench-inproc/pods?watch=true&resourceVersion={rv}"
            readies = [asyncio.Event() for _ in range(WATCHERS)]
            watchers = [asyncio.create_task(watch_count(session, url, WATCH_EVENTS, r)) for r in readies]
            for r in readies:
                await r.wait()
            t = time.perf_counter()
            await core.create_namespaced_config_map("bench-inproc", {"metadata": {"name": "go"}})
            counts = await asyncio.gather(*watchers)
            inproc = time.perf_counter() - t
            rate = sum(counts) / inproc
            print(f"watch events/s to {WATCHERS} watchers, live (in-process writes): {rate:,.0f}")

            replay = [
                asyncio.create_task(watch_count(session, url, WATCH_EVENTS, asyncio.Event()))
                for _ in range(WATCHERS)
            ]
            t = time.perf_counter()
            counts = await asyncio.gather(*replay)
            elapsed = time.perf_counter() - t
            print(f"watch events/s to {WATCHERS} watchers, from history: {sum(counts) / elapsed:,.0f}")

        remaining = LIST_PODS - CREATES
        await create_pods(core, "bench", CREATES, remaining)
        t = time.perf_counter()
        resp = await core.list_namespaced_pod("bench", _preload_content=False)
        items = json.loads(await resp.read())["items"]
        raw_elapsed = time.perf_counter() - t
        assert len(items) == LIST_PODS, len(items)
        print(f"list of {LIST_PODS:,} pods (raw JSON): {raw_elapsed * 1000:,.0f} ms")
        t = time.perf_counter()
        listed = await core.list_namespaced_pod("bench")
        elapsed = time.perf_counter() - t
        print(f"list of {len(listed.items):,} pods (kubernetes_asyncio models): {elapsed * 1000:,.0f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        asyncio.run(serve(sys.argv[2]))
    else:
        asyncio.run(main())
