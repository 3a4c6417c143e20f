"""aiohttp server for the extender: ``POST <prefix>/<verb>`` for filter, prioritize and bind, plus
``GET /metrics`` and ``GET /healthz``; a background task releases expired plans.

The wiring layer (``grove scheduler-extender``) builds a :class:`~grove.scheduler.ledger.Ledger`, feeds it
from informers, wraps it in an :class:`~grove.scheduler.extender.Extender` with the real binder, and calls
:func:`build_app` and :func:`start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from grove.scheduler.extender import Extender, ProtocolError
from grove.scheduler.metrics import OUTCOMES

__all__ = ["ServerConfig", "build_app", "settle_gc", "start"]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """URL layout (must match the KubeSchedulerConfiguration's ``urlPrefix`` and verbs) and housekeeping."""

    url_prefix: str = "/scheduler"
    filter_verb: str = "filter"
    prioritize_verb: str = "prioritize"
    bind_verb: str = "bind"
    expiry_interval: float = 1.0
    max_body_bytes: int = 64 * 1024 * 1024  # a NodeList of 5,000 full nodes is tens of megabytes


def _json(body: Any, status: int = 200) -> web.Response:
    # orjson: a filter answer for 5,000 nodes is ~250 kB; the stdlib encoder alone takes ~1 ms of the budget.
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def settle_gc() -> None:
    """Move every object alive now out of the cyclic collector's reach (``gc.freeze``).

    Call once the informers' initial lists are loaded: the ledger's long-lived heap (every node and pod)
    otherwise makes each full collection stall an extender call for tens of milliseconds.
    """
    gc.collect()
    gc.freeze()


def build_app(extender: Extender, config: ServerConfig | None = None) -> web.Application:
    """The aiohttp application serving ``extender``."""
    cfg = config or ServerConfig()
    app = web.Application(client_max_size=cfg.max_body_bytes)
    metrics = extender.metrics
    prefix = "/" + cfg.url_prefix.strip("/") if cfg.url_prefix.strip("/") else ""

    def route(verb: str, path: str, handler: Callable[[Any], Awaitable[Any]]) -> None:
        async def serve(request: web.Request) -> web.Response:
            started = time.perf_counter()
            outcome = "ok"
            try:
                try:
                    args = orjson.loads(await request.read())
                except orjson.JSONDecodeError as e:
                    outcome = "error"
                    return _json({"Error": f"request body is not JSON: {e}"}, 400)
                if not isinstance(args, dict):
                    outcome = "error"
                    return _json({"Error": "request body must be a JSON object"}, 400)
                try:
                    body = await handler(args)
                except ProtocolError as e:
                    outcome = "error"
                    body = {"Error": str(e)}
                if isinstance(body, dict) and body.get("Error"):
                    # A filter result carrying an Error is a gang not ready yet (or a standby): retried by
                    # kube-scheduler, not a failure of the call.
                    outcome = "retry" if "FailedNodes" in body else "error"
                return _json(body)
            finally:
                if metrics is not None:
                    metrics.request_seconds.labels(verb).observe(time.perf_counter() - started)
                    metrics.requests.labels(verb, outcome).inc()

        app.router.add_post(f"{prefix}/{path}", serve)
        if metrics is not None:
            # Every series exists from the start at 0: rate() cannot see the increase that creates a
            # series, so an alert on errors would miss a verb's first failure.
            metrics.request_seconds.labels(verb)
            for each in OUTCOMES:
                metrics.requests.labels(verb, each)

    async def do_filter(args: Any) -> Any:
        return extender.filter(args)

    async def do_prioritize(args: Any) -> Any:
        return extender.prioritize(args)

    if cfg.filter_verb:
        route("filter", cfg.filter_verb, do_filter)
    if cfg.prioritize_verb:
        route("prioritize", cfg.prioritize_verb, do_prioritize)
    if cfg.bind_verb:
        route("bind", cfg.bind_verb, extender.bind)

    async def metrics_page(_: web.Request) -> web.Response:
        if metrics is None:
            return web.Response(status=404, text="metrics are not enabled\n")
        resp = web.Response(body=generate_latest(metrics.registry))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", healthz)

    async def expiry(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(cfg.expiry_interval)
                extender.ledger.expire()

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(expiry)
    return app


async def start(
    app: web.Application, host: str = "0.0.0.0", port: int = 8888, *, sock: socket.socket | None = None
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port``, or on an already bound ``sock`` (its address must be known before
    the server starts, e.g. to write a scheduler configuration); returns the runner (``await
    runner.cleanup()`` stops it) and the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site: web.BaseSite = web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, host, port)
    await site.start()
    address = runner.addresses[0]
    return runner, int(address[1])
