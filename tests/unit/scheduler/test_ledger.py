"""The reservation ledger: plan on first sight, reservations, expiry, re-plans, bindings, rebuild."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from grove.scheduler.ledger import GangEvent, Ledger, LedgerConfig, NotGang, Placed, Unschedulable, Waiting
from grove.scheduler.metrics import SchedulerMetrics
from grove.scheduler.synthetic import RACK_KEY, GroupSpec, cluster_topology, fleet, node, pod, podgang


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _rack(n: str) -> str:
    return n.rsplit("-", 1)[0]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def ledger(clock: Clock, registry: CollectorRegistry) -> Ledger:
    led = Ledger(
        config=LedgerConfig(plan_ttl=30, retry_interval=1), clock=clock, metrics=SchedulerMetrics(registry)
    )
    led.on_topology_upsert(cluster_topology())
    for n in fleet(1, 1, 3, 2, cpu="2", memory="8Gi"):
        led.on_node_upsert(n)
    return led


def _gang(
    led: Ledger, name: str, n: int, *, cpu: str = "2", min_replicas: int | None = None
) -> list[dict[str, Any]]:
    names = [f"{name}-{i}" for i in range(n)]
    pods = [pod(p, gang=name, cpu=cpu) for p in names]
    for p in pods:
        led.on_pod_upsert(p)
    led.on_podgang_upsert(podgang(name, [GroupSpec(f"{name}-w", names, min_replicas)], required=RACK_KEY))
    return pods


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_first_filter_plans_and_reserves_the_whole_gang(ledger: Ledger, registry: CollectorRegistry) -> None:
    pods = _gang(ledger, "g", 2)
    first = ledger.decide(pods[0])
    assert isinstance(first, Placed)
    gang = ledger.gangs["default/g"]
    assert set(gang.planned) == {"default/g-0", "default/g-1"}
    assert len({_rack(n) for n in gang.planned.values()}) == 1
    second = ledger.decide(pods[1])
    assert second == Placed(gang.planned["default/g-1"])
    assert ledger.planned_node("default/g-1") == second.node
    for node_name in gang.planned.values():
        assert ledger.state.reserved_on(node_name)["cpu"] == 2000
    assert _metric(registry, "grove_scheduler_gangs_planned_total") == 1
    rack = _rack(first.node)
    assert (
        _metric(
            registry,
            "grove_scheduler_domain_free",
            topology="default",
            level="rack",
            domain=f"z0/z0-b0/{rack}",
            resource="cpu",
        )
        == 0
    )


def test_non_gang_pods_and_unready_gangs(ledger: Ledger) -> None:
    assert ledger.decide(pod("plain")) == NotGang()
    assert ledger.decide(pod("orphan", gang="nope")) == Waiting(
        "PodGang default/nope does not exist yet", True
    )
    _gang(ledger, "g", 1)
    assert ledger.decide(pod("extra", gang="g")) == Waiting(
        "pod default/extra is not listed in PodGang default/g yet", retry=True
    )


def test_invalid_podgang_is_unschedulable_with_the_rule(ledger: Ledger) -> None:
    p = pod("x-0", gang="x")
    ledger.on_pod_upsert(p)
    bad = podgang("x", [GroupSpec("x-w", ["x-0"])])
    bad["spec"]["podgroups"][0]["minReplicas"] = -2
    ledger.on_podgang_upsert(bad)
    decision = ledger.decide(p)
    assert isinstance(decision, Unschedulable)
    assert "spec.podgroups[0].minReplicas: must be a non-negative integer" in decision.message


def test_gang_too_large_is_unschedulable_and_reserves_nothing(
    ledger: Ledger, clock: Clock, registry: CollectorRegistry
) -> None:
    pods = _gang(ledger, "big", 3)
    expected = Unschedulable(
        "gang default/big needs 3 pods (6 cpu, 3Gi) in one rack; the largest free rack fits 2"
    )
    assert ledger.decide(pods[0]) == expected
    assert all(not ledger.state.reserved_on(n) for n in ledger.state.nodes)
    assert ledger.decide(pods[1]) == expected
    assert _metric(registry, "grove_scheduler_gangs_failed_total") == 1  # cached: nothing changed
    # A bigger rack appears; the failure is retried once the retry interval has passed.
    ledger.on_node_upsert(
        node(
            "z0-b0-r0-h2",
            {
                "topology.kubernetes.io/zone": "z0",
                "topology.example.com/block": "z0-b0",
                RACK_KEY: "z0-b0-r0",
            },
            cpu="2",
        )
    )
    assert ledger.decide(pods[0]) == expected
    clock.now += 1
    assert isinstance(ledger.decide(pods[0]), Placed)
    assert {_rack(n) for n in ledger.gangs["default/big"].planned.values()} == {"z0-b0-r0"}


def test_plans_expire_when_pods_are_not_bound_in_time(
    ledger: Ledger, clock: Clock, registry: CollectorRegistry
) -> None:
    pods = _gang(ledger, "g", 2)
    assert isinstance(ledger.decide(pods[0]), Placed)
    clock.now += 20
    ledger.record_binding("default/g-0", ledger.gangs["default/g"].planned["default/g-0"])  # progress
    clock.now += 20
    assert ledger.expire() == []
    clock.now += 11
    assert ledger.expire() == ["default/g"]
    assert ledger.gangs["default/g"].planned == {}
    assert sum(ledger.state.reserved_on(n).get("cpu", 0) for n in ledger.state.nodes) == 0
    assert _metric(registry, "grove_scheduler_gangs_expired_total") == 1
    # The bound pod stays; the next filter plans the rest next to it.
    bound_node = ledger.pods["default/g-0"].node_name
    assert bound_node is not None
    again = ledger.decide(pods[1])
    assert isinstance(again, Placed)
    assert _rack(again.node) == _rack(bound_node)


def test_node_lost_mid_plan_triggers_a_new_plan(ledger: Ledger, registry: CollectorRegistry) -> None:
    pods = _gang(ledger, "g", 2)
    first = ledger.decide(pods[0])
    assert isinstance(first, Placed)
    lost = first.node
    ledger.on_node_delete(lost)
    planned = ledger.gangs["default/g"].planned
    assert set(planned) == {"default/g-0", "default/g-1"}
    assert lost not in planned.values()
    assert len({_rack(n) for n in planned.values()}) == 1
    assert ledger.decide(pods[0]) == Placed(planned["default/g-0"])
    assert _metric(registry, "grove_scheduler_gang_replans_total", reason="node-deleted") == 1


def test_node_tainted_under_a_plan_triggers_a_new_plan(ledger: Ledger) -> None:
    pods = _gang(ledger, "g", 2)
    first = ledger.decide(pods[0])
    assert isinstance(first, Placed)
    tainted = next(n for n in fleet(1, 1, 3, 2, cpu="2", memory="8Gi") if n["metadata"]["name"] == first.node)
    tainted["spec"]["taints"] = [{"key": "maintenance", "effect": "NoSchedule"}]
    ledger.on_node_upsert(tainted)
    assert first.node not in ledger.gangs["default/g"].planned.values()


def test_foreign_pod_overcommitting_a_reserved_node_triggers_a_new_plan(ledger: Ledger) -> None:
    pods = _gang(ledger, "g", 2)
    first = ledger.decide(pods[0])
    assert isinstance(first, Placed)
    ledger.on_pod_upsert(pod("intruder", cpu="2", node_name=first.node, scheduler_name="default-scheduler"))
    assert first.node not in ledger.gangs["default/g"].planned.values()
    assert len(ledger.gangs["default/g"].planned) == 2


def test_binding_moves_reservation_to_bound_and_survives_stale_events(ledger: Ledger) -> None:
    pods = _gang(ledger, "g", 1)
    placed = ledger.decide(pods[0])
    assert isinstance(placed, Placed)
    ledger.record_binding("default/g-0", placed.node)
    assert ledger.state.reserved_on(placed.node) == {}
    assert ledger.state.bound_on(placed.node)["cpu"] == 2000
    ledger.on_pod_upsert(pods[0])  # stale event from before the binding (no nodeName)
    assert ledger.state.bound_on(placed.node)["cpu"] == 2000
    ledger.on_pod_upsert(pod("g-0", gang="g", cpu="2", node_name=placed.node))
    assert ledger.state.bound_on(placed.node)["cpu"] == 2000
    done = pod("g-0", gang="g", cpu="2", node_name=placed.node)
    done["status"]["phase"] = "Succeeded"
    ledger.on_pod_upsert(done)
    assert ledger.state.bound_on(placed.node) == {}
    ledger.on_pod_delete(done)
    assert "default/g-0" not in ledger.pods


def test_pod_bound_off_plan_is_counted_and_the_rest_follows_it(
    ledger: Ledger, registry: CollectorRegistry
) -> None:
    pods = _gang(ledger, "g", 2)
    first = ledger.decide(pods[0])
    assert isinstance(first, Placed)
    other_rack = next(n for n in ledger.state.nodes if _rack(n) != _rack(first.node))
    ledger.on_pod_upsert(pod("g-0", gang="g", cpu="2", node_name=other_rack))
    assert _metric(registry, "grove_scheduler_pods_bound_off_plan_total") == 1
    planned = ledger.gangs["default/g"].planned
    assert list(planned) == ["default/g-1"]
    assert _rack(planned["default/g-1"]) == _rack(other_rack)


def test_rebuild_from_cluster_state(clock: Clock) -> None:
    nodes = fleet(1, 1, 3, 2, cpu="2", memory="8Gi")
    bound = pod("g-0", gang="g", cpu="2", node_name="z0-b0-r2-h1")
    pending = pod("g-1", gang="g", cpu="2")
    other = pod("busy", cpu="2", node_name="z0-b0-r2-h0")
    gang = podgang("g", [GroupSpec("g-w", ["g-0", "g-1"])], required=RACK_KEY)
    led = Ledger(clock=clock)
    led.rebuild(nodes=nodes, pods=[bound, pending, other], podgangs=[gang], topologies=[cluster_topology()])
    assert led.state.bound_on("z0-b0-r2-h1")["cpu"] == 2000
    rack = led.state.trees["default"].domain_of("z0-b0-r2-h0", 3)
    assert rack is not None and rack.free["cpu"] == 0
    # The bound pod pins the gang to rack 2, which is full: the rest cannot be placed there.
    decision = led.decide(pending)
    assert decision == Unschedulable(
        "gang default/g needs 1 pod (2 cpu, 1Gi) in one rack;"
        " its bound pods hold it to rack z0/z0-b0/z0-b0-r2, which fits 0"
    )
    led.on_pod_delete(other)
    clock.now += 5
    assert led.decide(pending) == Placed("z0-b0-r2-h0")


def test_pods_not_seen_yet_are_planned_from_a_sibling(ledger: Ledger) -> None:
    seen = pod("g-0", gang="g", cpu="2")
    ledger.on_pod_upsert(seen)
    ledger.on_podgang_upsert(podgang("g", [GroupSpec("g-w", ["g-0", "g-1"])], required=RACK_KEY))
    assert isinstance(ledger.decide(seen), Placed)
    planned = ledger.gangs["default/g"].planned
    assert set(planned) == {"default/g-0", "default/g-1"}
    assert ledger.state.reserved_on(planned["default/g-1"])["cpu"] == 2000
    late = pod("g-1", gang="g", cpu="2")
    ledger.on_pod_upsert(late)
    assert ledger.decide(late) == Placed(planned["default/g-1"])


def test_gang_missing_pods_waits(ledger: Ledger) -> None:
    seen = pod("g-0", gang="g")
    ledger.on_pod_upsert(seen)
    ledger.on_podgang_upsert(podgang("g", [GroupSpec("g-w", ["g-0"], min_replicas=2)]))
    assert ledger.decide(seen) == Waiting("gang default/g: pod group g-w needs 2 pods, 1 exist", retry=True)


def test_podgang_scale_out_keeps_the_plan_and_constraint_change_drops_it(ledger: Ledger) -> None:
    pods = _gang(ledger, "g", 1, cpu="1")
    first = ledger.decide(pods[0])
    assert isinstance(first, Placed)
    extra = pod("g-1", gang="g", cpu="1")
    ledger.on_pod_upsert(extra)
    ledger.on_podgang_upsert(podgang("g", [GroupSpec("g-w", ["g-0", "g-1"], 1)], required=RACK_KEY))
    assert ledger.gangs["default/g"].planned == {"default/g-0": first.node}
    second = ledger.decide(extra)
    assert isinstance(second, Placed)
    assert _rack(second.node) == _rack(first.node)
    ledger.on_podgang_upsert(podgang("g", [GroupSpec("g-w", ["g-0", "g-1"], 1)]))
    assert ledger.gangs["default/g"].planned == {}


def test_optional_pod_without_room_waits(ledger: Ledger) -> None:
    pods = _gang(ledger, "g", 3, min_replicas=2)
    assert isinstance(ledger.decide(pods[0]), Placed)
    gang = ledger.gangs["default/g"]
    assert gang.unplanned == {"default/g-2"}
    decision = ledger.decide(pods[2])
    assert isinstance(decision, Waiting) and not decision.retry
    assert decision.message.startswith("gang default/g: no room for pod default/g-2 beyond minReplicas")


def test_rejected_node_is_excluded_from_the_new_plan(ledger: Ledger, registry: CollectorRegistry) -> None:
    pods = _gang(ledger, "g", 1)
    first = ledger.decide(pods[0])
    assert isinstance(first, Placed)
    ledger.reject_node("default/g-0", first.node)
    second = ledger.decide(pods[0])
    assert isinstance(second, Placed)
    assert second.node != first.node
    assert _metric(registry, "grove_scheduler_gang_replans_total", reason="node-rejected-by-scheduler") == 1


def test_podgang_delete_releases_reservations(ledger: Ledger) -> None:
    pods = _gang(ledger, "g", 2)
    assert isinstance(ledger.decide(pods[0]), Placed)
    ledger.on_podgang_delete(podgang("g", []))
    assert all(not ledger.state.reserved_on(n) for n in ledger.state.nodes)


def test_invalid_objects_are_skipped(ledger: Ledger) -> None:
    bad_node = node("bad")
    bad_node["status"]["allocatable"]["memory"] = "lots"
    ledger.on_node_upsert(bad_node)
    assert "bad" not in ledger.state.nodes
    bad_pod = pod("bad")
    bad_pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "x"
    ledger.on_pod_upsert(bad_pod)
    assert "default/bad" not in ledger.pods
    ledger.on_topology_upsert({"metadata": {"name": "t"}, "spec": {"levels": []}})
    assert "t" not in ledger.state.trees
    ledger.on_topology_delete("default")
    assert "default" not in ledger.state.trees


def test_gang_decisions_are_reported_to_the_listener(clock: Clock) -> None:
    events: list[GangEvent] = []
    led = Ledger(config=LedgerConfig(plan_ttl=30), clock=clock, on_event=events.append)
    led.on_topology_upsert(cluster_topology())
    for n in fleet(1, 1, 2, 2, cpu="2", memory="8Gi"):
        led.on_node_upsert(n)
    big = _gang(led, "big", 3)
    led.decide(big[0])
    ok = _gang(led, "ok", 2)
    placed = led.decide(ok[0])
    assert isinstance(placed, Placed)
    led.on_node_delete(placed.node)
    clock.now += 31
    led.expire()
    assert [(e.gang, e.kind) for e in events] == [
        ("default/big", "unschedulable"),
        ("default/ok", "planned"),
        ("default/ok", "replanned"),
        ("default/ok", "planned"),
        ("default/ok", "expired"),
    ]
    assert events[0].message.startswith("gang default/big needs 3 pods")
    assert events[1].message.startswith("planned 2 pods in rack z0/z0-b0/")
