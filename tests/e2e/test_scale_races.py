"""A user's ``kubectl scale`` of a child landing while its parent reconciles is never undone.

The replicas of an existing PodClique belong to it (``kubectl scale pclq``, HPAs): a PodCliqueSet reconcile
running at the same moment, for its own reasons, must not write back the replicas it read a moment earlier.

Each round scales the PodCliqueSet out, which makes its reconcile create the Service of the new replica
before it syncs the PodCliques; the moment that Service is stored, the test scales PodClique
``<pcs>-0-model-worker`` (in the dev cluster, inside that write). The reconcile has already read the old
replicas, and the new ones reach its cache while it waits for the Service; the PodClique must keep the
user's value.
"""

from __future__ import annotations

from typing import Any

import pytest

from grove.controllers.resources import PODCLIQUESETS
from grove_expect import expected, load_sample, wait_converged

ROUNDS = 4
PCS = "single-node-aggregated"
WORKER = f"{PCS}-0-model-worker"


@pytest.mark.devonly
async def test_scaling_a_podclique_while_its_podcliqueset_reconciles_sticks(
    operator: Any, namespace: str, client: Any, dev: Any
) -> None:
    manifest = load_sample("single-node-aggregated.yaml", namespace)
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    store = dev.cluster.store
    pending: list[int] = []

    def on_event(rtype: Any, ev: Any) -> None:
        md = ev.object["metadata"]
        if pending and rtype.kind == "Service" and ev.type == "ADDED" and md["name"] == f"{PCS}-1":
            replicas = pending.pop()
            if md.get("namespace") == namespace:
                store.patch(
                    "podcliques.grove.io",
                    WORKER,
                    {"spec": {"replicas": replicas}},
                    namespace,
                    subresource="scale",
                )

    unsubscribe = dev.call(store.subscribe, on_event)
    try:
        for k in range(ROUNDS):
            pods = 3 + k
            pending.append(pods)
            await client.scale(PODCLIQUESETS, PCS, 2, namespace)
            want = expected(manifest, replicas=2, pclq_replicas={WORKER: pods})
            await wait_converged(client, namespace, want, timeout=20)
            await client.scale(PODCLIQUESETS, PCS, 1, namespace)
            await wait_converged(
                client, namespace, expected(manifest, pclq_replicas={WORKER: pods}), timeout=20
            )
    finally:
        dev.call(unsubscribe)
