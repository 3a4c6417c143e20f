"""Informers against the cluster: initial sync, ordered updates and deletes, 410 relists with tombstones,
dropped watches, the inactivity watchdog, selectors and the shared factory."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from runtime_it_helpers import FAST, configmap, create_configmaps

from grove.runtime.cache import DeletedFinalStateUnknown
from grove.runtime.client import Client
from grove.runtime.informer import Informer, InformerFactory, InformerOptions
from grove.runtime.meta import Obj, name_of, resource_version_of
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.resources import CONFIGMAPS

WaitFor = Callable[..., Awaitable[Any]]


@dataclass
class Recorder:
    """An event handler that records what it is told."""

    events: list[tuple[str, Any]] = field(default_factory=list)

    def on_add(self, obj: Obj, is_initial_list: bool) -> None:
        self.events.append(("add-initial" if is_initial_list else "add", obj))

    def on_update(self, old: Obj, new: Obj) -> None:
        self.events.append(("update", (old, new)))

    def on_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        self.events.append(("delete", obj))

    def names(self, kind: str) -> list[str]:
        out = []
        for k, payload in self.events:
            if k != kind:
                continue
            if kind == "update":
                out.append(name_of(payload[1]))
            elif isinstance(payload, DeletedFinalStateUnknown):
                out.append(name_of(payload.obj))
            else:
                out.append(name_of(payload))
        return out


def sample(metrics: RuntimeMetrics, metric: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(metric, labels) or 0.0


# Every namespace also holds the root CA publisher's kube-root-ca.crt, written when it chooses: the tests
# watch only their own ConfigMaps.
OURS = "metadata.name!=kube-root-ca.crt"


def informer_for(client: Client, namespace: str, options: InformerOptions = FAST, **kwargs: Any) -> Informer:
    kwargs.setdefault("field_selector", OURS)
    return Informer(
        client, CONFIGMAPS, namespace=namespace, options=options, metrics=RuntimeMetrics(), **kwargs
    )


def metrics_of(informer: Informer) -> RuntimeMetrics:
    m = informer._m
    assert m is not None
    return m._metrics


async def test_initial_sync_then_live_events(client: Client, namespace: str, wait_for: WaitFor) -> None:
    await create_configmaps(client, namespace, [f"cm-{i:02d}" for i in range(25)], k="v")
    informer = informer_for(client, namespace, options=InformerOptions(page_size=10, backoff_initial=0.05))
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    try:
        await wait_for(informer.has_synced, message="informer sync")
        assert sorted(informer.store.keys()) == [f"{namespace}/cm-{i:02d}" for i in range(25)]
        assert [k for k, _ in rec.events] == ["add-initial"] * 25
        assert informer.resource_version

        await client.create(CONFIGMAPS, configmap("late", namespace))
        await wait_for(lambda: "late" in rec.names("add"), message="live add")

        # A handler registered after sync is first given the whole store.
        late = Recorder()
        reg = informer.add_event_handler(late)
        assert reg.has_synced()
        assert len(late.names("add-initial")) == 26
    finally:
        await informer.stop()


async def test_updates_and_deletes_arrive_in_order(client: Client, namespace: str, wait_for: WaitFor) -> None:
    informer = informer_for(client, namespace)
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    try:
        await wait_for(informer.has_synced)
        await client.create(CONFIGMAPS, configmap("x", namespace, n="0"))
        for i in range(1, 4):
            await client.patch(CONFIGMAPS, "x", {"data": {"n": str(i)}}, namespace)
        await client.delete(CONFIGMAPS, "x", namespace)
        await client.create(CONFIGMAPS, configmap("x", namespace, n="again"))
        await wait_for(lambda: len(rec.events) == 6, message="six events")
        kinds = [k for k, _ in rec.events]
        assert kinds == ["add", "update", "update", "update", "delete", "add"]
        updates = [payload for k, payload in rec.events if k == "update"]
        assert [(old["data"]["n"], new["data"]["n"]) for old, new in updates] == [
            ("0", "1"),
            ("1", "2"),
            ("2", "3"),
        ]
        rvs = [int(resource_version_of(p if k != "update" else p[1])) for k, p in rec.events]
        assert rvs == sorted(rvs) and len(set(rvs)) == 6
        assert informer.store.get(f"{namespace}/x")["data"] == {"n": "again"}  # type: ignore[index]
    finally:
        await informer.stop()


async def test_forced_410_relists_and_emits_tombstones(
    client: Client, cluster: Any, namespace: str, wait_for: WaitFor
) -> None:
    dev = cluster.dev
    if dev is None:
        pytest.skip("needs the embedded dev cluster (fault injection)")
    await create_configmaps(client, namespace, ["a", "b", "c", "d"], v="1")
    informer = informer_for(client, namespace)
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    try:
        await wait_for(informer.has_synced)
        last_a = informer.store.get(f"{namespace}/a")
        # Cut the informer off: every request fails, then its watch is dropped.
        dev.fail_requests(1.0, 500, include_watches=True)
        dev.drop_watches()
        await wait_for(
            lambda: (
                sample(
                    metrics_of(informer),
                    "informer_watch_errors_total",
                    resource="configmaps",
                    reason="InternalError",
                )
                >= 1
            ),
            message="the informer failing to re-watch",
        )
        rec.events.clear()

        def change_behind_its_back() -> None:
            store = dev.cluster.store
            store.delete("configmaps", "a", namespace)
            store.delete("configmaps", "b", namespace)
            current = copy.deepcopy(store.get("configmaps", "c", namespace))
            current["data"] = {"v": "2"}
            store.update("configmaps", current, namespace)
            store.create("configmaps", configmap("e", namespace, v="1"), namespace)

        dev.call(change_behind_its_back)
        dev.expire_next_watch()
        dev.reset_faults()
        await wait_for(
            lambda: sorted(informer.store.keys()) == [f"{namespace}/{n}" for n in "cde"],
            message="relisted store",
        )
        await wait_for(lambda: len(rec.events) == 4, message="the relist differences")
        print("EVENTS", [(k, rec.names(k)) for k in ("add", "update", "delete")])
        deletes = [p for k, p in rec.events if k == "delete"]
        assert all(isinstance(t, DeletedFinalStateUnknown) for t in deletes)
        assert sorted(t.key for t in deletes) == [f"{namespace}/a", f"{namespace}/b"]
        assert next(t for t in deletes if t.key.endswith("/a")).obj is last_a  # the last state the store held
        assert rec.names("update") == ["c"]
        ((old, new),) = [p for k, p in rec.events if k == "update"]
        assert (old["data"], new["data"]) == ({"v": "1"}, {"v": "2"})
        assert rec.names("add") == ["e"]
        m = metrics_of(informer)
        assert sample(m, "informer_relists_total", resource="configmaps") == 2
        assert sample(m, "informer_watch_errors_total", resource="configmaps", reason="gone") >= 1
    finally:
        dev.reset_faults()
        await informer.stop()


async def test_dropped_watches_resume_without_missing_anything(
    client: Client, cluster: Any, namespace: str, wait_for: WaitFor
) -> None:
    dev = cluster.dev
    if dev is None:
        pytest.skip("needs the embedded dev cluster (fault injection)")
    informer = informer_for(client, namespace)
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    try:
        await wait_for(informer.has_synced)
        names = [f"cm-{i:03d}" for i in range(60)]
        for i, name in enumerate(names):
            await client.create(CONFIGMAPS, configmap(name, namespace, v="0"))
            if i % 3 == 0:
                await client.patch(CONFIGMAPS, names[i // 2], {"data": {"v": str(i)}}, namespace)
            if i % 10 == 9:
                dev.drop_watches()
        server = await client.list(CONFIGMAPS, namespace, field_selector=OURS)
        expected = {name_of(o): resource_version_of(o) for o in server.items}

        def caught_up() -> bool:
            return {name_of(o): resource_version_of(o) for o in informer.store.list()} == expected

        await wait_for(caught_up, message="the store to match the server")
        assert sorted(rec.names("add")) == names  # every create was seen as an add: nothing missed
        m = metrics_of(informer)
        assert sample(m, "informer_relists_total", resource="configmaps") == 1  # resumed, never relisted
        assert sample(m, "informer_watches_total", resource="configmaps") >= 7
    finally:
        await informer.stop()


async def test_watchdog_restarts_a_silent_watch(client: Client, namespace: str, wait_for: WaitFor) -> None:
    options = InformerOptions(inactivity_timeout=0.3, backoff_initial=0.05, backoff_cap=0.1)
    informer = informer_for(client, namespace, options=options)
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    try:
        await wait_for(informer.has_synced)
        m = metrics_of(informer)
        await wait_for(
            lambda: sample(m, "informer_watch_errors_total", resource="configmaps", reason="inactive") >= 2,
            message="the watchdog to close silent watches",
        )
        assert sample(m, "informer_watches_total", resource="configmaps") >= 2
        await client.create(CONFIGMAPS, configmap("after", namespace))
        await wait_for(lambda: rec.names("add") == ["after"], message="events after the restart")
    finally:
        await informer.stop()


async def test_label_selector_transitions(client: Client, namespace: str, wait_for: WaitFor) -> None:
    informer = informer_for(client, namespace, label_selector="team=a")
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    try:
        await wait_for(informer.has_synced)
        await client.create(CONFIGMAPS, configmap("out", namespace))
        await client.patch(CONFIGMAPS, "out", {"metadata": {"labels": {"team": "a"}}}, namespace)
        await wait_for(lambda: rec.names("add") == ["out"], message="an object entering the selector")
        await client.patch(CONFIGMAPS, "out", {"metadata": {"labels": {"team": "b"}}}, namespace)
        await wait_for(lambda: rec.names("delete") == ["out"], message="an object leaving the selector")
        assert len(informer.store) == 0
    finally:
        await informer.stop()


async def test_factory_shares_informers(client: Client, namespace: str) -> None:
    factory = InformerFactory(client, options=FAST)
    a = factory.informer(CONFIGMAPS, namespace=namespace)
    assert factory.informer(CONFIGMAPS, namespace=namespace) is a
    assert factory.informer(CONFIGMAPS, namespace=namespace, label_selector="x=y") is not a
    factory.start()
    try:
        async with asyncio.timeout(10):
            await factory.wait_for_sync()
        assert factory.has_synced()
        late = factory.informer(CONFIGMAPS, namespace="default")
        assert late.started
    finally:
        await factory.stop()
