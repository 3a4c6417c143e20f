"""Controllers: watches feed requests into a rate-limited workqueue; workers call the reconcile function.

The reconcile contract is controller-runtime's (``reconcileHandler``), exactly:

======================================  ==============================================  ==================
reconcile outcome                       queue                                           ``result`` label
======================================  ==============================================  ==================
raises (not :class:`TerminalError`)     ``add_rate_limited`` (any Result is ignored)    ``error``
raises :class:`TerminalError`           nothing; terminal error counted                 ``error``
raises :class:`NamespaceTerminating`    ``forget``; logged at debug level only          ``success``
``Result(requeue_after=d)``, d > 0      ``forget`` then ``add_after(d)``                ``requeue_after``
``Result(requeue=True)``                ``add_rate_limited``                            ``requeue``
anything else (``None``, ``Result()``)  ``forget``                                      ``success``
======================================  ==============================================  ==================

Every exception a reconcile raises is caught, logged with its traceback and counted as an error (the
equivalent of controller-runtime's recovered panics); it never kills a worker. The exception is a create
refused because the request's namespace is being deleted (:class:`NamespaceTerminating`): as Kubernetes'
own controllers do, that reconcile is over, since the namespace's deletion removes the object and a
retry could only fail again. A key is never reconciled by two workers at once (the workqueue guarantees it).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import structlog

from grove.runtime.cache import DeletedFinalStateUnknown, unwrap_tombstone
from grove.runtime.errors import NamespaceTerminating
from grove.runtime.informer import EventHandler
from grove.runtime.meta import Obj, api_group_of, metadata, name_of, namespace_of
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.predicates import Predicate
from grove.runtime.ratelimit import RateLimiter
from grove.runtime.resources import Resource
from grove.runtime.workqueue import RateLimitingQueue, ShutDown

log = structlog.get_logger(__name__)


class Request(NamedTuple):
    """What to reconcile: the namespace ("" if cluster-scoped) and name of the primary object."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class Result:
    """What a reconcile asks for next. ``requeue_after`` (seconds) wins over ``requeue``."""

    requeue_after: float = 0.0
    requeue: bool = False
    """Deprecated in controller-runtime (v0.21): prefer raising, or ``requeue_after``."""


class TerminalError(Exception):
    """Raised by a reconcile for an error retrying cannot fix: logged and counted, but not requeued."""


Reconcile = Callable[[Request], Awaitable[Result | None]]
"""A reconcile function: ``async def reconcile(req: Request) -> Result | None``."""

Mapper = Callable[[Obj], Iterable[Request]]
"""Maps a watched object to the requests it should trigger."""


class Registration(Protocol):
    """What a source returns for a registered handler."""

    def has_synced(self) -> bool:
        """True once the handler has seen the source's initial state."""
        ...


class Source(Protocol):
    """Something that delivers object events to handlers: an :class:`~grove.runtime.informer.Informer`."""

    def add_event_handler(self, handler: EventHandler) -> Any:
        """Registers a handler; returns a registration."""
        ...

    def remove_event_handler(self, registration: Any) -> None:
        """Unregisters a handler."""
        ...

    async def wait_for_sync(self) -> None:
        """Waits until the source has delivered its initial state."""
        ...


def request_for_object(obj: Obj) -> Iterable[Request]:
    """The request for the object itself (``EnqueueRequestForObject``)."""
    return (Request(namespace_of(obj), name_of(obj)),)


def requests_for_owner(owner: Resource, *, only_controller: bool = True) -> Mapper:
    """Maps an object to its owner of ``owner``'s group and kind (``EnqueueRequestForOwner``).

    By default only the ``controller: true`` reference counts (``OnlyControllerOwner``, what ``Owns`` does).
    """

    def mapper(obj: Obj) -> Iterable[Request]:
        ns = namespace_of(obj) if owner.namespaced else ""
        out = []
        for ref in metadata(obj).get("ownerReferences") or ():
            if only_controller and not ref.get("controller"):
                continue
            if ref.get("kind") == owner.kind and api_group_of(str(ref.get("apiVersion", ""))) == owner.group:
                out.append(Request(ns, str(ref.get("name", ""))))
        return out

    return mapper


class _EnqueueHandler:
    """Turns informer events into queue adds, through predicates and a mapper."""

    def __init__(
        self,
        queue: RateLimitingQueue[Request],
        mapper: Mapper,
        predicates: tuple[Predicate, ...],
        map_old_on_update: bool,
    ) -> None:
        self._queue = queue
        self._mapper = mapper
        self._predicates = predicates
        self._map_old = map_old_on_update

    def on_add(self, obj: Obj, is_initial_list: bool) -> None:
        if all(p.create(obj) for p in self._predicates):
            for req in self._mapper(obj):
                self._queue.add(req)

    def on_update(self, old: Obj, new: Obj) -> None:
        if not all(p.update(old, new) for p in self._predicates):
            return
        if self._map_old:
            for req in self._mapper(old):
                self._queue.add(req)
        for req in self._mapper(new):
            self._queue.add(req)

    def on_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        last = unwrap_tombstone(obj)
        if all(p.delete(last) for p in self._predicates):
            for req in self._mapper(last):
                self._queue.add(req)


@dataclass
class _Watch:
    source: Source
    handler: _EnqueueHandler
    registration: Any = None


class Controller:
    """A named controller: watches, a workqueue of :class:`Request` and ``max_concurrent_reconciles`` workers.

    Declare watches with :meth:`for_`, :meth:`owns` and :meth:`watches` before :meth:`start`.
    """

    def __init__(
        self,
        name: str,
        reconcile: Reconcile,
        *,
        max_concurrent_reconciles: int = 1,
        rate_limiter: RateLimiter | None = None,
        reconcile_timeout: float | None = None,
        cache_sync_timeout: float = 120.0,
        need_leader_election: bool = True,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        if not name:
            raise ValueError("Controller.name: must not be empty")
        if max_concurrent_reconciles < 1:
            raise ValueError(f"max_concurrent_reconciles: must be >= 1, got {max_concurrent_reconciles}")
        if reconcile_timeout is not None and reconcile_timeout <= 0:
            raise ValueError(f"reconcile_timeout: must be > 0 seconds, got {reconcile_timeout}")
        self.name = name
        self.reconcile = reconcile
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.reconcile_timeout = reconcile_timeout
        self.cache_sync_timeout = cache_sync_timeout
        self.need_leader_election = need_leader_election
        self.queue: RateLimitingQueue[Request] = RateLimitingQueue(
            name, rate_limiter=rate_limiter, metrics=metrics, controller=name
        )
        self._watches: list[_Watch] = []
        self._workers: list[asyncio.Task[None]] = []
        self._started = False
        self._stopping = False
        self._in_flight = 0
        self._log = log.bind(controller=name)
        self._m = (
            _ControllerMetrics(metrics, name, max_concurrent_reconciles) if metrics is not None else None
        )

    # ---- declaring watches -------------------------------------------------------------------------------

    def for_(self, source: Source, *predicates: Predicate) -> Controller:
        """Watches the primary kind: each event enqueues the object's own key."""
        return self._add_watch(source, request_for_object, predicates, map_old=False)

    def owns(
        self, source: Source, owner: Resource, *predicates: Predicate, match_every_owner: bool = False
    ) -> Controller:
        """Watches an owned kind: each event enqueues the object's controller owner of kind ``owner``."""
        mapper = requests_for_owner(owner, only_controller=not match_every_owner)
        return self._add_watch(source, mapper, predicates, map_old=True)

    def watches(self, source: Source, mapper: Mapper, *predicates: Predicate) -> Controller:
        """Watches anything: ``mapper`` turns each object (old and new on updates) into requests."""
        return self._add_watch(source, mapper, predicates, map_old=True)

    def _add_watch(
        self, source: Source, mapper: Mapper, predicates: tuple[Predicate, ...], *, map_old: bool
    ) -> Controller:
        if self._started:
            raise RuntimeError(f"controller {self.name}: watches must be declared before start()")
        self._watches.append(_Watch(source, _EnqueueHandler(self.queue, mapper, predicates, map_old)))
        return self

    # ---- running -----------------------------------------------------------------------------------------

    def enqueue(self, request: Request, after: float = 0.0) -> None:
        """Queues a reconcile of ``request`` from outside the watches (optionally after ``after`` seconds)."""
        if after > 0:
            self.queue.add_after(request, after)
        else:
            self.queue.add(request)

    @property
    def started(self) -> bool:
        """True once :meth:`start` has begun."""
        return self._started

    async def start(self) -> None:
        """Registers the watch handlers, waits for the sources to sync, then starts the workers.

        Raises TimeoutError if the sources did not sync within ``cache_sync_timeout``.
        """
        if self._started:
            raise RuntimeError(f"controller {self.name}: already started")
        if not self._watches:
            raise RuntimeError(f"controller {self.name}: no watches declared (call for_/owns/watches)")
        self._started = True
        for watch in self._watches:
            watch.registration = watch.source.add_event_handler(watch.handler)
        self._log.info("controller.starting", watches=len(self._watches))
        try:
            async with asyncio.timeout(self.cache_sync_timeout):
                for watch in self._watches:
                    await watch.source.wait_for_sync()
        except TimeoutError:
            raise TimeoutError(f"controller {self.name}: timed out waiting for caches to sync") from None
        self._workers = [
            asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
            for i in range(self.max_concurrent_reconciles)
        ]
        self._log.info("controller.started", workers=self.max_concurrent_reconciles)

    async def stop(self, grace_period: float | None = 30.0) -> None:
        """Stops taking work, lets in-flight reconciles finish (cancelling them after ``grace_period``)."""
        if self._stopping:
            return
        self._stopping = True
        for watch in self._watches:
            if watch.registration is not None:
                watch.source.remove_event_handler(watch.registration)
        self.queue.shut_down()
        if not self._workers:
            return
        self._log.info("controller.stopping", in_flight=self._in_flight)
        _, pending = await asyncio.wait(self._workers, timeout=grace_period)
        for task in pending:
            task.cancel()
        if pending:
            self._log.warning("controller.reconciles_cancelled", count=len(pending))
            await asyncio.wait(pending)
        self._log.info("controller.stopped")

    async def _worker(self) -> None:
        queue = self.queue
        while True:
            try:
                req = await queue.get()
            except ShutDown:
                return
            if self._stopping:
                # Shutting down: leave queued work to the next leader.
                queue.done(req)
                return
            m = self._m
            if m is not None:
                m.active.inc()
            self._in_flight += 1
            try:
                await self._reconcile_handler(req)
            finally:
                self._in_flight -= 1
                if m is not None:
                    m.active.dec()
                queue.done(req)

    async def _reconcile_handler(self, req: Request) -> None:
        m = self._m
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(
            controller=self.name, namespace=req.namespace, name=req.name, reconcile_id=uuid.uuid4().hex[:16]
        ):
            try:
                result = await self._call_reconcile(req)
            except TerminalError as exc:
                if m is not None:
                    m.terminal_errors.inc()
                    m.errors.inc()
                    m.total_error.inc()
                log.error("reconcile.terminal_error", error=str(exc), exc_info=exc)
            except NamespaceTerminating as exc:
                self.queue.forget(req)
                if m is not None:
                    m.total_success.inc()
                log.debug("reconcile.namespace_terminating", error=str(exc))
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the worker itself is being cancelled (controller stopping)
                # A CancelledError leaking out of the reconcile's own tasks is just another error.
                self._record_error(req, exc)
            except Exception as exc:
                self._record_error(req, exc)
            else:
                if result.requeue_after > 0:
                    self.queue.forget(req)
                    self.queue.add_after(req, result.requeue_after)
                    if m is not None:
                        m.total_requeue_after.inc()
                elif result.requeue:
                    self.queue.add_rate_limited(req)
                    if m is not None:
                        m.total_requeue.inc()
                else:
                    self.queue.forget(req)
                    if m is not None:
                        m.total_success.inc()
            finally:
                if m is not None:
                    m.time.observe(time.perf_counter() - started)

    def _record_error(self, req: Request, exc: BaseException) -> None:
        self.queue.add_rate_limited(req)
        m = self._m
        if m is not None:
            m.errors.inc()
            m.total_error.inc()
            if isinstance(exc, _ReconcileTimeout):
                m.timeouts.inc()
        log.error(
            "reconcile.error",
            error=str(exc) or type(exc).__name__,
            requeues=self.queue.num_requeues(req),
            exc_info=exc,
        )

    async def _call_reconcile(self, req: Request) -> Result:
        if self.reconcile_timeout is None:
            return await self.reconcile(req) or Result()
        try:
            async with asyncio.timeout(self.reconcile_timeout) as scope:
                return await self.reconcile(req) or Result()
        except TimeoutError:
            if scope.expired():
                raise _ReconcileTimeout(f"reconcile timed out after {self.reconcile_timeout}s") from None
            raise


class _ReconcileTimeout(Exception):
    """The controller's ``reconcile_timeout`` elapsed."""


class _ControllerMetrics:
    def __init__(self, metrics: RuntimeMetrics, name: str, workers: int) -> None:
        self.total_success = metrics.reconcile_total.labels(name, "success")
        self.total_error = metrics.reconcile_total.labels(name, "error")
        self.total_requeue = metrics.reconcile_total.labels(name, "requeue")
        self.total_requeue_after = metrics.reconcile_total.labels(name, "requeue_after")
        self.errors = metrics.reconcile_errors.labels(name)
        self.terminal_errors = metrics.terminal_reconcile_errors.labels(name)
        self.timeouts = metrics.reconcile_timeouts.labels(name)
        self.time = metrics.reconcile_time.labels(name)
        self.active = metrics.active_workers.labels(name)
        metrics.max_concurrent_reconciles.labels(name).set(workers)
        self.active.set(0)
