"""A kube-scheduler stand-in: schedules pending pods onto the cluster's nodes and binds them through
``pods/binding``, with kube-scheduler's queueing, filtering, scoring, extender calls and diagnostics.

Profiles come from a ``KubeSchedulerConfiguration`` (:mod:`grove.devcluster.schedconfig`); its extenders
apply to every profile of that configuration, as in kube-scheduler. When the configuration has no
``default-scheduler`` profile, the cluster's own default scheduler (no extenders) keeps serving that name,
as it would next to a second scheduler deployed in a real cluster. Pods are scheduled one at a time
(filter, extender filters in turn, scores plus extender priorities, then assume and bind; a binder
extender binds instead of the scheduler, asynchronously).

A pod that cannot be placed gets ``PodScheduled=False`` with reason ``Unschedulable`` and kube-scheduler's
message (``SchedulerError`` when an extender or the binding failed) and a ``FailedScheduling`` event.
Pods with scheduling gates wait without any write (kube-apiserver gave them ``SchedulingGated`` when they
were created); once their gates are removed they are scheduled like any other. Bound pods get a
``Scheduled`` event. Not modelled: preemption (messages say what DefaultPreemption says when it
finds no victims), pod (anti-)affinity, topology spread constraints, host ports, volumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from grove.devcluster import meta
from grove.devcluster.errors import ApiError
from grove.devcluster.extender import ExtenderError, HTTPExtender, close_all
from grove.devcluster.nodes import micro_time
from grove.devcluster.placement import (
    AFFINITY,
    EXTENDER,
    FIT,
    MAX_NODE_SCORE,
    NO_NODES_AVAILABLE,
    TAINTS,
    UNSCHEDULABLE,
    NodeInfo,
    NodeStatus,
    PodInfo,
    filter_node,
    fit_error_message,
    num_feasible_nodes_to_find,
    score_nodes,
    zone_interleaved,
)
from grove.devcluster.schedconfig import DEFAULT_SCHEDULER, SchedulerConfig
from grove.devcluster.schedqueue import QueuedPod, SchedulingQueue
from grove.devcluster.watch import DELETED, WatchEvent

if TYPE_CHECKING:
    from grove.devcluster.cluster import DevCluster
    from grove.devcluster.resources import ResourceType
    from grove.devcluster.store import Store

log = structlog.get_logger("grove.devcluster.scheduler")

JSON = dict[str, Any]

MAX_EXTENDER_PRIORITY = 10
FLUSH_UNSCHEDULABLE_EVERY = 30.0
_EVENT_NOTE_LIMIT = 1024
_YIELD_EVERY = 16


@dataclass
class _Profile:
    name: str
    extenders: list[HTTPExtender] = field(default_factory=list)
    percentage: int | None = None


def _node_change(old: JSON | None, new: JSON) -> frozenset[str] | None:
    """The plugins a Node update may make pass (empty: only extender-rejected pods care); None when
    nothing scheduling-relevant changed (heartbeats)."""
    if old is None:
        return frozenset({FIT, TAINTS, AFFINITY, UNSCHEDULABLE})
    o_spec, n_spec = old.get("spec") or {}, new.get("spec") or {}
    o_status, n_status = old.get("status") or {}, new.get("status") or {}
    interests: set[str] = set()
    changed = False
    if o_status.get("allocatable") != n_status.get("allocatable"):
        interests.add(FIT)
    if old["metadata"].get("labels") != new["metadata"].get("labels"):
        interests.update((AFFINITY, TAINTS))
    if o_spec.get("taints") != n_spec.get("taints"):
        interests.update((TAINTS, UNSCHEDULABLE))
    if bool(o_spec.get("unschedulable")) != bool(n_spec.get("unschedulable")):
        interests.add(UNSCHEDULABLE)

    def conds(s: JSON) -> list[tuple[Any, Any]]:
        return [(c.get("type"), c.get("status")) for c in s.get("conditions") or []]

    if conds(o_status) != conds(n_status) or old["metadata"].get("annotations") != new["metadata"].get(
        "annotations"
    ):
        changed = True
    if not interests and not changed:
        return None
    return frozenset(interests)


class Scheduler:
    """The scheduler stand-in, as a cluster component.

    ``config``: the parsed ``KubeSchedulerConfiguration`` (None: one ``default-scheduler`` profile, no
    extenders). ``record_events``: emit Scheduled/FailedScheduling events (events.k8s.io/v1).
    """

    def __init__(self, config: SchedulerConfig | None = None, *, record_events: bool = True) -> None:
        self.config = config or SchedulerConfig()
        self.record_events = record_events
        self.extenders = [HTTPExtender(e) for e in self.config.extenders]
        self.profiles: dict[str, _Profile] = {}
        for p in self.config.profiles:
            pct = p.percentage_of_nodes_to_score
            if pct is None:
                pct = self.config.percentage_of_nodes_to_score
            self.profiles[p.scheduler_name] = _Profile(p.scheduler_name, list(self.extenders), pct)
        if DEFAULT_SCHEDULER not in self.profiles:
            self.profiles[DEFAULT_SCHEDULER] = _Profile(DEFAULT_SCHEDULER)
        self._store: Store | None = None
        self._nodes: dict[str, NodeInfo] = {}
        self._order: list[NodeInfo] | None = None
        self._next_start = 0
        self._tie = 0
        self._bound: dict[str, dict[str, PodInfo]] = {}
        self._pod_node: dict[str, str] = {}
        self._assumed: dict[str, QueuedPod] = {}
        self._events: deque[tuple[str, str, JSON, JSON | None]] = deque()
        self._series: dict[tuple[str, str, str], tuple[str, int]] = {}
        self._series_by_uid: dict[str, list[tuple[str, str, str]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bind_tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._next_flush = 0.0
        self.queue = SchedulingQueue(
            self.config.pod_initial_backoff_seconds,
            self.config.pod_max_backoff_seconds,
            lambda: asyncio.get_running_loop().time(),
        )

    @property
    def store(self) -> Store:
        """The cluster's store (valid once started)."""
        if self._store is None:
            raise RuntimeError("the scheduler has not been started")
        return self._store

    # ----------------------------------------------------------------- lifecycle

    async def start(self, cluster: DevCluster) -> None:
        """Sync nodes and pods from the store, then schedule until stopped."""
        self._store = cluster.store
        self._unsubscribe = self._store.subscribe(self._on_store_event)
        for node in self._store.list("nodes").items:
            self._events.append(("nodes", "ADDED", node, None))
        for pod in self._store.list("pods").items:
            self._events.append(("pods", "ADDED", pod, None))
        self._task = asyncio.create_task(self._run(), name="scheduler")
        log.info(
            "scheduler.started", profiles=sorted(self.profiles), extenders=[e.name for e in self.extenders]
        )

    async def stop(self) -> None:
        """Stop scheduling; close extender connections."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [t for t in (self._task, *self._bind_tasks) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._task = None
        await close_all(self.extenders)

    def _on_store_event(self, rtype: ResourceType, ev: WatchEvent) -> None:
        if rtype.group or rtype.plural not in ("pods", "nodes"):
            return
        self._events.append((rtype.plural, ev.type, ev.object, ev.prev))
        self._wake.set()

    # ----------------------------------------------------------------- the loop

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        cycles = 0
        while True:
            self._drain()
            now = loop.time()
            if now >= self._next_flush:
                self.queue.flush_unschedulable()
                self._next_flush = now + FLUSH_UNSCHEDULABLE_EVERY
            qp = self.queue.pop()
            if qp is None:
                self._wake.clear()
                if self._events:
                    continue
                wake = self.queue.next_wakeup()
                timeout = None if wake is None else max(wake - loop.time(), 0.0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                continue
            try:
                await self._schedule_one(qp)
            except Exception:
                log.exception("scheduler.cycle_failed", pod=qp.info.key)
                self.queue.error(qp)
            cycles += 1
            if cycles % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def _drain(self) -> None:
        while self._events:
            plural, type_, obj, prev = self._events.popleft()
            try:
                if plural == "nodes":
                    self._on_node(type_, obj, prev)
                else:
                    self._on_pod(type_, obj, prev)
            except Exception:
                log.exception("scheduler.event_failed", kind=plural, name=obj["metadata"].get("name"))

    # ----------------------------------------------------------------- cache

    def _on_node(self, type_: str, node: JSON, prev: JSON | None) -> None:
        name = node["metadata"]["name"]
        if type_ == DELETED:
            if self._nodes.pop(name, None) is not None:
                self._order = None
                self.queue.move(frozenset())
            return
        ni = self._nodes.get(name)
        if ni is None:
            ni = NodeInfo(node)
            for pi in self._bound.get(name, {}).values():
                ni.add_pod(pi)
            self._nodes[name] = ni
            self._order = None
            self.queue.move(None)
            return
        interests = _node_change(prev, node)
        zone = ni.zone
        ni.set_node(node)
        if ni.zone != zone:
            self._order = None
        if interests is not None:
            self.queue.move(interests)

    def _account(self, key: str, node: str, pi: PodInfo) -> None:
        self._unaccount(key)
        self._bound.setdefault(node, {})[key] = pi
        self._pod_node[key] = node
        ni = self._nodes.get(node)
        if ni is not None:
            ni.add_pod(pi)

    def _unaccount(self, key: str) -> bool:
        node = self._pod_node.pop(key, None)
        if node is None:
            return False
        pods = self._bound.get(node)
        if pods is not None:
            pods.pop(key, None)
            if not pods:
                del self._bound[node]
        ni = self._nodes.get(node)
        if ni is not None:
            ni.remove_pod(key)
        return True

    def _on_pod(self, type_: str, pod: JSON, prev: JSON | None) -> None:
        md = pod["metadata"]
        key = f"{md.get('namespace', '')}/{md['name']}"
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        if type_ == DELETED:
            self._assumed.pop(key, None)
            if self._unaccount(key):
                self.queue.move(frozenset({FIT}))
            self.queue.delete(key)
            self._forget_series(md["uid"])
            return
        terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if node:
            self.queue.delete(key)
            self._assumed.pop(key, None)
            if terminal:
                if self._unaccount(key):
                    self.queue.move(frozenset({FIT}))
                return
            same = (
                self._pod_node.get(key) == node
                and prev is not None
                and prev.get("spec") is pod.get("spec")
                and prev["metadata"].get("uid") == md["uid"]
            )
            if not same:
                self._account(key, node, PodInfo(pod))
            self.queue.move(frozenset())
            return
        if key in self._assumed:
            return
        name = spec.get("schedulerName") or DEFAULT_SCHEDULER
        if md.get("deletionTimestamp") or terminal or name not in self.profiles:
            self.queue.delete(key)
            return
        gated = bool(spec.get("schedulingGates"))
        info = PodInfo(pod)
        if key not in self.queue.pods:
            self.queue.add(info, gated)
        else:
            spec_changed = (
                prev is None
                or prev.get("spec") is not pod.get("spec")
                or prev["metadata"].get("labels") != md.get("labels")
            )
            self.queue.update(info, gated, spec_changed)

    def _node_order(self) -> list[NodeInfo]:
        if self._order is None:
            self._order = zone_interleaved(self._nodes.values())
        return self._order

    # ----------------------------------------------------------------- one scheduling cycle

    async def _schedule_one(self, qp: QueuedPod) -> None:
        pi = qp.info
        profile = self.profiles.get(pi.spec.get("schedulerName") or DEFAULT_SCHEDULER)
        if profile is None:
            self.queue.done(qp)
            return
        if pi.error is not None:
            self._fail(qp, pi.error, error=True)
            return
        nodes = self._node_order()
        if not nodes:
            self._fail(qp, NO_NODES_AVAILABLE, rejectors=())
            return
        extenders = [e for e in profile.extenders if e.is_interested(pi.resource_names)]
        ignored: frozenset[str] = frozenset().union(*(e.ignored_resources for e in extenders))
        feasible, statuses = self._find_feasible(pi, nodes, profile, ignored)
        before = len(feasible)
        try:
            feasible = await self._extender_filter(pi, feasible, statuses, extenders)
        except ExtenderError as e:
            self._fail(qp, str(e), error=True)
            return
        if not feasible:
            rejectors = {st.plugin for st in statuses.values()}
            if before:
                rejectors.add(EXTENDER)
            self._fail(
                qp,
                fit_error_message(len(nodes), statuses, pi.spec.get("preemptionPolicy")),
                rejectors=rejectors,
            )
            return
        host = feasible[0] if len(feasible) == 1 else await self._prioritize(pi, feasible, extenders)
        self._assume_and_bind(qp, host, extenders)

    def _find_feasible(
        self, pi: PodInfo, nodes: list[NodeInfo], profile: _Profile, ignored: frozenset[str]
    ) -> tuple[list[NodeInfo], dict[str, NodeStatus]]:
        """Filter from ``nextStartNodeIndex`` until enough feasible nodes are found."""
        n = len(nodes)
        want = num_feasible_nodes_to_find(profile.percentage, n)
        start = self._next_start % n
        feasible: list[NodeInfo] = []
        statuses: dict[str, NodeStatus] = {}
        taint_cache: dict[tuple[Any, ...], bool] = {}
        processed = 0
        for i in range(n):
            ni = nodes[(start + i) % n]
            processed += 1
            st = filter_node(pi, ni, ignored, taint_cache)
            if st is None:
                feasible.append(ni)
                if len(feasible) >= want:
                    break
            else:
                statuses[ni.name] = st
        self._next_start = (start + processed) % n
        return feasible, statuses

    async def _extender_filter(
        self,
        pi: PodInfo,
        feasible: list[NodeInfo],
        statuses: dict[str, NodeStatus],
        extenders: Sequence[HTTPExtender],
    ) -> list[NodeInfo]:
        """``findNodesThatPassExtenders``: each filtering extender in turn, on what is still feasible."""
        for ext in extenders:
            if not feasible:
                break
            if not ext.filters:
                continue
            try:
                kept, failed, unresolvable = await ext.filter(pi.pod, [ni.node for ni in feasible])
            except ExtenderError as e:
                if ext.ignorable:
                    log.info("scheduler.extender_skipped", extender=ext.name, error=str(e))
                    continue
                raise
            for name, msg in unresolvable.items():
                statuses[name] = NodeStatus((msg,), True, EXTENDER)
            for name, msg in failed.items():
                if name not in unresolvable:
                    statuses[name] = NodeStatus((msg,), False, EXTENDER)
            keep = set(kept)
            feasible = [ni for ni in feasible if ni.name in keep]
        return feasible

    async def _prioritize(
        self, pi: PodInfo, feasible: list[NodeInfo], extenders: Sequence[HTTPExtender]
    ) -> NodeInfo:
        """Plugin scores plus ``score * weight * 10`` from every prioritizing extender (called in
        parallel; their errors are ignored); ties broken deterministically in node order, rotating."""
        totals = dict(zip((ni.name for ni in feasible), score_nodes(pi, feasible), strict=True))
        prioritizers = [e for e in extenders if e.prioritizes]
        if prioritizers:
            node_objs = [ni.node for ni in feasible]
            results = await asyncio.gather(
                *(e.prioritize(pi.pod, node_objs) for e in prioritizers), return_exceptions=True
            )
            for ext, result in zip(prioritizers, results, strict=True):
                if isinstance(result, BaseException):
                    log.info("scheduler.extender_prioritize_failed", extender=ext.name, error=str(result))
                    continue
                for host, score in result:
                    if host in totals:
                        totals[host] += score * ext.config.weight * (MAX_NODE_SCORE // MAX_EXTENDER_PRIORITY)
        best = max(totals.values())
        tied = [ni for ni in feasible if totals[ni.name] == best]
        choice = tied[self._tie % len(tied)]
        self._tie += 1
        return choice

    # ----------------------------------------------------------------- binding

    def _assume_and_bind(self, qp: QueuedPod, ni: NodeInfo, extenders: Sequence[HTTPExtender]) -> None:
        pi = qp.info
        self.queue.done(qp)
        self._account(pi.key, ni.name, pi)
        self._assumed[pi.key] = qp
        binder = next((e for e in extenders if e.is_binder), None)
        if binder is not None:
            task = asyncio.create_task(self._bind_with_extender(binder, qp, ni.name), name="scheduler-bind")
            self._bind_tasks.add(task)
            task.add_done_callback(self._bind_tasks.discard)
            return
        ns, name = pi.key.split("/", 1)
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": pi.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": ni.name},
        }
        try:
            self.store.bind_pod(name, ns, binding)
        except ApiError as e:
            self._binding_failed(qp, e.message)
            return
        self._bound_event(pi, ni.name)

    async def _bind_with_extender(self, binder: HTTPExtender, qp: QueuedPod, node: str) -> None:
        try:
            await binder.bind(qp.info.pod, node)
        except ExtenderError as e:
            self._binding_failed(qp, str(e))
            return
        self._bound_event(qp.info, node)

    def _binding_failed(self, qp: QueuedPod, message: str) -> None:
        """Forget the assumed pod and retry it after a backoff (unless it is gone or bound meanwhile)."""
        key = qp.info.key
        if self._assumed.get(key) is qp:
            del self._assumed[key]
            if self._unaccount(key):
                self.queue.move(frozenset({FIT}))
        current = self._current(qp.info)
        if current is None or (current.get("spec") or {}).get("nodeName"):
            return
        log.info("scheduler.binding_failed", pod=key, error=message)
        self._set_condition(current, "SchedulerError", message)
        self._event(current, "Warning", "FailedScheduling", message)
        self.queue.error(qp, readd=True)

    def _bound_event(self, pi: PodInfo, node: str) -> None:
        ns, name = pi.key.split("/", 1)
        self._event(pi.pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {node}")

    # ----------------------------------------------------------------- failures and status

    def _current(self, pi: PodInfo) -> JSON | None:
        ns, name = pi.key.split("/", 1)
        try:
            pod = self.store.get("pods", name, ns)
        except ApiError:
            return None
        return pod if pod["metadata"]["uid"] == pi.uid else None

    def _fail(
        self, qp: QueuedPod, message: str, *, rejectors: Sequence[str] | set[str] = (), error: bool = False
    ) -> None:
        current = self._current(qp.info)
        if current is None or self.queue.pods.get(qp.info.key) is not qp:
            self.queue.unschedulable(qp, rejectors)
            return
        self._set_condition(current, "SchedulerError" if error else "Unschedulable", message)
        self._event(current, "Warning", "FailedScheduling", message)
        if error:
            self.queue.error(qp)
        else:
            self.queue.unschedulable(qp, rejectors)

    def _set_condition(self, pod: JSON, reason: str, message: str) -> None:
        """``PodScheduled=False`` with ``reason``/``message``, only when it changes (``updatePod``)."""
        status = pod.get("status") or {}
        conditions = list(status.get("conditions") or [])
        existing = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if (
            existing is not None
            and existing.get("status") == "False"
            and existing.get("reason") == reason
            and existing.get("message") == message
        ):
            return
        since = (
            existing.get("lastTransitionTime")
            if existing is not None
            and existing.get("status") == "False"
            and existing.get("lastTransitionTime")
            else meta.rfc3339(self.store.clock())
        )
        cond = {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }
        conditions = [c for c in conditions if c.get("type") != "PodScheduled"] + [cond]
        md = pod["metadata"]
        try:
            self.store.patch(
                "pods",
                md["name"],
                {"metadata": {"uid": md["uid"]}, "status": {"conditions": conditions}},
                md["namespace"],
                subresource="status",
                field_manager="kube-scheduler",
            )
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    def _event(self, pod: JSON, type_: str, reason: str, note: str) -> None:
        """An events.k8s.io/v1 Event about ``pod``; a repeat becomes a series (count, lastObservedTime)."""
        if not self.record_events:
            return
        md = pod["metadata"]
        note = note[:_EVENT_NOTE_LIMIT]
        key = (md["uid"], reason, note)
        now = micro_time(self.store.clock())
        existing = self._series.get(key)
        try:
            if existing is not None:
                name, count = existing
                self.store.patch(
                    "events.events.k8s.io",
                    name,
                    {"series": {"count": count + 1, "lastObservedTime": now}},
                    md["namespace"],
                    field_manager="kube-scheduler",
                )
                self._series[key] = (name, count + 1)
                return
            name = f"{md['name']}.{time.time_ns():x}"
            self.store.create(
                "events.events.k8s.io",
                {
                    "apiVersion": "events.k8s.io/v1",
                    "kind": "Event",
                    "metadata": {"name": name, "namespace": md["namespace"]},
                    "eventTime": now,
                    "reportingController": DEFAULT_SCHEDULER,
                    "reportingInstance": f"{DEFAULT_SCHEDULER}-grove-dev",
                    "action": "Scheduling" if reason == "FailedScheduling" else "Binding",
                    "reason": reason,
                    "type": type_,
                    "note": note,
                    "regarding": {
                        "kind": "Pod",
                        "namespace": md["namespace"],
                        "name": md["name"],
                        "uid": md["uid"],
                        "apiVersion": "v1",
                        "resourceVersion": md.get("resourceVersion", ""),
                    },
                },
                md["namespace"],
                field_manager="kube-scheduler",
            )
        except ApiError as e:
            log.info("scheduler.event_failed", pod=md["name"], reason=reason, code=e.code)
            return
        self._series[key] = (name, 1)
        self._series_by_uid.setdefault(md["uid"], []).append(key)

    def _forget_series(self, uid: str) -> None:
        for key in self._series_by_uid.pop(uid, ()):
            self._series.pop(key, None)
