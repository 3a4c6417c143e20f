"""kube-scheduler calls scheduler extenders over HTTP: the dev cluster's scheduler stand-in does it exactly as
the real kube-scheduler, which the real tier runs for this module.

The module's cluster has 150 nodes and this configuration: profiles ``<scheduler>`` (percentageOfNodesToScore
100) and ``<sampled>`` (adaptive sampling); extender ``a`` (filter, prioritize, bind, weight 2,
nodeCacheCapable), extender ``b`` (filter, prioritize, weight 1, full Node objects) and an ignorable
extender ``c`` that nobody answers, interested only in ``example.com/widget``, which the scheduler itself
ignores.

* Dev cluster: a cluster of its own with 150 fake nodes, whose scheduler stand-in runs this configuration
  (profiles ``grove-scheduler`` and ``grove-sampled``).
* Real tier: a kube-scheduler of the tier's binaries runs it (profiles ``extender-test-scheduler`` and
  ``extender-test-sampled``, which no other scheduler serves; admin credentials, no leader election) for
  this module, over the session's 40 fake nodes and Node objects added up to 150 (no kubelet: the pods bound
  there never run, so the module's pods tolerate every taint; the added nodes carry a taint of their own so
  no other scheduler puts a pod there). The binder extender binds with the admin's client certificate.
  Where the dev cluster's test reads the stand-in's queue, kube-scheduler's own ``scheduler_pending_pods``
  metric is read (its secure port serves ``/metrics`` without authentication here).
"""

from __future__ import annotations

import contextlib
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml
from fake_extender import FakeExtender
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from simulation_helpers import TOLERATE_EVERYTHING, condition, pod, read, unschedulable_message

from grove.devcluster import ThreadedDevCluster
from grove.devcluster.meta import rfc3339
from grove.devcluster.nodes import NodeFleet, NodeShape
from grove.devcluster.schedconfig import load_scheduler_config
from grove.devcluster.simulation import SimulationOptions
from grove.envtest.controlplane import free_port
from grove.runtime.client import Client
from grove.runtime.errors import NotFound
from grove.runtime.resources import NODES as NODE_RESOURCE

Wait = Callable[..., Awaitable[Any]]

NODES = 150
# The real tier's added nodes: a taint only this module's pods tolerate (they tolerate every taint).
EXTRA_TAINT = {"key": "grove.test/extender-nodes", "value": "true", "effect": "NoSchedule"}
EXTRA_PREFIX = "extender-node-"
SCHEDULER_PROCESS = "extender-test-scheduler"


@dataclass
class Env:
    kubeconfig: str
    extender: FakeExtender
    nodes: list[str]
    """Every node's name, sorted: ``node(i)`` is the i-th."""
    scheduler: str
    sampled: str
    dev: ThreadedDevCluster | None = None
    tolerations: list[dict[str, Any]] | None = None
    metrics_url: str = ""
    own_namespaces: bool = field(default=True)

    def node(self, i: int) -> str:
        return self.nodes[i]


def scheduler_config(base: str, scheduler: str, sampled: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "profiles": [
            {"schedulerName": scheduler, "percentageOfNodesToScore": 100},
            {"schedulerName": sampled},
        ],
        "extenders": [
            {
                "urlPrefix": f"{base}/a",
                "filterVerb": "filter",
                "prioritizeVerb": "prioritize",
                "bindVerb": "bind",
                "weight": 2,
                "nodeCacheCapable": True,
                "httpTimeout": "5s",
            },
            {
                "urlPrefix": f"{base}/b/",
                "filterVerb": "filter",
                "prioritizeVerb": "prioritize",
                "weight": 1,
                "nodeCacheCapable": False,
            },
            {
                "urlPrefix": "http://127.0.0.1:1/c",
                "filterVerb": "filter",
                "ignorable": True,
                "httpTimeout": "1s",
                "managedResources": [{"name": "example.com/widget", "ignoredByScheduler": True}],
            },
        ],
    }


@pytest.fixture(scope="module")
def env(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if cluster.dev is None and cluster.k8s is None:
        pytest.skip(
            "needs a scheduler configured with this test's extender: the dev cluster or the real tier"
        )
    extender = FakeExtender()
    base = extender.start()
    try:
        if cluster.k8s is not None:
            with _real_tier_env(cluster.k8s, extender, base, tmp_path_factory) as env:
                yield env
            return
        config = scheduler_config(base, "grove-scheduler", "grove-sampled")
        path: Path = tmp_path_factory.mktemp("scheduler") / "scheduler.yaml"
        path.write_text(yaml.safe_dump(config))
        options = SimulationOptions(start_delay=0.05, scheduler_config=load_scheduler_config(path))
        dev = ThreadedDevCluster(port=0, nodes=NODES, simulation=options)
        dev.start()
        extender.cluster_url = dev.url
        try:
            names = [f"fake-node-{i:03d}" for i in range(NODES)]
            yield Env(dev.kubeconfig_path, extender, names, "grove-scheduler", "grove-sampled", dev=dev)
        finally:
            dev.stop()
    finally:
        extender.stop()


async def _node_names(client: Client) -> list[str]:
    return sorted(n["metadata"]["name"] for n in (await client.list(NODE_RESOURCE)).items)


async def _add_nodes(kubeconfig: str, count: int) -> list[str]:
    """``count`` Node objects (``extender-node-NNN``, Ready, as the fake nodes look but for their taint)."""
    fleet = NodeFleet(count, NodeShape(name_prefix=EXTRA_PREFIX, taints=(EXTRA_TAINT,)))
    now = rfc3339(time.time())
    client = await Client.connect(kubeconfig)
    try:
        for name in fleet.names:
            node = fleet.node_object(name, now)
            for c in node["status"]["conditions"]:
                c["lastTransitionTime"] = now
            await client.create(NODE_RESOURCE, node)
        return await _node_names(client)
    finally:
        await client.close()


async def _remove_nodes(kubeconfig: str) -> None:
    client = await Client.connect(kubeconfig)
    try:
        for name in await _node_names(client):
            if name.startswith(EXTRA_PREFIX):
                with contextlib.suppress(NotFound):
                    await client.delete(NODE_RESOURCE, name)
    finally:
        await client.close()


def _wait_ready(url: str, timeout: float = 60.0) -> None:
    """Poll kube-scheduler's ``/readyz`` (its informers synced) until it answers 200."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", context=context, timeout=5) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    raise AssertionError(f"the extender test's kube-scheduler not ready after {timeout}s: {last}")


@contextlib.contextmanager
def _real_tier_env(
    tier: Any, extender: FakeExtender, base: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    plane, stack = tier.plane, tier.stack
    admin = str(plane.kubeconfig_path)
    extender.cluster_url = plane.server
    extender.cluster_ssl = plane.ssl_context()

    async def existing() -> list[str]:
        client = await Client.connect(admin)
        try:
            return await _node_names(client)
        finally:
            await client.close()

    have = stack.call(existing)
    scheduler, sampled = "extender-test-scheduler", "extender-test-sampled"
    config = scheduler_config(base, scheduler, sampled)
    config["clientConnection"] = {"kubeconfig": admin}
    config["leaderElection"] = {"leaderElect": False}
    path: Path = tmp_path_factory.mktemp("scheduler") / "scheduler.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    try:
        nodes = stack.call(_add_nodes, admin, NODES - len(have), timeout=120.0)
        plane.spawn(
            SCHEDULER_PROCESS,
            [
                str(plane.bin_dir / "kube-scheduler"),
                f"--config={path}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            ],
        )
        url = f"https://127.0.0.1:{port}"
        _wait_ready(url)
        yield Env(
            admin,
            extender,
            nodes,
            scheduler,
            sampled,
            tolerations=TOLERATE_EVERYTHING,
            metrics_url=f"{url}/metrics",
            own_namespaces=False,
        )
    finally:
        plane.stop_process(SCHEDULER_PROCESS)
        stack.call(_remove_nodes, admin, timeout=120.0)


@pytest_asyncio.fixture
async def core(env: Env) -> AsyncIterator[k8s.CoreV1Api]:
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=env.kubeconfig, client_configuration=configuration)
    async with k8s.ApiClient(configuration) as api:
        yield k8s.CoreV1Api(api)


@pytest_asyncio.fixture
async def ns(env: Env, core: k8s.CoreV1Api, namespace: str) -> AsyncIterator[str]:
    """A namespace in the extender cluster (the dev cluster's own; on the real tier the test's); its pods
    are removed at once afterwards."""
    env.extender.reset()
    if env.own_namespaces:
        await core.create_namespace({"metadata": {"name": namespace}})
    yield namespace
    await core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
    if env.own_namespaces:
        await core.delete_namespace(namespace)
    env.extender.reset()


def grove_pod(env: Env, name: str, *, sampled: bool = False, **kw: Any) -> dict[str, Any]:
    """A pod of the module's scheduler (its sampling profile with ``sampled``)."""
    kw.setdefault("tolerations", env.tolerations)
    return pod(name, schedulerName=env.sampled if sampled else env.scheduler, **kw)


async def _bound(core: k8s.CoreV1Api, namespace: str, name: str) -> k8s.V1Pod | None:
    p = await read(core, namespace, name)
    return p if p is not None and p.spec.node_name else None


async def _failed(core: k8s.CoreV1Api, namespace: str, name: str, reason: str) -> k8s.V1Pod | None:
    p = await read(core, namespace, name)
    c = condition(p, "PodScheduled") if p is not None else None
    return p if c is not None and c.status == "False" and c.reason == reason else None


async def _pending_unschedulable_is(metrics_url: str, value: float) -> bool:
    """Whether kube-scheduler's ``scheduler_pending_pods{queue="unschedulable"}`` (pods parked until an
    event) is ``value``."""
    async with aiohttp.ClientSession() as session, session.get(metrics_url, ssl=False) as resp:
        text = await resp.text()
    m = re.search(r'^scheduler_pending_pods\{queue="unschedulable"\} (\S+)$', text, re.MULTILINE)
    return m is not None and float(m.group(1)) == value


async def test_filters_run_in_turn_on_what_is_still_feasible_in_both_node_cache_modes(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    ext = env.extender
    ext.failed["a"] = {env.node(i): "rack full" for i in range(len(env.nodes)) if i not in (5, 6, 7)}
    ext.unresolvable["b"] = {env.node(6): "not in gang block"}
    await core.create_namespaced_pod(ns, grove_pod(env, "filtered"))
    p = await wait_for(lambda: _bound(core, ns, "filtered"), message="pod bound")
    assert p.spec.node_name in (env.node(5), env.node(7))

    [a_args] = ext.calls_for("a", "filter", "filtered")
    assert a_args["Nodes"] is None and sorted(a_args["NodeNames"]) == env.nodes
    pod_json = a_args["Pod"]
    assert "kind" not in pod_json and "apiVersion" not in pod_json
    assert pod_json["metadata"]["namespace"] == ns and pod_json["spec"]["schedulerName"] == env.scheduler

    [b_args] = ext.calls_for("b", "filter", "filtered")
    assert b_args["NodeNames"] is None
    items = b_args["Nodes"]["items"]
    assert sorted(n["metadata"]["name"] for n in items) == [env.node(5), env.node(6), env.node(7)]
    assert "kind" not in items[0] and items[0]["status"]["allocatable"]["cpu"] == "8"
    # Prioritize only sees the two nodes left.
    [a_prio] = ext.calls_for("a", "prioritize", "filtered")
    assert sorted(a_prio["NodeNames"]) == [env.node(5), env.node(7)]


async def test_extender_scores_are_weighted_and_added_to_the_plugin_scores(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    ext = env.extender
    ext.scores["a"] = {env.node(42): 10}
    ext.scores["b"] = {env.node(17): 10}
    await core.create_namespaced_pod(ns, grove_pod(env, "prioritized"))
    p = await wait_for(lambda: _bound(core, ns, "prioritized"), message="pod bound")
    # a's 10 x weight 2 x 10 = 200 beats b's 10 x 1 x 10 = 100.
    assert p.spec.node_name == env.node(42)
    [b_prio] = ext.calls_for("b", "prioritize", "prioritized")
    assert b_prio["NodeNames"] is None and len(b_prio["Nodes"]["items"]) == len(env.nodes)


async def test_binder_extender_binds_instead_of_the_scheduler(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    await core.create_namespaced_pod(ns, grove_pod(env, "bound-by-extender"))
    p = await wait_for(lambda: _bound(core, ns, "bound-by-extender"), message="pod bound")
    [args] = env.extender.calls_for("a", "bind", "bound-by-extender")
    assert args == {
        "PodName": "bound-by-extender",
        "PodNamespace": ns,
        "PodUID": p.metadata.uid,
        "Node": p.spec.node_name,
    }


async def test_failed_and_unresolvable_nodes_shape_the_unschedulable_message(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    ext = env.extender
    ext.failed["a"] = {env.node(i): "rack full" for i in range(1, len(env.nodes), 2)}
    ext.unresolvable["b"] = {env.node(i): "not in gang block" for i in range(0, len(env.nodes), 2)}
    await core.create_namespaced_pod(ns, grove_pod(env, "rejected"))
    p = await wait_for(lambda: _failed(core, ns, "rejected", "Unschedulable"), message="pod unschedulable")
    half = len(env.nodes) // 2
    assert condition(p, "PodScheduled").message == unschedulable_message(
        f"{half} not in gang block, {half} rack full",
        f"{half} No preemption victims found for incoming pod, "
        f"{half} Preemption is not helpful for scheduling",
        len(env.nodes),
    )
    assert not ext.calls_for("a", "prioritize", "rejected")


async def test_extender_errors_fail_the_scheduling_attempt(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    env.extender.errors["a"] = "planner exploded"
    await core.create_namespaced_pod(ns, grove_pod(env, "errored"))
    p = await wait_for(lambda: _failed(core, ns, "errored", "SchedulerError"), message="SchedulerError")
    assert condition(p, "PodScheduled").message == "planner exploded"

    del env.extender.errors["a"]
    env.extender.status["b"] = 500
    await core.create_namespaced_pod(ns, grove_pod(env, "http-error"))
    p = await wait_for(lambda: _failed(core, ns, "http-error", "SchedulerError"), message="SchedulerError")
    expected = f"failed filter with extender at URL {env.extender.url}/b/filter, code 500"
    assert condition(p, "PodScheduled").message == expected


async def test_uninterested_and_ignorable_extenders_do_not_block_scheduling(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    widget = {"requests": {"example.com/widget": "1"}, "limits": {"example.com/widget": "1"}}
    spec = grove_pod(env, "widget")
    spec["spec"]["containers"][0]["resources"] = widget
    await core.create_namespaced_pod(ns, spec)
    # Extender c is interested (the pod asks for its resource) but unreachable and ignorable; the
    # scheduler does not check example.com/widget itself (ignoredByScheduler).
    await wait_for(lambda: _bound(core, ns, "widget"), message="widget pod bound")
    # Pods of the cluster's default scheduler never reach the configured extenders.
    await core.create_namespaced_pod(ns, pod("plain"))
    await wait_for(lambda: _bound(core, ns, "plain"), message="default-scheduler pod bound")
    assert not env.extender.calls_for("a", "filter", "plain")


async def test_percentage_of_nodes_to_score_samples_nodes_round_robin(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    seen = []
    for name in ("sampled-1", "sampled-2"):
        await core.create_namespaced_pod(ns, grove_pod(env, name, sampled=True))
        await wait_for(lambda name=name: _bound(core, ns, name), message=f"{name} bound")
        [args] = env.extender.calls_for("a", "filter", name)
        seen.append(set(args["NodeNames"]))
    # 150 nodes: adaptive 49% is below the 100-node minimum, so 100 nodes are sent, the next search
    # starting where the previous one stopped.
    assert [len(s) for s in seen] == [100, 100]
    if env.dev is None:
        # kube-scheduler's start index also moves with its other scheduling cycles (retries of pods it
        # cannot place), so on a real one the second search only starts past the first one's start.
        assert len(seen[0] | seen[1]) > 100
    else:
        assert len(seen[0] & seen[1]) == 50 and len(seen[0] | seen[1]) == len(env.nodes)


async def test_a_pod_only_an_extender_rejected_waits_for_a_cluster_event(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    # kube-scheduler parks it with the Extender rejector (kubernetes#122019): its own PodScheduled write
    # brings it back once, after its backoff; then only a node or bound-pod event does.
    env.extender.failed["a"] = {env.node(i): "not yet" for i in range(len(env.nodes))}
    await core.create_namespaced_pod(ns, grove_pod(env, "parked"))
    await wait_for(lambda: _failed(core, ns, "parked", "Unschedulable"), message="pod unschedulable")
    await wait_for(lambda: len(env.extender.calls_for("a", "filter", "parked")) >= 2, message="one retry")
    if env.dev is not None:
        dev = env.dev
        queue = dev.cluster.simulation.scheduler.queue  # type: ignore[union-attr]

        def where() -> str:
            qp = queue.pods.get(f"{ns}/parked")
            return qp.where if qp is not None else ""

        await wait_for(lambda: dev.call(where) == "unschedulable", message="pod parked")
    else:
        # The module's kube-scheduler has no other pod: its one unschedulable pod is this one.
        await wait_for(
            lambda: _pending_unschedulable_is(env.metrics_url, 1.0),
            timeout=30,
            message="pod parked (scheduler_pending_pods{queue=unschedulable} 1)",
        )
    del env.extender.failed["a"]
    # A bound pod appearing is an event the Extender rejector is registered for.
    await core.create_namespaced_pod(ns, pod("bound", nodeName=env.node(7)))
    p = await wait_for(lambda: _bound(core, ns, "parked"), message="pod bound after the event")
    assert p.spec.node_name
