"""The PodClique controller: a PodClique's pods, their scheduling gates and the PodClique's status.

Per PodClique (upstream ``internal/controller/podclique``, reference §3.3-3.4):

1. scale: with the expectations of earlier writes met, create the missing pods (indices fill holes from 0,
   slow-start batches 1, 2, 4, ...) or delete the surplus in upstream's deletion order;
2. gates: remove Grove's scheduling gate (only that one) from pods listed in their PodGang's pod group once
   the PodGang is Initialized, and for scaled gangs once every pod group of the base gang is scheduled;
3. status: counts, conditions PodCliqueScheduled and MinAvailableBreached (Unknown while a rolling update
   replaces its PodCliqueSet replica, so gang termination leaves the update alone), hpaPodSelector
   (standalone PodCliques), observedGeneration, lastErrors; written only when it changed and only from a
   reconcile that made no other write and waits for no gate removal to reach the cache (the events of
   those writes bring a fresher view at once), and diffed against the last status written while the cache
   has not seen that write (:mod:`.statusmemo`).

Pods are read from the cache by owner UID; expectations (UID-tracked for deletes) cover the window between a
write and the cache seeing it, so a lagging cache never leads to a duplicate pod or a double delete. Pods
whose gate removal succeeded are remembered (:mod:`.unobserved`) until the cache shows them ungated, for
at most :data:`UNGATE_RECHECK` seconds, so a lagging cache never leads to a second gate-removal patch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from grove.api import constants, labels
from grove.api.podclique import PodClique
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers import conditions as cond
from grove.controllers import reasons
from grove.controllers.context import (
    BASE_PODGANG_INDEX,
    PART_OF_INDEX,
    Context,
    controller_ref,
    owner_pcs,
)
from grove.controllers.desired import PodCliqueRef, build_pod, podclique_ref
from grove.controllers.errors import user_error
from grove.controllers.pcsview import PcsView
from grove.controllers.pods import (
    count_pods,
    deletion_order,
    duplicate_indices,
    free_indices,
    has_grove_gate,
    is_active,
    pod_index,
)
from grove.controllers.resources import PODCLIQUES, PODS
from grove.controllers.rolling import pod_replacements, update_progress_changed, updating_replica
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
from grove.controllers.unobserved import UnobservedWrites
from grove.runtime.cache import CONTROLLER_UID_INDEX, DeletedFinalStateUnknown, unwrap_tombstone
from grove.runtime.client import PatchType
from grove.runtime.controller import Controller, Request, Result
from grove.runtime.errors import NamespaceTerminating, NotFound
from grove.runtime.expectations import UIDTrackingExpectations
from grove.runtime.informer import FuncHandler
from grove.runtime.manager import Manager
from grove.runtime.meta import (
    Obj,
    controller_owner,
    generation_of,
    labels_of,
    metadata,
    name_of,
    namespace_of,
    uid_of,
)
from grove.runtime.predicates import FuncPredicate

__all__ = ["PodCliqueController", "gang_initialized"]

log = structlog.get_logger(__name__)

CONTROLLER_NAME = "podclique-controller"
EXPECTATIONS_RECHECK = 30.0
"""Seconds after which a reconcile waiting on expectations looks again (events normally come much sooner)."""
UNGATE_RECHECK = 30.0
"""Seconds a gate removal is trusted while the cache still shows the gate; then the gate is removed again."""

_REMOVE_GATE_PATCH = {
    "spec": {"schedulingGates": [{"$patch": "delete", "name": constants.PODGANG_SCHEDULING_GATE}]}
}


def gang_initialized(gang: Mapping[str, Any] | None) -> bool:
    """The PodGang exists and its Initialized condition is True (every pod of the gang exists)."""
    if gang is None:
        return False
    c = find_condition((gang.get("status") or {}).get("conditions"), cond.CONDITION_PODGANG_INITIALIZED)
    return c is not None and c.get("status") == "True"


def _pod_group(gang: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for group in (gang.get("spec") or {}).get("podgroups") or ():
        if group.get("name") == name:
            return group  # type: ignore[no-any-return]
    return None


def _pclq_key_of_pod(pod: Obj) -> str | None:
    ref = controller_owner(pod)
    if ref is None or ref.get("kind") != PODCLIQUES.kind:
        return None
    return f"{namespace_of(pod)}/{ref.get('name')}"


class PodCliqueController:
    """Reconciles PodCliques (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.expectations = UIDTrackingExpectations()
        self.ungated = UnobservedWrites(UNGATE_RECHECK)
        self.status_memo = StatusMemo()
        self.recorder = ctx.recorder(CONTROLLER_NAME)

    # ---- wiring ------------------------------------------------------------------------------------------

    def register(self, mgr: Manager, concurrency: int) -> Controller:
        """Declares the controller and its watches on ``mgr``."""
        c = self.ctx.caches
        c.pods.add_event_handler(
            FuncHandler(add=self._pod_added, update=self._pod_updated, delete=self._pod_deleted)
        )
        return (
            mgr.new_controller(CONTROLLER_NAME, self.reconcile, max_concurrent_reconciles=concurrency)
            .for_(c.pclq, FuncPredicate(update=_spec_or_labels_changed))
            .owns(c.pods, PODCLIQUES)
            .watches(
                c.podgangs, _podgang_to_pclqs, FuncPredicate(update=_gang_changed, delete=lambda _: False)
            )
            .watches(c.pclq, self._base_member_to_scaled, FuncPredicate(update=_scheduled_changed))
            .watches(c.pcs, self._pcs_to_pclqs, FuncPredicate(update=update_progress_changed))
        )

    def _pod_added(self, pod: Obj, is_initial_list: bool) -> None:
        key = _pclq_key_of_pod(pod)
        if key is not None:
            self.expectations.creation_observed(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if not has_grove_gate(new):
            self.ungated.observed(uid_of(new))
        if metadata(new).get("deletionTimestamp") and not metadata(old).get("deletionTimestamp"):
            key = _pclq_key_of_pod(new)
            if key is not None:
                self.expectations.deletion_observed_uid(key, uid_of(new))

    def _pod_deleted(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        pod = unwrap_tombstone(obj)
        self.ungated.observed(uid_of(pod))
        key = _pclq_key_of_pod(pod)
        if key is not None:
            self.expectations.deletion_observed_uid(key, uid_of(pod))

    def _pcs_to_pclqs(self, pcs: Obj) -> Iterable[Request]:
        """A rolling update moved on: standalone PodCliques may have pods to replace, and the breach
        condition of every PodClique of the replicas it left or entered changes."""
        ns = namespace_of(pcs)
        return [
            Request(ns, name_of(p))
            for p in self.ctx.caches.pclq.store.by_index(PART_OF_INDEX, name_of(pcs))
            if namespace_of(p) == ns
        ]

    def _base_member_to_scaled(self, pclq: Obj) -> Iterable[Request]:
        """A base-gang PodClique's scheduled count changed: the scaled gangs waiting on it may go ahead."""
        if labels.BASE_PODGANG in labels_of(pclq):
            return ()
        gang = labels_of(pclq).get(labels.PODGANG)
        if not gang:
            return ()
        ns = namespace_of(pclq)
        waiting = self.ctx.caches.pclq.store.by_index(BASE_PODGANG_INDEX, gang)
        return [Request(ns, name_of(p)) for p in waiting if namespace_of(p) == ns]

    # ---- reconcile ---------------------------------------------------------------------------------------

    async def reconcile(self, req: Request) -> Result | None:
        """One pass over the PodClique ``req``."""
        key = str(req)
        cached = self.ctx.caches.pclq.store.get_by_name(req.namespace, req.name)
        if cached is None:
            self.expectations.delete(key)
            self.status_memo.forget(req.namespace, req.name)
            return None
        obj = self.status_memo.current(cached)
        if metadata(obj).get("deletionTimestamp"):
            return None  # garbage collection removes the pods
        parsed = self.ctx.pclq_models.get(obj)
        pclq = parsed.model
        if pclq is None:
            log.error("podclique.unparseable", errors=[str(e) for e in parsed.errors])
            return None
        pcs_obj = owner_pcs(self.ctx, obj)
        view = self.ctx.pcs_view(pcs_obj) if pcs_obj is not None else None
        pcs = view.model if view is not None and view.valid else None
        ref = podclique_ref(pcs, pclq) if pcs is not None else None
        pods = self.ctx.caches.pods.store.by_index(CONTROLLER_UID_INDEX, uid_of(obj))

        errors: list[ErrorRecord] = []
        wrote = False
        waiting = not self.expectations.satisfied(key)
        # Pods whose gate removal the cache has not shown yet still count as gated there. Only while the cache
        # still shows the gate: the watch event of an ungated pod can arrive before the patch call returns and
        # records it, and that record must not hold the status back.
        ungating = any(has_grove_gate(p) and self.ungated.pending(uid_of(p)) for p in pods)
        failure: BaseException | None = None
        try:
            if pcs is not None and ref is not None and not waiting:
                wrote = await self._scale(obj, pcs_obj, pcs, pclq, ref, pods)
            wrote = await self._ungate(obj, pods) or wrote
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = exc
            record = user_error(exc)
            if record is not None:
                errors.append(record)
        if failure is None and (wrote or waiting or ungating):
            # The watch events of our own writes are on their way and bring a fresher view; the recheck
            # covers an event that never comes.
            if waiting:
                return Result(requeue_after=EXPECTATIONS_RECHECK)
            return Result(requeue_after=UNGATE_RECHECK) if ungating else None
        updating = (
            pcs is not None
            and ref is not None
            and pcs_obj is not None
            and updating_replica(pcs_obj, pcs) == ref.replica
        )
        target = _target_hashes(view, ref, obj) if view is not None and pcs is not None and ref else None
        await self._write_status(obj, pclq, pods, errors, updating, target)
        if failure is not None:
            raise failure
        return None

    # ---- pods --------------------------------------------------------------------------------------------

    async def _scale(
        self,
        obj: Obj,
        pcs_obj: Obj | None,
        pcs: PodCliqueSet,
        pclq: PodClique,
        ref: PodCliqueRef,
        pods: list[Obj],
    ) -> bool:
        """Creates or deletes pods to reach spec.replicas (and replaces outdated ones in a rolling update)."""
        active = [p for p in pods if is_active(p)]
        expected_hash = labels_of(obj).get(labels.POD_TEMPLATE_HASH)
        diff = pclq.spec.replicas - len(active)
        if diff > 0:
            await self._create_pods(obj, pcs, pclq, ref, active, diff)
            return True
        duplicates = duplicate_indices(active, expected_hash)
        if diff < 0:
            # Pods sharing an index go first, then upstream's order; never a pod twice.
            extra = {id(p) for p in duplicates}
            ordered = duplicates + [p for p in deletion_order(active, expected_hash) if id(p) not in extra]
            await self._delete_pods(obj, ordered[:-diff])
            return True
        if duplicates:
            await self._delete_pods(obj, duplicates)
            return True
        if ref.group is None and pcs_obj is not None and updating_replica(pcs_obj, pcs) == ref.replica:
            min_available = pclq.spec.min_available or pclq.spec.replicas
            replace = pod_replacements(pods, expected_hash, pclq.spec.replicas, min_available)
            if replace:
                await self._delete_pods(obj, replace)
                return True
        return False

    async def _create_pods(
        self, obj: Obj, pcs: PodCliqueSet, pclq: PodClique, ref: PodCliqueRef, active: list[Obj], count: int
    ) -> None:
        key = f"{namespace_of(obj)}/{name_of(obj)}"
        owner = controller_ref(PODCLIQUES, obj)
        manifests = []
        for index in free_indices((pod_index(p) for p in active), count):
            pod = build_pod(pcs, pclq, ref, index, self.ctx.initc_image)
            pod["metadata"]["ownerReferences"] = [owner]
            manifests.append(pod)
        self.expectations.expect_creations(key, count)
        created: list[str] = []

        async def create(manifest: Obj) -> str:
            result = await self.ctx.client.create(PODS, manifest, namespace_of(obj))
            return name_of(result)

        remaining, batch = manifests, 1
        while remaining:
            chunk, remaining = remaining[:batch], remaining[batch:]
            results = await asyncio.gather(*(create(m) for m in chunk), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            created += [r for r in results if isinstance(r, str)]
            if failed:
                # Neither the failed creates nor the ones never attempted will show up in the cache.
                for _ in range(len(failed) + len(remaining)):
                    self.expectations.creation_observed(key)
                if created:
                    self._created_event(obj, created)
                # A namespace being deleted refuses creates: expected, and nothing for anyone to act on.
                if not isinstance(failed[0], NamespaceTerminating):
                    self.recorder.warning(
                        obj, reasons.POD_CREATE_FAILED, f"Error creating pods: {failed[0]}"[:1024]
                    )
                raise failed[0]
            batch *= 2
        self._created_event(obj, created)
        log.info("pods.created", pclq=name_of(obj), count=len(created))

    def _created_event(self, obj: Obj, names: list[str]) -> None:
        self.recorder.normal(obj, reasons.POD_CREATE_SUCCESSFUL, f"Created Pods: {', '.join(names)}")

    async def _delete_pods(self, obj: Obj, victims: list[Obj]) -> None:
        key = f"{namespace_of(obj)}/{name_of(obj)}"
        self.expectations.expect_deletions_of(key, [uid_of(p) for p in victims])
        deleted: list[str] = []

        async def delete(pod: Obj) -> None:
            try:
                await self.ctx.client.delete(PODS, name_of(pod), namespace_of(pod), uid=uid_of(pod))
            except NotFound:
                self.expectations.deletion_observed_uid(key, uid_of(pod))
                return
            deleted.append(name_of(pod))

        remaining, batch = victims, 1
        while remaining:
            chunk, remaining = remaining[:batch], remaining[batch:]
            results = await asyncio.gather(*(delete(p) for p in chunk), return_exceptions=True)
            failed = [(p, r) for p, r in zip(chunk, results, strict=True) if isinstance(r, BaseException)]
            if failed:
                for pod in [p for p, _ in failed] + remaining:
                    self.expectations.deletion_observed_uid(key, uid_of(pod))
                self.recorder.warning(
                    obj, reasons.POD_DELETE_FAILED, f"Error deleting pods: {failed[0][1]}"[:1024]
                )
                raise failed[0][1]
            batch *= 2
        if deleted:
            self.recorder.normal(obj, reasons.POD_DELETE_SUCCESSFUL, f"Deleted Pods: {', '.join(deleted)}")
        log.info("pods.deleted", pclq=name_of(obj), count=len(deleted))

    # ---- scheduling gates -------------------------------------------------------------------------------

    async def _ungate(self, obj: Obj, pods: list[Obj]) -> bool:
        """Removes Grove's gate from the pods the PodGang releases; True if it patched any. Pods whose
        removal succeeded but is not in the cache yet are skipped."""
        gated = [
            p for p in pods if is_active(p) and has_grove_gate(p) and not self.ungated.pending(uid_of(p))
        ]
        if not gated:
            return False
        ns = namespace_of(obj)
        store = self.ctx.caches.podgangs.store
        gang = store.get_by_name(ns, labels_of(obj).get(labels.PODGANG, ""))
        if gang is None or not gang_initialized(gang):
            return False
        group = _pod_group(gang, name_of(obj))
        if group is None:
            return False
        base = labels_of(obj).get(labels.BASE_PODGANG)
        if base and not self._gang_scheduled(ns, base):
            return False
        referenced = {r.get("name") for r in group.get("podReferences") or ()}
        targets = [p for p in gated if name_of(p) in referenced]
        if not targets:
            return False

        async def ungate(pod: Obj) -> None:
            with contextlib.suppress(NotFound):
                await self.ctx.client.patch(
                    PODS, name_of(pod), _REMOVE_GATE_PATCH, ns, patch_type=PatchType.STRATEGIC
                )
                self.ungated.add(uid_of(pod))

        results = await asyncio.gather(*(ungate(p) for p in targets), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        log.info("pods.ungated", pclq=name_of(obj), count=len(targets))
        return True

    def _gang_scheduled(self, namespace: str, gang_name: str) -> bool:
        """Every pod group of the gang has at least minReplicas scheduled pods (PodClique status)."""
        gang = self.ctx.caches.podgangs.store.get_by_name(namespace, gang_name)
        if gang is None or not gang_initialized(gang):
            return False
        for group in (gang.get("spec") or {}).get("podgroups") or ():
            member = self.ctx.caches.pclq.store.get_by_name(namespace, group.get("name", ""))
            if member is None:
                return False
            scheduled = (member.get("status") or {}).get("scheduledReplicas") or 0
            if scheduled < (group.get("minReplicas") or 0):
                return False
        return True

    # ---- status ------------------------------------------------------------------------------------------

    async def _write_status(
        self,
        obj: Obj,
        pclq: PodClique,
        pods: list[Obj],
        errors: list[ErrorRecord],
        updating: bool,
        target: tuple[str, str] | None,
    ) -> None:
        """Writes counts and conditions; ``target`` (pod template hash, PodCliqueSet generation hash) becomes
        the current hashes once every pod runs that template."""
        counts = count_pods(pods, labels_of(obj).get(labels.POD_TEMPLATE_HASH))
        min_available = pclq.spec.min_available or pclq.spec.replicas
        generation = generation_of(obj)
        wanted = [
            condition(
                cond.CONDITION_PODCLIQUE_SCHEDULED,
                counts.scheduled >= min_available,
                cond.REASON_SUFFICIENT_SCHEDULED_PODS
                if counts.scheduled >= min_available
                else cond.REASON_INSUFFICIENT_SCHEDULED_PODS,
                f"{counts.scheduled} of {min_available} required pods scheduled",
                generation,
            ),
            _breach_condition(counts.scheduled, counts.available, min_available, generation)
            if not updating
            else condition(
                cond.CONDITION_MIN_AVAILABLE_BREACHED,
                "Unknown",
                cond.REASON_UPDATE_IN_PROGRESS,
                "A rolling update is replacing this PodCliqueSet replica",
                generation,
            ),
        ]
        current = obj.get("status") or {}
        now = now_rfc3339()
        pcs_name = labels_of(obj).get(labels.PART_OF, "")
        standalone = labels.SCALING_GROUP not in labels_of(obj)
        desired: dict[str, Any] = {
            "observedGeneration": generation,
            "replicas": counts.replicas,
            "readyReplicas": counts.ready,
            "scheduledReplicas": counts.scheduled,
            "scheduleGatedReplicas": counts.gated,
            "updatedReplicas": counts.updated,
            "hpaPodSelector": labels.selector_string(labels.podclique_selector(pcs_name, name_of(obj)))
            if standalone
            else None,
            "conditions": merge_conditions(current.get("conditions"), wanted, now),
            "lastErrors": merge_last_errors(current.get("lastErrors"), errors, now),
        }
        if target is not None and counts.updated == counts.replicas:
            desired["currentPodTemplateHash"], desired["currentPodCliqueSetGenerationHash"] = target
        patch = status_patch(obj, desired)
        if patch is None:
            return
        try:
            written = await self.ctx.client.patch_status(PODCLIQUES, name_of(obj), patch, namespace_of(obj))
        except NotFound:
            return
        self.status_memo.wrote(obj, written)


def _target_hashes(view: PcsView, ref: PodCliqueRef, obj: Obj) -> tuple[str, str] | None:
    """The (pod template hash, PodCliqueSet generation hash) the PodClique converges to, or None while its
    labels still carry an older template than the PodCliqueSet's (its pods would prove nothing yet)."""
    expected = view.pod_template_hashes.get(ref.clique)
    generation_hash = view.generation_hash
    if (
        expected is None
        or generation_hash is None
        or labels_of(obj).get(labels.POD_TEMPLATE_HASH) != expected
    ):
        return None
    return expected, generation_hash


def _breach_condition(scheduled: int, available: int, min_available: int, generation: int) -> dict[str, Any]:
    if scheduled < min_available:
        return condition(
            cond.CONDITION_MIN_AVAILABLE_BREACHED,
            True,
            cond.REASON_SCHEDULED_BELOW_MIN_AVAILABLE,
            f"{scheduled} scheduled pods, fewer than minAvailable {min_available}",
            generation,
        )
    if available < min_available:
        return condition(
            cond.CONDITION_MIN_AVAILABLE_BREACHED,
            True,
            cond.REASON_INSUFFICIENT_READY_PODS,
            f"{available} available pods, fewer than minAvailable {min_available}",
            generation,
        )
    return condition(
        cond.CONDITION_MIN_AVAILABLE_BREACHED,
        False,
        cond.REASON_SUFFICIENT_READY_PODS,
        f"{available} available pods, minAvailable {min_available}",
        generation,
    )


def _spec_or_labels_changed(old: Obj, new: Obj) -> bool:
    return generation_of(old) != generation_of(new) or labels_of(old) != labels_of(new)


def _scheduled_changed(old: Obj, new: Obj) -> bool:
    return (old.get("status") or {}).get("scheduledReplicas") != (new.get("status") or {}).get(
        "scheduledReplicas"
    )


def _gang_changed(old: Obj, new: Obj) -> bool:
    return generation_of(old) != generation_of(new) or gang_initialized(old) != gang_initialized(new)


def _podgang_to_pclqs(gang: Obj) -> Iterable[Request]:
    ns = namespace_of(gang)
    return [Request(ns, g.get("name", "")) for g in (gang.get("spec") or {}).get("podgroups") or ()]
