"""A user's ``kubectl scale`` of a PodClique is never undone by its parent reconciling at the same moment.

The replicas of an existing PodClique belong to it (``kubectl scale pclq``, HPAs). Its parent (the
PodCliqueSet for a standalone PodClique, the scaling group for a member) reconciles for its own reasons at
any time; it must never write back the replicas it read from its cache a moment earlier.

* back to back: the tutorial's own sequence, ``kubectl scale pcs|pcsg`` then at once ``kubectl scale
  pclq``, round after round (the parent's reconcile of the first scale races the second);
* inside the reconcile: the PodCliqueSet is scaled out, and the moment its reconcile stores the new
  replica's Service, the test scales PodClique ``<pcs>-0-model-worker`` (in the dev cluster, inside that
  write; on a real cluster as soon as a watch of the namespace's Services delivers it, while the reconcile
  goes on with the new replica's PodCliques), so the new replicas reach the operator's cache in the middle
  of that reconcile.

The fake containers exit on SIGTERM, so scaled-in pods go at once instead of after the 30 s grace period.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grove.controllers.resources import PODCLIQUES, PODCLIQUESCALINGGROUPS, PODCLIQUESETS
from grove_expect import expected, load_sample, wait_converged

from .scenario import recording

SNA = "single-node-aggregated"
SNA_WORKER = f"{SNA}-0-model-worker"
MNA_GROUP = "multinode-aggregated-0-model-instance"
MNA_WORKER = f"{MNA_GROUP}-0-worker"
ROUNDS = 16


async def test_scale_podclique_right_after_its_podcliqueset(
    operator: Any, namespace: str, client: Any
) -> None:
    manifest = load_sample("single-node-aggregated.yaml", namespace)
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    for k in range(ROUNDS):
        replicas, pods = (2, 3) if k % 2 == 0 else (1, 2)
        await client.scale(PODCLIQUESETS, SNA, replicas, namespace)
        await client.scale(PODCLIQUES, SNA_WORKER, pods, namespace)
        want = expected(manifest, replicas=replicas, pclq_replicas={SNA_WORKER: pods})
        await wait_converged(client, namespace, want, timeout=20, contiguous=False)


async def test_scale_member_podclique_right_after_its_scaling_group(
    operator: Any, namespace: str, client: Any
) -> None:
    manifest = load_sample("multi-node-aggregated.yaml", namespace)
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    for k in range(ROUNDS):
        replicas, pods = (3, 4) if k % 2 == 0 else (2, 3)
        await client.scale(PODCLIQUESCALINGGROUPS, MNA_GROUP, replicas, namespace)
        await client.scale(PODCLIQUES, MNA_WORKER, pods, namespace)
        want = expected(manifest, group_replicas={MNA_GROUP: replicas}, pclq_replicas={MNA_WORKER: pods})
        await wait_converged(client, namespace, want, timeout=20, contiguous=False)


async def test_scale_podclique_inside_a_podcliqueset_reconcile(
    operator: Any, namespace: str, client: Any, cluster: Any
) -> None:
    manifest = load_sample("single-node-aggregated.yaml", namespace)
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest))
    pending: list[int] = []
    scaling: list[asyncio.Task[Any]] = []

    def on_event(rtype: Any, ev: Any) -> None:
        md = ev.object["metadata"]
        if (
            pending
            and rtype.kind == "Service"
            and ev.type == "ADDED"
            and md.get("namespace") == namespace
            and md["name"] == f"{SNA}-1"
        ):
            replicas = pending.pop()
            if cluster.dev is not None:
                patch = {"spec": {"replicas": replicas}}
                cluster.dev.cluster.store.patch(
                    "podcliques.grove.io", SNA_WORKER, patch, namespace, subresource="scale"
                )
            else:
                scaling.append(asyncio.create_task(client.scale(PODCLIQUES, SNA_WORKER, replicas, namespace)))

    async with recording(cluster, client, namespace, on_event):
        for k in range(4):
            pods = 3 + k
            pending.append(pods)
            await client.scale(PODCLIQUESETS, SNA, 2, namespace)
            want = expected(manifest, replicas=2, pclq_replicas={SNA_WORKER: pods})
            await wait_converged(client, namespace, want, timeout=20, contiguous=False)
            assert not pending, "the PodClique was scaled when the new replica's Service was stored"
            await asyncio.gather(*scaling)
            await client.scale(PODCLIQUESETS, SNA, 1, namespace)
            want = expected(manifest, pclq_replicas={SNA_WORKER: pods})
            await wait_converged(client, namespace, want, timeout=20, contiguous=False)
