"""The PodCliqueScalingGroup controller: the member PodCliques of each group replica, and the group's status.

Per PodCliqueScalingGroup ``<pcs>-<i>-<group>`` (upstream ``internal/controller/podcliquescalinggroup``,
reference §3.2): for every replica ``j < spec.replicas`` one PodClique ``<pcsg>-<j>-<clique>`` per clique of
the group, built from the owning PodCliqueSet's templates with the GROVE_PCSG_* variables (an existing
member keeps its own ``spec.replicas``: ``kubectl scale pclq`` on a member sticks); members of replicas at or
above ``spec.replicas`` are deleted. Under RollingRecreate existing members are not patched: outdated group
replicas are recreated as units while their PodCliqueSet replica is being updated (:mod:`.rolling`).
A group replica whose members stayed below minAvailable for terminationDelay is recreated (gang
termination, :mod:`.gangtermination`; members come back with the replicas they had).
Status: replicas, scheduledReplicas, availableReplicas, updatedReplicas, selector, MinAvailableBreached
(Unknown while a rolling update replaces the PodCliqueSet replica), GangTerminationInProgress,
HealthyStateObserved (set once the group first meets minAvailable), observedGeneration, lastErrors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from grove.api import labels
from grove.api.hashing import pod_template_hash, podcliqueset_generation_hash
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers import conditions as cond
from grove.controllers import reasons
from grove.controllers.context import Context, controller_ref, owner_pcs
from grove.controllers.desired import PodCliqueRef, build_podclique
from grove.controllers.errors import user_error
from grove.controllers.gangtermination import (
    GangRecord,
    ScalingGroupGangTermination,
    in_progress_condition,
    read_records,
    recorded_replicas,
    replica_recycle,
)
from grove.controllers.resources import PODCLIQUES, PODCLIQUESCALINGGROUPS
from grove.controllers.rolling import (
    outdated_group_replicas,
    rolling_strategy,
    update_progress_changed,
    updating_replica,
)
from grove.controllers.status import (
    ErrorRecord,
    condition,
    find_condition,
    merge_conditions,
    merge_last_errors,
    now_rfc3339,
    status_patch,
)
from grove.controllers.statusmemo import StatusMemo
from grove.controllers.sync import OWNED_REPLICAS, ChildKind, sync_children
from grove.runtime.cache import CONTROLLER_UID_INDEX
from grove.runtime.controller import Controller, Request, Result
from grove.runtime.errors import NotFound
from grove.runtime.manager import Manager
from grove.runtime.meta import (
    Obj,
    generation_of,
    labels_of,
    metadata,
    name_of,
    namespace_of,
    uid_of,
)
from grove.runtime.predicates import FuncPredicate

__all__ = ["ScalingGroupController", "member_replica_index"]

log = structlog.get_logger(__name__)

CONTROLLER_NAME = "podcliquescalinggroup-controller"


def member_replica_index(pclq: Obj) -> int | None:
    """The group replica a member PodClique belongs to (its label), or None."""
    value = labels_of(pclq).get(labels.PCSG_REPLICA_INDEX)
    return int(value) if value is not None and value.isdigit() else None


def _condition_true(obj: Obj, type_: str) -> bool:
    c = find_condition((obj.get("status") or {}).get("conditions"), type_)
    return c is not None and c.get("status") == "True"


def _condition_false(obj: Obj, type_: str) -> bool:
    c = find_condition((obj.get("status") or {}).get("conditions"), type_)
    return c is not None and c.get("status") == "False"


def _pcs_replica(obj: Obj) -> int:
    return int(labels_of(obj).get(labels.PCS_REPLICA_INDEX, "0"))


def _by_replica(members: list[Obj]) -> dict[int, list[Obj]]:
    out: dict[int, list[Obj]] = {}
    for m in members:
        j = member_replica_index(m)
        if j is not None:
            out.setdefault(j, []).append(m)
    return out


def _ready_enough(pclq: Obj) -> bool:
    status = pclq.get("status") or {}
    spec = pclq.get("spec") or {}
    min_available = spec.get("minAvailable") or spec.get("replicas") or 0
    return int(status.get("readyReplicas") or 0) >= int(min_available)


class ScalingGroupController:
    """Reconciles PodCliqueScalingGroups (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.recorder = ctx.recorder(CONTROLLER_NAME)
        self.status_memo = StatusMemo()
        self._replica_deletes = ChildKind(
            PODCLIQUES,
            ctx.caches.pclq,
            deleted_reason=reasons.PCSG_REPLICA_DELETE_SUCCESSFUL,
            failed_reason=reasons.PCSG_REPLICA_DELETE_FAILED,
        )
        self._members = ChildKind(
            PODCLIQUES,
            ctx.caches.pclq,
            keep=(OWNED_REPLICAS,),
            synced_reason=reasons.PODCLIQUE_CREATE_OR_UPDATE_SUCCESSFUL,
            deleted_reason=reasons.PODCLIQUE_DELETE_SUCCESSFUL,
            failed_reason=reasons.PODCLIQUE_CREATE_OR_UPDATE_FAILED,
        )
        self._gang_termination = ScalingGroupGangTermination(ctx, self.recorder, self._replica_deletes)

    def register(self, mgr: Manager, concurrency: int) -> Controller:
        """Declares the controller and its watches on ``mgr``."""
        c = self.ctx.caches
        return (
            mgr.new_controller(CONTROLLER_NAME, self.reconcile, max_concurrent_reconciles=concurrency)
            .for_(c.pcsg, FuncPredicate(update=_spec_or_metadata_changed))
            .owns(c.pclq, PODCLIQUESCALINGGROUPS)
            .watches(
                c.pcs,
                self._pcs_to_groups,
                FuncPredicate(
                    update=lambda o, n: _spec_or_metadata_changed(o, n) or update_progress_changed(o, n)
                ),
            )
        )

    def _pcs_to_groups(self, pcs: Obj) -> Iterable[Request]:
        ns = namespace_of(pcs)
        return [
            Request(ns, name_of(g))
            for g in self.ctx.caches.pcsg.store.by_index(CONTROLLER_UID_INDEX, uid_of(pcs))
        ]

    async def reconcile(self, req: Request) -> Result | None:
        """One pass over the PodCliqueScalingGroup ``req``."""
        cached = self.ctx.caches.pcsg.store.get_by_name(req.namespace, req.name)
        if cached is None:
            self.status_memo.forget(req.namespace, req.name)
            return None
        if metadata(cached).get("deletionTimestamp"):
            return None
        obj = self.status_memo.current(cached)
        pcs_obj = owner_pcs(self.ctx, obj)
        if pcs_obj is None:
            return None  # orphaned: garbage collection removes it
        view = self.ctx.pcs_view(pcs_obj)
        if not view.valid or view.model is None:
            return None  # the PodCliqueSet controller reports why
        pcs = view.model
        group = _group_name(obj)
        config = pcs.spec.template.scaling_group(group) if group is not None else None
        if config is None or group is None:
            log.warning("pcsg.unknown_group", group=group)
            return None
        members = [
            m
            for m in self.ctx.caches.pclq.store.by_index(CONTROLLER_UID_INDEX, uid_of(obj))
            if not metadata(m).get("deletionTimestamp")
        ]
        replicas = _group_replicas(obj, pcs, config.clique_names, members)
        updating = updating_replica(pcs_obj, pcs) == _pcs_replica(obj)
        recycle, recreating = replica_recycle(self.ctx, obj, members)
        errors: list[ErrorRecord] = []
        failure: BaseException | None = None
        wait: float | None = None
        try:
            await self._sync_members(obj, pcs, group, members, recycle)
            await self._roll(obj, pcs_obj, pcs, config.clique_names, replicas)
            wait = await self._gang_termination.sync(
                obj,
                pcs,
                _by_replica(members),
                {j: r.healthy for j, r in replicas.items()},
                config.clique_names,
                frozen=updating or recreating,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = exc
            record = user_error(exc)
            if record is not None:
                errors.append(record)
        await self._write_status(
            obj,
            replicas,
            errors,
            updating,
            recycle.at if recycle is not None else None,
            recreating,
            podcliqueset_generation_hash(pcs),
            rolling_strategy(pcs),
            len(config.clique_names),
        )
        if failure is not None:
            raise failure
        # A breach waiting on terminationDelay: come back exactly when it is due.
        return Result(requeue_after=wait) if wait is not None else None

    async def _sync_members(
        self, obj: Obj, pcs: PodCliqueSet, group: str, members: list[Obj], recycle: GangRecord | None
    ) -> None:
        """Members of replicas below spec.replicas exist; others are deleted. With RollingRecreate an
        existing member is not patched: it keeps its template until the rolling update recreates it. A
        member recreated after gang termination gets the replicas it had (recorded on the PodCliqueSet or
        on this group)."""
        replicas = int((obj.get("spec") or {}).get("replicas") or 0)
        i = _pcs_replica(obj)
        group_recycles = read_records(obj)
        ns = namespace_of(obj)
        owner = controller_ref(PODCLIQUESCALINGGROUPS, obj)
        config = pcs.spec.template.scaling_group(group)
        assert config is not None
        store = self.ctx.caches.pclq.store
        patch_existing = not rolling_strategy(pcs)
        wanted: set[str] = set()
        desired: list[Obj] = []
        for j in range(replicas):
            for clique in config.clique_names:
                ref = PodCliqueRef(pcs.metadata.name, i, clique, group, j)
                wanted.add(ref.name)
                existing = store.get_by_name(ns, ref.name)
                if existing is not None and not patch_existing:
                    continue
                observed_replicas = (
                    (existing.get("spec") or {}).get("replicas")
                    if existing
                    else recorded_replicas([recycle, group_recycles.get(j)], ref.name)
                )
                manifest = build_podclique(pcs, ref, observed_replicas).to_dict()
                manifest["metadata"]["ownerReferences"] = [owner]
                desired.append(manifest)
        excess = [m for m in members if name_of(m) not in wanted]
        await sync_children(self.ctx, self.recorder, obj, self._members, desired, excess)

    async def _roll(
        self,
        obj: Obj,
        pcs_obj: Obj,
        pcs: PodCliqueSet,
        clique_names: list[str],
        replicas: dict[int, _GroupReplica],
    ) -> None:
        """Recreate outdated group replicas while this PodCliqueSet replica is the one being updated."""
        if updating_replica(pcs_obj, pcs) != _pcs_replica(obj):
            return
        spec = obj.get("spec") or {}
        stale = outdated_group_replicas(
            {j: r.members for j, r in replicas.items()},
            int(spec.get("replicas") or 0),
            len(clique_names),
            _expected_hashes(pcs, clique_names),
            lambda m: _member_clique(name_of(obj), m),
            {j: r.available for j, r in replicas.items()},
            int(spec.get("minAvailable") or 1),
        )
        if not stale:
            return
        victims = [m for j in stale for m in replicas[j].members]
        await sync_children(self.ctx, self.recorder, obj, self._replica_deletes, [], victims)
        log.info("pcsg.replicas_recreated", pcsg=name_of(obj), replicas=stale)

    async def _write_status(
        self,
        obj: Obj,
        replicas: dict[int, _GroupReplica],
        errors: list[ErrorRecord],
        updating: bool,
        recycled_at: str | None,
        recreating: bool,
        generation_hash: str,
        rolling: bool,
        cliques: int,
    ) -> None:
        spec = obj.get("spec") or {}
        want = int(spec.get("replicas") or 0)
        min_available = int(spec.get("minAvailable") or 1)
        scheduled = sum(1 for r in replicas.values() if r.scheduled)
        available = sum(1 for r in replicas.values() if r.available)
        updated = sum(1 for r in replicas.values() if r.available and r.updated)
        healthy = sum(1 for r in replicas.values() if r.healthy)
        generation = generation_of(obj)
        breached = healthy < min_available
        if updating:
            breach = condition(
                cond.CONDITION_MIN_AVAILABLE_BREACHED,
                "Unknown",
                cond.REASON_UPDATE_IN_PROGRESS,
                "A rolling update is replacing this PodCliqueSet replica",
                generation,
            )
        else:
            breach = condition(
                cond.CONDITION_MIN_AVAILABLE_BREACHED,
                breached,
                cond.REASON_INSUFFICIENT_AVAILABLE_PCSG_REPLICAS
                if breached
                else cond.REASON_SUFFICIENT_AVAILABLE_PCSG_REPLICAS,
                f"{healthy} of {want} replicas meet minAvailable, {min_available} required",
                generation,
            )
        current = obj.get("status") or {}
        wanted = [breach]
        flag = in_progress_condition(
            find_condition(current.get("conditions"), cond.CONDITION_GANG_TERMINATION_IN_PROGRESS),
            breach["status"],
            recycled_at,
            recreating,
            generation,
        )
        if flag is not None:
            wanted.append(flag)
        if not updating and not breached and available >= min_available:
            wanted.append(
                condition(
                    cond.CONDITION_HEALTHY_STATE_OBSERVED,
                    True,
                    cond.REASON_HEALTHY_STATE_OBSERVED,
                    f"{available} of {want} replicas were available, {min_available} required",
                )
            )
        if int(current.get("scheduledReplicas") or 0) > 0 and scheduled == 0:
            self.recorder.warning(
                obj, reasons.ALL_SCHEDULED_REPLICAS_LOST, "All scheduled replicas were lost"
            )
        now = now_rfc3339()
        pcs_name = labels_of(obj).get(labels.PART_OF, "")
        desired: dict[str, Any] = {
            "observedGeneration": generation,
            "replicas": want,
            "scheduledReplicas": scheduled,
            "availableReplicas": available,
            "updatedReplicas": updated,
            "selector": labels.selector_string(labels.scaling_group_selector(pcs_name, name_of(obj))),
            "conditions": merge_conditions(current.get("conditions"), wanted, now),
            "lastErrors": merge_last_errors(current.get("lastErrors"), errors, now),
        }
        converged = all(replicas[j].updated for j in range(want))
        if converged:
            # Every member runs the templates of this PodCliqueSet generation (upstream's field).
            desired["currentPodCliqueSetGenerationHash"] = generation_hash
        desired["updateProgress"] = _update_progress(
            current,
            generation_hash,
            updating
            or (
                not rolling
                and current.get("currentPodCliqueSetGenerationHash") not in (None, generation_hash)
            ),
            rolling,
            sum(r.updated_members for r in replicas.values()),
            want * cliques,
            converged,
            now,
        )
        patch = status_patch(obj, desired)
        if patch is None:
            return
        try:
            written = await self.ctx.client.patch_status(
                PODCLIQUESCALINGGROUPS, name_of(obj), patch, namespace_of(obj)
            )
        except NotFound:
            return
        self.status_memo.wrote(obj, written)


@dataclass(frozen=True)
class _GroupReplica:
    """One replica of a scaling group as its member PodCliques report it."""

    members: list[Obj]
    healthy: bool
    """All members exist and each reports MinAvailableBreached False (a member that has not reported yet
    is not counted: a group must not look healthy, even briefly, before its members are)."""
    scheduled: bool
    available: bool
    updated: bool
    updated_members: int
    """Members running their clique's current pod template on all their pods."""


def _group_replicas(
    obj: Obj, pcs: PodCliqueSet, clique_names: list[str], members: list[Obj]
) -> dict[int, _GroupReplica]:
    """Replicas below spec.replicas: complete (every member exists), scheduled (every member has
    PodCliqueScheduled), available (and minAvailable ready pods each), updated (current templates)."""
    replicas = int((obj.get("spec") or {}).get("replicas") or 0)
    by_replica: dict[int, list[Obj]] = {j: [] for j in range(replicas)}
    for m in members:
        j = member_replica_index(m)
        if j is not None and j < replicas:
            by_replica[j].append(m)
    hashes = _expected_hashes(pcs, clique_names)
    out: dict[int, _GroupReplica] = {}
    for j, ms in by_replica.items():
        complete = len(ms) == len(clique_names)
        healthy = complete and all(_condition_false(m, cond.CONDITION_MIN_AVAILABLE_BREACHED) for m in ms)
        scheduled = complete and all(_condition_true(m, cond.CONDITION_PODCLIQUE_SCHEDULED) for m in ms)
        available = scheduled and all(_ready_enough(m) for m in ms)
        updated_members = sum(1 for m in ms if _converged(m, name_of(obj), hashes))
        updated = complete and updated_members == len(ms)
        out[j] = _GroupReplica(ms, healthy, scheduled, available, updated, updated_members)
    return out


def _expected_hashes(pcs: PodCliqueSet, clique_names: list[str]) -> dict[str, str]:
    t = pcs.spec.template
    out: dict[str, str] = {}
    for name in clique_names:
        template = t.clique(name)
        if template is not None:
            out[name] = pod_template_hash(template, t.priority_class_name)
    return out


def _member_clique(pcsg: str, member: Obj) -> str:
    """The clique template name of a member PodClique ``<pcsg>-<j>-<clique>``."""
    return name_of(member).removeprefix(f"{pcsg}-{member_replica_index(member)}-")


def _update_progress(
    status: Mapping[str, Any],
    generation_hash: str,
    may_start: bool,
    rolling: bool,
    updated_members: int,
    total_members: int,
    converged: bool,
    now: str,
) -> dict[str, Any] | None:
    """``status.updateProgress`` as upstream keeps it (None: no update ever reached this group).

    An update of a new PodCliqueSet generation starts once it may (RollingRecreate: when the group's
    PodCliqueSet replica is the one being updated; OnDelete: at once, and ends at once); the member counts
    are recomputed every time and a rolling update ends when every member runs the new templates.
    """
    progress: dict[str, Any] | None = dict(status.get("updateProgress") or {}) or None
    if may_start and (progress is None or progress.get("podCliqueSetGenerationHash") != generation_hash):
        progress = {"updateStartedAt": now, "podCliqueSetGenerationHash": generation_hash}
        if not rolling:
            progress["updateEndedAt"] = now
    if progress is None:
        return None
    progress["updatedPodCliquesCount"] = updated_members
    progress["totalPodCliquesCount"] = total_members
    if converged and progress.get("podCliqueSetGenerationHash") == generation_hash:
        progress.setdefault("updateEndedAt", now)
    return progress


def _converged(member: Obj, pcsg: str, expected_hashes: dict[str, str]) -> bool:
    """The member runs its clique's current pod template on all its pods."""
    clique = _member_clique(pcsg, member)
    status = member.get("status") or {}
    return (
        labels_of(member).get(labels.POD_TEMPLATE_HASH) == expected_hashes.get(clique)
        and status.get("observedGeneration") == generation_of(member)  # counts of the current spec
        and status.get("updatedReplicas") == status.get("replicas")
    )


def _group_name(obj: Obj) -> str | None:
    lbl = labels_of(obj)
    pcs, i = lbl.get(labels.PART_OF), lbl.get(labels.PCS_REPLICA_INDEX)
    prefix = f"{pcs}-{i}-"
    name = name_of(obj)
    return name[len(prefix) :] if pcs and i is not None and name.startswith(prefix) else None


def _spec_or_metadata_changed(old: Obj, new: Obj) -> bool:
    return (
        generation_of(old) != generation_of(new)
        or labels_of(old) != labels_of(new)
        or metadata(old).get("annotations") != metadata(new).get("annotations")
    )
