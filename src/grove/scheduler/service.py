"""The scheduler extender as a process: informers feeding the ledger, the HTTP extender with the real
binder, gang events on PodGangs, metrics and leader election, on a :class:`grove.runtime.Manager`.

::

    service = ExtenderService(client, ExtenderOptions(port=8888, leader_election=...))
    await service.run()                       # until SIGTERM (handle_signals) or cancellation

    await service.start(); service.url; await service.stop()     # embedded (grove dev, tests)

Lifecycle: the manager starts its metrics/health server (``/metrics``, ``/healthz``, ``/readyz`` on
``metrics_port``) and the leader election; the informers list, the ledger is loaded from them, the heap is
settled (:func:`settle_gc`), then the extender serves on ``port``. Every replica keeps its ledger current;
only the leader plans (see :class:`~grove.scheduler.extender.Extender` for what a standby answers) and
publishes gang events. A leader that loses its lease makes :meth:`run` raise ``LeaderElectionLost``: the
process exits and restarts, rebuilding its ledger from the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from grove import __version__
from grove.runtime.client import Client
from grove.runtime.informer import InformerOptions
from grove.runtime.leaderelection import LeaderElectionConfig
from grove.runtime.manager import Manager, ManagerOptions
from grove.scheduler.binder import api_binder
from grove.scheduler.extender import Extender
from grove.scheduler.feed import LedgerFeed
from grove.scheduler.gangevents import GangEventPublisher
from grove.scheduler.ledger import Ledger, LedgerConfig
from grove.scheduler.metrics import SchedulerMetrics
from grove.scheduler.server import ServerConfig, build_app, settle_gc, start

__all__ = ["EVENT_COMPONENT", "USER_AGENT", "ExtenderOptions", "ExtenderService"]

log = structlog.get_logger("grove.scheduler.service")

EVENT_COMPONENT = "grove-scheduler-extender"
# What the extender's API client sends as User-Agent (audit logs tell Grove's components apart by it).
USER_AGENT = f"grove-scheduler-extender/{__version__}"


@dataclass(frozen=True)
class ExtenderOptions:
    """How the extender runs. ``port``/``metrics_port`` 0 pick free ports; ``metrics_port`` None serves no
    metrics/health server."""

    host: str = "127.0.0.1"
    port: int = 8888
    metrics_host: str = "0.0.0.0"
    metrics_port: int | None = 8080
    server: ServerConfig = field(default_factory=ServerConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    leader_election: LeaderElectionConfig | None = None
    informer_options: InformerOptions | None = None
    handle_signals: bool = False
    process_metrics: bool = True
    settle_gc: bool = True
    """Freeze the heap after the initial load (see :func:`settle_gc`)."""
    sock: socket.socket | None = None
    """Serve on this bound socket instead of ``host:port`` (its port is known before the service starts)."""


class ExtenderService:
    """One extender replica against one cluster (the client is the caller's to close)."""

    def __init__(self, client: Client, options: ExtenderOptions | None = None) -> None:
        self.client = client
        self.options = opts = options or ExtenderOptions()
        self.manager = Manager(
            client,
            ManagerOptions(
                metrics_host=opts.metrics_host,
                metrics_port=opts.metrics_port,
                leader_election=opts.leader_election,
                informer_options=opts.informer_options,
                handle_signals=opts.handle_signals,
                process_metrics=opts.process_metrics,
            ),
        )
        self.metrics = SchedulerMetrics(self.manager.metrics.registry)
        self.ledger = Ledger(config=opts.ledger, metrics=self.metrics)
        self.feed = LedgerFeed(
            client, self.ledger, options=opts.informer_options, metrics=self.manager.metrics
        )
        self.ledger.on_event = GangEventPublisher(
            self.manager.event_recorder(EVENT_COMPONENT), self.feed.podgangs.store, self.is_active
        )
        self.extender = Extender(self.ledger, api_binder(client), self.metrics, standby=self.standby_reason)
        self.app = build_app(self.extender, opts.server)
        self.app.router.add_get("/readyz", self._readyz)
        self.manager.add_runnable("scheduler-extender", self._serve, need_leader_election=False)
        self.manager.add_ready_check("ledger-loaded", self.feed.has_synced)
        self.port: int | None = None
        self._serving = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ---- state -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The extender's URL prefix as kube-scheduler's ``urlPrefix`` names it (once serving)."""
        if self.port is None:
            raise RuntimeError("the extender is not serving yet")
        sock = self.options.sock
        host = str(sock.getsockname()[0]) if sock is not None else self.options.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        prefix = self.options.server.url_prefix.strip("/")
        return f"http://{host}:{self.port}" + (f"/{prefix}" if prefix else "")

    def is_active(self) -> bool:
        """True while this replica is the one that plans (it holds the lease, or runs without election)."""
        return self.manager.is_leader

    def standby_reason(self) -> str | None:
        """None while active; otherwise what filter tells gang pods."""
        if self.is_active():
            return None
        elector = self.manager.elector
        holder = (elector.observed_holder if elector is not None else "") or "none yet"
        identity = elector.config.identity if elector is not None else "?"
        return (
            f"grove scheduler extender {identity} is on standby (leader: {holder}); the pod will be retried"
        )

    async def _readyz(self, _: web.Request) -> web.Response:
        # For a Service in front of several replicas: only the active, loaded replica takes calls.
        if not self.feed.has_synced():
            return web.Response(status=503, text="ledger not loaded\n")
        reason = self.standby_reason()
        if reason is not None:
            return web.Response(status=503, text=reason + "\n")
        return web.Response(text="ok\n")

    # ---- running -----------------------------------------------------------------------------------------

    async def _serve(self) -> None:
        runner: web.AppRunner | None = None
        try:
            await self.feed.start()
            if self.options.settle_gc:
                settle_gc()
            runner, self.port = await start(
                self.app, self.options.host, self.options.port, sock=self.options.sock
            )
            self._serving.set()
            log.info("extender.serving", url=self.url, metrics_port=self.manager.port)
            await asyncio.Event().wait()  # until the manager cancels us at shutdown
        finally:
            if runner is not None:
                await runner.cleanup()
            await self.feed.stop()

    async def run(self) -> None:
        """Run until a stop is requested; raises ``LeaderElectionLost`` if the lease was lost."""
        await self.manager.run()

    async def start(self) -> None:
        """Run in the background and return once the extender serves; raises what made it fail first."""
        if self._task is not None:
            raise RuntimeError("already started")
        self._task = asyncio.create_task(self.run(), name="scheduler-extender")
        serving = asyncio.create_task(self._serving.wait())
        try:
            await asyncio.wait({self._task, serving}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            serving.cancel()
        if self._task.done():
            self._task.result()
            raise RuntimeError("the extender stopped before serving")

    async def stop(self) -> None:
        """Stop what :meth:`start` started (gracefully: the lease is released)."""
        task, self._task = self._task, None
        if task is None:
            return
        self.manager.request_stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
