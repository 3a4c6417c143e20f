"""Gang termination of PodCliqueSet replicas (the PodCliqueSet controller's part; upstream's
``podcliquesetreplica/gangterminate.go``).

For each replica ``i`` (skipped while one of its standalone PodCliques is missing): when a standalone
PodClique or a scaling group of the replica is a breach candidate (:mod:`.rules`) whose breach has lasted
``terminationDelay``, every PodClique of the replica is deleted and recreated (standalone ones by the
PodCliqueSet controller, scaling-group members by their group); Services, scaling groups and PodGangs stay.
The decision is first written as a record (:mod:`.records`, annotation ``grove.io/gang-termination-<i>`` on
the replica's headless Service ``<pcs>-<i>``: the operator's own object of that replica, which a recycle
keeps; the PodCliqueSet is the user's and the operator writes only its status); the deletes happen once
the cache shows it, followed by the event ``PodCliqueSetReplicaDeleteSuccessful``. The replica's scaling
groups report ``GangTerminationInProgress`` from the record until they meet minAvailable again; the record
is dropped once every PodClique is recreated and every group has cleared that condition. A breach still
waiting returns the exact time until it is due, which the controller uses as ``requeue_after`` (no polling).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

import structlog

from grove.api import labels, naming
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers import reasons
from grove.controllers.children import delete_child
from grove.controllers.conditions import CONDITION_GANG_TERMINATION_IN_PROGRESS as _FLAG
from grove.controllers.context import PART_OF_INDEX, Context, gather_limited
from grove.controllers.desired import podclique_refs
from grove.controllers.gangtermination.records import (
    GangRecord,
    Recorded,
    annotation_patch,
    new_record,
    read_records,
)
from grove.controllers.gangtermination.rules import (
    cleared_since,
    pclq_breach_start,
    pcsg_breach_start,
    schedule,
    termination_delay,
)
from grove.controllers.resources import PODCLIQUES, SERVICES
from grove.controllers.status import find_condition, now_rfc3339
from grove.runtime.cache import CONTROLLER_UID_INDEX
from grove.runtime.errors import Conflict
from grove.runtime.events import EventRecorder
from grove.runtime.meta import Obj, controller_owner, labels_of, metadata, name_of, namespace_of, uid_of

__all__ = ["ReplicaGangTermination", "outstanding", "replica_record"]

log = structlog.get_logger(__name__)


def outstanding(
    record: GangRecord, present: Mapping[str, Obj], expected: Iterable[str] | None = None
) -> list[str]:
    """The PodCliques of ``record`` still to delete (the recorded incarnation exists) or to recreate
    (missing, and still ``expected``; every missing one when ``expected`` is None)."""
    wanted = None if expected is None else set(expected)

    def pending(name: str, recorded: Recorded) -> bool:
        current = present.get(name)
        if current is not None:
            return uid_of(current) == recorded.uid
        return wanted is None or name in wanted

    return [n for n, r in record.podcliques.items() if pending(n, r)]


def replica_record(ctx: Context, namespace: str, pcs: str, i: int) -> GangRecord | None:
    """The record of a recycle of PodCliqueSet replica ``i`` (on its headless Service), if any."""
    service = ctx.caches.services.store.get_by_name(namespace, naming.headless_service_name(pcs, i))
    return read_records(service).get(i) if service is not None else None


def _replica_index(obj: Obj) -> int | None:
    value = labels_of(obj).get(labels.PCS_REPLICA_INDEX)
    return int(value) if value is not None and value.isdigit() else None


class ReplicaGangTermination:
    """Recycles PodCliqueSet replicas whose minAvailable stayed breached for terminationDelay."""

    def __init__(self, ctx: Context, recorder: EventRecorder) -> None:
        self.ctx = ctx
        self.recorder = recorder

    async def sync(self, obj: Obj, pcs: PodCliqueSet) -> float | None:
        """One pass for the PodCliqueSet ``obj``; returns seconds until a waiting breach is due, or None."""
        ns, name = namespace_of(obj), name_of(obj)
        c = self.ctx.caches
        groups: dict[int, list[Obj]] = defaultdict(list)
        for g in c.pcsg.store.by_index(CONTROLLER_UID_INDEX, uid_of(obj)):
            i = _replica_index(g)
            if i is not None and not metadata(g).get("deletionTimestamp"):
                groups[i].append(g)
        owners = {uid_of(obj)} | {uid_of(g) for gs in groups.values() for g in gs}
        pclqs: dict[int, list[Obj]] = defaultdict(list)
        for p in c.pclq.store.by_index(PART_OF_INDEX, name):
            ref = controller_owner(p)
            i = _replica_index(p)
            if namespace_of(p) != ns or ref is None or ref.get("uid") not in owners or i is None:
                continue
            if not metadata(p).get("deletionTimestamp"):
                pclqs[i].append(p)

        services = {
            i: c.services.store.get_by_name(ns, naming.headless_service_name(name, i))
            for i in range(pcs.spec.replicas)
        }
        kept: dict[int, GangRecord] = {}
        victims: dict[int, list[Obj]] = {}
        starts: dict[int, datetime] = {}
        for i in range(pcs.spec.replicas):
            service = services[i]
            if service is None:
                continue  # created in this pass; its create event brings us back
            present = {name_of(p): p for p in pclqs[i]}
            record = read_records(service).get(i)
            if record is not None:
                pending = outstanding(record, present, self._expected(pcs, i, groups[i]))
                doomed = [present[n] for n in pending if n in present]
                if doomed:
                    victims[i] = doomed
                flags = (find_condition((g.get("status") or {}).get("conditions"), _FLAG) for g in groups[i])
                if pending or not all(cleared_since(f, record.at) for f in flags):
                    kept[i] = record.only(pending)
                if pending:
                    continue  # a recycle is in flight: decide nothing else for this replica
            start = self._breach_start(pcs, i, present, groups[i], record)
            if start is not None:
                starts[i] = start

        plan = schedule(starts, termination_delay(pcs), datetime.now(UTC))
        at = now_rfc3339()
        for i in plan.due:
            kept[i] = new_record(pclqs[i], at)
            log.info(
                "gangtermination.replica_due", pcs=name, replica=i, podcliques=sorted(kept[i].podcliques)
            )
        await self._delete(obj, victims)
        for i, service in services.items():
            if service is None:
                continue
            patch = annotation_patch(service, {i: kept[i]} if i in kept else {})
            if patch is not None:
                await self.ctx.client.patch(SERVICES, name_of(service), patch, ns)
        return plan.wait

    @staticmethod
    def _expected(pcs: PodCliqueSet, i: int, groups: Sequence[Obj]) -> list[str]:
        """Names of the PodCliques replica ``i`` should have (scaling groups at their own replicas)."""
        observed: dict[str, int] = {}
        for g in groups:
            group = name_of(g).removeprefix(naming.scaling_group_name(pcs.metadata.name, i, ""))
            observed[group] = int((g.get("spec") or {}).get("replicas") or 0)
        return [ref.name for ref in podclique_refs(pcs, i, observed)]

    @staticmethod
    def _breach_start(
        pcs: PodCliqueSet,
        i: int,
        present: Mapping[str, Obj],
        groups: Sequence[Obj],
        record: GangRecord | None,
    ) -> datetime | None:
        starts: list[datetime] = []
        for clique in pcs.spec.template.standalone_cliques():
            pclq = present.get(naming.podclique_name(pcs.metadata.name, i, clique.name))
            if pclq is None:
                return None  # not all there yet: nothing to judge (upstream skips the replica too)
            start = pclq_breach_start(pclq)
            if start is not None:
                starts.append(start)
        for g in groups:
            start = pcsg_breach_start(g, record.at if record is not None else None)
            if start is not None:
                starts.append(start)
        return min(starts) if starts else None

    async def _delete(self, obj: Obj, victims: Mapping[int, list[Obj]]) -> None:
        failure: BaseException | None = None
        for i, doomed in sorted(victims.items()):
            results = await gather_limited(
                [_deleter(self.ctx, p) for p in doomed], self.ctx.max_parallel_writes
            )
            deleted = [name_of(p) for p, r in zip(doomed, results, strict=True) if r is True]
            errors = [r for r in results if isinstance(r, BaseException)]
            if deleted:
                log.info("gangtermination.replica_deleted", pcs=name_of(obj), replica=i, podcliques=deleted)
                self.recorder.normal(
                    obj,
                    reasons.PCS_REPLICA_DELETE_SUCCESSFUL,
                    f"PodCliqueSet replica {i} deleted for gang termination: {', '.join(deleted)}",
                )
            if errors:
                self.recorder.warning(
                    obj,
                    reasons.PCS_REPLICA_DELETE_FAILED,
                    f"Error deleting PodCliqueSet replica {i}: {errors[0]}",
                )
                failure = failure or errors[0]
        if failure is not None:
            raise failure


def _deleter(ctx: Context, pclq: Obj) -> Callable[[], Awaitable[bool]]:
    async def call() -> bool:
        try:
            return await delete_child(ctx.client, PODCLIQUES, pclq)
        except Conflict:
            return False  # another incarnation by now: the recorded one is gone

    return call
