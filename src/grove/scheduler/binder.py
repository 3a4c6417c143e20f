"""The extender's binder: creates a pod's ``Binding`` through the ``pods/binding`` subresource, as
kube-scheduler's DefaultBinder does."""

from __future__ import annotations

from typing import Any

from grove.runtime.client import Client
from grove.scheduler.extender import Binder
from grove.scheduler.kinds import PODS

__all__ = ["api_binder", "binding_body"]


def binding_body(namespace: str, name: str, uid: str, node: str) -> dict[str, Any]:
    """A core/v1 Binding of pod ``namespace/name`` to ``node``; with ``uid`` the API server checks that it
    is still the same pod (a pod recreated under the same name is not bound by mistake)."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid:
        meta["uid"] = uid
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": meta,
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }


def api_binder(client: Client) -> Binder:
    """``await binder(namespace, name, uid, node)`` POSTs the Binding; raises the client's typed errors
    (e.g. ``Conflict`` when the pod is already bound)."""

    async def bind(namespace: str, name: str, uid: str, node: str) -> None:
        await client.create(
            PODS, binding_body(namespace, name, uid, node), namespace, name=name, subresource="binding"
        )

    return bind
