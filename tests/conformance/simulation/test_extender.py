"""The scheduler stand-in calls scheduler extenders over HTTP exactly as kube-scheduler does (dev cluster
only: a real cluster's scheduler cannot be pointed at this test's extender).

The module's cluster has 150 fake nodes and this configuration: profiles ``grove-scheduler``
(percentageOfNodesToScore 100) and ``grove-sampled`` (adaptive sampling); extender ``a`` (filter,
prioritize, bind, weight 2, nodeCacheCapable), extender ``b`` (filter, prioritize, weight 1, full Node
objects) and an ignorable extender ``c`` that nobody answers, interested only in ``example.com/widget``,
which the scheduler itself ignores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from fake_extender import FakeExtender
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from simulation_helpers import condition, pod, read, unschedulable_message

from grove.devcluster import ThreadedDevCluster
from grove.devcluster.schedconfig import load_scheduler_config
from grove.devcluster.simulation import SimulationOptions

Wait = Callable[..., Awaitable[Any]]

pytestmark = pytest.mark.devonly

NODES = 150


@dataclass
class Env:
    dev: ThreadedDevCluster
    extender: FakeExtender


@pytest.fixture(scope="module")
def env(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if cluster.dev is None:
        pytest.skip("needs the dev cluster's scheduler stand-in configured with this test's extender")
    extender = FakeExtender()
    base = extender.start()
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "profiles": [
            {"schedulerName": "grove-scheduler", "percentageOfNodesToScore": 100},
            {"schedulerName": "grove-sampled"},
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
    path: Path = tmp_path_factory.mktemp("scheduler") / "scheduler.yaml"
    path.write_text(yaml.safe_dump(config))
    options = SimulationOptions(start_delay=0.05, scheduler_config=load_scheduler_config(path))
    dev = ThreadedDevCluster(port=0, nodes=NODES, simulation=options)
    dev.start()
    extender.cluster_url = dev.url
    try:
        yield Env(dev, extender)
    finally:
        dev.stop()
        extender.stop()


@pytest_asyncio.fixture
async def core(env: Env) -> AsyncIterator[k8s.CoreV1Api]:
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=env.dev.kubeconfig_path, client_configuration=configuration)
    async with k8s.ApiClient(configuration) as api:
        yield k8s.CoreV1Api(api)


@pytest_asyncio.fixture
async def ns(env: Env, core: k8s.CoreV1Api, namespace: str) -> AsyncIterator[str]:
    """A namespace in the extender cluster; its pods are removed at once afterwards."""
    env.extender.reset()
    await core.create_namespace({"metadata": {"name": namespace}})
    yield namespace
    await core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
    await core.delete_namespace(namespace)
    env.extender.reset()


def grove_pod(name: str, scheduler: str = "grove-scheduler", **kw: Any) -> dict[str, Any]:
    return pod(name, schedulerName=scheduler, **kw)


async def _bound(core: k8s.CoreV1Api, namespace: str, name: str) -> k8s.V1Pod | None:
    p = await read(core, namespace, name)
    return p if p is not None and p.spec.node_name else None


async def _failed(core: k8s.CoreV1Api, namespace: str, name: str, reason: str) -> k8s.V1Pod | None:
    p = await read(core, namespace, name)
    c = condition(p, "PodScheduled") if p is not None else None
    return p if c is not None and c.status == "False" and c.reason == reason else None


def _node(i: int) -> str:
    return f"fake-node-{i:03d}"


async def test_filters_run_in_turn_on_what_is_still_feasible_in_both_node_cache_modes(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    ext = env.extender
    ext.failed["a"] = {_node(i): "rack full" for i in range(NODES) if i not in (5, 6, 7)}
    ext.unresolvable["b"] = {_node(6): "not in gang block"}
    await core.create_namespaced_pod(ns, grove_pod("filtered"))
    p = await wait_for(lambda: _bound(core, ns, "filtered"), message="pod bound")
    assert p.spec.node_name in (_node(5), _node(7))

    [a_args] = ext.calls_for("a", "filter", "filtered")
    assert a_args["Nodes"] is None and sorted(a_args["NodeNames"]) == sorted(_node(i) for i in range(NODES))
    pod_json = a_args["Pod"]
    assert "kind" not in pod_json and "apiVersion" not in pod_json
    assert pod_json["metadata"]["namespace"] == ns and pod_json["spec"]["schedulerName"] == "grove-scheduler"

    [b_args] = ext.calls_for("b", "filter", "filtered")
    assert b_args["NodeNames"] is None
    items = b_args["Nodes"]["items"]
    assert sorted(n["metadata"]["name"] for n in items) == [_node(5), _node(6), _node(7)]
    assert "kind" not in items[0] and items[0]["status"]["allocatable"]["cpu"] == "8"
    # Prioritize only sees the two nodes left.
    [a_prio] = ext.calls_for("a", "prioritize", "filtered")
    assert sorted(a_prio["NodeNames"]) == [_node(5), _node(7)]


async def test_extender_scores_are_weighted_and_added_to_the_plugin_scores(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    ext = env.extender
    ext.scores["a"] = {_node(42): 10}
    ext.scores["b"] = {_node(17): 10}
    await core.create_namespaced_pod(ns, grove_pod("prioritized"))
    p = await wait_for(lambda: _bound(core, ns, "prioritized"), message="pod bound")
    # a's 10 x weight 2 x 10 = 200 beats b's 10 x 1 x 10 = 100.
    assert p.spec.node_name == _node(42)
    [b_prio] = ext.calls_for("b", "prioritize", "prioritized")
    assert b_prio["NodeNames"] is None and len(b_prio["Nodes"]["items"]) == NODES


async def test_binder_extender_binds_instead_of_the_scheduler(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    await core.create_namespaced_pod(ns, grove_pod("bound-by-extender"))
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
    ext.failed["a"] = {_node(i): "rack full" for i in range(1, NODES, 2)}
    ext.unresolvable["b"] = {_node(i): "not in gang block" for i in range(0, NODES, 2)}
    await core.create_namespaced_pod(ns, grove_pod("rejected"))
    p = await wait_for(lambda: _failed(core, ns, "rejected", "Unschedulable"), message="pod unschedulable")
    half = NODES // 2
    assert condition(p, "PodScheduled").message == unschedulable_message(
        f"{half} not in gang block, {half} rack full",
        f"{half} No preemption victims found for incoming pod, "
        f"{half} Preemption is not helpful for scheduling",
        NODES,
    )
    assert not ext.calls_for("a", "prioritize", "rejected")


async def test_extender_errors_fail_the_scheduling_attempt(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    env.extender.errors["a"] = "planner exploded"
    await core.create_namespaced_pod(ns, grove_pod("errored"))
    p = await wait_for(lambda: _failed(core, ns, "errored", "SchedulerError"), message="SchedulerError")
    assert condition(p, "PodScheduled").message == "planner exploded"

    del env.extender.errors["a"]
    env.extender.status["b"] = 500
    await core.create_namespaced_pod(ns, grove_pod("http-error"))
    p = await wait_for(lambda: _failed(core, ns, "http-error", "SchedulerError"), message="SchedulerError")
    expected = f"failed filter with extender at URL {env.extender.url}/b/, code 500"
    assert condition(p, "PodScheduled").message == expected


async def test_uninterested_and_ignorable_extenders_do_not_block_scheduling(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    widget = {"requests": {"example.com/widget": "1"}, "limits": {"example.com/widget": "1"}}
    spec = grove_pod("widget")
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
        await core.create_namespaced_pod(ns, grove_pod(name, scheduler="grove-sampled"))
        await wait_for(lambda name=name: _bound(core, ns, name), message=f"{name} bound")
        [args] = env.extender.calls_for("a", "filter", name)
        seen.append(set(args["NodeNames"]))
    # 150 nodes: adaptive 49% is below the 100-node minimum, so 100 nodes are sent, the next search
    # starting where the previous one stopped.
    assert [len(s) for s in seen] == [100, 100]
    assert len(seen[0] & seen[1]) == 50 and len(seen[0] | seen[1]) == NODES


async def test_a_pod_only_an_extender_rejected_waits_for_a_cluster_event(
    env: Env, core: k8s.CoreV1Api, ns: str, wait_for: Wait
) -> None:
    # kube-scheduler parks it with the Extender rejector (kubernetes#122019): its own PodScheduled write
    # brings it back once, after its backoff; then only a node or bound-pod event does.
    env.extender.failed["a"] = {_node(i): "not yet" for i in range(NODES)}
    await core.create_namespaced_pod(ns, grove_pod("parked"))
    await wait_for(lambda: _failed(core, ns, "parked", "Unschedulable"), message="pod unschedulable")
    await wait_for(lambda: len(env.extender.calls_for("a", "filter", "parked")) >= 2, message="one retry")
    queue = env.dev.cluster.simulation.scheduler.queue  # type: ignore[union-attr]

    def where() -> str:
        qp = queue.pods.get(f"{ns}/parked")
        return qp.where if qp is not None else ""

    await wait_for(lambda: env.dev.call(where) == "unschedulable", message="pod parked")
    del env.extender.failed["a"]
    # A bound pod appearing is an event the Extender rejector is registered for.
    await core.create_namespaced_pod(ns, pod("bound", nodeName=_node(7)))
    p = await wait_for(lambda: _bound(core, ns, "parked"), message="pod bound after the event")
    assert p.spec.node_name
