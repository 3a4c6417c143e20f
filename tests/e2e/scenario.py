"""The five tutorial samples in one namespace, driven through phases (create, the tutorial's scale-outs,
scale-ins, deletions), with the exact state after each phase and a ledger of every object created and
deleted, for the crash and fault tests.

::

    ledger = Ledger(namespace, dev.cluster.store)
    unsubscribe = dev.call(dev.cluster.store.subscribe, ledger.on_event)
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
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
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
from grove.runtime.errors import Conflict, ServerError
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


@dataclass
class Ledger:
    """Every creation and deletion in a namespace, from the dev cluster's write stream (its subscriber).

    An object created for an owner that no longer exists (a controller acting on a cache that has not yet
    seen its owner's deletion; the garbage collector removes it at once) is not a duplicate: it is counted
    in ``created_for_deleted_owner`` instead, and its deletion with it.
    """

    namespace: str
    store: Any
    """The dev cluster's store, to look owners up inside the write (on the cluster's loop)."""
    created: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(kind, name) -> creations; pods are counted per PodClique: (``Pod``, clique)."""
    deleted: Counter[tuple[str, str]] = field(default_factory=Counter)
    created_for_deleted_owner: Counter[tuple[str, str]] = field(default_factory=Counter)
    events: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stillborn: dict[str, str] = field(default_factory=dict)
    """uid -> ``kind name`` of objects created for a deleted owner, until their deletion is seen."""

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
        """The store subscriber (runs on the cluster's loop)."""
        if ev.namespace != self.namespace or rtype.kind not in KINDS:
            return
        with self.lock:
            self.events += 1
            if ev.type not in ("ADDED", "DELETED"):
                return
            md = ev.object["metadata"]
            key = (
                rtype.kind,
                md.get("labels", {}).get(labels.PODCLIQUE, "?") if rtype.kind == "Pod" else md["name"],
            )
            if ev.type == "ADDED" and not self._owner_exists(ev.object):
                self._stillborn[md["uid"]] = f"{rtype.kind} {md['name']}"
                self.created_for_deleted_owner[key] += 1
            elif md["uid"] in self._stillborn:
                del self._stillborn[md["uid"]]
            else:
                (self.created if ev.type == "ADDED" else self.deleted)[key] += 1

    async def settle(self, timeout: float) -> None:  # noqa: ASYNC109 - a polling deadline
        """Wait until every object created for a deleted owner has been removed (the garbage collector
        deletes it asynchronously, possibly after the last phase's state was already exact)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            with self.lock:
                if not self._stillborn:
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
        with self.lock:
            created, deleted = Counter(self.created), Counter(self.deleted)
            stillborn = ", ".join(sorted(self._stillborn.values()))
            out = [f"created for a deleted owner and never removed: {stillborn}"] * bool(stillborn)
        for verb, have, need in (("created", created, need_created), ("deleted", deleted, need_deleted)):
            for key in sorted(have.keys() | need.keys()):
                if have[key] != need[key]:
                    out.append(f"{key[0]} {key[1]}: {verb} {have[key]} times, needed {need[key]}")
        return out
