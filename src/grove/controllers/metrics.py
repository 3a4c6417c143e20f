"""Grove object metrics, kube-state-metrics style: the state of every PodCliqueSet, PodCliqueScalingGroup,
PodClique and PodGang as Prometheus gauges, computed at scrape time from the operator's informer caches.

Nothing is stored between scrapes and nothing is asked of the API server: a scrape walks the four caches
once. Only the replica that leads exports samples (every replica has the same warm caches; exporting from
all of them would double every ``sum()`` on a dashboard); a standby exports the metric families without
samples.

Labels (see docs/observability.md):

- every object: ``namespace``, ``name``;
- scaling groups, PodCliques and PodGangs: ``podcliqueset`` (label ``app.kubernetes.io/part-of``);
- scaling groups and PodCliques: ``scaling_group``, the group's name in the PodCliqueSet template
  (``prefill``; empty for a standalone PodClique);
- PodCliques: ``clique``, the clique's name in the template (``spec.roleName``);
- conditions: ``type`` (as on the object) and ``status``, the current one (``true``, ``false``,
  ``unknown``, lower-cased as kube-state-metrics does), value 1; PodGangs: ``phase``, the current one
  (``Pending``, ``Starting``, ``Running``), value 1; last errors: ``code`` (only codes present).

One series per object and metric (a condition type counts as a metric): the number of series grows with
the number of objects, never with pods, time or error messages. Conditions and phases export only the
current value, not a 0-valued series for every other one: rendering the exposition costs about 5 us per
series in prometheus_client, and that happens on the operator's event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from grove.api import labels
from grove.api.constants import CONDITION_PODGANG_INITIALIZED
from grove.controllers.context import Caches
from grove.runtime.cache import Store
from grove.runtime.manager import Manager

__all__ = ["ALL_FAMILIES", "GroveObjectCollector", "register_object_metrics"]

Obj = Mapping[str, Any]

_PCS = ("namespace", "name")
_PCSG = ("namespace", "name", "podcliqueset", "scaling_group")
_PCLQ = ("namespace", "name", "podcliqueset", "scaling_group", "clique")
_GANG = ("namespace", "name", "podcliqueset")


class _Family:
    """One gauge family: its name, help and label names (kept apart so ``describe`` costs nothing)."""

    def __init__(self, name: str, documentation: str, label_names: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = list(label_names)

    def new(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, self.documentation, labels=self.label_names)


def _families(
    prefix: str, base: Sequence[str], specs: Iterable[tuple[str, str, Sequence[str]]]
) -> list[_Family]:
    return [_Family(f"{prefix}_{suffix}", doc, [*base, *extra]) for suffix, doc, extra in specs]


PCS_FAMILIES = _families(
    "grove_podcliqueset",
    _PCS,
    (
        ("spec_replicas", "Desired replicas of the PodCliqueSet (spec.replicas).", ()),
        (
            "status_available_replicas",
            "Replicas whose standalone PodCliques and scaling groups all meet minAvailable.",
            (),
        ),
        ("status_updated_replicas", "Replicas running the current pod templates.", ()),
        ("metadata_generation", "Generation of the PodCliqueSet's spec.", ()),
        ("status_observed_generation", "Generation the operator last reconciled.", ()),
        ("status_update_in_progress", "1 while a rolling update of the pod templates is in progress.", ()),
        (
            "condition",
            "Conditions of the PodCliqueSet: 1, labelled with the current status of each type.",
            ("type", "status"),
        ),
        ("status_last_errors", "Errors the operator reports on the PodCliqueSet, by code.", ("code",)),
    ),
)
PCSG_FAMILIES = _families(
    "grove_podcliquescalinggroup",
    _PCSG,
    (
        ("spec_replicas", "Desired replicas of the scaling group (spec.replicas).", ()),
        ("min_available", "Replicas that must be available (spec.minAvailable).", ()),
        (
            "status_scheduled_replicas",
            "Replicas whose member PodCliques have minAvailable pods scheduled.",
            (),
        ),
        ("status_available_replicas", "Replicas whose member PodCliques have minAvailable pods ready.", ()),
        ("status_updated_replicas", "Replicas running the current pod templates.", ()),
        (
            "condition",
            "Conditions of the scaling group: 1, labelled with the current status of each type.",
            ("type", "status"),
        ),
        ("status_last_errors", "Errors the operator reports on the scaling group, by code.", ("code",)),
    ),
)
PCLQ_FAMILIES = _families(
    "grove_podclique",
    _PCLQ,
    (
        ("spec_replicas", "Desired pods of the PodClique (spec.replicas).", ()),
        ("min_available", "Pods that must be ready (spec.minAvailable).", ()),
        ("status_ready_replicas", "Ready pods.", ()),
        ("status_scheduled_replicas", "Pods bound to a node.", ()),
        ("status_schedule_gated_replicas", "Pods still held by a scheduling gate.", ()),
        ("status_updated_replicas", "Pods running the current pod template (status.updatedReplicas).", ()),
        (
            "condition",
            "Conditions of the PodClique: 1, labelled with the current status of each type.",
            ("type", "status"),
        ),
        ("status_last_errors", "Errors the operator reports on the PodClique, by code.", ("code",)),
    ),
)
GANG_FAMILIES = _families(
    "grove_podgang",
    _GANG,
    (
        ("status_phase", "Phase of the PodGang: 1, labelled with the current phase.", ("phase",)),
        ("initialized", "1 once every pod of the PodGang exists (condition Initialized), else 0.", ()),
    ),
)
ALL_FAMILIES: tuple[_Family, ...] = (*PCS_FAMILIES, *PCSG_FAMILIES, *PCLQ_FAMILIES, *GANG_FAMILIES)


def _int(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _group_template(pcsg: str, obj_labels: Obj, pcs: str) -> str:
    """The group's name in the template: ``pcsg`` is ``<pcs>-<replica>-<group>`` (``naming``), else ''."""
    replica = obj_labels.get(labels.PCS_REPLICA_INDEX)
    prefix = f"{pcs}-{replica}-"
    return pcsg[len(prefix) :] if replica is not None and pcs and pcsg.startswith(prefix) else ""


def _conditions(family: GaugeMetricFamily, base: list[str], status: Obj) -> None:
    for c in status.get("conditions") or ():
        kind = c.get("type")
        if kind:
            family.add_metric([*base, kind, str(c.get("status") or "Unknown").lower()], 1.0)


def _last_errors(family: GaugeMetricFamily, base: list[str], status: Obj) -> None:
    counts: dict[str, int] = {}
    for e in status.get("lastErrors") or ():
        code = str(e.get("code") or "")
        counts[code] = counts.get(code, 0) + 1
    for code, n in sorted(counts.items()):
        family.add_metric([*base, code], float(n))


class GroveObjectCollector(Collector):
    """A Prometheus collector reading the stores of the operator's caches at every scrape (see the module
    docstring). ``active()`` says whether to export samples (the operator passes "leading and every cache
    synced")."""

    def __init__(
        self, *, pcs: Store, pcsg: Store, pclq: Store, podgangs: Store, active: Callable[[], bool]
    ) -> None:
        self._pcs = pcs
        self._pcsg = pcsg
        self._pclq = pclq
        self._podgangs = podgangs
        self._active = active

    def describe(self) -> Iterator[Metric]:
        """The families, without samples (registration does not walk the caches)."""
        for f in ALL_FAMILIES:
            yield f.new()

    def collect(self) -> Iterator[Metric]:
        """Every family; with samples only while ``active()``."""
        if not self._active():
            yield from self.describe()
            return
        yield from self._pcs_families()
        yield from self._pcsg_families()
        yield from self._pclq_families()
        yield from self._gang_families()

    def _pcs_families(self) -> list[GaugeMetricFamily]:
        fams = [f.new() for f in PCS_FAMILIES]
        replicas, available, updated, generation, observed, updating, conditions, errors = fams
        for obj in self._pcs.list():
            meta = obj.get("metadata") or {}
            spec = obj.get("spec") or {}
            status = obj.get("status") or {}
            base = [meta.get("namespace") or "", meta.get("name") or ""]
            replicas.add_metric(base, _int(spec.get("replicas")))
            available.add_metric(base, _int(status.get("availableReplicas")))
            updated.add_metric(base, _int(status.get("updatedReplicas")))
            generation.add_metric(base, _int(meta.get("generation")))
            observed.add_metric(base, _int(status.get("observedGeneration")))
            progress = status.get("updateProgress") or {}
            in_progress = bool(progress.get("updateStartedAt")) and not progress.get("updateEndedAt")
            updating.add_metric(base, 1.0 if in_progress else 0.0)
            _conditions(conditions, base, status)
            _last_errors(errors, base, status)
        return fams

    def _pcsg_families(self) -> list[GaugeMetricFamily]:
        fams = [f.new() for f in PCSG_FAMILIES]
        replicas, min_available, scheduled, available, updated, conditions, errors = fams
        for obj in self._pcsg.list():
            meta = obj.get("metadata") or {}
            spec = obj.get("spec") or {}
            status = obj.get("status") or {}
            obj_labels = meta.get("labels") or {}
            pcs = obj_labels.get(labels.PART_OF) or ""
            name = meta.get("name") or ""
            base = [meta.get("namespace") or "", name, pcs, _group_template(name, obj_labels, pcs)]
            replicas.add_metric(base, _int(spec.get("replicas")))
            min_available.add_metric(base, _int(spec.get("minAvailable")))
            scheduled.add_metric(base, _int(status.get("scheduledReplicas")))
            available.add_metric(base, _int(status.get("availableReplicas")))
            updated.add_metric(base, _int(status.get("updatedReplicas")))
            _conditions(conditions, base, status)
            _last_errors(errors, base, status)
        return fams

    def _pclq_families(self) -> list[GaugeMetricFamily]:
        fams = [f.new() for f in PCLQ_FAMILIES]
        replicas, min_available, ready, scheduled, gated, updated, conditions, errors = fams
        for obj in self._pclq.list():
            meta = obj.get("metadata") or {}
            spec = obj.get("spec") or {}
            status = obj.get("status") or {}
            obj_labels = meta.get("labels") or {}
            pcs = obj_labels.get(labels.PART_OF) or ""
            group = _group_template(obj_labels.get(labels.SCALING_GROUP) or "", obj_labels, pcs)
            base = [
                meta.get("namespace") or "",
                meta.get("name") or "",
                pcs,
                group,
                spec.get("roleName") or "",
            ]
            replicas.add_metric(base, _int(spec.get("replicas")))
            min_available.add_metric(base, _int(spec.get("minAvailable")))
            ready.add_metric(base, _int(status.get("readyReplicas")))
            scheduled.add_metric(base, _int(status.get("scheduledReplicas")))
            gated.add_metric(base, _int(status.get("scheduleGatedReplicas")))
            updated.add_metric(base, _int(status.get("updatedReplicas")))
            _conditions(conditions, base, status)
            _last_errors(errors, base, status)
        return fams

    def _gang_families(self) -> list[GaugeMetricFamily]:
        fams = [f.new() for f in GANG_FAMILIES]
        phase, initialized = fams
        for obj in self._podgangs.list():
            meta = obj.get("metadata") or {}
            status = obj.get("status") or {}
            pcs = (meta.get("labels") or {}).get(labels.PART_OF) or ""
            base = [meta.get("namespace") or "", meta.get("name") or "", pcs]
            phase.add_metric([*base, status.get("phase") or "Pending"], 1.0)
            init = any(
                c.get("type") == CONDITION_PODGANG_INITIALIZED and c.get("status") == "True"
                for c in status.get("conditions") or ()
            )
            initialized.add_metric(base, 1.0 if init else 0.0)
        return fams


def register_object_metrics(mgr: Manager, caches: Caches) -> GroveObjectCollector:
    """Registers the Grove object metrics on the manager's registry (served on its ``/metrics``).

    Samples are exported while the manager leads and every cache of ``caches`` has synced.
    """
    informers = (caches.pcs, caches.pcsg, caches.pclq, caches.podgangs)

    def active() -> bool:
        return mgr.is_leader and all(i.has_synced() for i in informers)

    collector = GroveObjectCollector(
        pcs=caches.pcs.store,
        pcsg=caches.pcsg.store,
        pclq=caches.pclq.store,
        podgangs=caches.podgangs.store,
        active=active,
    )
    mgr.metrics.registry.register(collector)
    return collector
