"""The dev cluster's object store: the single source of truth behind the HTTP API and in-process components.

In-process API (the HTTP handlers call exactly these methods, so both paths share every rule)::

    store.get(resource, name, namespace=None) -> dict
    store.list(resource, namespace=None, label_selector=None, field_selector=None,
               limit=None, continue_=None) -> ListResult(items, resource_version, continue_, remaining)
    store.create(resource, obj, namespace=None, dry_run=False, field_manager=None) -> dict
    store.update(resource, obj, namespace=None, subresource=None, dry_run=False, field_manager=None) -> dict
    store.patch(resource, name, patch, namespace=None, patch_type="merge"|"json"|"strategic"|"apply",
                subresource=None, dry_run=False, field_manager=None, force=False) -> dict
    store.delete(resource, name, namespace=None, propagation_policy=None, grace_period_seconds=None,
                 preconditions=None, dry_run=False) -> DeleteResult(object, deleted)
    store.delete_collection(resource, namespace=None, label_selector=None, field_selector=None, ...) -> list
    store.watch(resource, namespace=None, resource_version=None, label_selector=None,
                field_selector=None) -> Watch  (async iterator of WatchEvent(type, object, rv))
    store.get_scale / update_scale / bind_pod / finalize_namespace
    store.subscribe(callback)  # callback(rtype, WatchEvent) synchronously on every write, all resources

``resource`` is a plural (``"pods"``), ``plural.group`` (``"leases.coordination.k8s.io"``), a kind, a short
name, or a :class:`ResourceType`. Errors are :class:`ApiError` with the HTTP code and reason kube-apiserver
would return. All methods are synchronous and must be called on the cluster's event loop thread (watch
iteration is async).

Objects are JSON-compatible dicts. Objects returned by reads and carried by watch events are shared with
the store and immutable by contract: never mutate them (``meta.deep_copy`` first). Objects passed to writes
are copied, so callers keep ownership of theirs.
"""

from __future__ import annotations

import base64
import binascii
import builtins as _builtins
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from grove.devcluster import errors, meta, schema
from grove.devcluster.errors import ApiError, Cause
from grove.devcluster.resources import Registry, ResourceType, get_path, set_path
from grove.devcluster.selectors import (
    EVERYTHING,
    NO_FIELDS,
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from grove.devcluster.watch import ADDED, DELETED, MODIFIED, Watch, Watcher, WatchEvent

log = structlog.get_logger("grove.devcluster.store")

JSON = dict[str, Any]

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"

Subscriber = Callable[[ResourceType, WatchEvent], None]
Admission = Callable[[str, ResourceType, JSON, JSON | None], None]


@dataclass(slots=True)
class AdmissionPoint:
    """Where a write pauses for admission webhooks, as kube-apiserver orders them.

    ``phase`` "mutate" comes after decoding and defaults and before validation: the driver may change
    ``obj`` in place (keeping the dict) and then sets ``mutated``. "validate" comes after validation, just
    before the object is stored; ``obj`` is final. ``subresource`` is the admission subresource
    (``status``, ``scale``) and ``name`` is empty for a create with ``generateName`` at the mutate point.
    """

    phase: str
    operation: str
    rtype: ResourceType
    obj: JSON
    old: JSON | None
    subresource: str | None
    namespace: str
    name: str
    dry_run: bool
    mutated: bool = False


class AdmissionRetry(Exception):
    """The stored object changed while admission webhooks ran: the write starts over."""


Steps = Generator[AdmissionPoint, None, JSON]
"""A write as a generator: it yields at each :class:`AdmissionPoint` and returns the written object."""


def run_steps(steps: Steps) -> JSON:
    """Run a write without webhooks (the in-process API)."""
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        result: JSON = stop.value
        return result


@dataclass(slots=True)
class ListResult:
    """A list response: items in the requested version, the list's RV, and the paging state."""

    items: list[JSON]
    resource_version: str
    continue_: str | None = None
    remaining: int | None = None


@dataclass(slots=True)
class DeleteResult:
    """The object after a delete call and whether it is gone (False while finalizers or grace keep it)."""

    object: JSON
    deleted: bool


class _Bucket:
    """Objects of one storage resource, its event history and its watchers."""

    __slots__ = ("capacity", "floor", "history", "objects", "rtype", "watchers")

    def __init__(self, rtype: ResourceType, capacity: int) -> None:
        self.rtype = rtype
        self.objects: dict[str, JSON] = {}
        self.history: deque[WatchEvent] = deque()
        self.capacity = capacity
        self.floor = 0
        self.watchers: set[Watcher] = set()


def _ns_of(obj: JSON) -> str:
    ns: str = obj["metadata"].get("namespace", "")
    return ns


class Store:
    """Objects of every served resource, one global resourceVersion, watch history per resource."""

    def __init__(self, registry: Registry, *, watch_history: int = 10_000) -> None:
        self.registry = registry
        self.watch_history = watch_history
        self._rv = 1
        self._buckets: dict[str, _Bucket] = {}
        self._uids: dict[str, tuple[str, str]] = {}
        self._dependents: dict[str, set[tuple[str, str]]] = {}
        self._subscribers: list[Subscriber] = []
        self._admission: list[Admission] = []
        self._expire_next_watch = False
        self.clock: Callable[[], float] = time.time
        registry.on_change(self._refresh_bucket_types)
        from grove.devcluster.builtins import bootstrap_objects

        for resource, namespace, obj in bootstrap_objects():
            self.create(resource, obj, namespace)

    # ----------------------------------------------------------------- plumbing

    @property
    def resource_version(self) -> int:
        """The current global resourceVersion."""
        return self._rv

    def resolve(self, resource: str | ResourceType) -> ResourceType:
        """The served type ``resource`` names (see module docstring)."""
        return self.registry.resolve(resource)

    def _bucket(self, rtype: ResourceType) -> _Bucket:
        b = self._buckets.get(rtype.storage)
        if b is None:
            storage_type = self.registry.storage_types().get(rtype.storage, rtype)
            b = self._buckets[rtype.storage] = _Bucket(storage_type, self.watch_history)
        return b

    def _refresh_bucket_types(self) -> None:
        # A CRD update re-registers its types: buckets must describe objects with the new schema.
        types = self.registry.storage_types()
        for storage, bucket in self._buckets.items():
            t = types.get(storage)
            if t is not None:
                bucket.rtype = t

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(storage_type, event)`` synchronously after every write; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def add_admission(self, hook: Admission) -> None:
        """Run ``hook(op, rtype, new, old)`` before each create/update is stored (may raise ApiError)."""
        self._admission.append(hook)

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _emit(self, bucket: _Bucket, type_: str, obj: JSON, prev: JSON | None, rv: int) -> None:
        ev = WatchEvent(type_, obj, prev, rv, _ns_of(obj))
        hist = bucket.history
        hist.append(ev)
        if len(hist) > bucket.capacity:
            bucket.floor = hist.popleft().rv
        for w in tuple(bucket.watchers):
            w.offer(ev)
        for s in tuple(self._subscribers):
            s(bucket.rtype, ev)

    def _index(self, storage: str, key: str, old: JSON | None, new: JSON | None) -> None:
        if old is not None:
            for ref in old["metadata"].get("ownerReferences") or ():
                deps = self._dependents.get(ref.get("uid", ""))
                if deps is not None:
                    deps.discard((storage, key))
                    if not deps:
                        del self._dependents[ref["uid"]]
            if new is None:
                self._uids.pop(old["metadata"]["uid"], None)
        if new is not None:
            self._uids[new["metadata"]["uid"]] = (storage, key)
            for ref in new["metadata"].get("ownerReferences") or ():
                self._dependents.setdefault(ref.get("uid", ""), set()).add((storage, key))

    def by_uid(self, uid: str) -> tuple[ResourceType, JSON] | None:
        """The stored object with ``uid`` (storage form) and its type, or None."""
        loc = self._uids.get(uid)
        if loc is None:
            return None
        bucket = self._buckets[loc[0]]
        obj = bucket.objects.get(loc[1])
        return (bucket.rtype, obj) if obj is not None else None

    def by_key(self, resource: str | ResourceType, name: str, namespace: str | None = None) -> JSON | None:
        """The stored object (storage form, shared) or None, without raising."""
        rtype = self.resolve(resource)
        return self._bucket(rtype).objects.get(meta.key_of(self._namespace_for(rtype, namespace), name))

    def dependents(self, owner_uid: str) -> list[tuple[ResourceType, JSON]]:
        """Objects whose ownerReferences name ``owner_uid`` (storage form)."""
        out: list[tuple[ResourceType, JSON]] = []
        for storage, key in self._dependents.get(owner_uid, ()):
            bucket = self._buckets[storage]
            obj = bucket.objects.get(key)
            if obj is not None:
                out.append((bucket.rtype, obj))
        return out

    def storage_objects(self, resource: str | ResourceType) -> Iterable[JSON]:
        """Every stored object of a resource (storage form, shared)."""
        return tuple(self._bucket(self.resolve(resource)).objects.values())

    def namespaced_storage_types(self) -> list[ResourceType]:
        """Storage types of every namespaced resource."""
        return [t for t in self.registry.storage_types().values() if t.namespaced]

    def drop_resource(self, rtype: ResourceType) -> None:
        """Forget a resource's bucket (its CRD is gone): close its watches."""
        bucket = self._buckets.pop(rtype.storage, None)
        if bucket is not None:
            for w in tuple(bucket.watchers):
                w.close()
            for key, obj in bucket.objects.items():
                self._index(rtype.storage, key, obj, None)

    # ----------------------------------------------------------------- reads

    def _namespace_for(self, rtype: ResourceType, namespace: str | None) -> str:
        if not rtype.namespaced:
            return ""
        return namespace or ""

    def _stored(self, rtype: ResourceType, name: str, namespace: str | None) -> JSON:
        ns = self._namespace_for(rtype, namespace)
        if rtype.namespaced and not ns:
            raise errors.bad_request("a namespace is required for namespaced resource " + rtype.qualified)
        obj = self._bucket(rtype).objects.get(meta.key_of(ns, name))
        if obj is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        return obj

    def get(self, resource: str | ResourceType, name: str, namespace: str | None = None) -> JSON:
        """The object ``name`` (in ``namespace`` for namespaced resources); 404 when absent."""
        rtype = self.resolve(resource)
        return rtype.encode(self._stored(rtype, name, namespace))

    def list(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> ListResult:
        """Objects matching the selectors, ordered by key; ``limit``/``continue_`` page through them."""
        rtype = self.resolve(resource)
        labels = self._labels(label_selector)
        fields = self._fields(rtype, field_selector)
        bucket = self._bucket(rtype)
        ns = self._namespace_for(rtype, namespace)
        list_rv = self._rv
        start: str | None = None
        if continue_:
            list_rv, start = _decode_continue(continue_)
            if list_rv < bucket.floor:
                raise errors.gone(
                    "The provided continue parameter is too old to display a consistent list result. You can "
                    "start a new list without the continue parameter."
                )
        prefix = ns + "/" if ns else ""
        keys = sorted(k for k in bucket.objects if k.startswith(prefix)) if prefix else sorted(bucket.objects)
        if start is not None:
            keys = [k for k in keys if k > start]
        items: _builtins.list[JSON] = []
        matched_after = 0
        last_key = ""
        objects = bucket.objects
        unfiltered = labels.empty and fields.empty
        encode = rtype.encode
        for k in keys:
            obj = objects[k]
            if not unfiltered and not (labels.matches(obj["metadata"].get("labels")) and fields.matches(obj)):
                continue
            if limit and len(items) >= limit:
                matched_after += 1
                continue
            items.append(encode(obj))
            last_key = k
        cont = None
        remaining = None
        if limit and matched_after:
            cont = _encode_continue(list_rv, last_key)
            remaining = matched_after
        return ListResult(items, str(list_rv), cont, remaining)

    def _labels(self, sel: str | LabelSelector | None) -> LabelSelector:
        if sel is None:
            return EVERYTHING
        return sel if isinstance(sel, LabelSelector) else parse_label_selector(sel)

    def _fields(self, rtype: ResourceType, sel: str | FieldSelector | None) -> FieldSelector:
        if sel is None:
            return NO_FIELDS
        return sel if isinstance(sel, FieldSelector) else parse_field_selector(sel, rtype.field_getters)

    def watch(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
        send_initial_events: bool = False,
    ) -> Watch:
        """Watch changes after ``resource_version``; with no RV (or "0") current objects come first as ADDED.

        An RV older than the retained history fails the watch with 410 Expired, as kube-apiserver does.
        """
        rtype = self.resolve(resource)
        labels = self._labels(label_selector)
        fields = self._fields(rtype, field_selector)
        bucket = self._bucket(rtype)
        ns = self._namespace_for(rtype, namespace) or None
        watcher = Watcher(rtype, ns, labels, fields, lambda w: bucket.watchers.discard(w))
        rv_text = resource_version or ""
        if rv_text in ("", "0") or send_initial_events:
            prefix = ns + "/" if ns else ""
            for key in sorted(bucket.objects):
                if prefix and not key.startswith(prefix):
                    continue
                obj = bucket.objects[key]
                watcher.offer(
                    WatchEvent(ADDED, obj, None, int(obj["metadata"]["resourceVersion"]), _ns_of(obj))
                )
            bucket.watchers.add(watcher)
            return Watch(watcher)
        try:
            rv = int(rv_text)
        except ValueError:
            raise errors.bad_request(f'invalid resource version "{rv_text}"') from None
        if self._expire_next_watch or rv < bucket.floor:
            self._expire_next_watch = False
            oldest = bucket.history[0].rv if bucket.history else self._rv
            watcher.fail(errors.gone(f"too old resource version: {rv} ({max(oldest - 1, bucket.floor)})"))
            return Watch(watcher)
        for ev in bucket.history:
            if ev.rv > rv:
                watcher.offer(ev)
        bucket.watchers.add(watcher)
        return Watch(watcher)

    def expire_next_watch(self) -> None:
        """Fault injection: the next watch from a resourceVersion gets 410 Expired."""
        self._expire_next_watch = True

    def close_all_watches(self) -> int:
        """Fault injection: end every open watch (clients see the stream close); returns how many."""
        n = 0
        for bucket in self._buckets.values():
            for w in tuple(bucket.watchers):
                w.close()
                n += 1
        return n

    # ----------------------------------------------------------------- writes

    def _check_namespace(self, rtype: ResourceType, ns: str, name: str) -> None:
        nsobj = self._bucket(self.registry.resolve("namespaces")).objects.get(ns)
        if nsobj is None:
            raise errors.not_found("namespaces", "", ns)
        if nsobj["metadata"].get("deletionTimestamp"):
            raise errors.namespace_terminating(rtype.plural, rtype.group, name, ns)

    def _metadata_causes(self, rtype: ResourceType, md: JSON, old_md: JSON | None) -> _builtins.list[Cause]:
        causes: _builtins.list[Cause] = []
        causes.extend(meta.check_labels("metadata.labels", md.get("labels")))
        causes.extend(meta.check_annotations("metadata.annotations", md.get("annotations")))
        fins = md.get("finalizers")
        if fins is not None:
            if not isinstance(fins, list) or not all(isinstance(f, str) for f in fins):
                causes.append(errors.invalid_value("metadata.finalizers", fins, "must be a list of strings"))
            else:
                for i, f in enumerate(fins):
                    if "/" not in f and f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER, "kubernetes"):
                        causes.append(
                            errors.invalid_value(
                                f"metadata.finalizers[{i}]",
                                f,
                                "name is neither a standard finalizer name nor is it fully qualified",
                            )
                        )
                    else:
                        causes.extend(meta.check_qualified_name(f"metadata.finalizers[{i}]", f))
                if ORPHAN_FINALIZER in fins and FOREGROUND_FINALIZER in fins:
                    causes.append(
                        errors.invalid_value(
                            "metadata.finalizers",
                            fins,
                            "finalizer orphan and foregroundDeletion cannot be both set",
                        )
                    )
        refs = md.get("ownerReferences")
        if refs is not None:
            if not isinstance(refs, list):
                causes.append(errors.invalid_value("metadata.ownerReferences", refs, "must be a list"))
            else:
                controllers = 0
                for i, ref in enumerate(refs):
                    f = f"metadata.ownerReferences[{i}]"
                    if not isinstance(ref, dict):
                        causes.append(errors.invalid_value(f, ref, "must be an object"))
                        continue
                    for key in ("apiVersion", "kind", "name", "uid"):
                        if not ref.get(key):
                            causes.append(
                                errors.invalid_value(
                                    f"{f}.{key}", ref.get(key, ""), f"{key} must not be empty"
                                )
                            )
                    if ref.get("controller"):
                        controllers += 1
                if controllers > 1:
                    causes.append(
                        errors.invalid_value(
                            "metadata.ownerReferences",
                            refs,
                            "Only one reference can have Controller set to true",
                        )
                    )
        if old_md is not None and old_md.get("deletionTimestamp"):
            old_f = set(old_md.get("finalizers") or ())
            added = [f for f in (md.get("finalizers") or ()) if f not in old_f]
            if added:
                causes.append(
                    errors.forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted, found new finalizers "
                        + "[]string{"
                        + ", ".join(f'"{f}"' for f in added)
                        + "}",
                    )
                )
        return causes

    def _check_body(self, rtype: ResourceType, obj: Any) -> JSON:
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        kind = obj.get("kind")
        if kind and kind != rtype.kind:
            raise errors.bad_request(
                f"the kind of the provided object ({kind}) does not match the kind served here ({rtype.kind})"
            )
        md = obj.get("metadata")
        if md is None:
            md = {}
        if not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")
        obj["metadata"] = dict(md)
        return obj

    def _prune_builtin(self, rtype: ResourceType, obj: JSON) -> JSON:
        # Built-in objects are decoded into typed structs by kube-apiserver: unknown fields vanish.
        if rtype.crd_name is not None:
            return obj
        storage_schema = self._bucket(rtype).rtype.schema
        if storage_schema is None:
            return obj
        pruned: JSON = schema.default_and_prune(storage_schema, obj)
        return pruned

    def _admit(self, op: str, rtype: ResourceType, new: JSON, old: JSON | None) -> None:
        for hook in self._admission:
            hook(op, rtype, new, old)

    def create(
        self,
        resource: str | ResourceType,
        obj: JSON,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        owned: bool = False,
    ) -> JSON:
        """Create ``obj``; returns the stored object. ``owned=True`` hands ``obj`` over without a copy."""
        return run_steps(
            self.create_steps(
                resource, obj, namespace, dry_run=dry_run, field_manager=field_manager, owned=owned
            )
        )

    def create_steps(
        self,
        resource: str | ResourceType,
        obj: JSON,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        owned: bool = False,
        apply_config: JSON | None = None,
    ) -> Steps:
        """:meth:`create` as :data:`Steps` (pausing for admission webhooks)."""
        rtype = self.resolve(resource)
        if "create" not in rtype.verbs:
            raise errors.method_not_allowed()
        body = self._check_body(rtype, obj if owned else meta.deep_copy(obj))
        body = self._prune_builtin(rtype, rtype.decode(body))
        if body is obj and not owned:
            body = dict(body)
        md = body["metadata"] = dict(body["metadata"])
        body.setdefault("apiVersion", rtype.storage_api_version)
        body["kind"] = rtype.kind
        if rtype.namespaced:
            body_ns = md.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            ns = namespace or body_ns or ""
            if not ns:
                raise errors.bad_request("a namespace is required to create a " + rtype.kind)
            md["namespace"] = ns
        else:
            ns = ""
            md.pop("namespace", None)
        name = md.get("name") or ""
        gen_prefix = md.get("generateName") or ""
        if not name and not gen_prefix:
            raise errors.invalid(
                rtype.kind,
                rtype.group,
                "",
                [
                    Cause(
                        "metadata.name",
                        "FieldValueRequired",
                        "Required value: name or generateName is required",
                    )
                ],
            )
        if rtype.namespaced:
            self._check_namespace(rtype, ns, name or gen_prefix)
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "resourceVersion"):
            md.pop(k, None)
        rtype.strategy.prepare_create(rtype, body)
        point = AdmissionPoint("mutate", "CREATE", rtype, body, None, None, ns, name, dry_run)
        yield point
        if point.mutated:
            # kube-apiserver decodes (prunes, defaults) the patched object again and prepares it for create.
            body = self._prune_builtin(rtype, body)
            md = body["metadata"] = dict(body["metadata"])
            if rtype.namespaced:
                md["namespace"] = ns
            md["name"], md["generateName"] = name, gen_prefix
            for k in [k for k in ("name", "generateName") if not md[k]]:
                del md[k]
            rtype.strategy.prepare_create(rtype, body)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = meta.rfc3339(self.clock())
        if rtype.has_generation:
            md["generation"] = 1
        else:
            md.pop("generation", None)
        bucket = self._bucket(rtype)
        # ValidateObjectMeta checks generateName as a prefix beside the generated name, before it.
        prefix_causes = rtype.strategy.validate_name(rtype, gen_prefix, prefix=True) if gen_prefix else []
        attempts = 8 if not name else 1
        for _ in range(attempts):
            if not name:
                md["name"] = meta.generate_name(gen_prefix)
            causes = (
                prefix_causes
                + rtype.strategy.validate_name(rtype, md["name"])
                + self._metadata_causes(rtype, md, None)
                + rtype.strategy.validate_create(rtype, body)
            )
            if causes:
                raise errors.invalid(rtype.kind, rtype.group, md["name"], causes)
            key = meta.key_of(ns, md["name"])
            if key not in bucket.objects:
                break
            if name:
                raise errors.already_exists(rtype.plural, rtype.group, md["name"])
        else:
            raise errors.already_exists(rtype.plural, rtype.group, md["name"])
        from grove.devcluster import apply as ssa

        if apply_config is not None:
            with ssa.applying(apply_config):
                ssa.track_create(rtype, body, field_manager)
        else:
            ssa.track_create(rtype, body, field_manager)
        rtype.strategy.admit_create(rtype, body)
        self._admit("CREATE", rtype, body, None)
        yield AdmissionPoint("validate", "CREATE", rtype, body, None, None, ns, md["name"], dry_run)
        # The webhooks ran concurrently with other writes: what they approved must still be possible.
        if rtype.namespaced:
            self._check_namespace(rtype, ns, md["name"])
        if key in bucket.objects:
            raise errors.already_exists(rtype.plural, rtype.group, md["name"])
        if dry_run:
            return rtype.encode(body)
        rv = self._next_rv()
        md["resourceVersion"] = str(rv)
        bucket.objects[key] = body
        self._index(rtype.storage, key, None, body)
        self._emit(bucket, ADDED, body, None, rv)
        return rtype.encode(body)

    def update(
        self,
        resource: str | ResourceType,
        obj: JSON,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        owned: bool = False,
        name: str | None = None,
    ) -> JSON:
        """Replace an object (PUT). ``metadata.resourceVersion``, when set, must be current (else 409)."""
        return run_steps(
            self.update_steps(
                resource,
                obj,
                namespace,
                subresource=subresource,
                dry_run=dry_run,
                field_manager=field_manager,
                owned=owned,
                name=name,
            )
        )

    def update_steps(
        self,
        resource: str | ResourceType,
        obj: JSON,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        owned: bool = False,
        name: str | None = None,
    ) -> Steps:
        """:meth:`update` as :data:`Steps` (pausing for admission webhooks)."""
        rtype = self.resolve(resource)
        if "update" not in rtype.verbs:
            raise errors.method_not_allowed()
        body = self._check_body(rtype, obj if owned else meta.deep_copy(obj))
        body = rtype.decode(body)
        md = body["metadata"] = dict(body["metadata"])
        body["kind"] = rtype.kind
        obj_name = md.get("name") or ""
        if name is not None and obj_name and obj_name != name:
            raise errors.bad_request(
                "the name of the object (" + obj_name + ") does not match the name on the URL (" + name + ")"
            )
        name = name or obj_name
        if not name:
            raise errors.bad_request("name is required for an update")
        ns = self._namespace_for(rtype, namespace or md.get("namespace"))
        if rtype.namespaced and namespace and md.get("namespace") and md["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        bucket = self._bucket(rtype)
        old = bucket.objects.get(meta.key_of(ns, name))
        if old is None:
            if rtype.allow_create_on_update and subresource is None:
                md["name"] = name
                md.pop("resourceVersion", None)
                return (
                    yield from self.create_steps(
                        rtype, body, ns or None, dry_run=dry_run, field_manager=field_manager, owned=True
                    )
                )
            raise errors.not_found(rtype.plural, rtype.group, name)
        return (
            yield from self._update_from(
                rtype, bucket, old, body, subresource, dry_run, field_manager, "Update"
            )
        )

    def _update_from(
        self,
        rtype: ResourceType,
        bucket: _Bucket,
        old: JSON,
        new: JSON,
        subresource: str | None,
        dry_run: bool,
        field_manager: str | None,
        operation: str,
        apply_config: JSON | None = None,
        force: bool = False,
        admission_subresource: str | None = None,
    ) -> Steps:
        new = self._prune_builtin(rtype, new)
        old_md = old["metadata"]
        md = new["metadata"]
        name = old_md["name"]
        want_rv = md.get("resourceVersion")
        if want_rv and want_rv != old_md["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name, errors.STALE_RV)
        want_uid = md.get("uid")
        if want_uid and want_uid != old_md["uid"]:
            raise errors.conflict(
                rtype.plural,
                rtype.group,
                name,
                f"Precondition failed: UID in precondition: {want_uid}, UID in object meta: {old_md['uid']}",
            )
        new.setdefault("apiVersion", old.get("apiVersion"))

        def prepare(md: JSON) -> None:
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "name"):
                if k in old_md:
                    md[k] = old_md[k]
                else:
                    md.pop(k, None)
            if rtype.namespaced:
                md["namespace"] = old_md["namespace"]
            else:
                md.pop("namespace", None)
            md.pop("selfLink", None)
            if "generation" in old_md:
                md["generation"] = old_md["generation"]
            else:
                md.pop("generation", None)
            md["resourceVersion"] = old_md["resourceVersion"]
            if subresource == "status":
                rtype.strategy.prepare_status_update(rtype, new, old)
            else:
                if rtype.status_subresource:
                    if "status" in old:
                        new["status"] = old["status"]
                    else:
                        new.pop("status", None)
                rtype.strategy.prepare_update(rtype, new, old)

        prepare(md)
        point = AdmissionPoint(
            "mutate",
            "UPDATE",
            rtype,
            new,
            old,
            admission_subresource or subresource,
            old_md.get("namespace", ""),
            name,
            dry_run,
        )
        yield point
        if point.mutated:
            # Decode the patched object again and carry over what an update may not change.
            pruned = self._prune_builtin(rtype, new)
            if pruned is not new:
                new.clear()
                new.update(pruned)
            md = new["metadata"] = dict(new["metadata"])
            prepare(md)
        md = new["metadata"]
        if subresource == "status":
            causes = rtype.strategy.validate_status_update(rtype, new, old)
        else:
            causes = self._metadata_causes(rtype, md, old_md) + rtype.strategy.validate_update(
                rtype, new, old
            )
            if rtype.has_generation and rtype.strategy.spec_of(new) != rtype.strategy.spec_of(old):
                md["generation"] = int(old_md.get("generation") or 0) + 1
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, name, causes)
        from grove.devcluster import apply as ssa

        ssa.track_update(rtype, new, old, field_manager, operation, subresource, apply_config, force)
        yield AdmissionPoint(
            "validate",
            "UPDATE",
            rtype,
            new,
            old,
            admission_subresource or subresource,
            old_md.get("namespace", ""),
            name,
            dry_run,
        )
        if bucket.objects.get(meta.key_of(old_md.get("namespace", ""), name)) is not old:
            raise AdmissionRetry(name)
        if new == old:
            return rtype.encode(old)
        self._admit("UPDATE", rtype, new, old)
        if dry_run:
            return rtype.encode(new)
        return rtype.encode(self._commit(rtype, bucket, old, new))

    def _commit(self, rtype: ResourceType, bucket: _Bucket, old: JSON, new: JSON) -> JSON:
        md = new["metadata"]
        key = meta.key_of(md.get("namespace", ""), md["name"])
        rv = self._next_rv()
        md["resourceVersion"] = str(rv)
        if (
            md.get("deletionTimestamp")
            and not md.get("finalizers")
            and md.get("deletionGracePeriodSeconds", 0) == 0
            and not rtype.strategy.holds(new)
        ):
            # kube-apiserver deletes the stored object instead of writing the update that emptied the
            # finalizers, so the DELETED event carries the last stored state (at the deletion's RV).
            last = dict(old)
            last["metadata"] = {**old["metadata"], "resourceVersion": str(rv)}
            del bucket.objects[key]
            self._index(rtype.storage, key, old, None)
            self._emit(bucket, DELETED, last, old, rv)
            return new
        bucket.objects[key] = new
        self._index(rtype.storage, key, old, new)
        self._emit(bucket, MODIFIED, new, old, rv)
        return new

    def write_system(self, resource: str | ResourceType, new: JSON) -> JSON:
        """Store ``new`` (storage form, owned) over the current object, bypassing strategies.

        For the dev cluster's own controllers (namespace and CRD lifecycle, GC) that edit fields users may
        not (``spec.finalizers`` of a namespace, CRD status). The object must exist.
        """
        rtype = self.resolve(resource)
        bucket = self._bucket(rtype)
        md = new["metadata"]
        old = bucket.objects[meta.key_of(md.get("namespace", ""), md["name"])]
        if new == old:
            return old
        return self._commit(rtype, bucket, old, new)

    def patch(
        self,
        resource: str | ResourceType,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        force: bool = False,
    ) -> JSON:
        """Patch an object. ``patch_type``: ``merge`` (RFC 7386), ``json`` (RFC 6902), ``strategic``
        (built-in kinds only; 415 for custom resources) or ``apply`` (server-side apply, creating the
        object when absent; needs ``field_manager``)."""
        return run_steps(
            self.patch_steps(
                resource,
                name,
                patch,
                namespace,
                patch_type=patch_type,
                subresource=subresource,
                dry_run=dry_run,
                field_manager=field_manager,
                force=force,
            )
        )

    def patch_steps(
        self,
        resource: str | ResourceType,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        force: bool = False,
    ) -> Steps:
        """:meth:`patch` as :data:`Steps` (pausing for admission webhooks)."""
        from grove.devcluster import apply as ssa
        from grove.devcluster import patch as patches

        rtype = self.resolve(resource)
        if "patch" not in rtype.verbs:
            raise errors.method_not_allowed()
        ns = self._namespace_for(rtype, namespace)
        bucket = self._bucket(rtype)
        old = bucket.objects.get(meta.key_of(ns, name))
        if patch_type == "apply":
            if not field_manager:
                raise errors.bad_request(
                    "PATCH, application/apply-patch+yaml requires fieldManager to be set"
                )
            config = ssa.check_config(rtype, patch, name, ns)
            if old is None:
                if subresource is not None:
                    raise errors.not_found(rtype.plural, rtype.group, name)
                created = ssa.config_for_create(rtype, config)
                return (
                    yield from self.create_steps(
                        rtype,
                        created,
                        ns or None,
                        dry_run=dry_run,
                        field_manager=field_manager,
                        owned=True,
                        apply_config=config,
                    )
                )
            current = rtype.encode(old)
            merged = ssa.apply(rtype, current, config, field_manager, force, subresource)
            new = rtype.decode(merged)
            if new is current:
                new = dict(new)
            new["metadata"] = dict(new["metadata"])
            new["metadata"].pop("resourceVersion", None)
            if config.get("metadata", {}).get("resourceVersion"):
                new["metadata"]["resourceVersion"] = config["metadata"]["resourceVersion"]
            return (
                yield from self._update_from(
                    rtype, bucket, old, new, subresource, dry_run, field_manager, "Apply", config, force
                )
            )
        if old is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        current = rtype.encode(old)
        if patch_type == "merge":
            patched = patches.merge_patch(current, patch)
        elif patch_type == "json":
            patched = patches.json_patch(current, patch)
        elif patch_type == "strategic":
            if rtype.crd_name is not None:
                raise errors.unsupported_media_type(
                    "application/strategic-merge-patch+json",
                    [
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/apply-patch+yaml",
                    ],
                )
            patched = patches.strategic_merge_patch(current, patch, rtype)
        else:
            raise errors.unsupported_media_type(patch_type, ["json", "merge", "strategic", "apply"])
        if not isinstance(patched, dict):
            raise errors.bad_request("the patched object must be a JSON object")
        patched = rtype.decode(patched)
        pmd = patched.get("metadata")
        patched["metadata"] = dict(pmd) if isinstance(pmd, dict) else {}
        # A patch only carries a precondition when it sets resourceVersion itself.
        patch_rv = _patch_resource_version(patch, patch_type)
        if patch_rv is None:
            patched["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if patched["metadata"].get("name", name) != name:
            raise errors.bad_request("metadata.name cannot be changed by a patch")
        patched["metadata"]["name"] = name
        return (
            yield from self._update_from(
                rtype, bucket, old, patched, subresource, dry_run, field_manager, "Update"
            )
        )

    def delete(
        self,
        resource: str | ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: JSON | None = None,
        dry_run: bool = False,
    ) -> DeleteResult:
        """Delete an object, honouring finalizers, graceful deletion and propagation policy."""
        rtype = self.resolve(resource)
        if "delete" not in rtype.verbs:
            raise errors.method_not_allowed()
        bucket = self._bucket(rtype)
        old = self._stored(rtype, name, namespace)
        old_md = old["metadata"]
        if preconditions:
            if preconditions.get("uid") and preconditions["uid"] != old_md["uid"]:
                raise errors.conflict(
                    rtype.plural,
                    rtype.group,
                    name,
                    f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                    f"UID in object meta: {old_md['uid']}",
                )
            if (
                preconditions.get("resourceVersion")
                and preconditions["resourceVersion"] != old_md["resourceVersion"]
            ):
                raise errors.conflict(
                    rtype.plural,
                    rtype.group,
                    name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{preconditions['resourceVersion']}, "
                    f"ResourceVersion in object meta: {old_md['resourceVersion']}",
                )
        if propagation_policy not in (None, "", "Background", "Foreground", "Orphan"):
            raise errors.invalid(
                "DeleteOptions",
                "",
                "",
                [
                    errors.unsupported_value(
                        "propagationPolicy", propagation_policy, ["Foreground", "Background", "Orphan", "nil"]
                    )
                ],
            )
        grace = rtype.strategy.grace_period(old, grace_period_seconds)
        new = dict(old)
        md = new["metadata"] = dict(old_md)
        fins = list(md.get("finalizers") or ())
        if propagation_policy == "Orphan":
            fins = [f for f in fins if f != FOREGROUND_FINALIZER]
            if ORPHAN_FINALIZER not in fins:
                fins.append(ORPHAN_FINALIZER)
        elif propagation_policy == "Foreground":
            fins = [f for f in fins if f != ORPHAN_FINALIZER]
            if FOREGROUND_FINALIZER not in fins:
                fins.append(FOREGROUND_FINALIZER)
        elif propagation_policy == "Background":
            fins = [f for f in fins if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
        if fins:
            md["finalizers"] = fins
        else:
            md.pop("finalizers", None)
        deferred = rtype.strategy.defer_delete(rtype, new)
        now = self.clock()
        if md.get("deletionTimestamp"):
            # Already terminating: a shorter grace period (e.g. the kubelet's final 0) may end it sooner.
            cur_grace = md.get("deletionGracePeriodSeconds") or 0
            if grace < cur_grace:
                md["deletionGracePeriodSeconds"] = grace
                md["deletionTimestamp"] = meta.rfc3339(now + grace)
                cur_grace = grace
            if cur_grace == 0 and not fins and not deferred:
                return self._remove(rtype, bucket, old, new, dry_run)
            if dry_run or new == old:
                return DeleteResult(rtype.encode(new if dry_run else old), False)
            committed = self._commit(rtype, bucket, old, new)
            return DeleteResult(rtype.encode(committed), self._gone(bucket, committed))
        if fins or grace > 0 or deferred:
            md["deletionTimestamp"] = meta.rfc3339(now + grace)
            md["deletionGracePeriodSeconds"] = grace
            if md.get("generation"):
                md["generation"] = int(md["generation"]) + 1
            if dry_run:
                return DeleteResult(rtype.encode(new), False)
            committed = self._commit(rtype, bucket, old, new)
            return DeleteResult(rtype.encode(committed), False)
        return self._remove(rtype, bucket, old, new, dry_run)

    def _remove(
        self, rtype: ResourceType, bucket: _Bucket, old: JSON, new: JSON, dry_run: bool
    ) -> DeleteResult:
        if dry_run:
            return DeleteResult(rtype.encode(old), True)
        md = new["metadata"]
        key = meta.key_of(md.get("namespace", ""), md["name"])
        rv = self._next_rv()
        md["resourceVersion"] = str(rv)
        del bucket.objects[key]
        self._index(rtype.storage, key, old, None)
        self._emit(bucket, DELETED, new, old, rv)
        return DeleteResult(rtype.encode(new), True)

    def _gone(self, bucket: _Bucket, obj: JSON) -> bool:
        md = obj["metadata"]
        return meta.key_of(md.get("namespace", ""), md["name"]) not in bucket.objects

    def delete_collection(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> _builtins.list[JSON]:
        """Delete every matching object; returns them as the deletes left them."""
        rtype = self.resolve(resource)
        if "deletecollection" not in rtype.verbs:
            raise errors.method_not_allowed()
        listed = self.list(rtype, namespace, label_selector=label_selector, field_selector=field_selector)
        out: _builtins.list[JSON] = []
        for item in listed.items:
            md = item["metadata"]
            try:
                res = self.delete(
                    rtype,
                    md["name"],
                    md.get("namespace"),
                    propagation_policy=propagation_policy,
                    grace_period_seconds=grace_period_seconds,
                    dry_run=dry_run,
                )
            except ApiError as e:
                if e.code == 404:
                    continue
                raise
            out.append(res.object)
        return out

    # ----------------------------------------------------------------- subresources

    def get_scale(self, resource: str | ResourceType, name: str, namespace: str | None = None) -> JSON:
        """The autoscaling/v1 Scale of an object with a scale subresource."""
        rtype = self.resolve(resource)
        if rtype.scale is None:
            raise errors.not_found(rtype.plural + "/scale", rtype.group, name)
        return scale_of(rtype, rtype.encode(self._stored(rtype, name, namespace)))

    def update_scale(
        self,
        resource: str | ResourceType,
        name: str,
        scale: JSON,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> JSON:
        """Set ``spec.replicas`` of the Scale (PUT /scale); its resourceVersion, when set, must be current."""
        return run_steps(
            self.update_scale_steps(
                resource, name, scale, namespace, dry_run=dry_run, field_manager=field_manager
            )
        )

    def update_scale_steps(
        self,
        resource: str | ResourceType,
        name: str,
        scale: JSON,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Steps:
        """:meth:`update_scale` as :data:`Steps` (admission sees the ``scale`` subresource)."""
        rtype = self.resolve(resource)
        if rtype.scale is None:
            raise errors.not_found(rtype.plural + "/scale", rtype.group, name)
        bucket = self._bucket(rtype)
        old = self._stored(rtype, name, namespace)
        if not isinstance(scale, dict):
            raise errors.bad_request("the body of the request must be a Scale object")
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [errors.invalid_value("spec.replicas", replicas, "must be greater than or equal to 0")],
            )
        current = rtype.encode(old)
        new = rtype.decode(set_path(current, rtype.scale.spec_replicas_path, replicas))
        new["metadata"] = dict(new["metadata"])
        want_rv = (scale.get("metadata") or {}).get("resourceVersion")
        new["metadata"]["resourceVersion"] = want_rv or old["metadata"]["resourceVersion"]
        out = yield from self._update_from(
            rtype, bucket, old, new, None, dry_run, field_manager, "Update", admission_subresource="scale"
        )
        return scale_of(rtype, out)

    def bind_pod(self, name: str, namespace: str, binding: JSON) -> None:
        """POST pods/binding: set ``spec.nodeName`` (409 when already bound) and PodScheduled=True."""
        from grove.devcluster.builtins import bind

        rtype = self.resolve("pods")
        bucket = self._bucket(rtype)
        old = self._stored(rtype, name, namespace)
        new = bind(old, binding, self.clock())
        want_uid = ((binding.get("metadata") or {}).get("uid")) or None
        if want_uid and want_uid != old["metadata"]["uid"]:
            raise errors.conflict(
                "pods",
                "",
                name,
                f"Precondition failed: UID in precondition: {want_uid}, "
                f"UID in object meta: {old['metadata']['uid']}",
            )
        self._commit(rtype, bucket, old, new)

    def finalize_namespace(self, namespace_obj: JSON) -> JSON:
        """PUT namespaces/{name}/finalize: replace ``spec.finalizers``; the namespace goes once both
        ``spec.finalizers`` and ``metadata.finalizers`` are empty and it is being deleted."""
        rtype = self.resolve("namespaces")
        bucket = self._bucket(rtype)
        name = (namespace_obj.get("metadata") or {}).get("name", "")
        old = self._stored(rtype, name, None)
        new = dict(old)
        new["spec"] = {
            **(old.get("spec") or {}),
            "finalizers": list((namespace_obj.get("spec") or {}).get("finalizers") or []),
        }
        if not new["spec"]["finalizers"]:
            del new["spec"]["finalizers"]
        new["metadata"] = dict(old["metadata"])
        if new == old:
            return rtype.encode(old)
        return rtype.encode(self._commit(rtype, bucket, old, new))


def scale_of(rtype: ResourceType, obj: JSON) -> JSON:
    """The autoscaling/v1 Scale of ``obj`` (whose type has a scale subresource)."""
    assert rtype.scale is not None
    md = obj["metadata"]
    smd: JSON = {"name": md["name"]}
    if md.get("namespace"):
        smd["namespace"] = md["namespace"]
    smd["uid"] = md["uid"]
    smd["resourceVersion"] = md["resourceVersion"]
    smd["creationTimestamp"] = md["creationTimestamp"]
    status: JSON = {"replicas": get_path(obj, rtype.scale.status_replicas_path) or 0}
    if rtype.scale.label_selector_path:
        sel = get_path(obj, rtype.scale.label_selector_path)
        if sel:
            status["selector"] = sel
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": smd,
        "spec": {"replicas": get_path(obj, rtype.scale.spec_replicas_path) or 0},
        "status": status,
    }


def _patch_resource_version(patch: Any, patch_type: str) -> str | None:
    if patch_type in ("merge", "strategic") and isinstance(patch, dict):
        md = patch.get("metadata")
        if isinstance(md, dict):
            rv = md.get("resourceVersion")
            return str(rv) if rv else None
        return None
    if patch_type == "json" and isinstance(patch, list):
        for op in patch:
            if (
                isinstance(op, dict)
                and op.get("path") == "/metadata/resourceVersion"
                and op.get("op")
                in (
                    "add",
                    "replace",
                )
            ):
                return str(op.get("value"))
    return None


def _encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.b64decode(token.encode(), validate=False))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.bad_request("continue key is not valid: invalid continue token") from None
