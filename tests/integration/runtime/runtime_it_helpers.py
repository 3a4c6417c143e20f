"""Helpers for the runtime integration tests (imported by the test modules next to it)."""

from __future__ import annotations

from typing import Any

from grove.runtime.client import Client
from grove.runtime.informer import InformerOptions
from grove.runtime.resources import CONFIGMAPS

# Short backoffs so recoveries take milliseconds; the semantics under test do not depend on the values.
FAST = InformerOptions(backoff_initial=0.05, backoff_cap=0.2, backoff_reset=5.0)


def configmap(name: str, namespace: str, **data: str) -> dict[str, Any]:
    """A ConfigMap body."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


async def create_configmaps(
    client: Client, namespace: str, names: list[str], **data: str
) -> list[dict[str, Any]]:
    """Creates ConfigMaps one after the other; returns what the server stored."""
    return [await client.create(CONFIGMAPS, configmap(n, namespace, **data)) for n in names]
