"""Upstream Grove's 1000-pod scale test on the dev cluster: one PodCliqueSet with 500 replicas of a standalone
clique of 2 pods, 100 fake nodes, default-scheduler.

Three processes share the machine: the dev cluster (API server, kubelets, scheduler stand-in; started by
this script with ``--serve``, which also counts every API request by user agent, verb and resource), the
operator (``grove operator --kubeconfig``, so its RSS and CPU are its own), and this driver (one PodCliqueSet
create and two informers). Printed:

* seconds from the create to all pods created, all pods Ready, PodCliqueSet available (500/500);
* the operator's API writes while converging, per pod: pod writes and all writes, by resource and verb;
* its writes in a 30 s steady-state window after a reconcile trigger (an annotation on the PodCliqueSet),
  which should be none;
* seconds from ``delete pcs`` until every pod, PodClique, PodGang and Service is gone;
* the operator's peak RSS and CPU seconds;
* the floor: the same 500 PodCliques and 1000 pods (copies of the operator's, without owner and gate)
  created and then deleted by a plain loop with the same client (``grove.runtime.Client``) and
  ``--concurrency`` concurrent writes against the same server, and the operator's ratio to it.

Upstream (k3d + 100 KWOK nodes, concurrency 20): pods-ready 42.8 s, pcs-deleted 37.9 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from grove.controllers.operator import USER_AGENT, install_crds
from grove.controllers.resources import PODCLIQUES, PODCLIQUESETS, PODGANGS, PODS, SERVICES
from grove.runtime.client import Client
from grove.runtime.informer import FuncHandler, Informer
from grove.runtime.logging import configure_logging
from grove.runtime.resources import NAMESPACES

NAMESPACE = "scale"
PCS = "scale-test"
REPLICAS = 500
PODS_PER_REPLICA = 2
TOTAL_PODS = REPLICAS * PODS_PER_REPLICA
STEADY_WINDOW = 30.0
TIMEOUT = 600.0
# Requests are attributed by the product token of their User-Agent.
OPERATOR_AGENT = USER_AGENT.split("/", 1)[0]
BENCH_AGENT = "scale-bench"
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def pcs_manifest() -> dict[str, Any]:
    """The scale test's PodCliqueSet."""
    return {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodCliqueSet",
        "metadata": {"name": PCS, "namespace": NAMESPACE},
        "spec": {
            "replicas": REPLICAS,
            "template": {
                "cliques": [
                    {
                        "name": "worker",
                        "spec": {
                            "replicas": PODS_PER_REPLICA,
                            "podSpec": {
                                "tolerations": [
                                    {
                                        "key": "fake-node",
                                        "operator": "Equal",
                                        "value": "true",
                                        "effect": "NoSchedule",
                                    }
                                ],
                                "containers": [
                                    {
                                        "name": "worker",
                                        "image": "registry.k8s.io/pause:3.9",
                                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                                    }
                                ],
                            },
                        },
                    }
                ]
            },
        },
    }


# ------------------------------------------------------------------------------------------ server process


def _resource_of(path: str) -> tuple[str, bool]:
    """``pods``, ``podcliques/status``, ... of a request path, and whether it names one object."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        parts = parts[2:]
    elif parts[:1] == ["apis"]:
        parts = parts[3:]
    else:
        return "-", False
    if parts[:1] == ["namespaces"] and len(parts) >= 3:
        parts = parts[2:]
    if not parts:
        return "-", False
    resource = parts[0] + (f"/{parts[2]}" if len(parts) >= 3 else "")
    return resource, len(parts) >= 2


async def serve(kubeconfig: str, nodes: int) -> None:
    """The dev cluster, counting requests, until SIGTERM (``--serve``)."""
    from aiohttp import web

    from grove.dev_command import prepare_dev_cluster
    from grove.devcluster import DevCluster
    from grove.devcluster.simulation import SimulationOptions

    cluster = DevCluster(
        nodes=nodes,
        port=0,
        kubeconfig_path=kubeconfig,
        watch_history=100_000,
        simulation=SimulationOptions(exit_on_sigterm_after=0.0, record_events=False),
    )
    prepare_dev_cluster(cluster)
    counts: Counter[tuple[str, str, str, int]] = Counter()

    @web.middleware
    async def count(request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
        if request.path == "/_bench/requests":
            return web.json_response([[*k, n] for k, n in counts.items()])
        response = await handler(request)
        if request.method in VERBS:
            resource, named = _resource_of(request.path)
            verb = VERBS[request.method] if named or request.method != "DELETE" else "deletecollection"
            agent = request.headers.get("User-Agent", "").split("/", 1)[0]
            counts[(agent, verb, resource, response.status)] += 1
        return response

    make_app = cluster.server.make_app

    def counting_app() -> web.Application:
        app = make_app()
        app.middlewares.append(count)
        return app

    cluster.server.make_app = counting_app  # type: ignore[method-assign]
    await cluster.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await cluster.stop()


# ------------------------------------------------------------------------------------------ driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MiB, CPU seconds) of a live process, from /proc."""
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return peak, (int(fields[11]) + int(fields[12])) / ticks


class Requests:
    """The server's request counts."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def snapshot(self) -> Counter[tuple[str, str, str, int]]:
        """Counts so far: (agent, verb, resource, status) -> requests."""
        async with self.session.get(f"{self.url}/_bench/requests") as r:
            return Counter({(a, v, res, code): n for a, v, res, code, n in await r.json()})


def writes_of(agent: str, before: Counter[Any], after: Counter[Any]) -> Counter[tuple[str, str]]:
    """(resource, verb) -> writes by ``agent`` between two snapshots."""
    out: Counter[tuple[str, str]] = Counter()
    for (a, verb, resource, _code), n in (after - before).items():
        if a == agent:
            out[(resource, verb)] += n
    return out


def errors_of(agent: str, before: Counter[Any], after: Counter[Any]) -> Counter[tuple[str, str, int]]:
    """(resource, verb, status) -> failed writes by ``agent``."""
    return Counter(
        {(res, v, code): n for (a, v, res, code), n in (after - before).items() if a == agent and code >= 300}
    )


class Tracker:
    """Milestones from informers: pods created and Ready, PodCliqueSet available."""

    def __init__(self, client: Client) -> None:
        self.pods = Informer(client, PODS, namespace=NAMESPACE)
        self.pcs = Informer(client, PODCLIQUESETS, namespace=NAMESPACE)
        self.seen: set[str] = set()
        self.ready: set[str] = set()
        self.live: set[str] = set()
        self.available = 0
        self.template: dict[str, Any] | None = None
        self.pods.add_event_handler(
            FuncHandler(add=self._pod_add, update=self._pod_update, delete=self._pod_delete)
        )
        self.pcs.add_event_handler(FuncHandler(add=self._pcs, update=lambda _o, n: self._pcs(n, False)))

    def _pod_add(self, pod: dict[str, Any], _initial: bool) -> None:
        name = pod["metadata"]["name"]
        self.seen.add(name)
        self.live.add(name)
        if self.template is None:
            self.template = pod
        self._pod_update(pod, pod)

    def _pod_update(self, _old: dict[str, Any], pod: dict[str, Any]) -> None:
        conditions = (pod.get("status") or {}).get("conditions") or ()
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            self.ready.add(pod["metadata"]["name"])

    def _pod_delete(self, pod: Any) -> None:
        name = pod["metadata"]["name"] if isinstance(pod, dict) else pod.obj["metadata"]["name"]
        self.live.discard(name)

    def _pcs(self, pcs: dict[str, Any], _initial: bool) -> None:
        self.available = int((pcs.get("status") or {}).get("availableReplicas") or 0)

    async def start(self) -> None:
        """Start both informers and wait until they have listed."""
        self.pods.start()
        self.pcs.start()
        await self.pods.wait_for_sync()
        await self.pcs.wait_for_sync()

    async def stop(self) -> None:
        """Stop both informers."""
        await self.pods.stop()
        await self.pcs.stop()


async def until(what: str, done: Callable[[], bool], progress: Callable[[], str], t0: float) -> float:
    """Seconds from ``t0`` until ``done()``, printing progress every 5 s; exits after TIMEOUT."""
    last = time.monotonic()
    while not done():
        now = time.monotonic()
        if now - t0 > TIMEOUT:
            raise SystemExit(f"timed out after {TIMEOUT:.0f}s waiting for {what} ({progress()})")
        if now - last >= 5:
            print(f"  ... {now - t0:5.1f}s {progress()}", flush=True)
            last = now
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def settled(requests: Requests) -> Counter[tuple[str, str, str, int]]:
    """The request counts once the operator made no write for a whole second."""
    last = await requests.snapshot()
    while True:
        await asyncio.sleep(1.0)  # the quiet period being measured
        now = await requests.snapshot()
        if not writes_of(OPERATOR_AGENT, last, now):
            return now
        last = now


async def remaining(client: Client) -> int:
    """PodCliques, PodGangs, Services and pods left in the namespace."""
    lists = await asyncio.gather(*(client.list(r, NAMESPACE) for r in (PODCLIQUES, PODGANGS, SERVICES, PODS)))
    return sum(len(lst.items) for lst in lists)


async def gone(client: Client, t0: float) -> float:
    """Seconds from ``t0`` until the namespace holds nothing of the test."""
    while True:
        left = await remaining(client)
        if not left:
            return time.monotonic() - t0
        if time.monotonic() - t0 > TIMEOUT:
            raise SystemExit(f"timed out after {TIMEOUT:.0f}s: {left} objects left")
        await asyncio.sleep(0.2)


def print_writes(title: str, writes: Counter[tuple[str, str]]) -> None:
    """A table of writes by resource and verb, per pod."""
    total = sum(writes.values())
    pod_writes = sum(n for (res, _v), n in writes.items() if res.split("/")[0] == "pods")
    per_pod = f"{total / TOTAL_PODS:.2f} per pod; pod writes {pod_writes / TOTAL_PODS:.2f} per pod"
    print(f"{title}: {total} = {per_pod}")
    for (res, verb), n in sorted(writes.items(), key=lambda kv: -kv[1]):
        print(f"    {verb:>16} {res:<32} {n:6d}  ({n / TOTAL_PODS:.2f}/pod)")


async def operator_run(
    client: Client, requests: Requests, kubeconfig: str, grove: str, concurrency: int
) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
    """The scale test through the operator; returns figures and an operator pod and PodClique."""
    port = _free_port()
    operator = await asyncio.create_subprocess_exec(
        grove,
        "operator",
        "--kubeconfig",
        kubeconfig,
        "--no-leader-elect",
        "--no-webhook",
        "--metrics-port",
        str(port),
        "--metrics-host",
        "127.0.0.1",
        *(f"--concurrency-{k}={concurrency}" for k in ("pcs", "pclq", "pcsg")),
        "--log-level",
        "warning",
        stdout=subprocess.DEVNULL,
    )
    figures: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            break
                if time.monotonic() > deadline or operator.returncode is not None:
                    raise SystemExit("the operator did not become ready")
                await asyncio.sleep(0.1)
        tracker = Tracker(client)
        await tracker.start()
        before = await requests.snapshot()
        t0 = time.monotonic()
        await client.create(PODCLIQUESETS, pcs_manifest())

        def progress() -> str:
            created, ready = len(tracker.seen), len(tracker.ready)
            return f"pods {created} created, {ready} ready; PCS available {tracker.available}"

        figures["pods created"] = await until("pods", lambda: len(tracker.seen) >= TOTAL_PODS, progress, t0)
        created = writes_of(OPERATOR_AGENT, before, await requests.snapshot())
        by_kind = ", ".join(
            f"{verb} {res} {n}" for (res, verb), n in sorted(created.items(), key=lambda kv: -kv[1])
        )
        print(f"operator writes until all pods were created: {sum(created.values())} ({by_kind})")
        figures["pods ready"] = await until("ready", lambda: len(tracker.ready) >= TOTAL_PODS, progress, t0)
        figures["pcs available"] = await until(
            "available", lambda: tracker.available >= REPLICAS, progress, t0
        )
        available = await requests.snapshot()
        converging = writes_of(OPERATOR_AGENT, before, available)
        print_writes("operator writes until available", converging)
        figures["writes"] = sum(converging.values()) / TOTAL_PODS
        figures["pod writes"] = sum(n for (res, _v), n in converging.items() if res == "pods") / TOTAL_PODS
        converged = await settled(requests)
        trailing = writes_of(OPERATOR_AGENT, available, converged)
        print(
            f"operator writes after available until quiet for 1 s: {sum(trailing.values())} {dict(trailing)}"
        )
        failed = errors_of(OPERATOR_AGENT, before, converged)
        if failed:
            print(f"    failed writes: {dict(failed)}")

        # Upstream's trigger: grove.io/reconcile-trigger forces a reconcile and, unlike other PodCliqueSet
        # annotations, is not mirrored onto the PodGangs, so the reconcile has nothing to write.
        patch = {"metadata": {"annotations": {"grove.io/reconcile-trigger": str(time.time())}}}
        status_before = (await client.get(PODCLIQUESETS, PCS, NAMESPACE)).get("status") or {}
        await client.patch(PODCLIQUESETS, PCS, patch, NAMESPACE)
        await asyncio.sleep(STEADY_WINDOW)  # the measurement window itself
        steady = writes_of(OPERATOR_AGENT, converged, await requests.snapshot())
        figures["steady writes"] = sum(steady.values())
        detail = ", ".join(f"{verb} {res}: {n}" for (res, verb), n in sorted(steady.items()))
        print(
            f"operator writes in a {STEADY_WINDOW:.0f}s steady-state window after a trigger: "
            f"{figures['steady writes']:.0f}" + (f" ({detail})" if detail else "")
        )
        status_after = (await client.get(PODCLIQUESETS, PCS, NAMESPACE)).get("status") or {}
        for key in sorted(status_before.keys() | status_after.keys()):
            if status_before.get(key) != status_after.get(key):
                print(
                    f"    PodCliqueSet status.{key}: {status_before.get(key)!r} -> {status_after.get(key)!r}"
                )

        pod = tracker.template
        assert pod is not None
        pclq = (await client.list(PODCLIQUES, NAMESPACE, limit=1)).items[0]
        figures["rss"], figures["cpu"] = _proc_stats(operator.pid)
        t1 = time.monotonic()
        await client.delete(PODCLIQUESETS, PCS, NAMESPACE)
        figures["deleted"] = await gone(client, t1)
        deleting = writes_of(OPERATOR_AGENT, converged, await requests.snapshot()) - steady
        print(
            f"operator writes while the PodCliqueSet was deleted: {sum(deleting.values())} {dict(deleting)}"
        )
        await tracker.stop()
        rss, cpu = _proc_stats(operator.pid)
        figures["rss"], figures["cpu"] = max(rss, figures["rss"]), cpu
        return figures, pod, pclq
    finally:
        operator.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(operator.wait(), 30)
        except TimeoutError:
            operator.kill()


def _plain(obj: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of ``obj`` to create as a new object named ``name``: no owner, server fields or status."""
    out = copy.deepcopy(obj)
    md = out["metadata"]
    out["metadata"] = {"name": name, "namespace": NAMESPACE, "labels": md.get("labels") or {}}
    out.pop("status", None)
    spec = out["spec"]
    for key in ("schedulingGates", "nodeName"):
        spec.pop(key, None)
    return out


async def floor_run(
    client: Client, pod: dict[str, Any], pclq: dict[str, Any], concurrency: int
) -> dict[str, float]:
    """The same objects created and deleted by a plain loop, ``concurrency`` writes at a time."""
    sem = asyncio.Semaphore(concurrency)

    async def write(call: Callable[[], Awaitable[Any]]) -> None:
        async with sem:
            await call()

    pclqs = [_plain(pclq, f"floor-{i}-worker") for i in range(REPLICAS)]
    pods = [_plain(pod, f"floor-{i}-worker-{k}") for i in range(REPLICAS) for k in range(PODS_PER_REPLICA)]
    for i, p in enumerate(pods):
        p["spec"]["hostname"] = p["metadata"]["name"]
        p["metadata"]["labels"] = {**p["metadata"]["labels"], "grove.io/podclique": f"floor-{i // 2}-worker"}
    figures: dict[str, float] = {}
    t0 = time.monotonic()

    async def replica(i: int) -> None:
        await write(lambda: client.create(PODCLIQUES, pclqs[i]))
        await asyncio.gather(*(write(lambda p=p: client.create(PODS, p)) for p in pods[2 * i : 2 * i + 2]))

    await asyncio.gather(*(replica(i) for i in range(REPLICAS)))
    figures["pods created"] = time.monotonic() - t0

    t1 = time.monotonic()
    await asyncio.gather(
        *(write(lambda o=o: client.delete(PODS, o["metadata"]["name"], NAMESPACE)) for o in pods),
        *(write(lambda o=o: client.delete(PODCLIQUES, o["metadata"]["name"], NAMESPACE)) for o in pclqs),
    )
    figures["deleted"] = await gone(client, t1)
    return figures


async def drive(kubeconfig: str, concurrency: int) -> None:
    configure_logging("warning")
    grove = str(Path(sys.executable).with_name("grove"))
    client = await Client.connect(kubeconfig, user_agent=f"{BENCH_AGENT}/0")
    try:
        await install_crds(client)
        with contextlib.suppress(Exception):
            await client.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
        async with aiohttp.ClientSession() as session:
            requests = Requests(session, client.host)
            print(
                f"== operator: PodCliqueSet {PCS} with {REPLICAS} replicas x {PODS_PER_REPLICA} pods, "
                f"controller concurrency {concurrency}",
                flush=True,
            )
            op, pod, pclq = await operator_run(client, requests, kubeconfig, grove, concurrency)
        print(f"== floor: {REPLICAS} PodCliques and {TOTAL_PODS} pods by a plain loop, ", end="")
        print(f"{concurrency} concurrent writes", flush=True)
        floor = await floor_run(client, pod, pclq, concurrency)
    finally:
        await client.close()
    print()
    print(f"{'':28}{'operator':>10}{'floor':>10}{'ratio':>8}")
    print(
        f"{'seconds to pods created':28}{op['pods created']:10.1f}{floor['pods created']:10.1f}"
        f"{op['pods created'] / floor['pods created']:8.2f}   (goal <= 1.5)"
    )
    print(f"{'seconds to pods ready':28}{op['pods ready']:10.1f}   (upstream, k3d + KWOK: 42.8)")
    print(f"{'seconds to PCS available':28}{op['pcs available']:10.1f}")
    print(
        f"{'seconds to delete all':28}{op['deleted']:10.1f}{floor['deleted']:10.1f}"
        f"{op['deleted'] / floor['deleted']:8.2f}   (upstream pcs-deleted: 37.9)"
    )
    print(f"{'operator writes per pod':28}{op['writes']:10.2f}   (goal <= 1.2)")
    print(f"{'  of which to pods':28}{op['pod writes']:10.2f}   (create + scheduling gate removal)")
    print(f"{'steady-state writes (30 s)':28}{op['steady writes']:10.0f}   (goal 0)")
    print(f"{'operator peak RSS (MiB)':28}{op['rss']:10.0f}")
    print(f"{'operator CPU seconds':28}{op['cpu']:10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--nodes", type=int, default=100, help="fake nodes (default: %(default)s)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=20,
        help="controller concurrency and floor writes (default: %(default)s)",
    )
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.nodes))
        return
    with tempfile.TemporaryDirectory(prefix="grove-scale-") as tmp:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", kubeconfig, "--nodes", str(args.nodes)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not os.path.exists(kubeconfig):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the dev cluster did not start")
                time.sleep(0.05)
            asyncio.run(drive(kubeconfig, args.concurrency))
            stats = _proc_stats(server.pid)
            print(f"{'dev cluster CPU seconds':28}{stats[1]:10.1f}   (peak RSS {stats[0]:.0f} MiB)")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


if __name__ == "__main__":
    main()
