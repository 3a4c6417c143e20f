"""The reservation ledger: cluster state, gang plans and their reservations, fed by informer events.

Everything the extender knows lives here, updated by plain method calls so informers (or tests) can drive
it: ``on_node_upsert/delete``, ``on_pod_upsert/delete``, ``on_podgang_upsert/delete``,
``on_topology_upsert/delete``. The scheduler-facing side is :meth:`Ledger.decide` (filter: plans the whole
gang on first sight and reserves it), :meth:`Ledger.planned_node` (prioritize), :meth:`Ledger.record_binding`
(bind) and :meth:`Ledger.reject_node` (kube-scheduler found a planned node infeasible).

Every pod's usage is accounted on exactly one node, either as *bound* (``spec.nodeName`` set, not finished)
or as *reserved* (planned, not bound yet); accounting is idempotent, so events may repeat or race with our own
bindings. A plan is released when no pod of its gang makes progress for ``plan_ttl`` seconds, and recomputed
when a node or pod under it changes. Restarting rebuilds everything from the informers' initial lists: bound
pods are usage, plans are made afresh (pods already bound pin their gang's domains).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from grove.api.podresources import Resources
from grove.scheduler.gang import PodGang, PodGangError, parse_podgang
from grove.scheduler.metrics import SchedulerMetrics
from grove.scheduler.planner import Plan, PlanFailure, PlanInput, plan_gang
from grove.scheduler.pods import PodInfo, parse_pod
from grove.scheduler.topology import ClusterState, NodeChange, parse_cluster_topology

__all__ = [
    "Decision",
    "GangEvent",
    "GangState",
    "Ledger",
    "LedgerConfig",
    "NotGang",
    "Placed",
    "Unschedulable",
    "Waiting",
]

log = structlog.get_logger("grove.scheduler.ledger")


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    """Timing knobs. ``plan_ttl``: seconds a plan survives without progress (a filter or bind of one of its
    pods). ``retry_interval``: least seconds between two planning attempts of a gang that did not fit."""

    plan_ttl: float = 120.0
    retry_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class NotGang:
    """The pod belongs to no PodGang: leave it alone."""


@dataclass(frozen=True, slots=True)
class Placed:
    """The pod goes to ``node``."""

    node: str


@dataclass(frozen=True, slots=True)
class Unschedulable:
    """The gang cannot be placed (all or nothing); preemption on other nodes would not help."""

    message: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """Not placeable yet; retry later. ``retry``: the gang is not ready (PodGang or pods missing), which no
    cluster event kube-scheduler requeues on would signal, so the pod must be retried on a timer (its error
    backoff); otherwise (no room for a pod beyond minReplicas) capacity changes will."""

    message: str
    retry: bool = False


Decision = NotGang | Placed | Unschedulable | Waiting


@dataclass(frozen=True, slots=True)
class GangEvent:
    """A gang decision, for the wiring layer to turn into Kubernetes events or PodGang conditions.

    ``kind``: ``planned``, ``unschedulable``, ``incomplete``, ``expired`` or ``replanned``.
    """

    gang: str
    kind: str
    message: str


@dataclass(eq=False)
class GangState:
    """What the ledger holds for one PodGang."""

    key: str
    gang: PodGang | None = None
    refs: frozenset[str] = frozenset()
    error: str | None = None
    planned: dict[str, str] = field(default_factory=dict)
    unplanned: set[str] = field(default_factory=set)
    domain: str = ""
    deadline: float | None = None
    failure: PlanFailure | None = None
    failure_epoch: int = -1
    failure_at: float = 0.0
    excluded: dict[str, set[str]] = field(default_factory=dict)


_Kind = Literal["bound", "reserved"]


def _key_of(obj: Mapping[str, Any] | str) -> str:
    if isinstance(obj, str):
        return obj
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def _name_of(obj: Mapping[str, Any] | str) -> str:
    if isinstance(obj, str):
        return obj
    return str((obj.get("metadata") or {}).get("name"))


class Ledger:
    """Reservations and gang plans over a :class:`ClusterState`; single-threaded (one event loop)."""

    def __init__(
        self,
        *,
        config: LedgerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics: SchedulerMetrics | None = None,
        on_event: Callable[[GangEvent], None] | None = None,
    ) -> None:
        self.config = config or LedgerConfig()
        self.clock = clock
        self.metrics = metrics
        self.on_event = on_event
        self._reset()
        if metrics is not None:
            metrics.watch_capacity(lambda: self.state)

    def _reset(self) -> None:
        self.state = ClusterState()
        self.pods: dict[str, PodInfo] = {}
        self.gangs: dict[str, GangState] = {}
        self.epoch = 0
        self._account: dict[str, tuple[str, Resources, _Kind]] = {}
        self._reserved_by_node: dict[str, set[str]] = {}
        self._gang_of_reservation: dict[str, str] = {}
        self._bound_by_us: dict[str, str] = {}
        # A lower bound of every plan deadline: expire() scans only once it may have passed.
        self._next_expiry = float("inf")

    # ------------------------------------------------------------------ accounting

    def _set_account(self, pod: str, node: str | None, amounts: Resources, kind: _Kind) -> None:
        old = self._account.pop(pod, None)
        if old is not None:
            self.state.add_usage(old[0], old[1], old[2], -1)
            if old[2] == "reserved":
                self._reserved_by_node[old[0]].discard(pod)
                self._gang_of_reservation.pop(pod, None)
        if node is not None:
            self._account[pod] = (node, amounts, kind)
            self.state.add_usage(node, amounts, kind)
            if kind == "reserved":
                self._reserved_by_node.setdefault(node, set()).add(pod)

    def _reserve(self, gang: GangState, pod: str, node: str, requests: Resources) -> None:
        self._set_account(pod, node, requests, "reserved")
        self._gang_of_reservation[pod] = gang.key
        gang.planned[pod] = node

    def _release(self, gang: GangState) -> None:
        """Drop every reservation of the gang's unbound pods."""
        for pod in list(gang.planned):
            if self._account.get(pod, ("", {}, "bound"))[2] == "reserved":
                self._set_account(pod, None, {}, "reserved")
        gang.planned.clear()
        gang.unplanned.clear()
        gang.deadline = None
        self.epoch += 1

    # ------------------------------------------------------------------ informer feed: nodes

    def on_node_upsert(self, node: Mapping[str, Any]) -> None:
        """A node was added or changed."""
        name = _name_of(node)
        try:
            change = self.state.upsert_node(node)
        except ValueError as e:
            log.warning("node.invalid", node=name, error=str(e))
            self.on_node_delete(name)
            return
        if not change.any:
            return
        self.epoch += 1
        for gang in self.gangs.values():
            for nodes in gang.excluded.values():
                nodes.discard(name)
        if not change.added:
            self._check_node(name, change)

    def on_node_delete(self, node: Mapping[str, Any] | str) -> None:
        """A node went away: plans with pods on it are recomputed."""
        name = _name_of(node)
        if self.state.delete_node(name) is None:
            return
        self.epoch += 1
        for gang_key in self._gangs_reserved_on(name):
            self._replan(gang_key, "node-deleted")

    def _gangs_reserved_on(self, node: str) -> list[str]:
        pods = self._reserved_by_node.get(node, set())
        return sorted({self._gang_of_reservation[p] for p in pods if p in self._gang_of_reservation})

    def _check_node(self, name: str, change: NodeChange) -> None:
        """Recompute plans that a node change broke (taints, labels, capacity)."""
        info = self.state.nodes.get(name)
        if info is None:
            return
        for gang_key in self._gangs_reserved_on(name):
            broken = change.topology_labels or self.state.overcommitted(name)
            if not broken:
                for pod in self._reserved_by_node.get(name, set()):
                    pi = self.pods.get(pod)
                    if pi is not None and self._gang_of_reservation.get(pod) == gang_key:
                        broken = broken or not pi.placement.allows(info.facts)
            if broken:
                self._replan(gang_key, "node-changed")

    # ------------------------------------------------------------------ informer feed: pods

    def on_pod_upsert(self, pod: Mapping[str, Any]) -> None:
        """A pod was added or changed (bound, finished, terminating...)."""
        key = _key_of(pod)
        try:
            info = parse_pod(pod)
        except ValueError as e:
            log.warning("pod.invalid", pod=key, error=str(e))
            return
        self._observe(info)

    def _observe(self, info: PodInfo, *, from_cluster: bool = True) -> None:
        key = info.key
        ours = self._bound_by_us.get(key)
        if info.node_name is None and ours is not None and not info.terminal:
            # A stale event from before our own binding: the pod is bound, nodeName is immutable.
            info = dataclasses.replace(info, node_name=ours)
        elif info.node_name is not None and from_cluster:
            self._bound_by_us.pop(key, None)
        self.pods[key] = info
        if info.consumes:
            assert info.node_name is not None
            self._bind_accounting(info, info.node_name)
        else:
            account = self._account.get(key)
            if account is not None and account[2] == "bound":
                self._set_account(key, None, {}, "bound")
                self.epoch += 1
            elif account is not None and account[1] != info.requests:
                # The reservation was made from a sibling's spec before this pod was seen.
                gang_key = self._gang_of_reservation.get(key)
                self._set_account(key, account[0], info.requests, "reserved")
                if gang_key is not None:
                    self._gang_of_reservation[key] = gang_key
        if info.deleting and info.node_name is None:
            self._forget_reservation(key)

    def _bind_accounting(self, info: PodInfo, node: str) -> None:
        key = info.key
        gang_key = self._gang_of_reservation.get(key)
        planned = None
        if gang_key is not None:
            gang = self.gangs.get(gang_key)
            planned = gang.planned.pop(key, None) if gang is not None else None
            if gang is not None:
                self._touch(gang)
        already = self._account.get(key)
        if already is not None and already[2] == "bound" and already[0] == node:
            return
        self._set_account(key, node, info.requests, "bound")
        if planned is not None and planned != node and gang_key is not None:
            if self.metrics is not None:
                self.metrics.pods_bound_off_plan.inc()
            log.warning("pod.bound_off_plan", pod=key, gang=gang_key, planned=planned, node=node)
            self._replan(gang_key, "bound-off-plan")
        if self.state.overcommitted(node):
            for other in self._gangs_reserved_on(node):
                self._replan(other, "node-overcommitted")

    def _forget_reservation(self, key: str) -> None:
        gang_key = self._gang_of_reservation.get(key)
        if gang_key is None:
            return
        gang = self.gangs.get(gang_key)
        if gang is not None:
            gang.planned.pop(key, None)
        self._set_account(key, None, {}, "reserved")
        self.epoch += 1

    def on_pod_delete(self, pod: Mapping[str, Any] | str) -> None:
        """A pod is gone: its usage or reservation is released."""
        key = _key_of(pod)
        self._forget_reservation(key)
        self._bound_by_us.pop(key, None)
        self.pods.pop(key, None)
        if key in self._account:
            self._set_account(key, None, {}, "bound")
        self.epoch += 1

    # ------------------------------------------------------------------ informer feed: PodGangs, topologies

    def on_podgang_upsert(self, obj: Mapping[str, Any]) -> None:
        """A PodGang was added or changed; a change of anything but added pods drops its plan."""
        key = _key_of(obj)
        gang = self.gangs.setdefault(key, GangState(key))
        try:
            parsed = parse_podgang(obj)
        except PodGangError as e:
            log.warning("podgang.invalid", gang=key, error=str(e))
            self._release(gang)
            gang.gang, gang.error = None, str(e)
            return
        old = gang.gang
        gang.gang, gang.error = parsed, None
        gang.refs = frozenset(parsed.pod_keys())
        self.epoch += 1
        if old is None or not gang.planned:
            return
        if _same_but_more_pods(old, parsed):
            return
        self._release(gang)

    def on_podgang_delete(self, obj: Mapping[str, Any] | str) -> None:
        """A PodGang is gone: its reservations are released."""
        gang = self.gangs.pop(_key_of(obj), None)
        if gang is not None:
            self._release(gang)

    def on_topology_upsert(self, obj: Mapping[str, Any]) -> None:
        """A ClusterTopologyBinding was added or changed."""
        try:
            spec = parse_cluster_topology(obj)
        except ValueError as e:
            log.warning("topology.invalid", topology=_name_of(obj), error=str(e))
            return
        if self.state.upsert_topology(spec):
            self.epoch += 1

    def on_topology_delete(self, obj: Mapping[str, Any] | str) -> None:
        """A ClusterTopologyBinding was deleted."""
        if self.state.delete_topology(_name_of(obj)):
            self.epoch += 1

    def rebuild(
        self,
        *,
        nodes: Iterable[Mapping[str, Any]],
        pods: Iterable[Mapping[str, Any]],
        podgangs: Iterable[Mapping[str, Any]],
        topologies: Iterable[Mapping[str, Any]],
    ) -> None:
        """Forget everything and load the cluster's current objects (after a restart or a relist)."""
        self._reset()
        for t in topologies:
            self.on_topology_upsert(t)
        for n in nodes:
            self.on_node_upsert(n)
        for p in pods:
            self.on_pod_upsert(p)
        for g in podgangs:
            self.on_podgang_upsert(g)

    # ------------------------------------------------------------------ scheduler side

    def decide(self, pod: Mapping[str, Any] | PodInfo) -> Decision:
        """Where a pod goes (filter). Plans the pod's whole gang when it has no plan yet."""
        info = pod if isinstance(pod, PodInfo) else parse_pod(pod)
        known = self.pods.get(info.key)
        if known is None or known.uid != info.uid:
            self._observe(info)
        else:
            info = known
        if info.gang_key is None:
            return NotGang()
        self.expire()
        gang = self.gangs.get(info.gang_key)
        if gang is None or (gang.gang is None and gang.error is None):
            return Waiting(f"PodGang {info.gang_key} does not exist yet", retry=True)
        if gang.error is not None or gang.gang is None:
            return Unschedulable(f"PodGang {info.gang_key} is invalid: {gang.error}")
        if info.key not in gang.refs:
            return Waiting(f"pod {info.key} is not listed in PodGang {info.gang_key} yet", retry=True)
        if info.node_name is not None:
            return Placed(info.node_name)
        node = gang.planned.get(info.key)
        if node is not None:
            self._touch(gang)
            return Placed(node)
        if gang.failure is not None and not self._retry_due(gang):
            return self._failure_decision(gang.failure)
        self._plan(gang, incremental=bool(gang.planned) or self._has_bound(gang))
        node = gang.planned.get(info.key)
        if node is not None:
            return Placed(node)
        if gang.failure is not None:
            return self._failure_decision(gang.failure)
        return Waiting(f"gang {gang.key}: no room for pod {info.key} beyond minReplicas in {gang.domain}")

    def planned_node(self, pod_key: str) -> str | None:
        """The node planned for a pod, if any (prioritize)."""
        info = self.pods.get(pod_key)
        if info is None or info.gang_key is None:
            return None
        gang = self.gangs.get(info.gang_key)
        return gang.planned.get(pod_key) if gang is not None else None

    def record_binding(self, pod_key: str, node: str) -> None:
        """kube-scheduler bound a pod through us (bind verb succeeded)."""
        info = self.pods.get(pod_key)
        if info is None:
            return
        self._bound_by_us[pod_key] = node
        self._observe(dataclasses.replace(info, node_name=node), from_cluster=False)

    def reject_node(self, pod_key: str, node: str) -> None:
        """kube-scheduler's own filters rejected the planned node: replan the gang without it for this pod."""
        gang_key = self._gang_of_reservation.get(pod_key)
        if gang_key is None:
            return
        gang = self.gangs[gang_key]
        gang.excluded.setdefault(pod_key, set()).add(node)
        log.info("gang.node_rejected", gang=gang_key, pod=pod_key, node=node)
        self._replan(gang_key, "node-rejected-by-scheduler")

    def expire(self) -> list[str]:
        """Release plans whose deadline passed; returns their gang keys."""
        now = self.clock()
        expired = [
            g for g in self.gangs.values() if g.deadline is not None and g.deadline <= now and g.planned
        ]
        for gang in expired:
            log.info("gang.expired", gang=gang.key, pods=len(gang.planned))
            self._emit(gang.key, "expired", f"plan released: {len(gang.planned)} pods not bound in time")
            self._release(gang)
            if self.metrics is not None:
                self.metrics.gangs_expired.inc()
        pending = [g.deadline for g in self.gangs.values() if g.deadline is not None and g.planned]
        self._next_expiry = min(pending, default=float("inf"))
        return [g.key for g in expired]

    # ------------------------------------------------------------------ planning

    def _emit(self, gang: str, kind: str, message: str) -> None:
        if self.on_event is not None:
            self.on_event(GangEvent(gang, kind, message))

    def _touch(self, gang: GangState) -> None:
        if gang.planned:
            gang.deadline = self.clock() + self.config.plan_ttl
            self._next_expiry = min(self._next_expiry, gang.deadline)

    def _retry_due(self, gang: GangState) -> bool:
        return (
            gang.failure_epoch != self.epoch and self.clock() - gang.failure_at >= self.config.retry_interval
        )

    @staticmethod
    def _failure_decision(failure: PlanFailure) -> Decision:
        return Waiting(failure.message, retry=True) if failure.incomplete else Unschedulable(failure.message)

    def _has_bound(self, gang: GangState) -> bool:
        assert gang.gang is not None
        return any((p := self.pods.get(k)) is not None and p.consumes for k in gang.gang.pod_keys())

    def _replan(self, gang_key: str, reason: str) -> None:
        gang = self.gangs.get(gang_key)
        if gang is None:
            return
        self._release(gang)
        if self.metrics is not None:
            self.metrics.gang_replans.labels(reason).inc()
        log.info("gang.replan", gang=gang_key, reason=reason)
        self._emit(gang_key, "replanned", reason)
        if gang.gang is not None:
            self._plan(gang, incremental=False)

    def _plan_input(self, gang: GangState, incremental: bool) -> PlanInput:
        """Pods to place and pods held fixed. Pods the informer has not delivered yet borrow a sibling's spec
        (pods of one PodClique share a template)."""
        pg = gang.gang
        assert pg is not None
        pods: dict[str, PodInfo] = {}
        fixed: dict[str, str] = {}
        for group in pg.podgroups:
            sample = next((self.pods[k] for k in group.pods if k in self.pods), None)
            for key in group.pods:
                info = self.pods.get(key)
                if info is not None and info.consumes:
                    assert info.node_name is not None
                    fixed[key] = info.node_name
                elif incremental and key in gang.planned:
                    fixed[key] = gang.planned[key]
                elif info is not None:
                    if not info.deleting and not info.terminal:
                        pods[key] = info
                elif sample is not None:
                    ns, name = key.split("/", 1)
                    pods[key] = dataclasses.replace(sample, namespace=ns, name=name, uid="", node_name=None)
        excluded = {k: frozenset(v) for k, v in gang.excluded.items() if v}
        return PlanInput(pg, pods, fixed, excluded)

    def _plan(self, gang: GangState, *, incremental: bool) -> None:
        inp = self._plan_input(gang, incremental)
        started = time.perf_counter()
        result = plan_gang(self.state, inp)
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.plan_seconds.observe(seconds)
        if isinstance(result, PlanFailure):
            gang.failure = result
            gang.failure_epoch = self.epoch
            gang.failure_at = self.clock()
            if self.metrics is not None and not result.incomplete:
                self.metrics.gangs_failed.inc()
            event = "gang.incomplete" if result.incomplete else "gang.unschedulable"
            log.info(event, gang=gang.key, reason=result.message, plan_ms=round(seconds * 1000, 3))
            self._emit(gang.key, event.removeprefix("gang."), result.message)
            return
        self._reserve_plan(gang, inp, result, incremental)
        if self.metrics is not None:
            self.metrics.gangs_planned.inc()
        log.info(
            "gang.planned",
            gang=gang.key,
            incremental=incremental,
            pods=len(result.assignments),
            nodes=len(set(result.assignments.values())),
            unplanned=len(result.unplanned),
            domain=result.domain,
            preferred_dropped=list(result.preferred_dropped),
            plan_ms=round(seconds * 1000, 3),
        )
        where = f" in {result.domain}" if not incremental else ""
        self._emit(gang.key, "planned", f"planned {len(result.assignments)} pods{where}")

    def _reserve_plan(self, gang: GangState, inp: PlanInput, plan: Plan, incremental: bool) -> None:
        gang.failure = None
        if not incremental:
            gang.domain = plan.domain
        for pod, node in plan.assignments.items():
            self._reserve(gang, pod, node, inp.pods[pod].requests)
        gang.unplanned = set(plan.unplanned)
        self._touch(gang)


def _same_but_more_pods(old: PodGang, new: PodGang) -> bool:
    """Whether ``new`` only adds pod references to ``old`` (a scale-out keeps the existing plan)."""
    same = (old.constraint, old.group_configs, old.topology_name) == (
        new.constraint,
        new.group_configs,
        new.topology_name,
    )
    if not same:
        return False
    if [(g.name, g.min_replicas, g.constraint) for g in old.podgroups] != [
        (g.name, g.min_replicas, g.constraint) for g in new.podgroups
    ]:
        return False
    return all(set(o.pods) <= set(n.pods) for o, n in zip(old.podgroups, new.podgroups, strict=True))
