"""The in-process store API, as fake kubelets and the scheduler stand-in use it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from grove.devcluster.builtins import builtin_types
from grove.devcluster.errors import ApiError
from grove.devcluster.resources import Registry
from grove.devcluster.store import Store


@pytest.fixture
def store() -> Store:
    return Store(Registry(builtin_types()))


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i:1"}], **spec}}


def test_writes_copy_their_input(store: Store) -> None:
    body = pod("a")
    created = store.create("pods", body, "default")
    assert "uid" not in body["metadata"]
    assert created["metadata"]["uid"]


async def test_watch_with_field_selector_sees_binding_and_status(store: Store) -> None:
    store.create("pods", pod("a"), "default")
    rv = str(store.resource_version)
    events: list[tuple[str, str]] = []

    async def consume() -> None:
        async with store.watch("pods", field_selector="spec.nodeName=n1", resource_version=rv) as w:
            async for ev in w:
                events.append((ev.type, ev.object["status"]["phase"]))
                if len(events) == 2:
                    return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    store.bind_pod("a", "default", {"target": {"kind": "Node", "name": "n1"}})
    store.patch("pods", "a", {"status": {"phase": "Running"}}, "default", subresource="status")
    await asyncio.wait_for(task, 5)
    assert events == [("ADDED", "Pending"), ("MODIFIED", "Running")]


def test_status_update_through_update(store: Store) -> None:
    store.create("pods", pod("a"), "default")
    current = store.get("pods", "a", "default")
    new = {**current, "status": {**current["status"], "phase": "Running", "podIP": "10.0.0.1"}}
    out = store.update("pods", new, "default", subresource="status")
    assert out["status"]["podIP"] == "10.0.0.1"
    with pytest.raises(ApiError) as exc:
        store.update("pods", new, "default", subresource="status")
    assert exc.value.code == 409, "the resourceVersion in the body is stale now"


def test_kubelet_final_delete(store: Store) -> None:
    store.create("pods", pod("a", nodeName="n1"), "default")
    first = store.delete("pods", "a", "default")
    assert not first.deleted and first.object["metadata"]["deletionGracePeriodSeconds"] == 30
    final = store.delete("pods", "a", "default", grace_period_seconds=0)
    assert final.deleted
