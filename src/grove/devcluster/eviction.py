"""NoExecute taint eviction (kube-controller-manager's taint eviction controller).

A pod bound to a node with a NoExecute taint it does not tolerate is deleted at once; one it tolerates
with ``tolerationSeconds`` is deleted when the shortest of those runs out (pods get 300 s for
``node.kubernetes.io/not-ready`` and ``unreachable`` by default); a toleration without seconds keeps it.
Before deleting, the pod gets the DisruptionTarget condition ``DeletionByTaintManager``. Removing the
taint in time cancels the eviction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from grove.devcluster.errors import ApiError
from grove.devcluster.nodematch import NO_EXECUTE, tolerates
from grove.devcluster.podeviction import mark_disruption_target
from grove.devcluster.watch import DELETED, WatchEvent

if TYPE_CHECKING:
    from grove.devcluster.cluster import DevCluster
    from grove.devcluster.resources import ResourceType
    from grove.devcluster.store import Store

log = structlog.get_logger("grove.devcluster.eviction")

JSON = dict[str, Any]

EVICTION_MESSAGE = "Taint manager: deleting due to NoExecute taint"


def eviction_delay(
    taints: Sequence[Mapping[str, Any]], tolerations: Sequence[Mapping[str, Any]]
) -> float | None:
    """Seconds until a pod on a node with these NoExecute ``taints`` is evicted (``getMinTolerationTime``):
    0 when a taint is not tolerated, else the smallest ``tolerationSeconds`` among the tolerations used,
    None (never) when none of those has seconds."""
    used: list[Mapping[str, Any]] = []
    for taint in taints:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        used.extend(matching)
    bounded = [float(t["tolerationSeconds"]) for t in used if t.get("tolerationSeconds") is not None]
    if not bounded:
        return None
    return max(min(bounded), 0.0)


class TaintEviction:
    """The taint eviction controller, as a cluster component."""

    def __init__(self) -> None:
        self._store: Store | None = None
        self._taints: dict[str, list[JSON]] = {}
        self._pods_by_node: dict[str, dict[str, JSON]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._events: deque[tuple[str, str, JSON]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self, cluster: DevCluster) -> None:
        """Follow nodes and pods."""
        store = self._store = cluster.store
        self._unsubscribe = store.subscribe(self._on_store_event)
        for node in store.list("nodes").items:
            self._events.append(("nodes", "ADDED", node))
        for pod in store.list("pods").items:
            self._events.append(("pods", "ADDED", pod))
        self._task = asyncio.create_task(self._run(), name="taint-eviction")

    async def stop(self) -> None:
        """Stop; pending evictions are dropped."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_store_event(self, rtype: ResourceType, ev: WatchEvent) -> None:
        if rtype.group or rtype.plural not in ("pods", "nodes"):
            return
        if rtype.plural == "pods" and not (ev.object.get("spec") or {}).get("nodeName"):
            return
        self._events.append((rtype.plural, ev.type, ev.object))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            while self._events:
                plural, type_, obj = self._events.popleft()
                if plural == "nodes":
                    self._on_node(type_, obj)
                else:
                    self._on_pod(type_, obj)
            self._wake.clear()
            if not self._events:
                await self._wake.wait()

    def _on_node(self, type_: str, node: JSON) -> None:
        name = node["metadata"]["name"]
        taints = (
            []
            if type_ == DELETED
            else [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == NO_EXECUTE]
        )
        if taints == self._taints.get(name, []):
            return
        if taints:
            self._taints[name] = taints
        else:
            self._taints.pop(name, None)
        for pod in list(self._pods_by_node.get(name, {}).values()):
            self._evaluate(pod)

    def _on_pod(self, type_: str, pod: JSON) -> None:
        md = pod["metadata"]
        key = f"{md.get('namespace', '')}/{md['name']}"
        node = pod["spec"]["nodeName"]
        if type_ == DELETED:
            self._pods_by_node.get(node, {}).pop(key, None)
            self._cancel(key)
            return
        self._pods_by_node.setdefault(node, {})[key] = pod
        self._evaluate(pod)

    def _cancel(self, key: str) -> None:
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _evaluate(self, pod: JSON) -> None:
        md = pod["metadata"]
        key = f"{md.get('namespace', '')}/{md['name']}"
        taints = self._taints.get(pod["spec"]["nodeName"])
        delay = None
        if taints and not md.get("deletionTimestamp"):
            delay = eviction_delay(taints, (pod.get("spec") or {}).get("tolerations") or [])
        if delay is None:
            self._cancel(key)
            return
        if key in self._timers:
            return
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._evict, key, md["uid"])

    def _evict(self, key: str, uid: str) -> None:
        self._timers.pop(key, None)
        store = self._store
        if store is None:
            return
        ns, name = key.split("/", 1)
        try:
            pod = store.get("pods", name, ns)
            if pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
                return
            mark_disruption_target(
                store,
                pod,
                "DeletionByTaintManager",
                EVICTION_MESSAGE,
                field_manager="taint-eviction-controller",
            )
            store.delete("pods", name, ns, preconditions={"uid": uid})
            log.info("eviction.pod_evicted", pod=key, node=pod["spec"].get("nodeName"))
        except ApiError as e:
            if e.code not in (404, 409):
                log.warning("eviction.failed", pod=key, code=e.code)
