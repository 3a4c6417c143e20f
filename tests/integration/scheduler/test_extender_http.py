"""The extender's HTTP protocol over a real aiohttp server on loopback, as kube-scheduler calls it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from grove.scheduler.extender import Extender
from grove.scheduler.ledger import Ledger
from grove.scheduler.metrics import SchedulerMetrics
from grove.scheduler.server import ServerConfig, build_app, start
from grove.scheduler.synthetic import RACK_KEY, GroupSpec, cluster_topology, fleet, pod, podgang

NODES = fleet(1, 2, 3, 2, cpu="2", memory="8Gi")
NAMES = [n["metadata"]["name"] for n in NODES]


@dataclass
class FakeBinder:
    """Our binder seam: records bindings instead of POSTing pods/binding; can be told to fail."""

    calls: list[tuple[str, str, str, str]] = field(default_factory=list)
    fail: str | None = None

    async def __call__(self, namespace: str, name: str, uid: str, node: str) -> None:
        if self.fail:
            raise RuntimeError(self.fail)
        self.calls.append((namespace, name, uid, node))


@dataclass
class Harness:
    url: str
    session: aiohttp.ClientSession
    ledger: Ledger
    binder: FakeBinder
    registry: CollectorRegistry

    async def post(self, verb: str, body: Any) -> Any:
        async with self.session.post(f"{self.url}/{verb}", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()


async def _harness(config: ServerConfig) -> AsyncIterator[Harness]:
    registry = CollectorRegistry()
    metrics = SchedulerMetrics(registry)
    ledger = Ledger(metrics=metrics)
    ledger.on_topology_upsert(cluster_topology())
    for n in NODES:
        ledger.on_node_upsert(n)
    binder = FakeBinder()
    runner, port = await start(build_app(Extender(ledger, binder, metrics), config), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            yield Harness(f"http://127.0.0.1:{port}{config.url_prefix}", session, ledger, binder, registry)
    finally:
        await runner.cleanup()


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    async for harness in _harness(ServerConfig()):
        yield harness


def _gang(h: Harness, name: str, n: int) -> list[dict[str, Any]]:
    names = [f"{name}-{i}" for i in range(n)]
    pods = [pod(p, gang=name, cpu="2") for p in names]
    for p in pods:
        h.ledger.on_pod_upsert(p)
    h.ledger.on_podgang_upsert(podgang(name, [GroupSpec(f"{name}-w", names)], required=RACK_KEY))
    return pods


def _args(p: dict[str, Any], cache_capable: bool = True) -> dict[str, Any]:
    if cache_capable:
        return {"Pod": p, "Nodes": None, "NodeNames": list(NAMES)}
    return {"Pod": p, "Nodes": {"metadata": {}, "items": NODES}, "NodeNames": None}


FILTER_KEYS = {"Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"}


async def test_gang_pods_with_node_cache(h: Harness) -> None:
    pods = _gang(h, "g", 2)
    chosen = []
    for p in pods:
        result = await h.post("filter", _args(p))
        assert set(result) == FILTER_KEYS
        assert result["Nodes"] is None and result["Error"] == ""
        assert len(result["NodeNames"]) == 1
        node = result["NodeNames"][0]
        assert set(result["FailedNodes"]) == set(NAMES) - {node}
        assert (
            result["FailedNodes"][NAMES[0] if NAMES[0] != node else NAMES[1]]
            == f"pod is planned on node {node}"
        )
        assert result["FailedAndUnresolvableNodes"] == {}
        scores = await h.post("prioritize", _args(p))
        assert scores == [{"Host": n, "Score": 10 if n == node else 0} for n in NAMES]
        meta = p["metadata"]
        bound = await h.post(
            "bind", {"PodName": meta["name"], "PodNamespace": "default", "PodUID": meta["uid"], "Node": node}
        )
        assert bound == {"Error": ""}
        chosen.append(node)
    assert len({n.rsplit("-", 1)[0] for n in chosen}) == 1
    assert h.binder.calls == [("default", f"g-{i}", f"uid-default-g-{i}", chosen[i]) for i in range(2)]
    assert h.ledger.pods["default/g-0"].node_name == chosen[0]


async def test_gang_pods_with_full_node_objects(h: Harness) -> None:
    pods = _gang(h, "g", 2)
    result = await h.post("filter", _args(pods[0], cache_capable=False))
    assert set(result) == FILTER_KEYS
    assert result["NodeNames"] is None
    items = result["Nodes"]["items"]
    assert len(items) == 1
    planned = items[0]["metadata"]["name"]
    assert items[0] == next(n for n in NODES if n["metadata"]["name"] == planned)
    assert set(result["FailedNodes"]) == set(NAMES) - {planned}
    scores = await h.post("prioritize", _args(pods[0], cache_capable=False))
    assert {s["Host"]: s["Score"] for s in scores}[planned] == 10


async def test_pods_outside_any_gang_pass_through(h: Harness) -> None:
    plain = pod("web-0", cpu="1", scheduler_name="grove-scheduler")
    result = await h.post("filter", _args(plain))
    assert result == {
        "Nodes": None,
        "NodeNames": NAMES,
        "FailedNodes": {},
        "FailedAndUnresolvableNodes": {},
        "Error": "",
    }
    full = await h.post("filter", _args(plain, cache_capable=False))
    assert full["Nodes"]["items"] == NODES
    assert await h.post("prioritize", _args(plain)) == [{"Host": n, "Score": 0} for n in NAMES]
    assert await h.post(
        "bind", {"PodName": "web-0", "PodNamespace": "default", "PodUID": "u", "Node": NAMES[3]}
    ) == {"Error": ""}
    assert h.binder.calls == [("default", "web-0", "u", NAMES[3])]


async def test_gang_that_cannot_fit_is_rejected_all_or_nothing(h: Harness) -> None:
    pods = _gang(h, "big", 3)
    message = "gang default/big needs 3 pods (6 cpu, 3Gi) in one rack; the largest free rack fits 2"
    for p in pods:
        result = await h.post("filter", _args(p))
        assert result["NodeNames"] == []
        assert result["FailedNodes"] == {}
        assert result["FailedAndUnresolvableNodes"] == dict.fromkeys(NAMES, message)
        assert await h.post("prioritize", _args(p)) == [{"Host": n, "Score": 0} for n in NAMES]
    assert h.binder.calls == []


async def test_gang_not_ready_is_an_error_so_the_scheduler_retries(h: Harness) -> None:
    early = pod("early-0", gang="early", cpu="1")
    h.ledger.on_pod_upsert(early)
    result = await h.post("filter", _args(early))
    assert result["Error"] == "PodGang default/early does not exist yet"
    assert (result["NodeNames"], result["FailedNodes"], result["FailedAndUnresolvableNodes"]) == ([], {}, {})
    h.ledger.on_podgang_upsert(podgang("early", [GroupSpec("w", ["early-0", "early-1"])]))
    assert 'grove_scheduler_extender_requests_total{outcome="retry",verb="filter"} 1.0' in (
        generate_latest(h.registry).decode()
    )
    result = await h.post("filter", _args(early))
    # The pod not seen yet borrows its sibling's spec: the whole gang is planned at once.
    assert result["Error"] == "" and len(result["NodeNames"]) == 1


async def test_planned_node_missing_from_candidates_is_replanned(h: Harness) -> None:
    pods = _gang(h, "g", 1)
    first = (await h.post("filter", _args(pods[0])))["NodeNames"][0]
    args = _args(pods[0])
    args["NodeNames"] = [n for n in NAMES if n != first]
    result = await h.post("filter", args)
    assert len(result["NodeNames"]) == 1 and result["NodeNames"][0] != first


async def test_bind_failure_and_malformed_requests(h: Harness) -> None:
    h.binder.fail = "pods/binding: 409 Conflict"
    result = await h.post(
        "bind", {"PodName": "x", "PodNamespace": "default", "PodUID": "u", "Node": NAMES[0]}
    )
    assert result == {"Error": f"binding default/x to {NAMES[0]}: pods/binding: 409 Conflict"}
    assert await h.post("bind", {"PodNamespace": "default", "Node": "n"}) == {"Error": "PodName: required"}
    assert await h.post("filter", {"NodeNames": NAMES}) == {
        "Error": "Pod: must be a Pod object with metadata.name"
    }
    bad_nodes = await h.post("filter", {"Pod": pod("p"), "NodeNames": "n1"})
    assert bad_nodes == {"Error": "NodeNames: must be a list of node names"}
    async with h.session.post(f"{h.url}/filter", data=b"{not json") as resp:
        assert resp.status == 400
        assert (await resp.json())["Error"].startswith("request body is not JSON")


async def test_metrics_and_health(h: Harness) -> None:
    pods = _gang(h, "g", 1)
    await h.post("filter", _args(pods[0]))
    async with h.session.get(h.url.rsplit("/", 1)[0] + "/metrics") as resp:
        text = await resp.text()
    assert 'grove_scheduler_extender_request_duration_seconds_count{verb="filter"} 1.0' in text
    assert "grove_scheduler_gangs_planned_total 1.0" in text
    assert (
        'grove_scheduler_domain_free{domain="z0/z0-b0",level="block",resource="cpu",topology="default"}'
        in text
    )
    async with h.session.get(h.url.rsplit("/", 1)[0] + "/healthz") as resp:
        assert resp.status == 200


async def test_every_call_series_exists_at_zero_before_the_first_call(h: Harness) -> None:
    async with h.session.get(h.url.rsplit("/", 1)[0] + "/metrics") as resp:
        text = await resp.text()
    for verb in ("filter", "prioritize", "bind"):
        for outcome in ("ok", "retry", "error"):
            assert f'grove_scheduler_extender_requests_total{{outcome="{outcome}",verb="{verb}"}} 0.0' in text
    for outcome in ("ok", "error"):
        assert f'grove_scheduler_pods_bound_total{{outcome="{outcome}"}} 0.0' in text


async def test_custom_prefix_and_verbs() -> None:
    cfg = ServerConfig(url_prefix="/grove/v1", filter_verb="f", prioritize_verb="p", bind_verb="b")
    async for h in _harness(cfg):
        plain = pod("web-0")
        assert (await h.post("f", _args(plain)))["NodeNames"] == NAMES
        assert len(await h.post("p", _args(plain))) == len(NAMES)
        async with h.session.post(f"{h.url}/filter", json=_args(plain)) as resp:
            assert resp.status == 404
