"""Shared informers: list + watch one resource into an indexed :class:`~grove.runtime.cache.Store` and notify
handlers in order (client-go reflector + shared informer, with RealFIFO's in-order, atomic-replace delivery).

Behaviour, following client-go's reflector:

- The first LIST uses ``resourceVersion=0`` (servable from the watch cache), paginated. A relist uses the last
  synced resourceVersion (unpaginated, "not older than"); if that is 410 Gone, a consistent LIST (``""``).
- WATCH from the list's resourceVersion with ``allowWatchBookmarks`` and a random ``timeoutSeconds`` in
  [300, 600). A watch that ends normally is resumed from the last resourceVersion seen (objects and
  bookmarks); a 410 (at open, or as an ERROR event) means relist.
- A relist replaces the store atomically and then emits only the differences: adds, updates (resourceVersion
  changed) and, for objects that vanished, deletes carrying a :class:`DeletedFinalStateUnknown` tombstone.
- Half-open connections: a socket read timeout (90 s) plus an inactivity watchdog that closes a watch which
  delivered nothing for ``inactivity_timeout``.
- Errors back off 0.8 s -> 30 s with jitter, reset after 2 quiet minutes.

Handlers are plain (non-async) callables run inline, after the store is updated, in event order. They must be
quick (typically: enqueue a key) and must not mutate the objects they are given.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from grove.runtime.backoff import Backoff
from grove.runtime.cache import DeletedFinalStateUnknown, IndexFunc, Store
from grove.runtime.client import Client, WatchStream
from grove.runtime.decode import SharingDecoder
from grove.runtime.errors import ApiError, Gone, KubeError, TransportError
from grove.runtime.meta import Obj, metadata, object_key, resource_version_of
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.resources import Resource

log = structlog.get_logger(__name__)

Transform = Callable[[Obj], Obj]
"""Applied to every object before it is stored (e.g. :func:`strip_managed_fields`). It may add, replace or
delete keys of the object and of its ``metadata``, but must not modify other nested dicts in place: equal
leaf objects are shared between cached objects (see :mod:`grove.runtime.decode`)."""


def strip_managed_fields(obj: Obj) -> Obj:
    """A transform that drops ``metadata.managedFields`` (often the largest part of an object)."""
    md = obj.get("metadata")
    if isinstance(md, dict):
        md.pop("managedFields", None)
    return obj


class EventHandler(Protocol):
    """Receives an informer's notifications. Called inline, in order, after the store was updated."""

    def on_add(self, obj: Obj, is_initial_list: bool) -> None:
        """A new object (``is_initial_list`` when it came with the first list or a handler's replay)."""

    def on_update(self, old: Obj, new: Obj) -> None:
        """An object changed."""

    def on_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        """An object was deleted; a tombstone when the deletion was only noticed by a relist."""


@dataclass
class FuncHandler:
    """An :class:`EventHandler` from optional callables."""

    add: Callable[[Obj, bool], None] | None = None
    update: Callable[[Obj, Obj], None] | None = None
    delete: Callable[[Obj | DeletedFinalStateUnknown], None] | None = None

    def on_add(self, obj: Obj, is_initial_list: bool) -> None:
        if self.add is not None:
            self.add(obj, is_initial_list)

    def on_update(self, old: Obj, new: Obj) -> None:
        if self.update is not None:
            self.update(old, new)

    def on_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        if self.delete is not None:
            self.delete(obj)


class HandlerRegistration:
    """Returned by :meth:`Informer.add_event_handler`; pass it to ``remove_event_handler``."""

    def __init__(self, informer: Informer, handler: EventHandler) -> None:
        self.informer = informer
        self.handler = handler
        self._synced = False

    def has_synced(self) -> bool:
        """True once this handler has been given every object of the initial list (or the replay)."""
        return self._synced


@dataclass(frozen=True)
class InformerOptions:
    """Tuning knobs; the defaults are client-go's. Tests shorten them."""

    min_watch_timeout: float = 300.0
    """Watches ask the server to end them after a random time in [min, 2*min) seconds."""
    sock_read_timeout: float = 90.0
    inactivity_timeout: float = 120.0
    """A watch that receives nothing (not even a bookmark) for this long is closed and resumed."""
    page_size: int = 500
    backoff_initial: float = 0.8
    backoff_cap: float = 30.0
    backoff_reset: float = 120.0

    def __post_init__(self) -> None:
        for name in ("min_watch_timeout", "sock_read_timeout", "inactivity_timeout", "backoff_initial"):
            if getattr(self, name) <= 0:
                raise ValueError(f"InformerOptions.{name}: must be > 0, got {getattr(self, name)}")


class _Relist(Exception):
    """The watch cannot resume (410 Gone): list again."""


@dataclass(frozen=True, slots=True)
class InformerKey:
    """What makes two informers the same: resource, namespace and selectors."""

    resource: Resource
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None


class Informer:
    """List-and-watch of one resource (optionally one namespace and selectors) into an indexed store."""

    def __init__(
        self,
        client: Client,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        transform: Transform | None = None,
        options: InformerOptions | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.client = client
        self.key = InformerKey(
            resource, namespace if resource.namespaced else None, label_selector, field_selector
        )
        self.resource = resource
        self.store = Store()
        if indexers:
            self.store.add_indexers(indexers)
        self.options = options or InformerOptions()
        self._transform = transform
        self._decoder = SharingDecoder()
        self._handlers: list[HandlerRegistration] = []
        self._synced = asyncio.Event()
        self._resource_version = ""
        self._rv_unavailable = False
        self._task: asyncio.Task[None] | None = None
        self._stream: WatchStream | None = None
        self._last_activity = 0.0
        self._backoff = Backoff(
            self.options.backoff_initial, self.options.backoff_cap, reset_after=self.options.backoff_reset
        )
        self._log = log.bind(resource=str(resource), namespace=namespace, label_selector=label_selector)
        self._m = _InformerMetrics(metrics, str(resource)) if metrics is not None else None

    # ---- handlers and indexes ----------------------------------------------------------------------------

    def add_event_handler(self, handler: EventHandler) -> HandlerRegistration:
        """Registers ``handler``; if the informer has synced, it first gets every stored object as an add."""
        reg = HandlerRegistration(self, handler)
        self._handlers.append(reg)
        if self.has_synced():
            for obj in self.store.list():
                self._call(handler.on_add, obj, True)
            reg._synced = True
        return reg

    def remove_event_handler(self, registration: HandlerRegistration) -> None:
        """Stops notifying a handler (a no-op if it is not registered)."""
        with contextlib.suppress(ValueError):
            self._handlers.remove(registration)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Adds secondary indexes to the store (existing objects are filed immediately)."""
        self.store.add_indexers(indexers)

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def has_synced(self) -> bool:
        """True once the first list has been stored and delivered to the handlers."""
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        """Waits for :meth:`has_synced` (bound it with ``asyncio.timeout``)."""
        await self._synced.wait()

    @property
    def resource_version(self) -> str:
        """The last resourceVersion synced (from a list, an event or a bookmark)."""
        return self._resource_version

    @property
    def started(self) -> bool:
        """True once :meth:`start` was called (and until :meth:`stop`)."""
        return self._task is not None

    def start(self) -> None:
        """Starts listing and watching in a background task (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"informer:{self.resource}")

    async def stop(self) -> None:
        """Stops the background task and closes any open watch."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # ---- the reflector loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch()
                continue
            except _Relist:
                need_list = True
                reason = "gone"
            except Gone as exc:
                # Only the list can raise Gone here once the RV fallback was tried: relist from scratch.
                self._rv_unavailable = True
                need_list = True
                reason = f"gone: {exc.message}"
            except ApiError as exc:
                # As client-go: throttling and server errors retry the same step; anything else (a watch
                # ERROR event, 403, ...) is answered with a fresh list.
                if exc.status != 429 and exc.status < 500:
                    need_list = True
                reason = str(exc)
            except (KubeError, OSError) as exc:
                reason = str(exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A bug in decoding or a transform must not stop the informer for good.
                self._log.exception("informer.unexpected_error")
                need_list = True
                reason = repr(exc)
            delay = self._backoff.next()
            self._log.info("informer.backoff", reason=reason, relist=need_list, delay=round(delay, 3))
            await asyncio.sleep(delay)

    async def _list(self) -> None:
        rv = "" if self._rv_unavailable else (self._resource_version or "0")
        # client-go: paging only for "" and "0"; a specific RV is served unpaginated from the watch cache.
        limit = self.options.page_size if rv in ("", "0") else None
        if self._m is not None:
            self._m.relists.inc()
        try:
            result = await self.client.list(
                self.resource,
                self.key.namespace,
                label_selector=self.key.label_selector,
                field_selector=self.key.field_selector,
                resource_version=rv,
                limit=limit,
                decode=self._decoder.loads,
            )
        except Gone:
            if rv in ("", "0"):
                raise
            self._log.info("informer.relist_rv_expired", resource_version=rv)
            self._rv_unavailable = True
            await self._list()
            return
        self._rv_unavailable = False
        items = result.items
        if self._transform is not None:
            items = [self._transform(o) for o in items]
        self._replace(items)
        self._resource_version = result.resource_version
        self._log.debug("informer.listed", count=len(items), resource_version=result.resource_version)

    def _replace(self, items: list[Obj]) -> None:
        initial = not self.has_synced()
        previous = self.store.replace(items)
        handlers = list(self._handlers)
        if self._m is not None:
            self._m.objects.set(len(self.store))
        for obj in items:
            old = previous.pop(object_key(obj), None)
            if old is None:
                for reg in handlers:
                    self._call(reg.handler.on_add, obj, initial)
            elif resource_version_of(old) != resource_version_of(obj):
                for reg in handlers:
                    self._call(reg.handler.on_update, old, obj)
        for key, old in previous.items():
            tombstone = DeletedFinalStateUnknown(key, old)
            for reg in handlers:
                self._call(reg.handler.on_delete, tombstone)
        for reg in handlers:
            reg._synced = True
        if initial:
            self._synced.set()
            self._log.info("informer.synced", count=len(items))

    async def _watch(self) -> None:
        opts = self.options
        timeout_seconds = int(opts.min_watch_timeout * (1.0 + random.random()))
        started = time.monotonic()
        events = 0
        if self._m is not None:
            self._m.watches.inc()
        try:
            async with self.client.watch(
                self.resource,
                self.key.namespace,
                resource_version=self._resource_version,
                label_selector=self.key.label_selector,
                field_selector=self.key.field_selector,
                timeout_seconds=timeout_seconds,
                sock_read_timeout=opts.sock_read_timeout,
                decode=self._decoder.loads,
            ) as stream:
                self._stream = stream
                self._last_activity = time.monotonic()
                watchdog = asyncio.create_task(self._watchdog(stream))
                try:
                    async for event in stream:
                        self._last_activity = time.monotonic()
                        events += 1
                        self._handle(event.type, event.object)
                finally:
                    watchdog.cancel()
                    self._stream = None
        except Gone as exc:
            self._watch_error("gone")
            raise _Relist() from exc
        except TransportError as exc:
            # A broken stream is an ordinary end of a watch: resume from the last resourceVersion.
            self._watch_error("transport")
            self._log.debug("informer.watch_broken", error=str(exc))
        except ApiError as exc:
            self._watch_error(exc.reason or str(exc.status))
            raise
        if events == 0 and time.monotonic() - started < 1.0:
            # client-go's "very short watch": closing at once with nothing received is a server problem;
            # back off instead of spinning.
            raise TransportError("watch closed immediately without events")

    def _handle(self, event_type: str, obj: Obj) -> None:
        if self._m is not None:
            self._m.event(event_type)
        if event_type == "BOOKMARK":
            rv = resource_version_of(obj)
            if rv:
                self._resource_version = rv
            return
        if event_type == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise Gone(410, str(obj.get("reason") or "Expired"), str(obj.get("message") or ""), obj)
            raise ApiError(
                int(code or 0), str(obj.get("reason") or "WatchError"), str(obj.get("message")), obj
            )
        if not isinstance(metadata(obj).get("name"), str):
            self._log.warning("informer.event_without_name", type=event_type)
            return
        if self._transform is not None:
            obj = self._transform(obj)
        rv = resource_version_of(obj)
        store = self.store
        if event_type in ("ADDED", "MODIFIED"):
            old = store.upsert(obj)
            if old is None:
                for reg in list(self._handlers):
                    self._call(reg.handler.on_add, obj, False)
            else:
                for reg in list(self._handlers):
                    self._call(reg.handler.on_update, old, obj)
        elif event_type == "DELETED":
            store.delete(object_key(obj))
            for reg in list(self._handlers):
                self._call(reg.handler.on_delete, obj)
        else:
            self._log.warning("informer.unknown_event_type", type=event_type)
            return
        if rv:
            self._resource_version = rv
        if self._m is not None:
            self._m.objects.set(len(store))

    async def _watchdog(self, stream: WatchStream) -> None:
        limit = self.options.inactivity_timeout
        while True:
            await asyncio.sleep(min(limit / 4, 10.0))
            idle = time.monotonic() - self._last_activity
            if idle > limit:
                self._log.warning("informer.watch_inactive", idle_seconds=round(idle, 1))
                self._watch_error("inactive")
                stream.close()
                return

    def _watch_error(self, reason: str) -> None:
        if self._m is not None:
            self._m.watch_errors(reason)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            # One faulty handler must neither stop the informer nor starve the other handlers.
            self._log.exception("informer.handler_error", handler=getattr(fn, "__qualname__", repr(fn)))


class _InformerMetrics:
    def __init__(self, metrics: RuntimeMetrics, resource: str) -> None:
        self._metrics = metrics
        self._resource = resource
        self.relists = metrics.informer_relists.labels(resource)
        self.watches = metrics.informer_watches.labels(resource)
        self.objects = metrics.informer_objects.labels(resource)
        self._events: dict[str, Any] = {}

    def event(self, event_type: str) -> None:
        child = self._events.get(event_type)
        if child is None:
            child = self._events[event_type] = self._metrics.informer_events.labels(
                self._resource, event_type
            )
        child.inc()

    def watch_errors(self, reason: str) -> None:
        self._metrics.informer_watch_errors.labels(self._resource, reason).inc()


class InformerFactory:
    """One shared :class:`Informer` per (resource, namespace, label selector, field selector).

    Informers requested before :meth:`start` start with it; those requested later start at once.
    """

    def __init__(
        self,
        client: Client,
        *,
        transform: Transform | None = None,
        options: InformerOptions | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.client = client
        self._transform = transform
        self._options = options
        self._metrics = metrics
        self._informers: dict[InformerKey, Informer] = {}
        self._started = False

    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
    ) -> Informer:
        """The shared informer for these parameters (created on first request); ``indexers`` are added."""
        key = InformerKey(
            resource, namespace if resource.namespaced else None, label_selector, field_selector
        )
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                self.client,
                resource,
                namespace=key.namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                transform=self._transform,
                options=self._options,
                metrics=self._metrics,
            )
            self._informers[key] = informer
            if self._started:
                informer.start()
        if indexers:
            informer.add_indexers(indexers)
        return informer

    def informers(self) -> list[Informer]:
        """Every informer created so far."""
        return list(self._informers.values())

    def start(self) -> None:
        """Starts every informer (and any created later)."""
        self._started = True
        for informer in self._informers.values():
            informer.start()

    def has_synced(self) -> bool:
        """True when every informer has synced."""
        return all(i.has_synced() for i in self._informers.values())

    async def wait_for_sync(self) -> None:
        """Waits until every informer has synced (bound it with ``asyncio.timeout``)."""
        for informer in list(self._informers.values()):
            await informer.wait_for_sync()

    async def stop(self) -> None:
        """Stops every informer."""
        self._started = False
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
