"""The PodCliqueSet controller: everything a PodCliqueSet is made of, and its status.

Per PodCliqueSet (upstream ``internal/controller/podcliqueset``, reference §3.1 and §3.4):

0. validate the stored object with Grove's API rules (the cluster may have no admission webhook): an invalid
   spec is reported (condition SpecValid=False, status.lastErrors, a Warning event) and not acted on;
1. the start-up ordering identity: ServiceAccount, Role, RoleBinding and token Secret;
2. per replica ``i < spec.replicas``: headless Service ``<pcs>-<i>``, standalone PodCliques, scaling groups
   and PodGangs; those of replicas at or above ``spec.replicas`` are deleted. A PodClique's or scaling
   group's ``spec.replicas`` belongs to it once it exists (``kubectl scale`` and HPAs change it), so it is
   never reset to the template;
3. gang termination of replicas whose minAvailable stayed breached for terminationDelay
   (:mod:`.gangtermination`): their PodCliques are deleted and recreated with the replicas they had;
4. status: replicas, availableReplicas, updatedReplicas, hpaPodSelector, currentGenerationHash,
   observedGeneration, conditions, lastErrors, written only when it changed.

Everything created carries a controller ownerReference to the PodCliqueSet, so deleting it removes
everything through garbage collection; no finalizer is needed (there is nothing else to clean up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import structlog

from grove.api import labels
from grove.api.errors import FieldError
from grove.api.hashing import pod_template_hash, podcliqueset_generation_hash
from grove.api.podcliqueset import PodCliqueSet
from grove.controllers import conditions as cond
from grove.controllers import reasons
from grove.controllers.children import drift_patch
from grove.controllers.context import Context, controller_ref
from grove.controllers.desired import (
    PodCliqueRef,
    build_headless_service,
    build_hpas,
    build_podclique,
    build_scaling_group,
)
from grove.controllers.desired.rbac import (
    build_role,
    build_role_binding,
    build_service_account,
    build_token_secret,
)
from grove.controllers.errors import user_error
from grove.controllers.gangtermination import (
    RECORD_ANNOTATION_PREFIX,
    ReplicaGangTermination,
    recorded_replicas,
    replica_record,
)
from grove.controllers.pcsview import PcsView
from grove.controllers.podgangs import initialized_status, plan_gangs
from grove.controllers.pods import is_terminating
from grove.controllers.resources import (
    HORIZONTAL_POD_AUTOSCALERS,
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODCLIQUESETS,
    PODGANGS,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICES,
)
from grove.controllers.rolling import ReplicaState, update_progress
from grove.controllers.status import (
    ErrorRecord,
    condition,
    merge_conditions,
    merge_last_errors,
    now_rfc3339,
    status_patch,
)
from grove.controllers.statusmemo import StatusMemo
from grove.controllers.sync import OWNED_REPLICAS, ChildKind, sync_children
from grove.runtime.cache import CONTROLLER_UID_INDEX, unwrap_tombstone
from grove.runtime.controller import Controller, Request, Result
from grove.runtime.errors import Conflict, NotFound
from grove.runtime.informer import FuncHandler
from grove.runtime.manager import Manager
from grove.runtime.meta import (
    Obj,
    annotations_of,
    generation_of,
    labels_of,
    metadata,
    name_of,
    namespace_of,
    uid_of,
)
from grove.runtime.predicates import FuncPredicate

__all__ = ["PodCliqueSetController"]

log = structlog.get_logger(__name__)

CONTROLLER_NAME = "podcliqueset-controller"

_TOPOLOGY_CONDITION = "TopologyLevelsUnavailable"


class PodCliqueSetController:
    """Reconciles PodCliqueSets (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.recorder = ctx.recorder(CONTROLLER_NAME)
        c = ctx.caches
        self._identity = [
            ChildKind(SERVICE_ACCOUNTS, c.service_accounts, fields=("automountServiceAccountToken",)),
            ChildKind(ROLES, c.roles, fields=("rules",)),
            ChildKind(ROLE_BINDINGS, c.role_bindings, fields=("roleRef", "subjects")),
            ChildKind(SECRETS, c.secrets, fields=("type",)),
        ]
        self._services = ChildKind(SERVICES, c.services)
        self._hpas = ChildKind(HORIZONTAL_POD_AUTOSCALERS, c.hpas)
        # PodGangs this operator marked Initialized that the cache does not show as such yet.
        self._initialized: set[str] = set()
        self.status_memo = StatusMemo()
        self._pclqs = ChildKind(
            PODCLIQUES,
            c.pclq,
            keep=(OWNED_REPLICAS,),
            synced_reason=reasons.PODCLIQUE_CREATE_OR_UPDATE_SUCCESSFUL,
            deleted_reason=reasons.PODCLIQUE_DELETE_SUCCESSFUL,
            failed_reason=reasons.PODCLIQUE_CREATE_OR_UPDATE_FAILED,
        )
        self._pcsgs = ChildKind(
            PODCLIQUESCALINGGROUPS,
            c.pcsg,
            keep=(OWNED_REPLICAS,),
            synced_reason=reasons.PCSG_CREATE_SUCCESSFUL,
            deleted_reason=reasons.PCSG_DELETE_SUCCESSFUL,
            failed_reason=reasons.PCSG_CREATE_OR_UPDATE_FAILED,
        )
        self._gang_termination = ReplicaGangTermination(ctx, self.recorder)
        self._gangs = ChildKind(
            PODGANGS,
            c.podgangs,
            synced_reason=reasons.PODGANG_CREATE_OR_UPDATE_SUCCESSFUL,
            deleted_reason=reasons.PODGANG_DELETE_SUCCESSFUL,
            failed_reason=reasons.PODGANG_CREATE_OR_UPDATE_FAILED,
        )

    # ---- wiring ------------------------------------------------------------------------------------------

    def register(self, mgr: Manager, concurrency: int) -> Controller:
        """Declares the controller and its watches on ``mgr``."""
        c = self.ctx.caches
        controller = (
            mgr.new_controller(CONTROLLER_NAME, self.reconcile, max_concurrent_reconciles=concurrency)
            .for_(c.pcs, FuncPredicate(update=_spec_or_metadata_changed))
            .watches(c.pclq, _to_pcs)
            .owns(c.pcsg, PODCLIQUESETS)
            .watches(c.pods, _to_pcs, FuncPredicate(update=_became_terminating))
            .owns(c.podgangs, PODCLIQUESETS, FuncPredicate(update=_generation_changed))
            .watches(c.topologies, self._topology_to_pcs)
        )
        self._controller = controller
        c.podgangs.add_event_handler(
            FuncHandler(delete=lambda o: self._initialized.discard(uid_of(unwrap_tombstone(o))))
        )
        only_deletes = FuncPredicate(create=lambda _: False, update=lambda _o, _n: False)
        # Deletes of what it created, or of objects that stood in the way (a previous incarnation's).
        for informer in (c.hpas, c.service_accounts, c.roles, c.role_bindings, c.secrets):
            controller.watches(informer, _to_pcs, only_deletes)
        # Services also when created, and when a gang termination record on them changes.
        controller.watches(c.services, _to_pcs, FuncPredicate(update=_records_changed))
        return controller

    def _topology_to_pcs(self, ct: Obj) -> Iterable[Request]:
        name = name_of(ct)
        out = []
        for pcs in self.ctx.caches.pcs.store.list():
            if self.ctx.pcs_view(pcs).topology_name == name:
                out.append(Request(namespace_of(pcs), name_of(pcs)))
        return out

    # ---- reconcile ---------------------------------------------------------------------------------------

    async def reconcile(self, req: Request) -> Result | None:
        """One pass over the PodCliqueSet ``req``."""
        cached = self.ctx.caches.pcs.store.get_by_name(req.namespace, req.name)
        if cached is None:
            self.status_memo.forget(req.namespace, req.name)
            return None
        obj = self.status_memo.current(cached)
        if metadata(obj).get("deletionTimestamp"):
            return None  # garbage collection removes what it owns
        view = self.ctx.pcs_view(obj)
        if not view.valid or view.model is None:
            await self._report_invalid(obj, view.errors)
            return None
        pcs = view.model
        errors: list[ErrorRecord] = []
        failure: BaseException | None = None
        steps: tuple[Callable[[], Awaitable[float | None]], ...] = (
            lambda: self._sync_identity(obj),
            lambda: self._sync_replicas(obj, pcs, view),
            lambda: self._gang_termination.sync(obj, pcs),
        )
        waits: list[float] = []
        for step in steps:
            try:
                wait = await step()
                if wait is not None:
                    waits.append(wait)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = failure or exc
                record = user_error(exc)
                if record is not None:
                    errors.append(record)
        await self._write_status(obj, pcs, view, errors)
        if failure is not None:
            raise failure
        # A breach waiting on terminationDelay: come back exactly when it is due.
        return Result(requeue_after=min(waits)) if waits else None

    async def _sync_identity(self, obj: Obj) -> None:
        ns, name = namespace_of(obj), name_of(obj)
        owner = controller_ref(PODCLIQUESETS, obj)
        builders = (build_service_account, build_role, build_role_binding, build_token_secret)
        for kind, build in zip(self._identity, builders, strict=True):
            desired = build(name, ns)
            desired["metadata"]["ownerReferences"] = [owner]
            await sync_children(self.ctx, self.recorder, obj, kind, [desired])

    async def _sync_replicas(self, obj: Obj, pcs: PodCliqueSet, view: PcsView) -> None:
        ns, uid = namespace_of(obj), uid_of(obj)
        c = self.ctx.caches
        owner = controller_ref(PODCLIQUESETS, obj)
        replicas = pcs.spec.replicas
        t = pcs.spec.template

        services: list[Obj] = []
        hpas: list[Obj] = []
        pclqs: list[Obj] = []
        pcsgs: list[Obj] = []
        for i in range(replicas):
            svc = build_headless_service(pcs, i)
            svc["metadata"]["ownerReferences"] = [owner]
            services.append(svc)
            for hpa in build_hpas(pcs, i):
                hpa["metadata"]["ownerReferences"] = [owner]
                hpas.append(hpa)
            for clique in t.standalone_cliques():
                ref = PodCliqueRef(pcs.metadata.name, i, clique.name)
                existing = c.pclq.store.get_by_name(ns, ref.name)
                # Recreated after gang termination: with the replicas it had (upstream #826 loses them).
                observed = (
                    _observed_replicas(existing)
                    if existing is not None
                    else recorded_replicas([replica_record(self.ctx, ns, pcs.metadata.name, i)], ref.name)
                )
                pclq = build_podclique(pcs, ref, observed).to_dict()
                pclq["metadata"]["ownerReferences"] = [owner]
                pclqs.append(pclq)
            for group in t.pod_clique_scaling_groups:
                pcsg_name = f"{pcs.metadata.name}-{i}-{group.name}"
                existing = c.pcsg.store.get_by_name(ns, pcsg_name)
                pcsg = build_scaling_group(pcs, i, group.name, _observed_replicas(existing)).to_dict()
                pcsg["metadata"]["ownerReferences"] = [owner]
                pcsgs.append(pcsg)

        # Independent kinds go concurrently; PodCliques first in the list so pods start as early as possible.
        kinds = (
            (self._pclqs, pclqs, c.pclq),
            (self._pcsgs, pcsgs, c.pcsg),
            (self._services, services, c.services),
            (self._hpas, hpas, c.hpas),
        )
        results = await asyncio.gather(
            *(
                sync_children(
                    self.ctx, self.recorder, obj, kind, desired, _excess(informer.store, uid, desired)
                )
                for kind, desired, informer in kinds
            ),
            return_exceptions=True,
        )
        # PodGangs depend on pods only: sync them even if another kind failed, then report that failure.
        await self._sync_gangs(obj, pcs, view, owner)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _sync_gangs(self, obj: Obj, pcs: PodCliqueSet, view: PcsView, owner: dict[str, Any]) -> None:
        ns, uid = namespace_of(obj), uid_of(obj)
        c = self.ctx.caches
        desired: list[Obj] = []
        planned: set[str] = set()
        complete: set[str] = set()
        for i in range(pcs.spec.replicas):
            group_replicas = {}
            for group in pcs.spec.template.pod_clique_scaling_groups:
                existing = c.pcsg.store.get_by_name(ns, f"{pcs.metadata.name}-{i}-{group.name}")
                observed = _observed_replicas(existing)
                if observed is not None:
                    group_replicas[group.name] = observed
            for plan in plan_gangs(c, pcs, i, group_replicas, view.topology, owner):
                gang_name = name_of(plan.manifest)
                planned.add(gang_name)
                if plan.complete:
                    complete.add(gang_name)
                # A gang is created once all its pods exist; an existing one follows its pods.
                if plan.complete or c.podgangs.store.get_by_name(ns, gang_name) is not None:
                    desired.append(plan.manifest)
        excess = [
            g for g in c.podgangs.store.by_index(CONTROLLER_UID_INDEX, uid) if name_of(g) not in planned
        ]
        await sync_children(self.ctx, self.recorder, obj, self._gangs, desired, excess)
        now = now_rfc3339()
        by_name = {name_of(d): d for d in desired}
        for name in sorted(complete):
            gang = c.podgangs.store.get_by_name(ns, name)
            if gang is None or drift_patch(gang, by_name[name], self._gangs.fields):
                continue  # just created or updated: the watch event of that write brings us back
            patch = initialized_status(gang, now)
            if patch is None:
                self._initialized.discard(uid_of(gang))  # the cache has caught up with our write
                continue
            if uid_of(gang) in self._initialized:
                continue  # marked already; the cache has not seen it yet
            try:
                await self.ctx.client.patch_status(PODGANGS, name, patch, ns)
            except NotFound:
                continue
            except Conflict:
                # Someone else wrote the gang since our cache saw it: look again once the cache has it.
                self._controller.enqueue(Request(ns, name_of(obj)), after=0.5)
                continue
            self._initialized.add(uid_of(gang))

    # ---- status ------------------------------------------------------------------------------------------

    async def _report_invalid(self, obj: Obj, errors: Sequence[FieldError]) -> None:
        description = "; ".join(str(e) for e in errors)
        generation = generation_of(obj)
        current = obj.get("status") or {}
        now = now_rfc3339()
        wanted = [
            condition(
                cond.CONDITION_SPEC_VALID, False, cond.REASON_SPEC_INVALID, description[:32768], generation
            )
        ]
        desired = {
            "observedGeneration": generation,
            # The scale subresource needs these even while the spec is invalid (an HPA may target it).
            "replicas": int((obj.get("spec") or {}).get("replicas") or 0),
            "hpaPodSelector": labels.selector_string(labels.pcs_selector(name_of(obj))),
            "conditions": merge_conditions(current.get("conditions"), wanted, now),
            "lastErrors": merge_last_errors(
                current.get("lastErrors"), [(cond.ERR_INVALID_SPEC, description)], now
            ),
        }
        patch = status_patch(obj, desired)
        if patch is None:
            return
        log.warning("podcliqueset.invalid", errors=[str(e) for e in errors])
        self.recorder.warning(obj, reasons.INVALID_SPEC, f"Invalid spec: {description}")
        await self._patch_status(obj, patch)

    async def _write_status(
        self, obj: Obj, pcs: PodCliqueSet, view: PcsView, errors: list[ErrorRecord]
    ) -> None:
        generation_hash = podcliqueset_generation_hash(pcs)
        states = self._replica_states(obj, pcs, generation_hash)
        generation = generation_of(obj)
        wanted = [condition(cond.CONDITION_SPEC_VALID, True, cond.REASON_SPEC_VALID, "", generation)]
        if view.topology_name is not None:
            if view.topology is None:
                wanted.append(
                    condition(
                        _TOPOLOGY_CONDITION,
                        "Unknown",
                        "ClusterTopologyNotFound",
                        f'ClusterTopologyBinding "{view.topology_name}" not found',
                        generation,
                    )
                )
            else:
                wanted.append(
                    condition(_TOPOLOGY_CONDITION, False, "AllClusterTopologyLevelsAvailable", "", generation)
                )
        current = obj.get("status") or {}
        now = now_rfc3339()
        desired: dict[str, Any] = {
            "observedGeneration": generation,
            "replicas": pcs.spec.replicas,
            "availableReplicas": sum(1 for s in states if s.available),
            "updatedReplicas": sum(1 for s in states if s.available and s.updated),
            "hpaPodSelector": labels.selector_string(labels.pcs_selector(name_of(obj))),
            "currentGenerationHash": generation_hash,
            "updateProgress": update_progress(current, pcs, generation_hash, states, now),
            "conditions": merge_conditions(current.get("conditions"), wanted, now),
            "lastErrors": merge_last_errors(current.get("lastErrors"), errors, now),
        }
        patch = status_patch(obj, desired)
        if patch is not None:
            await self._patch_status(obj, patch)

    async def _patch_status(self, obj: Obj, patch: dict[str, Any]) -> None:
        try:
            written = await self.ctx.client.patch_status(
                PODCLIQUESETS, name_of(obj), patch, namespace_of(obj)
            )
        except NotFound:
            return
        self.status_memo.wrote(obj, written)

    def _replica_states(self, obj: Obj, pcs: PodCliqueSet, generation_hash: str) -> list[ReplicaState]:
        """Per replica: available (every standalone PodClique has minAvailable ready pods, every scaling
        group minAvailable available replicas), updated (all of them run the current templates), scheduled
        (some pod is), and the updated/total counts of PodCliques and scaling groups."""
        ns = namespace_of(obj)
        c = self.ctx.caches
        t = pcs.spec.template
        hashes = {cl.name: pod_template_hash(cl, t.priority_class_name) for cl in t.cliques}
        states: list[ReplicaState] = []
        for i in range(pcs.spec.replicas):
            available = scheduled = False
            ok = True
            pclqs_updated = pcsgs_updated = 0
            standalone = t.standalone_cliques()
            for clique in standalone:
                pclq = c.pclq.store.get_by_name(ns, f"{pcs.metadata.name}-{i}-{clique.name}")
                if pclq is None or is_terminating(pclq):
                    ok = False
                    continue
                spec, status = pclq.get("spec") or {}, pclq.get("status") or {}
                scheduled = scheduled or int(status.get("scheduledReplicas") or 0) > 0
                min_available = spec.get("minAvailable") or spec.get("replicas") or 0
                if int(status.get("readyReplicas") or 0) < int(min_available):
                    ok = False
                # Counts written from a view older than the current spec (and template hash) prove nothing.
                if (
                    labels_of(pclq).get(labels.POD_TEMPLATE_HASH) == hashes[clique.name]
                    and status.get("observedGeneration") == generation_of(pclq)
                    and int(status.get("updatedReplicas") or 0) >= int(spec.get("replicas") or 0)
                ):
                    pclqs_updated += 1
            for group in t.pod_clique_scaling_groups:
                pcsg = c.pcsg.store.get_by_name(ns, f"{pcs.metadata.name}-{i}-{group.name}")
                if pcsg is None or is_terminating(pcsg):
                    ok = False
                    continue
                spec, status = pcsg.get("spec") or {}, pcsg.get("status") or {}
                scheduled = scheduled or int(status.get("scheduledReplicas") or 0) > 0
                if int(status.get("availableReplicas") or 0) < int(spec.get("minAvailable") or 1):
                    ok = False
                # The group vouches for the templates it converged to (its counts may predate them).
                if status.get("currentPodCliqueSetGenerationHash") == generation_hash and int(
                    status.get("updatedReplicas") or 0
                ) >= int(spec.get("replicas") or 0):
                    pcsgs_updated += 1
            available = ok
            groups = len(t.pod_clique_scaling_groups)
            states.append(
                ReplicaState(
                    available=available,
                    updated=pclqs_updated == len(standalone) and pcsgs_updated == groups,
                    scheduled=scheduled,
                    pclqs_updated=pclqs_updated,
                    pclqs_total=len(standalone),
                    pcsgs_updated=pcsgs_updated,
                    pcsgs_total=groups,
                )
            )
        return states


def _observed_replicas(existing: Obj | None) -> int | None:
    if existing is None:
        return None
    value = (existing.get("spec") or {}).get("replicas")
    return int(value) if value is not None else None


def _excess(store: Any, owner_uid: str, desired: Sequence[Obj]) -> list[Obj]:
    wanted = {name_of(d) for d in desired}
    return [o for o in store.by_index(CONTROLLER_UID_INDEX, owner_uid) if name_of(o) not in wanted]


def _to_pcs(obj: Obj) -> Iterable[Request]:
    name = labels_of(obj).get(labels.PART_OF)
    return (Request(namespace_of(obj), name),) if name else ()


def _spec_or_metadata_changed(old: Obj, new: Obj) -> bool:
    return (
        generation_of(old) != generation_of(new)
        or labels_of(old) != labels_of(new)
        or metadata(old).get("annotations") != metadata(new).get("annotations")
    )


def _records_changed(old: Obj, new: Obj) -> bool:
    def records(obj: Obj) -> dict[str, str]:
        return {k: v for k, v in annotations_of(obj).items() if k.startswith(RECORD_ANNOTATION_PREFIX)}

    return records(old) != records(new)


def _became_terminating(old: Obj, new: Obj) -> bool:
    return is_terminating(new) and not is_terminating(old)


def _generation_changed(old: Obj, new: Obj) -> bool:
    return generation_of(old) != generation_of(new)
