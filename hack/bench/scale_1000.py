"""Upstream Grove's 1000-pod scale test: one PodCliqueSet with 500 replicas of a standalone clique of 2 pods,
100 fake nodes, default-scheduler, on either tier.

* Default, the emulator: the dev cluster (API server, kubelets, scheduler stand-in; started by this script
  with ``--serve``, which also counts every API request by user agent, verb and resource).
* ``--k8s-assets DIR`` (or ``$GROVE_K8S_ASSETS``): a real control plane (``grove.envtest.controlplane``:
  etcd, kube-apiserver, kube-controller-manager, kube-scheduler, which binds the pods), Grove's CRDs and
  RBAC installed as in a cluster, 100 fake nodes and kubelets over HTTP (``HttpKubelets``, in a process of
  their own started with ``--serve-kubelets``). The operator runs under its ServiceAccount's token; its
  writes are counted from the API server's audit log (its user's requests, Metadata level), as are the
  garbage collector's deletes. Only inside a private loopback-only network namespace::

      hack/netns.sh .venv/bin/python hack/bench/scale_1000.py --k8s-assets /tmp/k8s

* ``--kubeconfig FILE``: an existing cluster with fake nodes (tainted ``fake-node=true:NoSchedule``); the
  operator runs with that kubeconfig and its writes are not counted (no audit log here).

The operator is its own process (``grove operator --kubeconfig``, so its RSS and CPU are its own), beside
this driver (one PodCliqueSet create and two informers). Printed:

* seconds from the create to all pods created, all pods Ready, PodCliqueSet available (500/500);
* the operator's API writes while converging, per pod: pod writes and all writes, by resource and verb;
* its writes in a 30 s steady-state window after a reconcile trigger (an annotation on the PodCliqueSet),
  which should be none;
* seconds from ``delete pcs`` until every pod, PodClique, PodGang and Service is gone, and how much of it
  came after the operator's last delete (the garbage collector's part: it deletes the owned objects);
* the operator's peak RSS and CPU seconds;
* the floor: copies of every PodClique, Service, PodGang and pod the operator created (without owner
  references and scheduling gates) created and then deleted by a plain loop with the same client
  (``grove.runtime.client.Client``) and as many concurrent writes as the operator's ``max_parallel_writes``,
  against the same server, and the operator's ratio to it.

Upstream (k3d + 100 KWOK nodes, concurrency 20): pods-ready 42.8 s, pcs-deleted 37.9 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import aiohttp

from grove.controllers.operator import USER_AGENT, OperatorOptions, install_crds
from grove.controllers.resources import PODCLIQUES, PODCLIQUESETS, PODGANGS, PODS, SERVICES
from grove.runtime.client import Client
from grove.runtime.errors import NotFound
from grove.runtime.informer import FuncHandler, Informer
from grove.runtime.logging import configure_logging
from grove.runtime.resources import NAMESPACES

NAMESPACE = "scale"
PCS = "scale-test"
FLOOR = "floor-test"  # as long as PCS: the floor's copies are the operator's objects byte for byte
REPLICAS = 500
PODS_PER_REPLICA = 2
TOTAL_PODS = REPLICAS * PODS_PER_REPLICA
STEADY_WINDOW = 30.0
TIMEOUT = 600.0
MAX_PARALLEL_WRITES = OperatorOptions().max_parallel_writes
# Requests are attributed by the product token of their User-Agent (emulator) or by user (audit log).
OPERATOR_AGENT = USER_AGENT.split("/", 1)[0]
GC = "garbage-collector"
BENCH_AGENT = "scale-bench"
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
WRITE_VERBS = frozenset(("create", "update", "patch", "delete", "deletecollection"))
OWNED = (PODCLIQUES, SERVICES, PODGANGS, PODS)

# The real tier.
SYSTEM_NAMESPACE = "grove-system"
OPERATOR_USER = f"system:serviceaccount:{SYSTEM_NAMESPACE}:grove-operator"
GC_USER = "system:serviceaccount:kube-system:generic-garbage-collector"
AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "users": [OPERATOR_USER]},
        {"level": "Metadata", "users": [GC_USER], "verbs": ["delete", "deletecollection"]},
        {"level": "None"},
    ],
}
# tests/k8s_tier.py's FAST_KUBELETS (as the e2e package's dev cluster): containers exit on SIGTERM.
FAST_KUBELETS: dict[str, Any] = {
    "start_delay": 0.05,
    "init_container_duration": 0.05,
    "gate_recheck_interval": 0.2,
    "exit_on_sigterm_after": 0.05,
}

Key = tuple[str, str, str, int]
"""(who, verb, resource, status): who is a User-Agent product token or OPERATOR_AGENT/GC (audit log)."""


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


# ------------------------------------------------------------------------------------------ server processes


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
    counts: Counter[Key] = Counter()

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


async def serve_kubelets(kubeconfig: str, nodes: int) -> None:
    """Fake nodes and kubelets over HTTP on a real API server, until SIGTERM (``--serve-kubelets``)."""
    from grove.devcluster.simulation import SimulationOptions
    from grove.envtest.kubelet import HttpKubelets
    from grove.initc.rule import make_initc_gate

    configure_logging("warning")
    kubelets = HttpKubelets(kubeconfig, nodes=nodes, options=SimulationOptions(**FAST_KUBELETS))
    kubelets.add_init_container_gate(make_initc_gate(kubelets.list_pods))
    await kubelets.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await kubelets.stop()


# ------------------------------------------------------------------------------------------ write counts


class WriteLog(Protocol):
    """Where the API requests are counted."""

    async def snapshot(self) -> Counter[Key]:
        """Counts so far: (who, verb, resource, status) -> requests."""
        ...


class Requests:
    """The emulator's request counts (``--serve``'s middleware)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def snapshot(self) -> Counter[Key]:
        async with self.session.get(f"{self.url}/_bench/requests") as r:
            return Counter({(a, v, res, code): n for a, v, res, code, n in await r.json()})


class AuditLog:
    """Writes of the operator's and the garbage collector's users, read from kube-apiserver's audit log
    (JSON lines, written as requests complete)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.rest = b""
        self.counts: Counter[Key] = Counter()

    async def snapshot(self) -> Counter[Key]:
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
            self.offset += len(data)
            lines = (self.rest + data).split(b"\n")
            self.rest = lines.pop()
            for line in lines:
                self._count(json.loads(line))
        return Counter(self.counts)

    def _count(self, event: dict[str, Any]) -> None:
        verb = event.get("verb", "")
        if event.get("stage") != "ResponseComplete" or verb not in WRITE_VERBS:
            return
        user = (event.get("user") or {}).get("username", "")
        who = OPERATOR_AGENT if user == OPERATOR_USER else GC if user == GC_USER else user
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", "-") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        code = int((event.get("responseStatus") or {}).get("code") or 0)
        self.counts[(who, verb, resource, code)] += 1


class NoWriteLog:
    """An existing cluster: no counts."""

    async def snapshot(self) -> Counter[Key]:
        return Counter()


def writes_of(who: str, before: Counter[Key], after: Counter[Key]) -> Counter[tuple[str, str]]:
    """(resource, verb) -> writes by ``who`` between two snapshots."""
    out: Counter[tuple[str, str]] = Counter()
    for (a, verb, resource, _code), n in (after - before).items():
        if a == who:
            out[(resource, verb)] += n
    return out


def errors_of(who: str, before: Counter[Key], after: Counter[Key]) -> Counter[tuple[str, str, int]]:
    """(resource, verb, status) -> failed writes by ``who``."""
    return Counter(
        {(res, v, code): n for (a, v, res, code), n in (after - before).items() if a == who and code >= 300}
    )


# ------------------------------------------------------------------------------------------ driver


@dataclass
class Target:
    """The cluster the benchmark runs against."""

    tier: str
    kubeconfig: str
    """The driver's (admin) credentials."""
    operator_kubeconfig: str
    writes: WriteLog | None = None
    """None: the emulator's request counts, at the kubeconfig's server."""
    counted: bool = True
    operator_env: dict[str, str] = field(default_factory=dict)
    nodes: int = 0
    """Wait for this many Ready nodes first (0: don't)."""
    processes: dict[str, int] = field(default_factory=dict)
    """The cluster's processes (name -> pid), for their CPU seconds."""


def _proc_pid(pid: int) -> int:
    """``pid``'s number in /proc: under ``hack/netns.sh`` (a PID namespace, /proc not remounted) /proc is
    the outer namespace's, so the process is found by the last entry of its ``NSpid``."""
    if Path(f"/proc/{pid}/status").exists() and os.readlink("/proc/self/ns/pid") == os.readlink(
        f"/proc/{pid}/ns/pid"
    ):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("NSpid:") and int(line.split()[-1]) == pid:
                    return pid
    mine = os.readlink("/proc/self/ns/pid")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{entry}/ns/pid") != mine:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("NSpid:") and int(line.split()[-1]) == pid:
                    return int(entry)
    return pid


def _proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MiB, CPU seconds) of a live process, from /proc."""
    pid = _proc_pid(pid)
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return peak, (int(fields[11]) + int(fields[12])) / ticks


def _listening_ports(pid: int) -> list[int]:
    """TCP ports process ``pid`` listens on (what ``--metrics-port 0`` picked)."""
    pid = _proc_pid(pid)
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = []
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class Tracker:
    """Milestones from informers: pods created and Ready, PodCliqueSet available."""

    def __init__(self, client: Client) -> None:
        self.pods = Informer(client, PODS, namespace=NAMESPACE)
        self.pcs = Informer(client, PODCLIQUESETS, namespace=NAMESPACE)
        self.seen: set[str] = set()
        self.ready: set[str] = set()
        self.live: set[str] = set()
        self.available = 0
        self.pods.add_event_handler(
            FuncHandler(add=self._pod_add, update=self._pod_update, delete=self._pod_delete)
        )
        self.pcs.add_event_handler(FuncHandler(add=self._pcs, update=lambda _o, n: self._pcs(n, False)))

    def _pod_add(self, pod: dict[str, Any], _initial: bool) -> None:
        name = pod["metadata"]["name"]
        self.seen.add(name)
        self.live.add(name)
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

    def progress(self) -> str:
        """Pods created and Ready, PodCliqueSet available."""
        created, ready = len(self.seen), len(self.ready)
        return f"pods {created} created, {ready} ready; PCS available {self.available}"

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


async def settled(writes: WriteLog) -> Counter[Key]:
    """The request counts once the operator made no write for a whole second."""
    last = await writes.snapshot()
    while True:
        await asyncio.sleep(1.0)  # the quiet period being measured
        now = await writes.snapshot()
        if not writes_of(OPERATOR_AGENT, last, now):
            return now
        last = now


async def remaining(client: Client) -> int:
    """PodCliques, PodGangs, Services and pods left in the namespace."""
    lists = await asyncio.gather(*(client.list(r, NAMESPACE) for r in OWNED))
    return sum(len(lst.items) for lst in lists)


@dataclass
class Deletion:
    """Seconds from the first delete until the PodCliqueSet itself was gone, the operator's last write and
    the last object was gone (the operator's last write as polled, to 0.2 s)."""

    pcs_gone: float = 0.0
    operator_done: float = 0.0
    all_gone: float = 0.0


async def gone(client: Client, t0: float, writes: WriteLog | None = None) -> Deletion:
    """Seconds from ``t0`` until the namespace holds nothing of the test."""
    out = Deletion()
    last = await writes.snapshot() if writes is not None else Counter[Key]()
    pcs = writes is not None
    while True:
        left = await remaining(client)
        now = time.monotonic() - t0
        if writes is not None:
            counts = await writes.snapshot()
            if writes_of(OPERATOR_AGENT, last, counts):
                out.operator_done = now
            last = counts
        if pcs:
            try:
                await client.get(PODCLIQUESETS, PCS, NAMESPACE)
            except NotFound:
                out.pcs_gone, pcs = now, False
        if not left and not pcs:
            out.all_gone = now
            return out
        if now > TIMEOUT:
            raise SystemExit(f"timed out after {TIMEOUT:.0f}s: {left} objects left")
        await asyncio.sleep(0.2)


def by_kind(writes: Counter[tuple[str, str]]) -> str:
    """``verb resource n, ...``, most first."""
    return ", ".join(f"{verb} {res} {n}" for (res, verb), n in sorted(writes.items(), key=lambda kv: -kv[1]))


def print_writes(title: str, writes: Counter[tuple[str, str]]) -> None:
    """A table of writes by resource and verb, per pod."""
    total = sum(writes.values())
    pod_writes = sum(n for (res, _v), n in writes.items() if res.split("/")[0] == "pods")
    per_pod = f"{total / TOTAL_PODS:.2f} per pod; pod writes {pod_writes / TOTAL_PODS:.2f} per pod"
    print(f"{title}: {total} = {per_pod}")
    for (res, verb), n in sorted(writes.items(), key=lambda kv: -kv[1]):
        print(f"    {verb:>16} {res:<32} {n:6d}  ({n / TOTAL_PODS:.2f}/pod)")


async def start_operator(target: Target, grove: str, concurrency: int) -> asyncio.subprocess.Process:
    """``grove operator`` under the target's operator credentials, once its /readyz answers."""
    operator = await asyncio.create_subprocess_exec(
        grove,
        "operator",
        "--kubeconfig",
        target.operator_kubeconfig,
        "--no-leader-elect",
        "--no-webhook",
        "--metrics-port",
        "0",
        "--metrics-host",
        "127.0.0.1",
        *(f"--concurrency-{k}={concurrency}" for k in ("pcs", "pclq", "pcsg")),
        "--log-level",
        "warning",
        stdout=subprocess.DEVNULL,
        env={**os.environ, **target.operator_env},
    )
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while True:
            for port in _listening_ports(operator.pid):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            return operator
            if time.monotonic() > deadline or operator.returncode is not None:
                operator.kill()
                raise SystemExit("the operator did not become ready")
            await asyncio.sleep(0.1)


async def operator_run(
    client: Client, writes: WriteLog, target: Target, grove: str, concurrency: int
) -> tuple[dict[str, float], dict[str, list[dict[str, Any]]]]:
    """The scale test through the operator; returns figures and the objects it created, by resource."""
    operator = await start_operator(target, grove, concurrency)
    figures: dict[str, float] = {}
    try:
        tracker = Tracker(client)
        await tracker.start()
        before = await writes.snapshot()
        t0 = time.monotonic()
        await client.create(PODCLIQUESETS, pcs_manifest())

        figures["pods created"] = await until(
            "pods", lambda: len(tracker.seen) >= TOTAL_PODS, tracker.progress, t0
        )
        if target.counted:
            created = writes_of(OPERATOR_AGENT, before, await writes.snapshot())
            print(
                f"operator writes until all pods were created: {sum(created.values())} ({by_kind(created)})"
            )
        figures["pods ready"] = await until(
            "ready", lambda: len(tracker.ready) >= TOTAL_PODS, tracker.progress, t0
        )
        figures["pcs available"] = await until(
            "available", lambda: tracker.available >= REPLICAS, tracker.progress, t0
        )
        available = await writes.snapshot()
        converging = writes_of(OPERATOR_AGENT, before, available)
        if target.counted:
            print_writes("operator writes until available", converging)
        figures["writes"] = sum(converging.values()) / TOTAL_PODS
        figures["pod writes"] = sum(n for (res, _v), n in converging.items() if res == "pods") / TOTAL_PODS
        converged = await settled(writes)
        if target.counted:
            trailing = writes_of(OPERATOR_AGENT, available, converged)
            print(
                f"operator writes after available until quiet for 1 s: {sum(trailing.values())} "
                f"{dict(trailing)}"
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
        steady = writes_of(OPERATOR_AGENT, converged, await writes.snapshot())
        figures["steady writes"] = sum(steady.values())
        if target.counted:
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

        lists = await asyncio.gather(*(client.list(r, NAMESPACE) for r in OWNED))
        objects = {r.plural: lst.items for r, lst in zip(OWNED, lists, strict=True)}
        figures["rss"], figures["cpu"] = _proc_stats(operator.pid)
        before_delete = await writes.snapshot()
        t1 = time.monotonic()
        await client.delete(PODCLIQUESETS, PCS, NAMESPACE)
        deletion = await gone(client, t1, writes if target.counted else None)
        figures["deleted"] = deletion.all_gone
        figures["pcs gone"] = deletion.pcs_gone
        figures["operator deletes done"] = deletion.operator_done
        after_delete = await writes.snapshot()
        deleting = writes_of(OPERATOR_AGENT, before_delete, after_delete)
        collected = writes_of(GC, before_delete, after_delete)
        figures["gc deletes"] = sum(collected.values())
        if target.counted:
            print(
                f"operator writes while the PodCliqueSet was deleted: {sum(deleting.values())} "
                f"{dict(deleting)}"
            )
            collector = (
                f"{sum(collected.values())} ({by_kind(collected)})"
                if target.tier == "real"
                else "not counted (in-process); it deletes what the operator does not"
            )
            print(f"garbage collector deletes: {collector}")
            print(
                f"deletion: PodCliqueSet gone after {deletion.pcs_gone:.1f}s, the operator's last write at "
                f"{deletion.operator_done:.1f}s, the last object gone at {deletion.all_gone:.1f}s "
                f"(after the operator's last write: {deletion.all_gone - deletion.operator_done:.1f}s, "
                "the garbage collector's)"
            )
        await tracker.stop()
        rss, cpu = _proc_stats(operator.pid)
        figures["rss"], figures["cpu"] = max(rss, figures["rss"]), cpu
        return figures, objects
    finally:
        operator.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(operator.wait(), 30)
        except TimeoutError:
            operator.kill()


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of an operator-made ``obj`` for the floor: PCS's name replaced by FLOOR's (same length)
    everywhere, no owner, server fields, status, scheduling gates, node or admission-added fields."""
    md = obj["metadata"]
    meta = {"name": md["name"], "namespace": NAMESPACE, "labels": md.get("labels") or {}}
    if md.get("annotations"):
        meta["annotations"] = md["annotations"]
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    out["metadata"] = meta
    out = cast(dict[str, Any], json.loads(json.dumps(out).replace(PCS, FLOOR)))
    spec = out.get("spec") or {}
    if out.get("kind") == "Pod":
        for key in ("schedulingGates", "nodeName", "priority"):
            spec.pop(key, None)
        # The service account admission plugin adds its token volume to the copy, as to the original.
        tokens = {v["name"] for v in spec.get("volumes") or () if v["name"].startswith("kube-api-access-")}
        if tokens:
            spec["volumes"] = [v for v in spec["volumes"] if v["name"] not in tokens]
            for c in (*spec.get("initContainers", ()), *spec.get("containers", ())):
                c["volumeMounts"] = [m for m in c.get("volumeMounts") or () if m["name"] not in tokens]
    if out.get("kind") == "Service" and spec.get("clusterIP") != "None":
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
    return out


async def floor_run(
    client: Client, tracker_client: Client, objects: dict[str, list[dict[str, Any]]], concurrency: int
) -> dict[str, float]:
    """Copies of the operator's objects created and deleted by a plain loop, ``concurrency`` writes at a
    time: each PodClique then its pods, the Services and PodGangs in between, in the operator's numbers."""
    sem = asyncio.Semaphore(concurrency)
    resources = {r.plural: r for r in OWNED}

    async def create(plural: str, obj: dict[str, Any]) -> None:
        async with sem:
            await client.create(resources[plural], obj)

    async def delete(plural: str, obj: dict[str, Any]) -> None:
        async with sem:
            await client.delete(resources[plural], obj["metadata"]["name"], NAMESPACE)

    copies = {plural: [_plain(o) for o in items] for plural, items in objects.items()}
    pods_of: dict[str, list[dict[str, Any]]] = {}
    for pod in copies["pods"]:
        pods_of.setdefault(pod["metadata"]["labels"].get("grove.io/podclique", ""), []).append(pod)
    pclqs = copies["podcliques"]

    async def replica(i: int, pclq: dict[str, Any]) -> None:
        # The i-th Service and PodGang beside the i-th PodClique, then its pods.
        extra = [(r, copies[r][i]) for r in ("services", "podgangs") if i < len(copies[r])]
        await asyncio.gather(create("podcliques", pclq), *(create(r, o) for r, o in extra))
        await asyncio.gather(*(create("pods", p) for p in pods_of.get(pclq["metadata"]["name"], ())))

    tracker = Tracker(tracker_client)
    await tracker.start()
    figures: dict[str, float] = {}
    t0 = time.monotonic()
    pclqs = copies["podcliques"]
    creating = asyncio.ensure_future(asyncio.gather(*(replica(i, p) for i, p in enumerate(pclqs))))
    leftover = [(r, o) for r in ("services", "podgangs") for o in copies[r][len(pclqs) :]]
    await asyncio.gather(*(create(r, o) for r, o in leftover))
    total = len(copies["pods"])
    figures["pods created"] = await until(
        "floor pods", lambda: len(tracker.seen) >= total, tracker.progress, t0
    )
    await creating
    figures["all created"] = time.monotonic() - t0
    figures["pods ready"] = await until(
        "floor ready", lambda: len(tracker.ready) >= total, tracker.progress, t0
    )
    await tracker.stop()

    t1 = time.monotonic()
    order = ("pods", "podcliques", "services", "podgangs")
    await asyncio.gather(*(delete(r, o) for r in order for o in copies[r]))
    figures["deleted"] = (await gone(client, t1)).all_gone
    return figures


async def wait_for_cluster(client: Client, target: Target) -> None:
    """Ready nodes, and the namespace's default ServiceAccount (without it a real API server refuses pods)."""
    from grove.runtime.resources import NODES, SERVICE_ACCOUNTS

    deadline = time.monotonic() + 120
    while True:
        nodes = (await client.list(NODES)).items
        ready = sum(
            any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in n.get("status", {}).get("conditions", ())
            )
            for n in nodes
        )
        try:
            await client.get(SERVICE_ACCOUNTS, "default", NAMESPACE)
            account = True
        except NotFound:
            account = False
        if ready >= target.nodes and account:
            return
        if time.monotonic() > deadline:
            raise SystemExit(
                f"cluster not ready: {ready}/{target.nodes} nodes Ready, default account {account}"
            )
        await asyncio.sleep(0.2)


async def drive(target: Target, concurrency: int) -> None:
    configure_logging("warning")
    grove = str(Path(sys.executable).with_name("grove"))
    client = await Client.connect(target.kubeconfig, user_agent=f"{BENCH_AGENT}/0")
    # The floor writes with the operator's credentials (on a real API server: its priority level too).
    floor_client = await Client.connect(target.operator_kubeconfig, user_agent=f"{BENCH_AGENT}/0")
    try:
        await install_crds(client)
        with contextlib.suppress(Exception):
            await client.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
        await wait_for_cluster(client, target)
        async with aiohttp.ClientSession() as session:
            writes = target.writes or Requests(session, client.host)
            print(
                f"== {target.tier}: operator, PodCliqueSet {PCS} with {REPLICAS} replicas x "
                f"{PODS_PER_REPLICA} pods, controller concurrency {concurrency}, "
                f"max_parallel_writes {MAX_PARALLEL_WRITES}",
                flush=True,
            )
            op, objects = await operator_run(client, writes, target, grove, concurrency)
        made = ", ".join(f"{len(v)} {k}" for k, v in objects.items())
        print(f"== floor: copies of the operator's {made} by a plain loop, ", end="")
        print(f"{MAX_PARALLEL_WRITES} concurrent writes (the operator's max_parallel_writes)", flush=True)
        floor = await floor_run(floor_client, client, objects, MAX_PARALLEL_WRITES)
    finally:
        await floor_client.close()
        await client.close()
    print()
    print(f"{'':28}{'operator':>10}{'floor':>10}{'ratio':>8}")

    def row(label: str, key: str, goal: str) -> None:
        print(f"{label:28}{op[key]:10.1f}{floor[key]:10.1f}{op[key] / floor[key]:8.2f}   {goal}".rstrip())

    row("seconds to pods created", "pods created", "")
    row("seconds to pods ready", "pods ready", "(goal <= 1.5; upstream, k3d + KWOK: 42.8)")
    print(
        f"{'seconds to PCS available':28}{op['pcs available']:10.1f}{floor['pods ready']:10.1f}"
        f"{op['pcs available'] / floor['pods ready']:8.2f}   (floor: its pods ready; goal <= 1.7)"
    )
    row("seconds to delete all", "deleted", "(goal <= 1.5; upstream pcs-deleted: 37.9)")
    if target.counted:
        print(
            f"{'  operator done writing at':28}{op['operator deletes done']:10.1f}   "
            f"(PodCliqueSet gone at {op['pcs gone']:.1f}; the garbage collector's part: "
            f"{op['deleted'] - op['operator deletes done']:.1f} s"
            + (f", {op['gc deletes']:.0f} deletes)" if target.tier == "real" else ")")
        )
        print(f"{'operator writes per pod':28}{op['writes']:10.2f}   (goal <= 6.0)")
        print(f"{'  of which to pods':28}{op['pod writes']:10.2f}   (create + scheduling gate removal)")
        print(f"{'steady-state writes (30 s)':28}{op['steady writes']:10.0f}   (goal 0)")
    else:
        print("operator writes: not counted (an existing cluster: no audit log)")
    print(f"{'operator peak RSS (MiB)':28}{op['rss']:10.0f}")
    print(f"{'operator CPU seconds':28}{op['cpu']:10.1f}")
    for name, pid in target.processes.items():
        with contextlib.suppress(OSError):
            rss, cpu = _proc_stats(pid)
            print(f"{name + ' CPU seconds':28}{cpu:10.1f}   (peak RSS {rss:.0f} MiB)")


# ------------------------------------------------------------------------------------------ tiers


def run_emulator(args: argparse.Namespace) -> None:
    """The dev cluster in a process of its own (``--serve``)."""
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
            target = Target(
                tier="emulator",
                kubeconfig=kubeconfig,
                operator_kubeconfig=kubeconfig,
                processes={"dev cluster": server.pid},
            )
            asyncio.run(drive(target, args.concurrency))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


async def install(admin_kubeconfig: str) -> str:
    """Grove's CRDs and RBAC, the fake nodes' topology; the operator's token."""
    from grove.controllers.resources import CLUSTER_TOPOLOGY_BINDINGS
    from grove.devcluster.nodes import NodeShape
    from grove.devstack import dev_topology
    from grove.envtest.install import FIELD_MANAGER, install_grove, service_account_token

    async with await Client.connect(admin_kubeconfig) as admin:
        await install_grove(admin)
        await admin.apply(
            CLUSTER_TOPOLOGY_BINDINGS, dev_topology(NodeShape()), field_manager=FIELD_MANAGER, force=True
        )
        return await service_account_token(admin, SYSTEM_NAMESPACE, "grove-operator")


def run_real(args: argparse.Namespace, assets: str) -> None:
    """A real control plane (in this, the main, thread), Grove installed, kubelets in a process."""
    from grove.envtest.controlplane import ControlPlane, ControlPlaneOptions

    plane = ControlPlane(ControlPlaneOptions(assets=Path(assets), audit_policy=AUDIT_POLICY)).start()
    try:
        admin = str(plane.kubeconfig_path)
        token = asyncio.run(install(admin))
        operator = plane.write_kubeconfig("grove-operator.kubeconfig", user=OPERATOR_USER, token=token)
        plane.spawn(
            "kubelets", [sys.executable, __file__, "--serve-kubelets", admin, "--nodes", str(args.nodes)]
        )
        target = Target(
            tier="real",
            kubeconfig=admin,
            operator_kubeconfig=str(operator),
            writes=AuditLog(plane.audit_log),
            # As in its pod: no namespace to look up or create (which its RBAC refuses).
            operator_env={"POD_NAMESPACE": SYSTEM_NAMESPACE},
            nodes=args.nodes,
            processes=plane.pids,
        )
        asyncio.run(drive(target, args.concurrency))
    finally:
        plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--serve-kubelets", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--nodes", type=int, default=100, help="fake nodes (default: %(default)s)")
    parser.add_argument(
        "--concurrency", type=int, default=20, help="controller concurrency (default: %(default)s)"
    )
    tier = parser.add_mutually_exclusive_group()
    tier.add_argument(
        "--k8s-assets",
        metavar="DIR",
        default=os.environ.get("GROVE_K8S_ASSETS"),
        help="a real control plane from these binaries (default: $GROVE_K8S_ASSETS; else the emulator)",
    )
    tier.add_argument("--kubeconfig", metavar="FILE", help="run on an existing cluster with fake nodes")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.nodes))
    elif args.serve_kubelets:
        asyncio.run(serve_kubelets(args.serve_kubelets, args.nodes))
    elif args.kubeconfig:
        target = Target(tier="cluster", kubeconfig=args.kubeconfig, operator_kubeconfig=args.kubeconfig)
        target.writes, target.counted = NoWriteLog(), False
        asyncio.run(drive(target, args.concurrency))
    elif args.k8s_assets:
        run_real(args, args.k8s_assets)
    else:
        run_emulator(args)


if __name__ == "__main__":
    main()
