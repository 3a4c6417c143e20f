"""Controllers on real informers: no concurrent reconciles of one key under load, backoff growth and forget,
owner mapping, and expectations preventing double creates while the cache lags."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from runtime_it_helpers import FAST, configmap, create_configmaps

from grove.runtime.client import Client
from grove.runtime.controller import Controller, Request, Result
from grove.runtime.errors import NamespaceTerminating
from grove.runtime.expectations import ControllerExpectations
from grove.runtime.informer import FuncHandler, Informer
from grove.runtime.meta import controller_owner, owner_reference, resource_version_of
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.ratelimit import ItemExponentialFailureRateLimiter
from grove.runtime.resources import CONFIGMAPS, NAMESPACES

WaitFor = Callable[..., Awaitable[Any]]
HOLD = "grove.test/hold"


def sample(metrics: RuntimeMetrics, metric: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(metric, labels) or 0.0


async def test_no_key_is_reconciled_concurrently_under_load(
    client: Client, namespace: str, wait_for: WaitFor
) -> None:
    names = [f"cm-{i}" for i in range(8)]
    await create_configmaps(client, namespace, names, n="0")
    informer = Informer(client, CONFIGMAPS, namespace=namespace, options=FAST)
    in_flight: set[Request] = set()
    violations: list[Request] = []
    last_seen: dict[str, str] = {}

    async def reconcile(req: Request) -> None:
        if req in in_flight:
            violations.append(req)
        in_flight.add(req)
        try:
            # Real I/O inside the reconcile, so workers interleave.
            live = await client.get(CONFIGMAPS, req.name, req.namespace)
            last_seen[req.name] = resource_version_of(live)
        finally:
            in_flight.discard(req)

    metrics = RuntimeMetrics()
    ctrl = Controller("load", reconcile, max_concurrent_reconciles=4, metrics=metrics).for_(informer)
    informer.start()
    await ctrl.start()
    try:

        async def writer(name: str) -> None:
            for i in range(1, 16):
                await client.patch(CONFIGMAPS, name, {"data": {"n": str(i)}}, namespace)

        await asyncio.gather(*(writer(n) for n in names))
        # Only our objects: on a real cluster kube-root-ca.crt is published into the namespace at any moment.
        final = {
            o["metadata"]["name"]: resource_version_of(o)
            for o in (await client.list(CONFIGMAPS, namespace)).items
            if o["metadata"]["name"] in names
        }
        await wait_for(
            lambda: {n: v for n, v in last_seen.items() if n in names} == final,
            timeout=20,
            message="every object reconciled at its final version",
        )
        assert violations == []
        assert sample(
            metrics, "controller_runtime_reconcile_total", controller="load", result="success"
        ) >= len(names)
        assert sample(metrics, "workqueue_adds_total", name="load", controller="load") >= len(names)
    finally:
        await ctrl.stop()
        await informer.stop()


async def test_backoff_grows_while_failing_and_forget_on_success(
    client: Client, namespace: str, wait_for: WaitFor
) -> None:
    await client.create(CONFIGMAPS, configmap("flaky", namespace, broken="yes"))
    # Only this object: another ConfigMap in the namespace (a real cluster's root-CA publisher writes
    # kube-root-ca.crt into every new namespace, at a moment of its choosing) would be reconciled in between
    # and show up in the sequence, e.g. [0, 1, 2, 0, 3].
    informer = Informer(
        client, CONFIGMAPS, namespace=namespace, field_selector="metadata.name=flaky", options=FAST
    )
    requeues_seen: list[int] = []
    ctrl: Controller

    async def reconcile(req: Request) -> Result:
        requeues_seen.append(ctrl.queue.num_requeues(req))
        obj = informer.store.get_by_name(req.namespace, req.name)
        if obj is not None and obj.get("data", {}).get("broken") == "yes":
            raise RuntimeError("still broken")
        return Result(requeue_after=3600)

    metrics = RuntimeMetrics()
    ctrl = Controller(
        "flaky", reconcile, rate_limiter=ItemExponentialFailureRateLimiter(0.005, 1.0), metrics=metrics
    ).for_(informer)
    informer.start()
    await ctrl.start()
    try:
        await wait_for(lambda: len(requeues_seen) >= 5, message="five failed attempts")
        assert requeues_seen[:5] == [0, 1, 2, 3, 4]  # each retry waited one backoff step longer
        await client.patch(CONFIGMAPS, "flaky", {"data": {"broken": "no"}}, namespace)
        await wait_for(
            lambda: (
                sample(
                    metrics, "controller_runtime_reconcile_total", controller="flaky", result="requeue_after"
                )
                >= 1  # the update event and a pending retry may both reconcile it
            ),
            message="a successful reconcile",
        )
        assert ctrl.queue.num_requeues(Request(namespace, "flaky")) == 0  # forgotten
        assert sample(metrics, "controller_runtime_reconcile_errors_total", controller="flaky") >= 5
    finally:
        await ctrl.stop()
        await informer.stop()


async def test_expectations_prevent_double_creates_while_the_cache_lags(
    client: Client, namespace: str, wait_for: WaitFor
) -> None:
    """A parent ConfigMap wants 3 child ConfigMaps. The child informer is stopped (its cache lags) while the
    parent is reconciled twice: without expectations the second pass creates 3 more, with them it waits."""
    parents = Informer(client, CONFIGMAPS, namespace=namespace, label_selector="role=parent", options=FAST)
    children = Informer(client, CONFIGMAPS, namespace=namespace, label_selector="role=child", options=FAST)

    def make_reconcile(
        use_expectations: bool, exp: ControllerExpectations
    ) -> Callable[[Request], Awaitable[None]]:
        async def reconcile(req: Request) -> None:
            key = str(req)
            parent = parents.store.get_by_name(req.namespace, req.name)
            if parent is None:
                return
            if use_expectations and not exp.satisfied(key):
                return
            have = [
                c
                for c in children.store.list(namespace=req.namespace)
                if (ref := controller_owner(c)) is not None and ref.get("uid") == parent["metadata"]["uid"]
            ]
            missing = 3 - len(have)
            if missing <= 0:
                return
            if use_expectations:
                exp.expect_creations(key, missing)
            for _ in range(missing):
                body = configmap("", req.namespace)
                body["metadata"] = {
                    "generateName": f"{req.name}-",
                    "namespace": req.namespace,
                    "labels": {"role": "child", "parent": req.name},
                    "ownerReferences": [owner_reference(parent)],
                }
                await client.create(CONFIGMAPS, body)

        return reconcile

    async def run_case(parent_name: str, use_expectations: bool) -> int:
        exp = ControllerExpectations()
        reconciles = 0
        inner = make_reconcile(use_expectations, exp)

        async def reconcile(req: Request) -> None:
            nonlocal reconciles
            await inner(req)
            reconciles += 1

        def observed(obj: dict[str, Any], *_: Any) -> None:
            ref = controller_owner(obj)
            if ref is not None:
                exp.creation_observed(f"{namespace}/{ref['name']}")

        reg = children.add_event_handler(FuncHandler(add=observed))
        ctrl = Controller(f"parent-{parent_name}", reconcile).for_(parents).owns(children, CONFIGMAPS)
        await ctrl.start()
        try:
            await children.stop()  # from here on the child cache lags behind the server
            parent = await client.create(
                CONFIGMAPS,
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": parent_name, "namespace": namespace, "labels": {"role": "parent"}},
                },
            )
            assert parent["metadata"]["uid"]
            await wait_for(lambda: reconciles >= 1, message="the first reconcile")
            ctrl.enqueue(Request(namespace, parent_name))
            await wait_for(lambda: reconciles >= 2, message="the second reconcile on a stale cache")
            children.start()  # the cache catches up (relist), observing the creates
            await wait_for(
                lambda: len(children.store.list(labels={"parent": parent_name})) >= 3,
                message="child cache caught up",
            )
            if use_expectations:
                await wait_for(
                    lambda: exp.satisfied(f"{namespace}/{parent_name}"), message="expectations met"
                )
            ctrl.enqueue(Request(namespace, parent_name))
            await wait_for(lambda: reconciles >= 3, message="a reconcile on the fresh cache")
            server = await client.list(CONFIGMAPS, namespace, label_selector=f"parent={parent_name}")
            return len(server.items)
        finally:
            await ctrl.stop()
            children.remove_event_handler(reg)

    parents.start()
    children.start()
    try:
        await wait_for(lambda: parents.has_synced() and children.has_synced())
        assert await run_case("unguarded", use_expectations=False) == 6  # the hazard is real
        assert await run_case("guarded", use_expectations=True) == 3
    finally:
        await parents.stop()
        await children.stop()


async def test_a_create_refused_by_a_terminating_namespace_ends_the_reconcile(
    client: Client, wait_for: WaitFor
) -> None:
    """The namespace is being deleted (held by a finalizer): a reconcile whose create is refused for that is
    over, neither retried with backoff nor counted as an error."""
    namespace = f"t-term-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    hold = {**configmap("hold", namespace), "metadata": {"name": "hold", "finalizers": [HOLD]}}
    await client.create(CONFIGMAPS, hold, namespace)
    await client.delete(NAMESPACES, namespace)
    refused: list[NamespaceTerminating] = []
    ctrl: Controller | None = None
    informer = Informer(
        client, CONFIGMAPS, namespace=namespace, field_selector="metadata.name=hold", options=FAST
    )
    try:
        # kube-apiserver's admission sees the deletion through its cache: wait until creates are refused.
        async def refusing() -> bool:
            try:
                await client.create(CONFIGMAPS, configmap("probe", namespace), namespace)
            except NamespaceTerminating:
                return True
            return False

        await wait_for(refusing, timeout=30, message="creates refused in the terminating namespace")

        async def reconcile(req: Request) -> None:
            try:
                await client.create(CONFIGMAPS, configmap("child", namespace), namespace)
            except NamespaceTerminating as exc:
                refused.append(exc)
                raise

        metrics = RuntimeMetrics()
        ctrl = Controller(
            "terminating",
            reconcile,
            rate_limiter=ItemExponentialFailureRateLimiter(0.005, 1.0),
            metrics=metrics,
        ).for_(informer)
        informer.start()
        await ctrl.start()

        def succeeded() -> bool:
            total = "controller_runtime_reconcile_total"
            return sample(metrics, total, controller="terminating", result="success") >= 1

        await wait_for(succeeded, message="the refused reconcile counted as done")
        assert refused and refused[0].details["causes"][0]["reason"] == "NamespaceTerminating"
        assert ctrl.queue.num_requeues(Request(namespace, "hold")) == 0, "not retried with backoff"
        assert sample(metrics, "controller_runtime_reconcile_errors_total", controller="terminating") == 0
    finally:
        if ctrl is not None:
            await ctrl.stop()
        await informer.stop()
        await client.patch(CONFIGMAPS, "hold", {"metadata": {"finalizers": None}}, namespace)
