"""Kubernetes Events (core/v1) with client-go's recorder behaviour, never blocking the caller.

``EventRecorder.event(obj, type, reason, message)`` is a plain call that queues the event; an
:class:`EventBroadcaster` task writes it. As client-go's ``EventCorrelator``:

- *dedup*: an event identical to one already written (same source, involved object, type, reason and
  message) patches the existing Event's ``count`` and ``lastTimestamp`` instead of creating a new one; if that
  Event is gone (expired), it is created again with the running count;
- *spam filter*: per source and involved object, a token bucket of 25 events refilled at one per 5 minutes;
  events beyond it are dropped.

Message aggregation of "similar" events (same reason, different messages) is not implemented. Dropped events
are counted in ``event_recorder_dropped_events_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from grove.runtime.client import Client, PatchType
from grove.runtime.errors import NamespaceTerminating, NotFound
from grove.runtime.meta import metadata
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.ratelimit import TokenBucket
from grove.runtime.resources import EVENTS

log = structlog.get_logger(__name__)

NORMAL = "Normal"
WARNING = "Warning"

_MAX_CACHE = 4096
_SPAM_BURST = 25
_SPAM_QPS = 1.0 / 300.0
_MAX_MESSAGE = 1024


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class _Pending:
    component: str
    host: str
    involved: dict[str, Any]
    type: str
    reason: str
    message: str
    timestamp: str


@dataclass(slots=True)
class _Seen:
    name: str
    namespace: str
    count: int
    first_timestamp: str


class EventRecorder:
    """Records events for one component (e.g. "podclique-controller"); obtained from a broadcaster."""

    def __init__(self, broadcaster: EventBroadcaster, component: str, host: str) -> None:
        self._broadcaster = broadcaster
        self.component = component
        self.host = host

    def event(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """Queues an event about ``obj``; returns at once. ``event_type`` is ``Normal`` or ``Warning``."""
        if event_type not in (NORMAL, WARNING):
            raise ValueError(f"event_type: must be {NORMAL!r} or {WARNING!r}, got {event_type!r}")
        if not reason:
            raise ValueError("reason: must not be empty")
        md = metadata(obj)
        involved = {
            "apiVersion": obj.get("apiVersion", ""),
            "kind": obj.get("kind", ""),
            "name": md.get("name", ""),
            "namespace": md.get("namespace", ""),
            "uid": md.get("uid", ""),
            "resourceVersion": md.get("resourceVersion", ""),
        }
        if not involved["name"] or not involved["kind"]:
            raise ValueError("obj: kind and metadata.name are required to record an event")
        self._broadcaster.submit(
            _Pending(self.component, self.host, involved, event_type, reason, message[:_MAX_MESSAGE], _now())
        )

    def normal(self, obj: Mapping[str, Any], reason: str, message: str) -> None:
        """Queues a ``Normal`` event."""
        self.event(obj, NORMAL, reason, message)

    def warning(self, obj: Mapping[str, Any], reason: str, message: str) -> None:
        """Queues a ``Warning`` event."""
        self.event(obj, WARNING, reason, message)


class EventBroadcaster:
    """Writes queued events to the API server from one background task (``start``/``stop``)."""

    def __init__(
        self, client: Client, *, metrics: RuntimeMetrics | None = None, queue_size: int = 1000, host: str = ""
    ) -> None:
        self.client = client
        self.host = host or socket.gethostname()
        self._metrics = metrics
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=queue_size)
        self._seen: OrderedDict[tuple[Any, ...], _Seen] = OrderedDict()
        self._spam: dict[tuple[Any, ...], TokenBucket] = {}
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def recorder(self, component: str) -> EventRecorder:
        """A recorder whose events name ``component`` as their source."""
        if not component:
            raise ValueError("component: must not be empty")
        return EventRecorder(self, component, self.host)

    def submit(self, pending: _Pending) -> None:
        """Queues an event (drops it, counted, if the queue is full)."""
        try:
            self._queue.put_nowait(pending)
            self._idle.clear()
        except asyncio.QueueFull:
            self._dropped(pending.component)

    def start(self) -> None:
        """Starts the writer task (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-broadcaster")

    async def flush(self) -> None:
        """Waits until every queued event has been written (or dropped)."""
        await self._idle.wait()

    async def stop(self, grace_period: float = 5.0) -> None:
        """Writes what is queued (for at most ``grace_period`` seconds), then stops."""
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_period):
                await self.flush()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await self._write(pending)
            except asyncio.CancelledError:
                raise
            except NamespaceTerminating as exc:
                # As client-go's recorder: expected while a namespace goes away, so not worth a warning.
                self._dropped(pending.component)
                log.debug("event.write_failed", reason=pending.reason, error=str(exc))
            except Exception as exc:
                self._dropped(pending.component)
                log.warning("event.write_failed", reason=pending.reason, error=str(exc))
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def _write(self, ev: _Pending) -> None:
        inv = ev.involved
        source = (
            ev.component,
            ev.host,
            inv["kind"],
            inv["namespace"],
            inv["name"],
            inv["uid"],
            inv["apiVersion"],
        )
        bucket = self._spam.get(source)
        if bucket is None:
            if len(self._spam) >= _MAX_CACHE:
                self._spam.clear()
            bucket = self._spam[source] = TokenBucket(_SPAM_QPS, _SPAM_BURST)
        if bucket.reserve() > 0:
            self._dropped(ev.component)
            log.debug("event.spam_filtered", reason=ev.reason, object=inv["name"])
            return
        key = (*source, ev.type, ev.reason, ev.message)
        seen = self._seen.get(key)
        if seen is not None:
            self._seen.move_to_end(key)
            seen.count += 1
            patch = {"count": seen.count, "lastTimestamp": ev.timestamp, "message": ev.message}
            try:
                await self.client.patch(EVENTS, seen.name, patch, seen.namespace, patch_type=PatchType.MERGE)
                return
            except NotFound:
                pass  # expired (events have a TTL): create it again, keeping the count
            first, count = seen.first_timestamp, seen.count
        else:
            first, count = ev.timestamp, 1
        namespace = inv["namespace"] or "default"
        name = f"{inv['name']}.{time.time_ns():x}"
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {k: v for k, v in inv.items() if v},
            "reason": ev.reason,
            "message": ev.message,
            "type": ev.type,
            "source": {"component": ev.component, "host": ev.host},
            "reportingComponent": ev.component,
            "reportingInstance": ev.host,
            "firstTimestamp": first,
            "lastTimestamp": ev.timestamp,
            "count": count,
        }
        created = await self.client.create(EVENTS, body, namespace)
        self._seen[key] = _Seen(str(metadata(created).get("name") or name), namespace, count, first)
        if len(self._seen) > _MAX_CACHE:
            self._seen.popitem(last=False)

    def _dropped(self, component: str) -> None:
        if self._metrics is not None:
            self._metrics.events_dropped.labels(component).inc()
