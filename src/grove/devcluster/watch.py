"""Watch events and watchers.

Every write produces one :class:`WatchEvent`, kept in its resource's bounded history and offered to each
watcher of that resource. Objects are shared, never copied: an event's JSON line is encoded once per API
version and reused by every watcher that receives the event unchanged. Watchers with selectors turn
transitions into ADDED/DELETED as kube-apiserver's cacher does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import orjson

from grove.devcluster.errors import ApiError
from grove.devcluster.selectors import FieldSelector, LabelSelector

if TYPE_CHECKING:
    from grove.devcluster.resources import ResourceType

JSON = dict[str, Any]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes, as the API server writes them."""
    return orjson.dumps(obj)


class WatchEvent:
    """One change of one object: ``type``, the object after it (before it for a deletion) and its RV.

    ``object`` is in storage form and shared: readers must not mutate it.
    """

    __slots__ = ("_lines", "namespace", "object", "prev", "rv", "type")

    def __init__(self, type_: str, obj: JSON, prev: JSON | None, rv: int, namespace: str) -> None:
        self.type = type_
        self.object = obj
        self.prev = prev
        self.rv = rv
        self.namespace = namespace
        self._lines: dict[str, bytes] | None = None

    def line(self, rtype: ResourceType) -> bytes:
        """``{"type":..,"object":..}\\n`` in ``rtype``'s version, encoded once and cached."""
        av = rtype.api_version
        lines = self._lines
        if lines is None:
            lines = self._lines = {}
        cached = lines.get(av)
        if cached is None:
            cached = (
                b'{"type":"' + self.type.encode() + b'","object":' + dumps(rtype.encode(self.object)) + b"}\n"
            )
            lines[av] = cached
        return cached

    def __repr__(self) -> str:
        md = self.object.get("metadata", {})
        return f"WatchEvent({self.type} {md.get('namespace', '')}/{md.get('name', '')} rv={self.rv})"


def error_line(err: ApiError) -> bytes:
    """An ERROR watch event carrying a Status."""
    return dumps({"type": ERROR, "object": err.status()}) + b"\n"


class Watcher:
    """One open watch: filters offered events into a queue its consumer drains."""

    # A consumer this far behind is cut off, as kube-apiserver terminates unresponsive watchers.
    MAX_PENDING = 100_000

    def __init__(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        on_close: Callable[[Watcher], None],
    ) -> None:
        self.rtype = rtype
        self.namespace = namespace or None
        self.labels = labels
        self.fields = fields
        self._filtered = not (labels.empty and fields.empty)
        self._on_close = on_close
        self.pending: deque[WatchEvent] = deque()
        self._wakeup = asyncio.Event()
        self.closed = False
        self.error: ApiError | None = None

    def _passes(self, obj: JSON) -> bool:
        return self.labels.matches(obj["metadata"].get("labels")) and self.fields.matches(obj)

    def offer(self, ev: WatchEvent) -> None:
        """Queue ``ev`` (or the transition it is for this watcher's selectors)."""
        if self.closed or (self.namespace is not None and ev.namespace != self.namespace):
            return
        if self._filtered:
            cur = ev.type != DELETED and self._passes(ev.object)
            if ev.type == DELETED:
                old = self._passes(ev.object)
            else:
                old = ev.prev is not None and self._passes(ev.prev)
            if cur and not old:
                if ev.type != ADDED:
                    ev = WatchEvent(ADDED, ev.object, None, ev.rv, ev.namespace)
            elif not cur and old:
                if ev.type != DELETED:
                    assert ev.prev is not None
                    prev = dict(ev.prev)
                    prev["metadata"] = {**prev["metadata"], "resourceVersion": str(ev.rv)}
                    ev = WatchEvent(DELETED, prev, None, ev.rv, ev.namespace)
            elif not cur:
                return
        self.pending.append(ev)
        if len(self.pending) > self.MAX_PENDING:
            self.close()
            return
        self._wakeup.set()

    def fail(self, err: ApiError) -> None:
        """End the watch with an ERROR event (e.g. 410 Expired)."""
        self.error = err
        self.close()

    def close(self) -> None:
        """Stop the watch; the consumer sees the end after draining what is queued."""
        if self.closed:
            return
        self.closed = True
        self._on_close(self)
        self._wakeup.set()

    async def wait(self, max_wait: float | None) -> None:
        """Until events are queued, the watch closes, or ``max_wait`` seconds pass."""
        if self.pending or self.closed:
            return
        self._wakeup.clear()
        if max_wait is None:
            await self._wakeup.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), max_wait)

    def drain(self) -> list[WatchEvent]:
        """Everything queued so far."""
        out = list(self.pending)
        self.pending.clear()
        return out

    async def events(self) -> AsyncIterator[WatchEvent]:
        """Iterate events in storage form until the watch closes (in-process consumers)."""
        try:
            while True:
                await self.wait(None)
                if not self.pending and self.closed:
                    if self.error is not None:
                        raise self.error
                    return
                while self.pending:
                    yield self.pending.popleft()
        finally:
            self.close()


class Watch:
    """An in-process watch: an async iterator of :class:`WatchEvent` (objects in the requested version).

    Use ``async with store.watch(...) as w: async for ev in w: ...`` or iterate directly and ``close()``.
    A watch that fell off the history raises ``ApiError`` 410 (reason Expired) on iteration, as a real watch
    stream ends with an ERROR event: relist and watch again.
    """

    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher
        self._rtype = watcher.rtype

    @property
    def watcher(self) -> Watcher:
        """The underlying watcher (used by the HTTP layer)."""
        return self._watcher

    def close(self) -> None:
        """Stop watching."""
        self._watcher.close()

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WatchEvent]:
        rtype = self._rtype
        same = rtype.version == rtype.storage_version and rtype.from_storage is None
        async for ev in self._watcher.events():
            if same:
                yield ev
            else:
                yield WatchEvent(ev.type, rtype.encode(ev.object), None, ev.rv, ev.namespace)
