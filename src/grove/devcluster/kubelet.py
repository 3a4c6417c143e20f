"""Fake kubelets: run the pods bound to the fake nodes, as KWOK does, with a real kubelet's status shapes.

For every pod bound (``spec.nodeName``) to one of a :class:`~grove.devcluster.nodes.NodeFleet`'s nodes:

* admission: the node's allocatable cpu/memory/pods/extended resources and the pod's node selector and
  required node affinity are checked as the kubelet's ``GeneralPredicates`` do; a pod that does not fit
  fails (``OutOfcpu``, ``NodeAffinity``, ...);
* a Pending status at once (hostIP, PodScheduled, containers waiting), then after ``start_delay`` the pod
  sandbox (podIP ``10.244.<node>.<n>``, the lowest free address of the node's /24) and the first container:
  init containers run one after another, ``init_container_duration`` each (a restartable ``restartPolicy:
  Always`` init container is a sidecar: it starts and keeps running), then the containers start and the pod
  is Running; containers with a readiness probe turn ready after its ``initialDelaySeconds``; the Ready
  condition also waits for the pod's readiness gates;
* init container gates (:meth:`KubeletSimulation.add_init_container_gate`) can hold an init container
  running until a condition holds (the operator's ``grove-initc`` rule plugs in here);
* deletion: containers get SIGTERM when ``deletionTimestamp`` appears; they ignore it and are killed when
  the grace period ends (exit 137, phase Failed) unless ``exit_on_sigterm_after`` makes them exit earlier
  (exit 0, phase Succeeded); the kubelet then confirms with a delete with grace period 0 and the pod's UID;
* node failure: on a node that shuts down, running pods fail (reason ``Terminated``, DisruptionTarget
  ``TerminationByKubelet``); on an unreachable node pods turn NotReady (the node lifecycle controller's
  ``MarkPodsNotReady``) and nothing else happens until it recovers.

All timing is driven by one task and a heap of due times, so thousands of pods cost no per-pod tasks.

One simulation, two drivers. :class:`KubeletSimulation` is all of the above and computes every status
with :mod:`grove.devcluster.podstatus`; it reads pods and nodes and writes statuses and deletions only
through five methods a driver implements. :class:`FakeKubelet` is the emulator's driver: it follows the
store's events and writes into the store synchronously, so the kubelet's own writes are visible at once.
:class:`grove.envtest.kubelet.HttpKubelets` is the driver for any API server: a pod watch feeds it and its
writes are queued over HTTP, which it hides from the simulation by showing pods as they will be once its
queued writes land.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import heapq
import inspect
import ipaddress
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

from grove.api.podresources import pod_requests, resource_list
from grove.api.quantity import PODS
from grove.devcluster import meta
from grove.devcluster.errors import ApiError
from grove.devcluster.nodematch import pod_matches_node
from grove.devcluster.nodes import NOT_READY, READY, UNKNOWN, FakeNodes, NodeFleet
from grove.devcluster.podstatus import (
    CREATED,
    INIT,
    RUNNING,
    SHUTDOWN_MESSAGE,
    SHUTDOWN_REASON,
    WAITING,
    PodRun,
    live_status,
    not_ready_conditions,
    pod_key,
    rejected_status,
    terminal_status,
)
from grove.devcluster.watch import DELETED, WatchEvent

if TYPE_CHECKING:
    from grove.devcluster.cluster import DevCluster
    from grove.devcluster.resources import ResourceType
    from grove.devcluster.store import Store

log = structlog.get_logger("grove.devcluster.kubelet")

JSON = dict[str, Any]

InitContainerGate = Callable[[JSON, JSON], "bool | Awaitable[bool]"]
"""``gate(pod, init_container) -> bool`` (or an awaitable of it): False holds the init container running."""

KUBELET_FIELD_MANAGER = "kubelet"
NODE_CONTROLLER_FIELD_MANAGER = "node-controller"

_YIELD_EVERY = 100
_GATE_COALESCE = 0.05
# The kubelet checks pods first, then cpu, memory and ephemeral storage, then extended resources.
_RESOURCE_ORDER = {"pods": 0, "cpu": 1, "memory": 2, "ephemeral-storage": 3}


class KubeletSimulation(abc.ABC):
    """The kubelets of every node of ``nodes``, whatever API server they talk to (see the module doc).

    ``start_delay``: seconds from admission to the first container running (sandbox, image pulls).
    ``init_container_duration``: seconds each init container runs. ``exit_on_sigterm_after``: seconds
    containers take to exit after SIGTERM (None: they ignore it and are killed at the end of the grace
    period). ``gate_recheck_interval``: how often held init containers are re-checked when nothing changes.
    ``mark_pods_not_ready``: when a node turns unreachable, turn its pods NotReady at once as the node
    lifecycle controller does (leave it False where a real one runs).

    A driver feeds pod events to :meth:`_queue_event`, runs :meth:`_run_loop` in a task and implements
    the five I/O methods: :meth:`_clock`, :meth:`_read_pod`, :meth:`_read_node`,
    :meth:`_patch_pod_status` and :meth:`_delete_pod`.
    """

    def __init__(
        self,
        nodes: NodeFleet,
        *,
        start_delay: float = 0.5,
        init_container_duration: float = 0.1,
        exit_on_sigterm_after: float | None = None,
        gate_recheck_interval: float = 1.0,
        mark_pods_not_ready: bool = True,
    ) -> None:
        for name, value in (
            ("start_delay", start_delay),
            ("init_container_duration", init_container_duration),
            ("gate_recheck_interval", gate_recheck_interval),
        ):
            if value < 0:
                raise ValueError(f"kubelet {name} must be >= 0, got {value}")
        if exit_on_sigterm_after is not None and exit_on_sigterm_after < 0:
            raise ValueError(f"kubelet exit_on_sigterm_after must be >= 0, got {exit_on_sigterm_after}")
        self.nodes = nodes
        self.start_delay = start_delay
        self.init_container_duration = init_container_duration
        self.exit_on_sigterm_after = exit_on_sigterm_after
        self.gate_recheck_interval = max(gate_recheck_interval, 0.05)
        self.mark_pods_not_ready = mark_pods_not_ready
        self._gates: list[InitContainerGate] = []
        self._runs: dict[str, PodRun] = {}
        self._by_node: dict[str, set[str]] = {n: set() for n in nodes.names}
        self._used: dict[str, dict[str, int]] = {n: {} for n in nodes.names}
        self._free_ips: dict[str, list[int]] = {}
        self._next_ip: dict[str, int] = {}
        self._events: deque[tuple[str, JSON]] = deque()
        self._timers: list[tuple[float, int, PodRun, int]] = []
        self._seq = itertools.count()
        self._held: dict[str, PodRun] = {}
        self._gate_event = asyncio.Event()
        self._gate_check: asyncio.Task[None] | None = None
        self._last_gate_check = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None

    # ----------------------------------------------------------------- the driver's part

    @abc.abstractmethod
    def _clock(self) -> float:
        """Wall-clock epoch seconds for the timestamps the kubelet writes."""

    @abc.abstractmethod
    def _read_pod(self, key: str) -> JSON | None:
        """The pod ``namespace/name`` as the kubelet's own writes leave it, or None when it is gone (or
        the kubelet already deleted it)."""

    @abc.abstractmethod
    def _read_node(self, name: str) -> JSON | None:
        """The Node object, or None when it is gone."""

    @abc.abstractmethod
    def _patch_pod_status(self, run: PodRun, status: JSON, field_manager: str) -> None:
        """Post ``status`` (conditions merged already) for the pod of ``run``, guarded by its UID; a pod
        that is gone or was replaced is no error."""

    @abc.abstractmethod
    def _delete_pod(self, run: PodRun) -> None:
        """Delete the pod with grace period 0 and a UID precondition (gone or replaced: no error)."""

    # ----------------------------------------------------------------- public API

    def add_init_container_gate(self, gate: InitContainerGate) -> Callable[[], None]:
        """Register ``gate(pod, init_container) -> bool | Awaitable[bool]``, asked when an init container
        would finish; while any gate answers False the container keeps running (the pod stays
        ``Init:i/n``). Held containers are re-checked after cluster changes (coalesced) and every
        ``gate_recheck_interval``. A gate that raises holds too (and is logged). Returns an unregister
        callable. Call on the kubelet's loop (registering may precede the start)."""
        self._gates.append(gate)

        def remove() -> None:
            if gate in self._gates:
                self._gates.remove(gate)
                self._mark_gates_dirty()

        return remove

    # ----------------------------------------------------------------- lifecycle

    def _start_loop(self) -> None:
        """Follow node state changes and start the loop (the driver queued the existing pods first)."""
        self._unlisten = self.nodes.add_listener(self._on_node_state)
        self._task = asyncio.create_task(self._run_loop(), name="fake-kubelet")

    async def _stop_loop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for task in (self._task, self._gate_check):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None
        self._gate_check = None

    def _queue_event(self, type_: str, obj: JSON) -> None:
        """A pod event from the driver's source: handled if the pod is bound to one of our nodes or run."""
        if self._held:
            self._mark_gates_dirty()
        node = (obj.get("spec") or {}).get("nodeName")
        if (node and node in self._by_node) or pod_key(obj) in self._runs:
            self._events.append((type_, obj))
            self._wake.set()

    # ----------------------------------------------------------------- the loop

    async def _run_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            done = 0
            while self._events:
                type_, obj = self._events.popleft()
                try:
                    self._handle(type_, obj)
                except Exception:
                    log.exception("kubelet.event_failed", pod=pod_key(obj))
                done += 1
                if done % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            now = loop.time()
            while self._timers and self._timers[0][0] <= now and not self._events:
                _, _, run, token = heapq.heappop(self._timers)
                if run.token != token or self._runs.get(run.key) is not run:
                    continue
                try:
                    self._fire(run)
                except Exception:
                    log.exception("kubelet.step_failed", pod=run.key)
                done += 1
                if done % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                    now = loop.time()
            if self._events:
                continue
            self._wake.clear()
            timeout = self._timers[0][0] - loop.time() if self._timers else None
            if timeout is not None and timeout <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _schedule(self, run: PodRun, delay: float) -> None:
        run.token += 1
        heapq.heappush(
            self._timers, (asyncio.get_running_loop().time() + delay, next(self._seq), run, run.token)
        )
        self._wake.set()

    def _cancel(self, run: PodRun) -> None:
        run.token += 1

    # ----------------------------------------------------------------- pod events

    def _handle(self, type_: str, obj: JSON) -> None:
        key = pod_key(obj)
        run = self._runs.get(key)
        if run is not None and run.uid != obj["metadata"]["uid"]:
            self._forget(run)
            run = None
        if type_ == DELETED or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            if run is not None:
                self._forget(run)
            return
        if run is None:
            self._admit(key, obj)
        elif obj["metadata"].get("deletionTimestamp"):
            self._begin_deletion(run, obj)
        elif run.step == RUNNING and (obj.get("spec") or {}).get("readinessGates"):
            self._write(run, obj)

    def _admit(self, key: str, event_pod: JSON) -> None:
        # Events can be stale (this kubelet's own writes queue behind them): act on the pod as it is.
        pod = self._read_pod(key)
        if pod is None:
            return
        if pod["metadata"]["uid"] != event_pod["metadata"]["uid"] or (pod.get("status") or {}).get(
            "phase"
        ) in ("Succeeded", "Failed"):
            return
        node = pod["spec"]["nodeName"]
        run = PodRun(key, pod["metadata"]["uid"], node)
        self._runs[key] = run
        self._by_node[node].add(key)
        if self.nodes.state(node) != READY:
            run.step = WAITING
            return
        self._start_run(run, pod)

    def _start_run(self, run: PodRun, pod: JSON) -> None:
        """Admission on a live node, then the Pending status and the sandbox timer."""
        status = pod.get("status") or {}
        if status.get("phase") == "Running" and status.get("podIP"):
            self._resume_running(run, pod)
            return
        run.step = CREATED
        if pod["metadata"].get("deletionTimestamp"):
            self._confirm_deletion(run, pod)
            return
        rejection = self._admission_error(run, pod)
        if rejection is not None:
            self._reject(run, *rejection)
            return
        run.start_time = meta.rfc3339(self._clock())
        self._write(run, pod)
        self._schedule(run, self.start_delay)

    def _resume_running(self, run: PodRun, pod: JSON) -> None:
        """A pod already Running when this kubelet started (the component restarted): keep it as it is."""
        status = pod["status"]
        run.step = RUNNING
        with contextlib.suppress(ValueError):
            self._charge(run, {**pod_requests(pod.get("spec") or {}), PODS: 1})
        run.start_time = status.get("startTime") or meta.rfc3339(self._clock())
        run.started_at = run.start_time
        run.ip = status["podIP"]
        cidr = self.nodes.pod_cidr(run.node)
        with contextlib.suppress(ValueError):
            index = int(ipaddress.IPv4Address(run.ip)) - int(cidr.network_address)
            if 0 <= index < cidr.num_addresses:
                self._claim_ip(run, index)
        if pod["metadata"].get("deletionTimestamp"):
            self._begin_deletion(run, pod)

    def _admission_error(self, run: PodRun, pod: JSON) -> tuple[str, str] | None:
        """The kubelet's ``GeneralPredicates``: resources (pods first) against what the node's admitted
        pods use, then node selector/affinity. An admitted pod's requests count until it is forgotten."""
        spec = pod.get("spec") or {}
        # A kubelet whose Node object is gone admits against the node it registered (``getNodeAnyWay``).
        node_obj = self._read_node(run.node) or self.nodes.node_object(run.node, meta.rfc3339(self._clock()))
        try:
            want = pod_requests(spec)
            allocatable = resource_list((node_obj.get("status") or {}).get("allocatable"), "allocatable")
        except ValueError as e:
            return "UnexpectedAdmissionError", str(e)
        want[PODS] = 1
        used = self._used[run.node]
        for res in sorted(want, key=lambda r: (_RESOURCE_ORDER.get(r, len(_RESOURCE_ORDER)), r)):
            need, have, cap = want[res], used.get(res, 0), allocatable.get(res, 0)
            if need > 0 and have + need > cap:
                return f"OutOf{res}", (
                    f"Node didn't have enough resource: {res}, requested: {need}, used: {have}, "
                    f"capacity: {cap}"
                )
        if not pod_matches_node(spec, node_obj["metadata"].get("labels") or {}, run.node):
            return (
                "NodeAffinity",
                "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
            )
        self._charge(run, want)
        return None

    def _charge(self, run: PodRun, requests: dict[str, int]) -> None:
        used = self._used[run.node]
        run.requests = requests
        for res, v in requests.items():
            used[res] = used.get(res, 0) + v

    def _reject(self, run: PodRun, reason: str, message: str) -> None:
        """``rejectPod``: phase Failed with the reason, nothing started."""
        self._patch_pod_status(run, rejected_status(reason, message), KUBELET_FIELD_MANAGER)
        log.info("kubelet.pod_rejected", pod=run.key, node=run.node, reason=reason)
        self._forget(run)

    def _forget(self, run: PodRun) -> None:
        self._cancel(run)
        if self._runs.get(run.key) is run:
            del self._runs[run.key]
            self._by_node[run.node].discard(run.key)
        used = self._used[run.node]
        for res, v in run.requests.items():
            used[res] = used.get(res, 0) - v
        run.requests = {}
        self._held.pop(run.key, None)
        self._release_ip(run)

    # ----------------------------------------------------------------- addresses

    def _claim_ip(self, run: PodRun, index: int | None = None) -> None:
        """The lowest free address of the node's pod CIDR (or ``index``, when resuming a running pod)."""
        free = self._free_ips.setdefault(run.node, [])
        nxt = self._next_ip.get(run.node, 0)
        if index is None:
            if free:
                index = heapq.heappop(free)
            else:
                index = nxt
                self._next_ip[run.node] = nxt + 1
        elif index >= nxt:
            free.extend(range(nxt, index))
            heapq.heapify(free)
            self._next_ip[run.node] = index + 1
        elif index in free:
            free.remove(index)
            heapq.heapify(free)
        run.ip_index = index
        run.ip = str(self.nodes.pod_cidr(run.node).network_address + index)

    def _release_ip(self, run: PodRun) -> None:
        if run.ip_index >= 0:
            heapq.heappush(self._free_ips.setdefault(run.node, []), run.ip_index)
            run.ip_index = -1

    # ----------------------------------------------------------------- steps

    def _pod(self, run: PodRun) -> JSON | None:
        """The pod as it is now, or None (and the run forgotten) when it is gone or replaced."""
        pod = self._read_pod(run.key)
        if pod is None or pod["metadata"]["uid"] != run.uid:
            self._forget(run)
            return None
        return pod

    def _fire(self, run: PodRun) -> None:
        if self.nodes.state(run.node) == UNKNOWN:
            run.deferred = True
            return
        pod = self._pod(run)
        if pod is None:
            return
        if run.deleting:
            self._confirm_deletion(run, pod)
            return
        inits = (pod.get("spec") or {}).get("initContainers") or []
        if run.step == CREATED:
            self._claim_ip(run)
            if inits:
                run.step = INIT
                run.init_index = 0
                run.init_started = [meta.rfc3339(self._clock())]
                self._write(run, pod)
                self._schedule(run, self._init_duration(inits[0]))
            else:
                self._start_containers(run, pod)
        elif run.step == INIT:
            if self._gates:
                self._held[run.key] = run
                self._mark_gates_dirty()
            else:
                self._advance_init(run, pod, inits)
        elif run.step == RUNNING:
            self._write(run, pod)
            self._schedule_readiness(run)

    def _init_duration(self, container: JSON) -> float:
        return 0.0 if container.get("restartPolicy") == "Always" else self.init_container_duration

    def _advance_init(self, run: PodRun, pod: JSON, inits: list[JSON]) -> None:
        """Init container ``init_index`` is done (a sidecar: started); start the next one or the
        containers."""
        now = meta.rfc3339(self._clock())
        run.init_finished.append(now)
        run.init_index += 1
        if run.init_index < len(inits):
            run.init_started.append(now)
            self._write(run, pod)
            self._schedule(run, self._init_duration(inits[run.init_index]))
        else:
            self._start_containers(run, pod)

    def _start_containers(self, run: PodRun, pod: JSON) -> None:
        loop_now = asyncio.get_running_loop().time()
        run.step = RUNNING
        run.started_at = meta.rfc3339(self._clock())
        run.ready_at = {}
        spec = pod.get("spec") or {}
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            probe = c.get("readinessProbe")
            if probe:
                run.ready_at[c["name"]] = loop_now + float(probe.get("initialDelaySeconds") or 0)
        self._write(run, pod)
        self._schedule_readiness(run)

    def _schedule_readiness(self, run: PodRun) -> None:
        now = asyncio.get_running_loop().time()
        pending = [t for t in run.ready_at.values() if t > now]
        if pending:
            self._schedule(run, min(pending) - now)

    # ----------------------------------------------------------------- init container gates

    def _mark_gates_dirty(self) -> None:
        self._gate_event.set()
        if self._held and (self._gate_check is None or self._gate_check.done()):
            self._gate_check = asyncio.get_running_loop().create_task(
                self._check_gates(), name="kubelet-gates"
            )

    async def _check_gates(self) -> None:
        """Re-check every held init container after changes (coalesced to one check per 50 ms) and at
        least every ``gate_recheck_interval``, until none is held."""
        loop = asyncio.get_running_loop()
        while self._held:
            wait = self._last_gate_check + _GATE_COALESCE - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._gate_event.clear()
            self._last_gate_check = loop.time()
            for run in list(self._held.values()):
                if self._held.get(run.key) is not run or self.nodes.state(run.node) != READY:
                    continue
                pod = self._pod(run)
                if pod is None:
                    continue
                inits = (pod.get("spec") or {}).get("initContainers") or []
                if run.deleting or run.step != INIT or run.init_index >= len(inits):
                    self._held.pop(run.key, None)
                    continue
                passed = await self._gates_pass(pod, inits[run.init_index])
                if passed and self._held.get(run.key) is run:
                    del self._held[run.key]
                    fresh = self._pod(run)
                    if fresh is not None:
                        self._advance_init(run, fresh, inits)
            if self._held:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.gate_recheck_interval):
                        await self._gate_event.wait()

    async def _gates_pass(self, pod: JSON, container: JSON) -> bool:
        for gate in tuple(self._gates):
            try:
                result = gate(pod, container)
                if inspect.isawaitable(result):
                    result = await result
            except Exception:
                log.exception("kubelet.gate_failed", pod=pod_key(pod), container=container.get("name"))
                return False
            if not result:
                return False
        return True

    # ----------------------------------------------------------------- deletion

    def _begin_deletion(self, run: PodRun, pod: JSON) -> None:
        """SIGTERM: containers exit after ``exit_on_sigterm_after`` or are killed when the grace period
        ends, whichever comes first; a shorter grace period from a later delete moves the kill earlier."""
        if run.step == WAITING:
            return
        if run.step == CREATED and run.ip_index < 0:
            self._confirm_deletion(run, pod)
            return
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        delay, code = grace, 137
        if self.exit_on_sigterm_after is not None and self.exit_on_sigterm_after < grace:
            delay, code = self.exit_on_sigterm_after, 0
        kill_at = asyncio.get_running_loop().time() + delay
        if run.deleting and run.kill_at <= kill_at:
            return
        run.deleting = True
        run.kill_at = kill_at
        run.exit_code = code
        self._held.pop(run.key, None)
        self._schedule(run, delay)

    def _confirm_deletion(self, run: PodRun, pod: JSON) -> None:
        """Containers are gone: post the terminal status, then delete with grace 0 and the UID
        precondition, as the kubelet's status manager does once a pod ``canBeDeleted``."""
        if run.ip_index >= 0:
            self._write_terminal(run, pod, exit_code=run.exit_code)
        self._delete_pod(run)
        self._forget(run)

    # ----------------------------------------------------------------- node state

    def _on_node_state(self, node: str, state: str) -> None:
        for key in list(self._by_node.get(node, ())):
            run = self._runs.get(key)
            if run is None:
                continue
            try:
                if state == NOT_READY:
                    self._shutdown(run)
                elif state == UNKNOWN:
                    if self.mark_pods_not_ready:
                        self._mark_not_ready(run)
                elif state == READY:
                    self._recover(run)
            except ApiError as e:
                log.warning("kubelet.node_transition_failed", pod=key, state=state, code=e.code)

    def _shutdown(self, run: PodRun) -> None:
        """Graceful node shutdown: deleting pods are confirmed, the others fail."""
        if run.step == WAITING:
            return
        pod = self._pod(run)
        if pod is None:
            return
        if pod["metadata"].get("deletionTimestamp"):
            run.exit_code = 137
            self._confirm_deletion(run, pod)
            return
        self._write_terminal(run, pod, exit_code=137, reason=SHUTDOWN_REASON, message=SHUTDOWN_MESSAGE)
        self._forget(run)

    def _mark_not_ready(self, run: PodRun) -> None:
        """The node lifecycle controller's ``MarkPodsNotReady``: Ready=False, nothing else."""
        if run.step in (WAITING, CREATED):
            return
        pod = self._pod(run)
        if pod is None:
            return
        conditions = not_ready_conditions(pod, meta.rfc3339(self._clock()))
        if conditions is not None:
            self._patch_pod_status(run, {"conditions": conditions}, NODE_CONTROLLER_FIELD_MANAGER)

    def _recover(self, run: PodRun) -> None:
        pod = self._pod(run)
        if pod is None:
            return
        if run.step == WAITING:
            self._start_run(run, pod)
            return
        if pod["metadata"].get("deletionTimestamp") and not run.deleting:
            self._begin_deletion(run, pod)
        elif run.step in (RUNNING, INIT) and not run.deleting:
            self._write(run, pod)
        if run.deferred:
            run.deferred = False
            self._schedule(run, 0)

    # ----------------------------------------------------------------- status

    def _write(self, run: PodRun, pod: JSON) -> None:
        """Post the kubelet's status of a live (Pending or Running) pod."""
        status = live_status(
            run,
            pod,
            host_ip=self.nodes.host_ip(run.node),
            now=meta.rfc3339(self._clock()),
            loop_now=asyncio.get_running_loop().time(),
        )
        self._patch_pod_status(run, status, KUBELET_FIELD_MANAGER)

    def _write_terminal(
        self, run: PodRun, pod: JSON, *, exit_code: int, reason: str | None = None, message: str | None = None
    ) -> None:
        status = terminal_status(
            run,
            pod,
            host_ip=self.nodes.host_ip(run.node),
            now=meta.rfc3339(self._clock()),
            exit_code=exit_code,
            reason=reason,
            message=message,
        )
        self._patch_pod_status(run, status, KUBELET_FIELD_MANAGER)


class FakeKubelet(KubeletSimulation):
    """The emulator's kubelets, as one cluster component: the simulation driven by the store's events,
    writing into the store directly (see :class:`KubeletSimulation` for the options)."""

    def __init__(
        self,
        nodes: FakeNodes,
        *,
        start_delay: float = 0.5,
        init_container_duration: float = 0.1,
        exit_on_sigterm_after: float | None = None,
        gate_recheck_interval: float = 1.0,
    ) -> None:
        super().__init__(
            nodes,
            start_delay=start_delay,
            init_container_duration=init_container_duration,
            exit_on_sigterm_after=exit_on_sigterm_after,
            gate_recheck_interval=gate_recheck_interval,
        )
        self._store: Store | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def store(self) -> Store:
        """The cluster's store (valid once started)."""
        if self._store is None:
            raise RuntimeError("the fake kubelet has not been started")
        return self._store

    async def start(self, cluster: DevCluster) -> None:
        """Take over the pods already bound to fake nodes, then follow every pod change."""
        self._store = cluster.store
        self._unsubscribe = self._store.subscribe(self._on_store_event)
        for pod in self._store.list("pods").items:
            if self.nodes.is_fake((pod.get("spec") or {}).get("nodeName") or ""):
                self._events.append(("ADDED", pod))
        self._start_loop()

    async def stop(self) -> None:
        """Stop following pods (pods keep their last status)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._stop_loop()

    def _on_store_event(self, rtype: ResourceType, ev: WatchEvent) -> None:
        if rtype.plural != "pods" or rtype.group:
            # Gates may read anything in the store: any change may release a held init container.
            if self._held:
                self._mark_gates_dirty()
            return
        self._queue_event(ev.type, ev.object)

    # ----------------------------------------------------------------- I/O

    def _clock(self) -> float:
        return self.store.clock()

    def _read_pod(self, key: str) -> JSON | None:
        ns, name = key.split("/", 1)
        try:
            return self.store.get("pods", name, ns)
        except ApiError:
            return None

    def _read_node(self, name: str) -> JSON | None:
        try:
            return self.store.get("nodes", name)
        except ApiError:
            return None

    def _patch_pod_status(self, run: PodRun, status: JSON, field_manager: str) -> None:
        ns, name = run.key.split("/", 1)
        try:
            self.store.patch(
                "pods",
                name,
                {"metadata": {"uid": run.uid}, "status": status},
                ns,
                subresource="status",
                field_manager=field_manager,
            )
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    def _delete_pod(self, run: PodRun) -> None:
        ns, name = run.key.split("/", 1)
        try:
            self.store.delete("pods", name, ns, grace_period_seconds=0, preconditions={"uid": run.uid})
        except ApiError as e:
            if e.code not in (404, 409):
                raise
