"""The manager: owns the client, the shared informers, the controllers, leader election, events and the
metrics/health server, and runs them with controller-runtime's lifecycle.

- Informers (caches) run on every replica, leader or not, so a standby has warm caches when it takes over.
- Controllers (and runnables that need leader election) start only once this replica holds the lease.
- ``/metrics``, ``/healthz`` and ``/readyz`` are served on every replica, on the manager's own port.
- Graceful stop (SIGTERM with ``handle_signals``, or :meth:`Manager.request_stop`): controllers stop taking
  work and finish in-flight reconciles (up to ``graceful_shutdown_timeout``), then the lease is released,
  then events are flushed, informers and the server stopped.
- **Losing the lease** (renewals failing for ``renew_deadline``) stops the controllers and makes
  :meth:`Manager.run` raise :class:`LeaderElectionLost`, as controller-runtime's manager returns
  "leader election lost": the process is expected to exit non-zero and be restarted by Kubernetes. A
  manager is not restarted in place.

Nothing here is process-global: several managers can run in one process (each with its own metrics
registry, port and lease identity).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from grove.runtime.cache import IndexFunc
from grove.runtime.client import Client
from grove.runtime.controller import Controller, Reconcile
from grove.runtime.events import EventBroadcaster, EventRecorder
from grove.runtime.informer import Informer, InformerFactory, InformerOptions, Transform, strip_managed_fields
from grove.runtime.leaderelection import LeaderElectionConfig, LeaderElector
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.resources import Resource

log = structlog.get_logger(__name__)

Check = Callable[[], bool | Awaitable[bool]]
"""A health or readiness check: returns True when healthy (may be async)."""

Runnable = Callable[[], Awaitable[None]]
"""A long-running coroutine function; the manager cancels it on stop."""


class LeaderElectionLost(Exception):
    """The manager lost its lease; the process should exit and be restarted."""


@dataclass
class ManagerOptions:
    """How a manager runs. ``metrics_port`` 0 picks a free port; None serves nothing."""

    metrics_host: str = "0.0.0.0"
    metrics_port: int | None = 8080
    leader_election: LeaderElectionConfig | None = None
    graceful_shutdown_timeout: float = 30.0
    cache_sync_timeout: float = 120.0
    informer_options: InformerOptions | None = None
    informer_transform: Transform | None = strip_managed_fields
    """Applied to every cached object; the default drops managedFields to save memory."""
    handle_signals: bool = False
    """Install SIGTERM/SIGINT handlers that request a graceful stop (only in a program's main loop)."""
    process_metrics: bool = True
    """Also export process_* / python_* metrics (RSS, CPU, GC) in this manager's registry."""
    event_host: str = ""
    """The ``source.host`` of recorded events (default: the hostname)."""


@dataclass
class _RunnableSpec:
    name: str
    fn: Runnable
    need_leader_election: bool
    task: asyncio.Task[None] | None = None


class Manager:
    """Runs controllers against one cluster. Build it, add controllers, then ``await manager.run()``."""

    def __init__(
        self, client: Client, options: ManagerOptions | None = None, *, metrics: RuntimeMetrics | None = None
    ) -> None:
        self.client = client
        self.options = options or ManagerOptions()
        self.metrics = metrics if metrics is not None else RuntimeMetrics()
        if client.metrics is None:
            client.metrics = self.metrics
        if self.options.process_metrics:
            ProcessCollector(registry=self.metrics.registry)
            PlatformCollector(registry=self.metrics.registry)
            GCCollector(registry=self.metrics.registry)
        self.informers = InformerFactory(
            client,
            transform=self.options.informer_transform,
            options=self.options.informer_options,
            metrics=self.metrics,
        )
        self.events = EventBroadcaster(client, metrics=self.metrics, host=self.options.event_host)
        le = self.options.leader_election
        self.elector = LeaderElector(client, le, metrics=self.metrics) if le is not None else None
        self._controllers: dict[str, Controller] = {}
        self._runnables: list[_RunnableSpec] = []
        self._health_checks: dict[str, Check] = {"ping": lambda: True}
        self._ready_checks: dict[str, Check] = {"informers-synced": self.informers.has_synced}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._election_task: asyncio.Task[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._started = False
        self._stopped = False
        self._leading = asyncio.Event()
        self._leader_start: asyncio.Task[None] | None = None
        self._leader_stop: asyncio.Task[None] | None = None
        self._log = log.bind(identity=le.identity if le else None)

    # ---- building --------------------------------------------------------------------------------------

    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
    ) -> Informer:
        """The shared informer for these parameters (see :class:`InformerFactory`)."""
        return self.informers.informer(
            resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            indexers=indexers,
        )

    def new_controller(self, name: str, reconcile: Reconcile, **kwargs: Any) -> Controller:
        """Creates a controller wired to this manager's metrics, registers it and returns it for watches."""
        kwargs.setdefault("cache_sync_timeout", self.options.cache_sync_timeout)
        controller = Controller(name, reconcile, metrics=self.metrics, **kwargs)
        self.add_controller(controller)
        return controller

    def add_controller(self, controller: Controller) -> None:
        """Registers a controller built elsewhere (names must be unique per manager)."""
        if controller.name in self._controllers:
            raise ValueError(f"controller name {controller.name!r}: already registered with this manager")
        if self._started:
            raise RuntimeError("controllers must be added before the manager starts")
        self._controllers[controller.name] = controller

    def add_runnable(self, name: str, fn: Runnable, *, need_leader_election: bool = True) -> None:
        """Runs ``fn()`` as a task: only while leading when ``need_leader_election``, else from start."""
        if self._started:
            raise RuntimeError("runnables must be added before the manager starts")
        self._runnables.append(_RunnableSpec(name, fn, need_leader_election))

    def event_recorder(self, component: str) -> EventRecorder:
        """An event recorder for ``component`` (events are written by this manager's broadcaster)."""
        return self.events.recorder(component)

    def add_health_check(self, name: str, check: Check) -> None:
        """Adds a check to ``/healthz``."""
        self._health_checks[name] = check

    def add_ready_check(self, name: str, check: Check) -> None:
        """Adds a check to ``/readyz``."""
        self._ready_checks[name] = check

    @property
    def controllers(self) -> list[Controller]:
        """The registered controllers."""
        return list(self._controllers.values())

    @property
    def port(self) -> int | None:
        """The port ``/metrics`` is served on (once started)."""
        return self._port

    @property
    def stopping(self) -> bool:
        """True once a stop was requested or the manager failed (its shutdown may still be running)."""
        return self._done is not None and self._done.done()

    @property
    def is_leader(self) -> bool:
        """True while this manager runs its leader-only work."""
        return self._leading.is_set()

    async def wait_leading(self) -> None:
        """Waits until this manager is leading (bound it with ``asyncio.timeout``)."""
        await self._leading.wait()

    # ---- running ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts everything and returns; leader-only work starts when the lease is acquired."""
        if self._started:
            raise RuntimeError("manager already started")
        self._started = True
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        if self.options.handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        if self.options.metrics_port is not None:
            await self._start_server()
        self.events.start()
        self.informers.start()
        if any(not c.need_leader_election for c in self._controllers.values()):
            self._runnables.insert(
                0, _RunnableSpec("controllers-without-leader-election", self._run_free_controllers, False)
            )
        for spec in self._runnables:
            if not spec.need_leader_election:
                self._start_runnable(spec)
        self._election_task = asyncio.create_task(self._lead(), name="manager-lead")
        self._log.info("manager.started", port=self._port, controllers=list(self._controllers))

    async def run(self) -> None:
        """Starts, runs until a stop is requested, then shuts down gracefully.

        Raises :class:`LeaderElectionLost` if the lease was lost, or the error that made the manager fail
        (e.g. a controller whose caches never synced).
        """
        await self.start()
        assert self._done is not None
        try:
            await asyncio.shield(self._done)
        finally:
            # Also on cancellation: shut down gracefully, then let the CancelledError through.
            await self.shutdown()

    def request_stop(self) -> None:
        """Asks :meth:`run` to shut down gracefully (safe to call from a signal handler)."""
        if self._done is not None and not self._done.done():
            self._log.info("manager.stop_requested")
            self._done.set_result(None)

    async def shutdown(self) -> None:
        """Stops everything in order: controllers (draining), runnables, lease, events, informers, server."""
        if self._stopped:
            return
        self._stopped = True
        if self.options.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        # While leader work drains, the election task keeps renewing the lease (as controller-runtime
        # does), so no other replica starts reconciling before our in-flight reconciles are done.
        if not self._leading.is_set():
            await self._cancel_election()
        await self._stop_leader_work()
        await self._cancel_election()
        for spec in self._runnables:  # includes the task starting the controllers without leader election
            await self._cancel(spec)
        await self._stop_controllers(leader=False)
        if self.elector is not None and self.elector.is_leader and self.elector.config.release_on_cancel:
            await self.elector.release()
        await self.events.stop()
        await self.informers.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._log.info("manager.stopped")

    async def _lead(self) -> None:
        try:
            if self.elector is not None:
                await self.elector.acquire()
            await self._start_leader_work()
            if self.elector is None:
                return
            await self.elector.hold()
            self._log.error("manager.leader_election_lost")
            await self._stop_leader_work()
            self._fail(LeaderElectionLost("leader election lost"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log.exception("manager.failed")
            self._fail(exc)

    async def _start_leader_work(self) -> None:
        self._leading.set()
        for spec in self._runnables:
            if spec.need_leader_election:
                self._start_runnable(spec)
        # A task of its own, so a stop during start-up can cancel it before stopping what did start.
        self._leader_start = asyncio.create_task(self._start_controllers(leader=True))
        await self._leader_start

    async def _stop_leader_work(self) -> None:
        # Shutdown and a lost lease may both ask at once: both wait for the same stop.
        if self._leader_stop is None:
            if not self._leading.is_set():
                return
            self._leading.clear()
            self._leader_stop = asyncio.create_task(self._do_stop_leader_work())
        await asyncio.shield(self._leader_stop)

    async def _do_stop_leader_work(self) -> None:
        starting = self._leader_start
        if starting is not None and not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        await self._stop_controllers(leader=True)
        for spec in self._runnables:
            if spec.need_leader_election:
                await self._cancel(spec)

    async def _cancel_election(self) -> None:
        task = self._election_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_free_controllers(self) -> None:
        await self._start_controllers(leader=False)

    async def _start_controllers(self, *, leader: bool) -> None:
        """Starts the controllers that need leader election (``leader``) or those that do not."""
        chosen = [c for c in self._controllers.values() if c.need_leader_election == leader]
        await asyncio.gather(*(c.start() for c in chosen))

    async def _stop_controllers(self, *, leader: bool) -> None:
        grace = self.options.graceful_shutdown_timeout
        chosen = [c for c in self._controllers.values() if c.need_leader_election == leader and c.started]
        await asyncio.gather(*(c.stop(grace) for c in chosen))

    def _start_runnable(self, spec: _RunnableSpec) -> None:
        async def run() -> None:
            try:
                await spec.fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log.exception("manager.runnable_failed", runnable=spec.name)
                self._fail(exc)

        spec.task = asyncio.create_task(run(), name=f"runnable:{spec.name}")

    async def _cancel(self, spec: _RunnableSpec) -> None:
        task, spec.task = spec.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _fail(self, exc: BaseException) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)

    # ---- metrics and health server -----------------------------------------------------------------------

    async def _start_server(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/healthz", self._serve_healthz)
        app.router.add_get("/readyz", self._serve_readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.metrics_host, self.options.metrics_port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1] if sockets else self.options.metrics_port

    async def _serve_metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _serve_healthz(self, request: web.Request) -> web.Response:
        return await self._run_checks(self._health_checks, request)

    async def _serve_readyz(self, request: web.Request) -> web.Response:
        return await self._run_checks(self._ready_checks, request)

    async def _run_checks(self, checks: Mapping[str, Check], request: web.Request) -> web.Response:
        done = self._done
        failed = done is not None and done.done() and not done.cancelled() and done.exception() is not None
        lines = []
        ok = not failed
        if failed:
            lines.append("[-]manager failed")
        for name, check in checks.items():
            try:
                result = check()
                passed = bool(await result) if inspect.isawaitable(result) else bool(result)
            except Exception:
                passed = False
            ok = ok and passed
            lines.append(f"[{'+' if passed else '-'}]{name} {'ok' if passed else 'failed'}")
        verbose = "verbose" in request.query
        text = "\n".join(lines) + "\n" if verbose or not ok else "ok"
        return web.Response(status=200 if ok else 500, text=text)
