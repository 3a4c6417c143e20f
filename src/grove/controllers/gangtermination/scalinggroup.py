"""Gang termination of scaling-group replicas (the PodCliqueScalingGroup controller's part; upstream's
PCSG ``sync.go``).

A replica ``j`` of a scaling group whose member PodCliques include a breach candidate (:mod:`.rules`) that
has been breached for ``terminationDelay`` has its member PodCliques deleted and recreated, provided the
group keeps at least ``minAvailable`` healthy replicas (replicas whose members all meet their minAvailable,
i.e. the group's own MinAvailableBreached is False). Otherwise the group is itself breached and the
PodCliqueSet level (:mod:`.replica`) decides. Nothing is decided while a rolling update replaces this
PodCliqueSet replica, or while a recycle of the whole PodCliqueSet replica is recreating the members.
The decision is recorded on the scaling group (annotation ``grove.io/gang-termination-<j>``, :mod:`.records`)
before anything is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import structlog

from grove.api import labels
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers.context import Context
from grove.controllers.gangtermination.records import GangRecord, annotation_patch, new_record, read_records
from grove.controllers.gangtermination.replica import outstanding, replica_record
from grove.controllers.gangtermination.rules import pclq_breach_start, schedule, termination_delay
from grove.controllers.resources import PODCLIQUESCALINGGROUPS
from grove.controllers.status import now_rfc3339
from grove.controllers.sync import ChildKind, sync_children
from grove.runtime.events import EventRecorder
from grove.runtime.meta import Obj, labels_of, name_of, namespace_of

__all__ = ["ScalingGroupGangTermination", "replica_recycle"]

log = structlog.get_logger(__name__)


def replica_recycle(ctx: Context, pcsg: Obj, members: Sequence[Obj]) -> tuple[GangRecord | None, bool]:
    """The record of a recycle of the scaling group's PodCliqueSet replica, if any, and whether any of
    the group's ``members`` listed in it are still to be deleted or recreated."""
    lbl = labels_of(pcsg)
    i = int(lbl.get(labels.PCS_REPLICA_INDEX, "0"))
    record = replica_record(ctx, namespace_of(pcsg), lbl.get(labels.PART_OF, ""), i)
    if record is None:
        return None, False
    prefix = f"{name_of(pcsg)}-"
    mine = record.only(n for n in record.podcliques if n.startswith(prefix))
    return record, bool(outstanding(mine, {name_of(m): m for m in members}))


class ScalingGroupGangTermination:
    """Recycles scaling-group replicas whose members stayed breached for terminationDelay."""

    def __init__(self, ctx: Context, recorder: EventRecorder, deletes: ChildKind) -> None:
        self.ctx = ctx
        self.recorder = recorder
        self._deletes = deletes

    async def sync(
        self,
        obj: Obj,
        pcs: PodCliqueSet,
        members: Mapping[int, Sequence[Obj]],
        healthy: Mapping[int, bool],
        clique_names: Sequence[str],
        frozen: bool,
    ) -> float | None:
        """One pass for the scaling group ``obj``. ``members``: non-terminating member PodCliques by group
        replica; ``healthy``: replicas below spec.replicas that meet minAvailable; ``frozen``: decide no new
        recycle (rolling update or PodCliqueSet-level recycle in flight). Returns seconds until a waiting
        breach is due, or None."""
        spec = obj.get("spec") or {}
        replicas = int(spec.get("replicas") or 0)
        min_available = int(spec.get("minAvailable") or 1)
        present = {name_of(m): m for ms in members.values() for m in ms}
        kept: dict[int, GangRecord] = {}
        victims: list[Obj] = []
        for j, record in read_records(obj).items():
            if j >= replicas:
                continue
            expected = [f"{name_of(obj)}-{j}-{clique}" for clique in clique_names]
            pending = outstanding(record, present, expected)
            if pending:
                kept[j] = record.only(pending)
                victims += [present[n] for n in pending if n in present]

        wait: float | None = None
        if not frozen and sum(1 for j in range(replicas) if healthy.get(j)) >= min_available:
            starts: dict[int, datetime] = {}
            for j in range(replicas):
                if j in kept:
                    continue
                breaches = [s for m in members.get(j, ()) if (s := pclq_breach_start(m)) is not None]
                if breaches:
                    starts[j] = min(breaches)
            plan = schedule(starts, termination_delay(pcs), datetime.now(UTC))
            at = now_rfc3339()
            for j in plan.due:
                kept[j] = new_record(members.get(j, ()), at)
                log.info("gangtermination.group_replica_due", pcsg=name_of(obj), replica=j)
            wait = plan.wait

        if victims and await sync_children(self.ctx, self.recorder, obj, self._deletes, [], victims):
            log.info(
                "gangtermination.group_replica_deleted",
                pcsg=name_of(obj),
                podcliques=sorted(map(name_of, victims)),
            )
        patch = annotation_patch(obj, kept)
        if patch is not None:
            await self.ctx.client.patch(PODCLIQUESCALINGGROUPS, name_of(obj), patch, namespace_of(obj))
        return wait
