"""Prometheus metrics of the scheduler extender, registered in a registry the caller owns (no globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from grove.scheduler.topology import HOSTNAME_KEY, ClusterState

__all__ = ["REQUEST_BUCKETS", "SchedulerMetrics"]

# Extender calls should take single-digit milliseconds; plans up to tens.
REQUEST_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class _CapacityCollector:
    """Free and allocatable capacity per topology domain, read from the ledger's state at scrape time.

    Host-level domains are left out (one series per node and resource would dwarf everything else); the
    cluster as a whole is reported as level ``cluster``.
    """

    def __init__(self, state: Callable[[], ClusterState]) -> None:
        self._state = state

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["topology", "level", "domain", "resource"]
        return (
            GaugeMetricFamily(
                "grove_scheduler_domain_free",
                "Free capacity per topology domain (scheduler units).",
                labels=labels,
            ),
            GaugeMetricFamily(
                "grove_scheduler_domain_allocatable",
                "Allocatable capacity per topology domain (scheduler units).",
                labels=labels,
            ),
        )

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        free, alloc = self._families()
        state = self._state()
        root = state.flat.root
        for r in sorted(root.allocatable):
            free.add_metric(["", "cluster", "", r], float(root.free.get(r, 0)))
            alloc.add_metric(["", "cluster", "", r], float(root.allocatable[r]))
        for name, tree in sorted(state.trees.items()):
            for d in tree.iter_domains():
                if tree.keys[d.depth - 1] == HOSTNAME_KEY:
                    continue
                labels = [name, tree.level_name(d.depth), "/".join(d.id)]
                for r in sorted(d.allocatable):
                    free.add_metric([*labels, r], float(d.free.get(r, 0)))
                    alloc.add_metric([*labels, r], float(d.allocatable[r]))
        yield free
        yield alloc


OUTCOMES: Final = ("ok", "retry", "error")
"""Outcomes of an extender call: answered; gang not ready or standby (kube-scheduler retries); failed."""


class SchedulerMetrics:
    """Every metric the extender records."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.request_seconds = Histogram(
            "grove_scheduler_extender_request_duration_seconds",
            "Time to answer a kube-scheduler extender call, by verb.",
            ["verb"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "grove_scheduler_extender_requests",
            "Extender calls by verb and outcome (ok; retry: gang not ready or standby; error).",
            ["verb", "outcome"],
            registry=registry,
        )
        self.plan_seconds = Histogram(
            "grove_scheduler_plan_duration_seconds",
            "Time to compute one gang plan.",
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.gangs_planned = Counter(
            "grove_scheduler_gangs_planned", "Gang plans computed and reserved.", registry=registry
        )
        self.gangs_failed = Counter(
            "grove_scheduler_gangs_failed",
            "Gang planning attempts that found no placement (all or nothing).",
            registry=registry,
        )
        self.gangs_expired = Counter(
            "grove_scheduler_gangs_expired",
            "Gang plans released because their pods were not bound in time.",
            registry=registry,
        )
        self.gang_replans = Counter(
            "grove_scheduler_gang_replans",
            "Gang plans recomputed because the cluster changed under them, by reason.",
            ["reason"],
            registry=registry,
        )
        self.pods_bound = Counter(
            "grove_scheduler_pods_bound",
            "Pods bound through the extender, by outcome.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "error"):
            self.pods_bound.labels(outcome)  # born at 0, so rate() sees the first bind error
        self.pods_bound_off_plan = Counter(
            "grove_scheduler_pods_bound_off_plan",
            "Gang pods bound to a node other than the one planned for them.",
            registry=registry,
        )

    def watch_capacity(self, state: Callable[[], ClusterState]) -> None:
        """Export per-domain free/allocatable gauges computed from ``state()`` at every scrape."""
        self.registry.register(_CapacityCollector(state))
