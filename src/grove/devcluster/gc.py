"""The garbage collector and the lifecycle controllers kube-controller-manager and kube-apiserver run.

* Garbage collector (``pkg/controller/garbagecollector``): deletes objects whose owners are all gone,
  drops ownerReferences to deleted owners when a live owner remains, orphans dependents of owners deleted
  with ``propagationPolicy=Orphan`` (``orphan`` finalizer) and deletes dependents of owners deleted with
  ``Foreground`` (``foregroundDeletion`` finalizer), removing that finalizer once no dependent with
  ``blockOwnerDeletion`` remains.
* Namespace controller: empties a terminating namespace, then finalizes and removes it.
* CRD naming and establishing controllers (kube-apiserver's): after a CRD's create (or a change of its
  names) they accept its names (NamesAccepted) and then establish it (Established), in two status writes.
* CRD finalizer: deletes every custom resource of a CRD being deleted, then lets it go.
* Service account controller: a ``default`` ServiceAccount in every namespace.
* Root CA publisher: a ``kube-root-ca.crt`` ConfigMap in every namespace (:mod:`grove.devcluster.rootca`).
* Pod GC (orphans): pods bound to a node that does not exist for ``pod_gc_quarantine`` seconds (40 in
  kube-controller-manager) get phase Failed with a ``DisruptionTarget`` condition and are force-deleted.

All of them react to store events and work asynchronously on the cluster's event loop, like the real
controllers do (so a dependent still exists right after its owner's delete returns).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import structlog

from grove.devcluster import meta, rootca
from grove.devcluster.crds import CLEANUP_FINALIZER, accept_names, establish
from grove.devcluster.errors import ApiError
from grove.devcluster.resources import ResourceType
from grove.devcluster.store import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Store
from grove.devcluster.watch import ADDED, DELETED, WatchEvent

log = structlog.get_logger("grove.devcluster.gc")

JSON = dict[str, Any]


def _is_deleting_with(obj: JSON, finalizer: str) -> bool:
    md = obj["metadata"]
    return bool(md.get("deletionTimestamp")) and finalizer in (md.get("finalizers") or ())


class Controllers:
    """GC, namespace, CRD, service-account and root CA controllers over one store."""

    def __init__(self, store: Store, *, pod_gc_quarantine: float = 40.0) -> None:
        self.store = store
        self.pod_gc_quarantine = pod_gc_quarantine
        self._orphan_checks: set[str] = set()
        self._queue: deque[tuple[str, str]] = deque()
        self._queued: set[tuple[str, str]] = set()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = store.subscribe(self._on_event)
        self._terminating_namespaces: set[str] = set()
        self._root_ca: str | None = None

    def start(self, root_ca: str) -> None:
        """Start processing (on the running loop); ``root_ca`` is the PEM every namespace's
        ``kube-root-ca.crt`` publishes."""
        self._root_ca = root_ca
        self._task = asyncio.get_running_loop().create_task(self._run(), name="devcluster-controllers")
        for ns in self.store.storage_objects("namespaces"):
            self._enqueue("sa", ns["metadata"]["name"])
            self._enqueue("rootca", ns["metadata"]["name"])

    async def stop(self) -> None:
        """Stop processing."""
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ----------------------------------------------------------------- event intake

    def _enqueue(self, kind: str, key: str) -> None:
        item = (kind, key)
        if item in self._queued:
            return
        self._queued.add(item)
        self._queue.append(item)
        self._wakeup.set()

    def _on_event(self, rtype: ResourceType, ev: WatchEvent) -> None:
        obj = ev.object
        md = obj["metadata"]
        uid = md["uid"]
        if ev.type == DELETED:
            if self.store.dependents(uid):
                self._enqueue("owner-gone", uid)
            for ref in md.get("ownerReferences") or ():
                found = self.store.by_uid(ref.get("uid", ""))
                if found is not None and _is_deleting_with(found[1], FOREGROUND_FINALIZER):
                    self._enqueue("foreground", ref["uid"])
            ns = md.get("namespace")
            if ns and ns in self._terminating_namespaces:
                self._enqueue("namespace", ns)
            if rtype.crd_name is not None:
                self._enqueue("crd", rtype.crd_name)
            if rtype.group == "" and rtype.kind == "Node":
                self._schedule_orphan_check(md["name"])
            if md["name"] == rootca.CONFIGMAP and rtype.kind == "ConfigMap" and rtype.group == "":
                self._enqueue("rootca", md["namespace"])
            return
        if md.get("deletionTimestamp"):
            fins = md.get("finalizers") or ()
            if ORPHAN_FINALIZER in fins:
                self._enqueue("orphan", uid)
            if FOREGROUND_FINALIZER in fins:
                self._enqueue("foreground", uid)
            if rtype.kind == "Namespace" and rtype.group == "":
                self._terminating_namespaces.add(md["name"])
                self._enqueue("namespace", md["name"])
            if rtype.kind == "CustomResourceDefinition" and CLEANUP_FINALIZER in fins:
                self._enqueue("crd", md["name"])
        elif rtype.kind == "Namespace" and rtype.group == "":
            if ev.type == ADDED:
                self._enqueue("sa", md["name"])
            self._enqueue("rootca", md["name"])
        elif md["name"] == rootca.CONFIGMAP and rtype.kind == "ConfigMap" and rtype.group == "":
            self._enqueue("rootca", md["namespace"])
        if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
            self._enqueue("crd-status", md["name"])
        if rtype.group == "" and rtype.kind == "Pod":
            node = (obj.get("spec") or {}).get("nodeName")
            if node and self.store.by_key("nodes", node) is None:
                self._schedule_orphan_check(node)
        refs = md.get("ownerReferences")
        if refs:
            # Also for an object created (or given a reference) after its owner was deleted: kube's GC
            # deletes such a dependent as it does one whose owner goes later.
            ns = md.get("namespace", "")
            if any(self._owner_state(ns, ref) != "solid" for ref in refs):
                self._enqueue("attempt", uid)

    def _schedule_orphan_check(self, node: str) -> None:
        if node in self._orphan_checks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._orphan_checks.add(node)
        loop.call_later(self.pod_gc_quarantine, self._enqueue, "podgc", node)

    # ----------------------------------------------------------------- processing

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            processed = 0
            while self._queue:
                item = self._queue.popleft()
                self._queued.discard(item)
                try:
                    self._process(*item)
                except ApiError as e:
                    if e.code not in (404, 409):
                        log.warning(
                            "controllers.error", work=item[0], key=item[1], code=e.code, error=e.message
                        )
                    elif e.code == 409:
                        self._enqueue(*item)
                except Exception:
                    log.exception("controllers.failed", work=item[0], key=item[1])
                processed += 1
                if processed % 64 == 0:
                    await asyncio.sleep(0)

    def _process(self, kind: str, key: str) -> None:
        if kind == "owner-gone":
            for _rtype, dep in self.store.dependents(key):
                self._attempt_to_delete(dep["metadata"]["uid"])
        elif kind == "attempt":
            self._attempt_to_delete(key)
        elif kind == "orphan":
            self._orphan(key)
        elif kind == "foreground":
            self._foreground(key)
        elif kind == "namespace":
            self._namespace(key)
        elif kind == "crd":
            self._crd(key)
        elif kind == "crd-status":
            self._crd_status(key)
        elif kind == "sa":
            self._service_account(key)
        elif kind == "podgc":
            self._orphaned_pods(key)
        elif kind == "rootca" and self._root_ca is not None:
            rootca.publish(self.store, key, self._root_ca)

    def _owner_state(self, dep_ns: str, ref: JSON) -> str:
        """``classifyReferences``: solid, waiting (deleting its dependents in the foreground) or dangling.

        kube's GC looks the owner up by the reference's kind, namespace and name and compares UIDs, so a
        UID held by an object of another name or kind is as dangling as an absent one.
        """
        found = self.store.by_uid(ref.get("uid", ""))
        if found is None:
            return "dangling"
        rtype, owner = found
        omd = owner["metadata"]
        if omd["name"] != ref.get("name") or rtype.kind != ref.get("kind"):
            return "dangling"
        if rtype.group != str(ref.get("apiVersion", "")).rpartition("/")[0]:
            return "dangling"
        if rtype.namespaced and omd.get("namespace") != dep_ns:
            return "dangling"
        if _is_deleting_with(owner, FOREGROUND_FINALIZER):
            return "waiting"
        return "solid"

    def _attempt_to_delete(self, uid: str) -> None:
        found = self.store.by_uid(uid)
        if found is None:
            return
        rtype, dep = found
        md = dep["metadata"]
        refs = md.get("ownerReferences") or []
        if not refs:
            return
        states = [(ref, self._owner_state(md.get("namespace", ""), ref)) for ref in refs]
        solid = [r for r, s in states if s == "solid"]
        if solid:
            gone = {r["uid"] for r, s in states if s != "solid"}
            if gone:
                new = dict(dep)
                new["metadata"] = {**md, "ownerReferences": [r for r in refs if r.get("uid") not in gone]}
                self.store.write_system(rtype, new)
            return
        if md.get("deletionTimestamp"):
            return
        waiting = any(s == "waiting" for _r, s in states)
        fins = md.get("finalizers") or ()
        if waiting and self.store.dependents(uid):
            policy = "Foreground"
        elif ORPHAN_FINALIZER in fins:
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in fins:
            policy = "Foreground"
        else:
            policy = "Background"
        log.debug("gc.delete", kind=rtype.kind, name=md["name"], namespace=md.get("namespace"), policy=policy)
        self.store.delete(
            rtype,
            md["name"],
            md.get("namespace"),
            propagation_policy=policy,
            preconditions={"uid": uid},
        )

    def _remove_finalizer(self, rtype: ResourceType, obj: JSON, finalizer: str) -> None:
        md = obj["metadata"]
        new = dict(obj)
        fins = [f for f in md.get("finalizers") or () if f != finalizer]
        new["metadata"] = {**md}
        if fins:
            new["metadata"]["finalizers"] = fins
        else:
            new["metadata"].pop("finalizers", None)
        self.store.write_system(rtype, new)

    def _orphan(self, uid: str) -> None:
        found = self.store.by_uid(uid)
        if found is None or not _is_deleting_with(found[1], ORPHAN_FINALIZER):
            return
        for drtype, dep in self.store.dependents(uid):
            dmd = dep["metadata"]
            new = dict(dep)
            refs = [r for r in dmd.get("ownerReferences") or () if r.get("uid") != uid]
            new["metadata"] = {**dmd}
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            self.store.write_system(drtype, new)
        found = self.store.by_uid(uid)
        if found is not None:
            self._remove_finalizer(found[0], found[1], ORPHAN_FINALIZER)

    def _foreground(self, uid: str) -> None:
        found = self.store.by_uid(uid)
        if found is None or not _is_deleting_with(found[1], FOREGROUND_FINALIZER):
            return
        blocking = 0
        for _drtype, dep in self.store.dependents(uid):
            dmd = dep["metadata"]
            ref: JSON = next((r for r in dmd.get("ownerReferences") or () if r.get("uid") == uid), {})
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            if not dmd.get("deletionTimestamp"):
                self._attempt_to_delete(dmd["uid"])
        if blocking == 0:
            found = self.store.by_uid(uid)
            if found is not None:
                self._remove_finalizer(found[0], found[1], FOREGROUND_FINALIZER)

    def _namespace(self, name: str) -> None:
        try:
            ns = self.store.get("namespaces", name)
        except ApiError:
            self._terminating_namespaces.discard(name)
            return
        if not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for rtype in self.store.namespaced_storage_types():
            for obj in self.store.list(rtype, name).items:
                remaining += 1
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self.store.delete(rtype, obj["metadata"]["name"], name, propagation_policy="Background")
                except ApiError as e:
                    if e.code != 404:
                        raise
        if remaining and any(self.store.list(t, name).items for t in self.store.namespaced_storage_types()):
            return
        if (ns.get("spec") or {}).get("finalizers"):
            ns = self.store.finalize_namespace(
                {
                    "metadata": {"name": name},
                    "spec": {"finalizers": [f for f in ns["spec"]["finalizers"] if f != "kubernetes"]},
                }
            )
        if not (ns.get("spec") or {}).get("finalizers") and not ns["metadata"].get("finalizers"):
            self.store.delete("namespaces", name)
            self._terminating_namespaces.discard(name)

    def _crd(self, name: str) -> None:
        try:
            crd = self.store.get("customresourcedefinitions", name)
        except ApiError:
            return
        if not _is_deleting_with(crd, CLEANUP_FINALIZER):
            return
        types = [
            t for t in self.store.registry.all() if t.crd_name == name and t.version == t.storage_version
        ]
        remaining = 0
        for rtype in types:
            for obj in self.store.list(rtype).items:
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        self.store.delete(rtype, obj["metadata"]["name"], obj["metadata"].get("namespace"))
                    except ApiError as e:
                        if e.code != 404:
                            raise
        if remaining and any(self.store.list(t).items for t in types):
            return
        stored = self.store.by_uid(crd["metadata"]["uid"])
        if stored is not None:
            self._remove_finalizer(stored[0], stored[1], CLEANUP_FINALIZER)

    def _crd_status(self, name: str) -> None:
        """One step of the naming controller, else of the establishing controller: each write's event
        brings the CRD back here, so the two conditions arrive in separate writes, as in kube-apiserver."""
        found = self.store.by_key("customresourcedefinitions", name)
        if found is None:
            return
        status = accept_names(found)
        if status is None:
            status = establish(found)
        if status is None:
            return
        new = dict(found)
        new["metadata"] = dict(found["metadata"])
        new["status"] = status
        self.store.write_system("customresourcedefinitions", new)

    def _orphaned_pods(self, node: str) -> None:
        self._orphan_checks.discard(node)
        if self.store.by_key("nodes", node) is not None:
            return
        pods = self.store.list("pods", field_selector=f"spec.nodeName={node}").items
        now = meta.rfc3339(self.store.clock())
        for pod in pods:
            md = pod["metadata"]
            status = pod.get("status") or {}
            if status.get("phase") not in ("Succeeded", "Failed"):
                conditions = [
                    c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"
                ]
                conditions.append(
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "DeletionByPodGC",
                        "message": "PodGC: node no longer exists",
                        "lastTransitionTime": now,
                    }
                )
                stored = self.store.by_uid(md["uid"])
                if stored is not None:
                    new = dict(stored[1])
                    new["status"] = {**status, "phase": "Failed", "conditions": conditions}
                    new["metadata"] = dict(stored[1]["metadata"])
                    self.store.write_system("pods", new)
            log.info("podgc.orphan_deleted", pod=md["name"], namespace=md.get("namespace"), node=node)
            self.store.delete("pods", md["name"], md.get("namespace"), grace_period_seconds=0)

    def _service_account(self, namespace: str) -> None:
        try:
            ns = self.store.get("namespaces", namespace)
        except ApiError:
            return
        if ns["metadata"].get("deletionTimestamp"):
            return
        try:
            self.store.create("serviceaccounts", {"metadata": {"name": "default"}}, namespace)
        except ApiError as e:
            if e.code not in (409, 403, 404):
                raise
