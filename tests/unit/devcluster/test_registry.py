"""How in-process callers name resource types: ``Registry.resolve``."""

from __future__ import annotations

import pytest

from grove.devcluster.builtins import builtin_types
from grove.devcluster.errors import ApiError
from grove.devcluster.resources import Registry
from grove.devcluster.store import Store


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(builtin_types())


@pytest.mark.parametrize(
    ("name", "group", "plural"),
    [
        ("pods", "", "pods"),
        ("po", "", "pods"),
        ("Pod", "", "pods"),
        ("leases.coordination.k8s.io", "coordination.k8s.io", "leases"),
        ("leases.v1.coordination.k8s.io", "coordination.k8s.io", "leases"),
        # events.k8s.io events share the core events' storage; plural.group still names them.
        ("events.events.k8s.io", "events.k8s.io", "events"),
        ("events.v1.events.k8s.io", "events.k8s.io", "events"),
        ("events", "", "events"),
        ("roles.rbac.authorization.k8s.io", "rbac.authorization.k8s.io", "roles"),
    ],
)
def test_resolve(registry: Registry, name: str, group: str, plural: str) -> None:
    t = registry.resolve(name)
    assert (t.group, t.plural) == (group, plural)


def test_unknown_names_are_a_bad_request(registry: Registry) -> None:
    with pytest.raises(ApiError) as e:
        registry.resolve("events.nowhere.example.com")
    assert e.value.code == 400


def test_an_event_written_as_events_k8s_io_reads_back_as_core(registry: Registry) -> None:
    store = Store(registry)
    store.create(
        "events.events.k8s.io",
        {
            "metadata": {"name": "e"},
            "reason": "Tested",
            "note": "hello",
            "eventTime": "2026-01-01T00:00:00.000000Z",
        },
        "default",
    )
    assert store.get("events", "e", "default")["message"] == "hello"
    assert store.get("events.events.k8s.io", "e", "default")["note"] == "hello"
