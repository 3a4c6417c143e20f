"""The five tutorial samples in one namespace, driven through phases (create, the tutorial's scale-outs,
scale-ins, deletions), with the exact state after each phase and a ledger of every object created and
deleted, for the crash and fault tests.

::

    ledger = Ledger(namespace, cluster.dev.cluster.store if cluster.dev else None)
    async with recording(cluster, client, namespace, ledger.on_event) as ledger.feed:
        for phase in PHASES:
            await phase.act(client, namespace)
            await wait_exact(client, namespace, phase, timeout, tick=...)
        await ledger.settle(timeout)
    assert ledger.problems(PHASES, namespace) == []

"Exact" is :func:`grove_expect.differences` for every PodCliqueSet (names, counts, hostnames, labels,
owners, gang membership, Initialized gangs, no gates, every pod Running and Ready), plus nothing else in the
namespace: no stray pod, PodClique, scaling group, PodGang or Service, no object whose controller is gone.
The ledger adds what the final state cannot show: no object was ever created twice or deleted by mistake,
and every PodClique created exactly as many pods as it needed (no duplicate pod, even one removed later).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grove.api import labels
from grove.controllers.resources import (
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODCLIQUESETS,
    PODGANGS,
    PODS,
    SERVICES,
)
from grove.devcluster.errors import ApiError
from grove.runtime.client import Client
from grove.runtime.errors import Conflict, ServerError, TransportError
from grove.runtime.resources import Resource
from grove_expect import SAMPLE_FILES, Expected, differences, expected, load_sample, observe

KINDS: dict[str, Resource] = {
    "Pod": PODS,
    "PodClique": PODCLIQUES,
    "PodCliqueScalingGroup": PODCLIQUESCALINGGROUPS,
    "PodGang": PODGANGS,
    "Service": SERVICES,
}

SNA, SND, MNA, MND, CIP = (
    "single-node-aggregated",
    "single-node-disaggregated",
    "multinode-aggregated",
    "multinode-disaggregated",
    "comp-inf-ppln",
)


async def retrying(call: Callable[[], Awaitable[Any]], attempts: int = 20) -> Any:
    """A write of the test itself, retried through injected 5xx and 409 faults."""
    for attempt in range(attempts):
        try:
            return await call()
        except (ServerError, Conflict):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


@dataclass
class Phase:
    """What the test does, then the exact state every PodCliqueSet must reach."""

    name: str
    act: Callable[[Client, str], Awaitable[None]]
    want: dict[str, dict[str, Any]]
    """PodCliqueSet -> ``grove_expect.expected`` keyword arguments; absent PodCliqueSets must be gone."""
    contiguous: bool = True
    """Pod indices are exactly 0..n-1 (not after a scale-in: victims are picked by state and age)."""

    _cache: dict[str, list[Expected]] = field(default_factory=dict, repr=False)

    def expected(self, namespace: str) -> list[Expected]:
        """The expected state of each PodCliqueSet that must exist."""
        if namespace not in self._cache:
            manifests = {m["metadata"]["name"]: m for m in (load_sample(f, namespace) for f in SAMPLE_FILES)}
            self._cache[namespace] = [expected(manifests[pcs], **kw) for pcs, kw in self.want.items()]
        return self._cache[namespace]


async def _create_all(client: Client, namespace: str) -> None:
    for f in SAMPLE_FILES:
        manifest = load_sample(f, namespace)
        await retrying(lambda m=manifest: client.create(PODCLIQUESETS, m))


def _scales(*steps: tuple[Resource, str, int]) -> Callable[[Client, str], Awaitable[None]]:
    async def act(client: Client, namespace: str) -> None:
        for resource, name, replicas in steps:
            await retrying(lambda r=resource, n=name, k=replicas: client.scale(r, n, k, namespace))

    return act


def _deletes(*names: str) -> Callable[[Client, str], Awaitable[None]]:
    async def act(client: Client, namespace: str) -> None:
        for name in names:
            await retrying(lambda n=name: client.delete(PODCLIQUESETS, n, namespace))

    return act


_SNA_WORKER = f"{SNA}-0-model-worker"
_MNA_GROUP = f"{MNA}-0-model-instance"
_MNA_WORKER = f"{MNA}-0-model-instance-0-worker"
_MND_PREFILL = f"{MND}-0-prefill"

PHASES: tuple[Phase, ...] = (
    Phase("create the five samples", _create_all, {pcs: {} for pcs in (SNA, SND, MNA, MND, CIP)}),
    Phase(
        "the tutorial's scale-outs",
        _scales(
            (PODCLIQUES, _SNA_WORKER, 4),
            (PODCLIQUESETS, SNA, 3),
            (PODCLIQUESETS, SND, 2),
            (PODCLIQUESCALINGGROUPS, _MNA_GROUP, 3),
            (PODCLIQUES, _MNA_WORKER, 4),
        ),
        {
            SNA: {"replicas": 3, "pclq_replicas": {_SNA_WORKER: 4}},
            SND: {"replicas": 2},
            MNA: {"group_replicas": {_MNA_GROUP: 3}, "pclq_replicas": {_MNA_WORKER: 4}},
            MND: {},
            CIP: {},
        },
    ),
    Phase(
        "scale-ins",
        _scales(
            (PODCLIQUESETS, SNA, 1),
            (PODCLIQUES, _SNA_WORKER, 2),
            (PODCLIQUESCALINGGROUPS, _MNA_GROUP, 2),
            (PODCLIQUES, _MNA_WORKER, 3),
            (PODCLIQUESCALINGGROUPS, _MND_PREFILL, 1),
        ),
        {
            SNA: {},
            SND: {"replicas": 2},
            MNA: {},
            MND: {"group_replicas": {_MND_PREFILL: 1}},
            CIP: {},
        },
        contiguous=False,
    ),
    Phase("deletions", _deletes(MND, CIP), {SNA: {}, SND: {"replicas": 2}, MNA: {}}, contiguous=False),
)


async def state_problems(client: Client, namespace: str, phase: Phase) -> list[str]:
    """Every way the namespace differs from ``phase``'s exact state (empty when it matches)."""
    wants = phase.expected(namespace)
    problems: list[str] = []
    observed = await asyncio.gather(*(observe(client, namespace, w.pcs) for w in wants))
    for want, got in zip(wants, observed, strict=True):
        problems += [f"{want.pcs}: {d}" for d in differences(want, got, contiguous=phase.contiguous)]
    listed = await asyncio.gather(*(client.list(r, namespace) for r in (*KINDS.values(), PODCLIQUESETS)))
    everything = {kind: lst.items for kind, lst in zip([*KINDS, "PodCliqueSet"], listed, strict=True)}
    allowed = {
        "Pod": {p["metadata"]["name"] for got in observed for p in got.pods},
        "PodClique": {n for w in wants for n in w.pclqs},
        "PodCliqueScalingGroup": {n for w in wants for n in w.pcsgs},
        "PodGang": {n for w in wants for n in w.podgangs},
        "Service": {n for w in wants for n in w.services},
        "PodCliqueSet": {w.pcs for w in wants},
    }
    uids = {o["metadata"]["uid"] for items in everything.values() for o in items}
    for kind, items in everything.items():
        for obj in items:
            name = obj["metadata"]["name"]
            if name not in allowed[kind]:
                problems.append(f"{kind} {name}: should not exist")
            for ref in obj["metadata"].get("ownerReferences") or ():
                if ref.get("controller") and ref["uid"] not in uids:
                    problems.append(
                        f"{kind} {name}: orphaned (controller {ref['kind']} {ref['name']} is gone)"
                    )
    return problems


async def wait_exact(
    client: Client,
    namespace: str,
    phase: Phase,
    timeout: float,  # noqa: ASYNC109 - a polling deadline
    tick: Callable[[], None] = lambda: None,
) -> None:
    """Poll until the namespace has exactly ``phase``'s state, calling ``tick`` before each look (the crash
    test restarts a killed operator there); fail naming every difference after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        tick()
        problems = await state_problems(client, namespace, phase)
        if not problems:
            return
        if loop.time() >= deadline:
            raise AssertionError(
                f"phase {phase.name!r}: not exact after {timeout}s:\n  " + "\n  ".join(problems[:40])
            )
        await asyncio.sleep(0.1)


_OWNER_RESOURCES = {
    "PodCliqueSet": "podcliquesets.grove.io",
    "PodCliqueScalingGroup": "podcliquescalinggroups.grove.io",
    "PodClique": "podcliques.grove.io",
}

WATCHED: dict[str, Resource] = {**KINDS, "PodCliqueSet": PODCLIQUESETS}
"""What a real cluster's ledger watches: the ledger's kinds and the PodCliqueSets that own them."""


@dataclass(frozen=True)
class FeedEvent:
    """A watch event of a real cluster, shaped as the dev cluster's store events the subscribers take."""

    type: str
    object: dict[str, Any]
    namespace: str
    rv: int


@dataclass
class _Entry:
    kind: str
    type: str
    name: str
    uid: str
    key: tuple[str, str]
    rv: int
    owner: str | None
    """The uid of the controller owner among ``_OWNER_RESOURCES``'s kinds, if any."""
    owner_exists: bool | None
    """Decided inside the write on the dev cluster; None on a real cluster (decided from the revisions)."""


@dataclass
class _Tally:
    created: Counter[tuple[str, str]] = field(default_factory=Counter)
    deleted: Counter[tuple[str, str]] = field(default_factory=Counter)
    created_for_deleted_owner: Counter[tuple[str, str]] = field(default_factory=Counter)
    stillborn: dict[str, str] = field(default_factory=dict)
    """uid -> ``kind name`` of objects created for a deleted owner, until their deletion is seen."""


@dataclass
class Ledger:
    """Every creation and deletion in a namespace: from the dev cluster's write stream (its subscriber), or
    on a real cluster from watches of each kind in the namespace (:class:`NamespaceWatches`).

    An object created for an owner that no longer exists (a controller acting on a cache that has not yet
    seen its owner's deletion; the garbage collector removes it at once) is not a duplicate: it is counted
    in ``created_for_deleted_owner`` instead, and its deletion with it. On the dev cluster whether the owner
    exists is read from the store inside the write; on a real cluster the watches of different kinds arrive
    in no common order, so it is decided from etcd's revisions: the owner exists when its creation's
    resourceVersion is below the object's creation's and its deletion's (if any) above.
    """

    namespace: str
    store: Any
    """The dev cluster's store, to look owners up inside the write (on the cluster's loop); None on a real
    cluster."""
    feed: NamespaceWatches | None = None
    """On a real cluster, the watches feeding the ledger (``settle`` waits for them to catch up)."""
    events: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _entries: list[_Entry] = field(default_factory=list)

    def _owner_exists(self, obj: dict[str, Any]) -> bool:
        for ref in obj["metadata"].get("ownerReferences") or ():
            if ref.get("controller") and ref["kind"] in _OWNER_RESOURCES:
                try:
                    owner = self.store.get(_OWNER_RESOURCES[ref["kind"]], ref["name"], self.namespace)
                except ApiError:
                    return False
                return bool(owner["metadata"]["uid"] == ref["uid"])
        return True

    def on_event(self, rtype: Any, ev: Any) -> None:
        """The store subscriber (runs on the cluster's loop), or the watches' callback on a real cluster."""
        if ev.namespace != self.namespace or rtype.kind not in WATCHED:
            return
        with self.lock:
            if rtype.kind in KINDS:
                self.events += 1
            if ev.type not in ("ADDED", "DELETED"):
                return
            md = ev.object["metadata"]
            owner = next(
                (
                    ref["uid"]
                    for ref in md.get("ownerReferences") or ()
                    if ref.get("controller") and ref["kind"] in _OWNER_RESOURCES
                ),
                None,
            )
            exists = None
            if self.store is not None and ev.type == "ADDED":
                exists = self._owner_exists(ev.object)
            key = (
                rtype.kind,
                md.get("labels", {}).get(labels.PODCLIQUE, "?") if rtype.kind == "Pod" else md["name"],
            )
            self._entries.append(
                _Entry(rtype.kind, ev.type, md["name"], md["uid"], key, int(ev.rv), owner, exists)
            )

    def _tally(self) -> _Tally:
        with self.lock:
            entries = list(self._entries)
        if self.store is None:
            entries.sort(key=lambda e: e.rv)
        lifetimes: dict[str, tuple[int, int | None]] = {}
        for e in entries:
            if e.kind in _OWNER_RESOURCES:
                born, died = lifetimes.get(e.uid, (e.rv, None))
                lifetimes[e.uid] = (born, e.rv) if e.type == "DELETED" else (e.rv, died)
        out = _Tally()
        for e in entries:
            if e.kind not in KINDS:
                continue
            if e.type == "ADDED":
                exists = e.owner_exists
                if exists is None:
                    life = lifetimes.get(e.owner) if e.owner else (0, None)
                    exists = life is not None and life[0] < e.rv and (life[1] is None or life[1] > e.rv)
                if not exists:
                    out.stillborn[e.uid] = f"{e.kind} {e.name}"
                    out.created_for_deleted_owner[e.key] += 1
                    continue
            elif e.uid in out.stillborn:
                del out.stillborn[e.uid]
                continue
            (out.created if e.type == "ADDED" else out.deleted)[e.key] += 1
        return out

    @property
    def created_for_deleted_owner(self) -> Counter[tuple[str, str]]:
        """(kind, name) -> objects created for a deleted owner; pods are counted per PodClique."""
        return self._tally().created_for_deleted_owner

    async def settle(self, timeout: float) -> None:  # noqa: ASYNC109 - a polling deadline
        """Wait until the ledger has seen every write up to now (on a real cluster the watches lag) and every
        object created for a deleted owner has been removed (the garbage collector deletes it
        asynchronously, possibly after the last phase's state was already exact)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if (self.feed is None or await self.feed.caught_up()) and not self._tally().stillborn:
                return
            await asyncio.sleep(0.1)

    def problems(self, phases: tuple[Phase, ...], namespace: str) -> list[str]:
        """Creations and deletions that the phases did not need (empty when there were none)."""
        need_created: Counter[tuple[str, str]] = Counter()
        need_deleted: Counter[tuple[str, str]] = Counter()
        before: dict[tuple[str, str], int] = {}
        for phase in phases:
            now: dict[tuple[str, str], int] = {}
            for want in phase.expected(namespace):
                now |= {("Pod", n): c for n, c in want.pclqs.items()}
                for kind, names in (
                    ("PodClique", want.pclqs),
                    ("PodCliqueScalingGroup", want.pcsgs),
                    ("PodGang", want.podgangs),
                    ("Service", want.services),
                ):
                    now |= {(kind, n): 1 for n in names}
            for key in before.keys() | now.keys():
                delta = now.get(key, 0) - before.get(key, 0)
                if delta > 0:
                    need_created[key] += delta
                elif delta < 0:
                    need_deleted[key] -= delta
            before = now
        tally = self._tally()
        created, deleted = tally.created, tally.deleted
        stillborn = ", ".join(sorted(tally.stillborn.values()))
        out = [f"created for a deleted owner and never removed: {stillborn}"] * bool(stillborn)
        for verb, have, need in (("created", created, need_created), ("deleted", deleted, need_deleted)):
            for key in sorted(have.keys() | need.keys()):
                if have[key] != need[key]:
                    out.append(f"{key[0]} {key[1]}: {verb} {have[key]} times, needed {need[key]}")
        return out


class NamespaceWatches:
    """On a real cluster, what the dev cluster's store subscription gives: ``callback(resource, event)``
    (a :class:`FeedEvent`) for every write of ``resources`` in ``namespace``, from one watch per kind on the
    test's loop, resumed from the last resourceVersion seen when the server ends a watch. Started before
    anything is written in the namespace, it misses nothing; a watch expired (410) fails the test."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        callback: Callable[[Resource, FeedEvent], None],
        resources: Mapping[str, Resource] = WATCHED,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.callback = callback
        self.resources = dict(resources)
        self.seen: dict[str, dict[str, int]] = {kind: {} for kind in self.resources}
        """Per kind: uid -> resourceVersion last seen of each object that exists."""
        self._tasks: list[asyncio.Task[None]] = []
        self.error: BaseException | None = None

    async def start(self) -> None:
        """List each kind (for its resourceVersion) and watch from there."""
        for kind, resource in self.resources.items():
            listed = await self.client.list(resource, self.namespace)
            for obj in listed.items:
                self.seen[kind][obj["metadata"]["uid"]] = int(obj["metadata"]["resourceVersion"])
            self._tasks.append(asyncio.create_task(self._watch(kind, resource, listed.resource_version)))

    async def _watch(self, kind: str, resource: Resource, rv: str) -> None:
        try:
            while True:
                try:
                    async with self.client.watch(resource, self.namespace, resource_version=rv) as stream:
                        async for ev in stream:
                            if ev.type == "ERROR":
                                raise AssertionError(f"watch of {kind} in {self.namespace}: {ev.object}")
                            rv = ev.object["metadata"]["resourceVersion"]
                            if ev.type == "BOOKMARK":
                                continue
                            uid = ev.object["metadata"]["uid"]
                            if ev.type == "DELETED":
                                self.seen[kind].pop(uid, None)
                            else:
                                self.seen[kind][uid] = int(rv)
                            self.callback(resource, FeedEvent(ev.type, ev.object, self.namespace, int(rv)))
                except TransportError:
                    continue
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            raise

    async def caught_up(self) -> bool:
        """Whether every watch has delivered every object as it now is, and every deletion (each kind
        listed now equals what its watch has seen)."""
        if self.error is not None:
            raise AssertionError(f"a watch of {self.namespace} failed: {self.error!r}")
        for kind, resource in self.resources.items():
            listed = await self.client.list(resource, self.namespace)
            now = {o["metadata"]["uid"]: int(o["metadata"]["resourceVersion"]) for o in listed.items}
            if now != self.seen[kind]:
                return False
        return True

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()


@contextlib.asynccontextmanager
async def recording(
    cluster: Any, client: Client, namespace: str, subscriber: Callable[[Any, Any], None]
) -> AsyncIterator[NamespaceWatches | None]:
    """``subscriber(resource, event)`` for every write in ``namespace`` while inside: on the dev cluster
    from its store, synchronously inside each write; on a real cluster from :class:`NamespaceWatches` of the
    ledger's kinds (yielded, so the ledger can wait for them to catch up), just after each write."""
    if cluster.dev is not None:
        dev = cluster.dev
        unsubscribe = dev.call(dev.cluster.store.subscribe, subscriber)
        try:
            yield None
        finally:
            dev.call(unsubscribe)
        return
    feed = NamespaceWatches(client, namespace, subscriber)
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()
