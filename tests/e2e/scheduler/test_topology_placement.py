"""Topology-aware gang placement end to end: a kube-scheduler (the dev cluster's stand-in, or a real one on
the real control plane) serves ``grove-scheduler`` through the extender, pods run on fake kubelets. The
cluster: 8 racks of 5 nodes (8 cpu each), two racks per block; gang pods ask for 7 cpu, so each needs a node
of its own."""

from __future__ import annotations

from collections import Counter
from typing import Any

from placement_helpers import (
    BLOCK,
    RACK,
    Stack,
    Wait,
    bound_nodes,
    create_gang,
    fill,
    pod_body,
    ungate,
)

from grove.devstack import DEV_TOPOLOGY
from grove.runtime.client import Client, PatchType
from grove.runtime.resources import EVENTS
from grove.scheduler.kinds import PODGANGS, PODS
from grove.scheduler.synthetic import GroupSpec, podgang


def _pods(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


async def test_a_gang_that_fits_only_in_one_rack_lands_entirely_in_it(
    stack: Stack, client: Client, ns: str, wait: Wait
) -> None:
    racks = await stack.racks(client)
    target = sorted(racks)[5]
    # One node of every other rack is full: only the target rack has five free nodes.
    await fill(client, ns, [nodes[0] for rack, nodes in racks.items() if rack != target])
    names = await create_gang(
        stack, client, ns, "g", [GroupSpec("w", _pods("w", 5))], cpu="7", required=RACK, wait=wait
    )
    placed = await bound_nodes(client, ns, names, wait)
    assert sorted(placed.values()) == racks[target]


async def test_a_gang_too_large_for_any_rack_stays_pending_with_one_message(
    stack: Stack, client: Client, ns: str, wait: Wait
) -> None:
    names = await create_gang(
        stack, client, ns, "big", [GroupSpec("w", _pods("w", 6))], cpu="7", required=RACK, wait=wait
    )
    message = f"gang {ns}/big needs 6 pods (42 cpu) in one rack; the largest free rack fits 5"
    nodes = sum(len(v) for v in (await stack.racks(client)).values())

    async def all_rejected() -> list[dict[str, Any]] | None:
        pods = (await client.list(PODS, ns)).items
        conds = [
            next((c for c in p["status"].get("conditions", []) if c["type"] == "PodScheduled"), None)
            for p in pods
        ]
        done = len(pods) == len(names) and all(c and c.get("reason") == "Unschedulable" for c in conds)
        return conds if done else None  # type: ignore[return-value]

    for cond in await wait(all_rejected, message="every pod marked Unschedulable"):
        assert cond["status"] == "False"
        # kube-scheduler's FitError: every node failed with the extender's one message, and preemption
        # is not tried (FailedAndUnresolvableNodes).
        assert cond["message"].startswith(f"0/{nodes} nodes are available: {nodes} {message}.")
        assert (
            f"0/{nodes} nodes are available: {nodes} Preemption is not helpful for scheduling."
            in (cond["message"])
        )
    assert all(not p["spec"].get("nodeName") for p in (await client.list(PODS, ns)).items)

    async def gang_event() -> list[dict[str, Any]]:
        return [e for e in (await client.list(EVENTS, ns)).items if e["reason"] == "GangUnschedulable"]

    (event,) = await wait(gang_event, message="GangUnschedulable event on the PodGang")
    assert (event["involvedObject"]["kind"], event["message"]) == ("PodGang", message)


async def test_preferred_rack_is_honoured_when_possible_and_dropped_when_not(
    stack: Stack, client: Client, ns: str, wait: Wait
) -> None:
    labels = await stack.labels_of(client)
    fits = await create_gang(
        stack,
        client,
        ns,
        "fits",
        [GroupSpec("w", _pods("a", 4))],
        cpu="7",
        required=BLOCK,
        preferred=RACK,
        wait=wait,
    )
    placed = await bound_nodes(client, ns, fits, wait)
    assert len({labels[n][RACK] for n in placed.values()}) == 1

    # Seven pods: no rack has seven nodes, so the preference is dropped; the block is still required.
    spans = await create_gang(
        stack,
        client,
        ns,
        "spans",
        [GroupSpec("w", _pods("b", 7))],
        cpu="7",
        required=BLOCK,
        preferred=RACK,
        wait=wait,
    )
    placed = await bound_nodes(client, ns, spans, wait)
    assert len({labels[n][BLOCK] for n in placed.values()}) == 1
    assert len({labels[n][RACK] for n in placed.values()}) == 2


async def test_scaled_podgangs_of_a_scaling_group_are_each_packed_on_their_own(
    stack: Stack, client: Client, ns: str, wait: Wait
) -> None:
    labels = await stack.labels_of(client)
    placements = []
    for j in (1, 2, 3):
        # A scaled PodGang per PodCliqueScalingGroup replica: its leader and workers, packed in a rack
        # by the group config (as the operator writes it).
        name = f"sg-{j}"
        groups = [
            GroupSpec(f"{name}-leader", [f"{name}-l-0"]),
            GroupSpec(f"{name}-worker", _pods(f"{name}-w", 3)),
        ]
        pods = await create_gang(
            stack,
            client,
            ns,
            name,
            groups,
            cpu="7",
            configs=[(name, [g.name for g in groups], RACK, None)],
            wait=wait,
        )
        placements.append(await bound_nodes(client, ns, pods, wait))
    racks = [{labels[n][RACK] for n in placed.values()} for placed in placements]
    assert all(len(r) == 1 for r in racks), racks
    # Four of a rack's five nodes per replica: no two replicas can share a rack.
    assert len(set().union(*racks)) == 3
    # The GangPlanned event names the rack each replica was packed in, not just "the cluster".
    node = next(iter(placements[0].values()))
    rack = "/".join(labels[node][k] for k in ("topology.kubernetes.io/zone", BLOCK, RACK))
    wanted = f"planned 4 pods in the cluster (group config sg-1 in rack {rack})"

    async def planned_event() -> list[dict[str, Any]]:
        events = (await client.list(EVENTS, ns)).items
        return [e for e in events if e["reason"] == "GangPlanned" and e["involvedObject"]["name"] == "sg-1"]

    events = await wait(planned_event, message="GangPlanned event of sg-1")
    assert [e["message"] for e in events] == [wanted]


async def test_a_node_lost_mid_plan_triggers_a_new_plan(
    stack: Stack, client: Client, ns: str, wait: Wait
) -> None:
    racks = await stack.racks(client)
    target = sorted(racks)[2]
    # The target rack is the only one with four free nodes (the others have one node left).
    await fill(client, ns, [n for rack, nodes in racks.items() if rack != target for n in nodes[:4]])
    names = _pods("w", 3)
    await create_gang(
        stack,
        client,
        ns,
        "g",
        [GroupSpec("w", names)],
        cpu="7",
        required=RACK,
        keep_gated=names[1:],
        wait=wait,
    )
    first = (await bound_nodes(client, ns, names[:1], wait))[names[0]]
    # The extender drops a bound pod from the plan once its informer sees the binding, a moment after the API.
    rest = {f"{ns}/{n}" for n in names[1:]}
    await wait(lambda: set(stack.planned(f"{ns}/g")) == rest, message="the plan of the still gated pods")
    plan = stack.planned(f"{ns}/g")
    assert set(plan) == rest and first in racks[target]
    lost = plan[f"{ns}/{names[1]}"]
    replans = stack.metric("grove_scheduler_gang_replans_total")
    stack.fail_node(lost)
    try:
        await wait(lambda: stack.metric("grove_scheduler_gang_replans_total") > replans, message="a new plan")
        assert lost not in stack.planned(f"{ns}/g").values()
        await ungate(client, ns, names[1:])
        placed = await bound_nodes(client, ns, names, wait)
        assert lost not in placed.values()
        assert set(placed.values()) <= set(racks[target])
    finally:
        stack.recover_node(lost)


async def test_ordinary_pods_are_unaffected(stack: Stack, client: Client, ns: str, wait: Wait) -> None:
    planned_before = stack.metric("grove_scheduler_gangs_planned_total")
    for i, scheduler in enumerate(["default-scheduler", "grove-scheduler", "grove-scheduler"]):
        await client.create(PODS, pod_body(f"web-{i}", cpu="500m", scheduler=scheduler), ns)
    placed = await bound_nodes(client, ns, ["web-0", "web-1", "web-2"], wait)
    assert len(placed) == 3
    assert stack.metric("grove_scheduler_gangs_planned_total") == planned_before
    events = [e for e in (await client.list(EVENTS, ns)).items if e["reason"] == "Scheduled"]
    assert Counter(e["involvedObject"]["name"] for e in events) == Counter(placed.keys())


async def test_a_restarted_extender_rebuilds_its_ledger_from_the_cluster(
    stack: Stack, client: Client, ns: str, wait: Wait
) -> None:
    racks = await stack.racks(client)
    home, tight = sorted(racks)[0], sorted(racks)[6]
    # The tight rack has exactly two free nodes: the best fit for two more pods, if nothing held them.
    await fill(client, ns, racks[tight][:3])
    names = _pods("w", 4)
    await fill(client, ns, [n for rack, nodes in racks.items() if rack not in (home, tight) for n in nodes])
    await create_gang(
        stack,
        client,
        ns,
        "g",
        [GroupSpec("w", names)],
        cpu="7",
        required=RACK,
        keep_gated=names[2:],
        wait=wait,
    )
    first = await bound_nodes(client, ns, names[:2], wait)
    assert {n for n in first.values()} <= set(racks[home])

    stack.restart_extender()
    service = stack.call(stack.service)
    assert service is not None
    assert stack.planned(f"{ns}/g") == {}
    await ungate(client, ns, names[2:])
    placed = await bound_nodes(client, ns, names, wait)
    # The bound half pins the gang's rack: the rest joins it instead of the tighter rack.
    assert set(placed.values()) <= set(racks[home])


async def test_a_replacement_pod_stays_in_the_block_its_bound_siblings_pin(
    stack: Stack, client: Client, ns: str, wait: Wait
) -> None:
    labels = await stack.labels_of(client)
    names = _pods("w", 7)
    groups = [GroupSpec("w", names)]
    await create_gang(stack, client, ns, "g", groups, cpu="7", required=BLOCK, preferred=RACK, wait=wait)
    placed = await bound_nodes(client, ns, names, wait)
    block = {labels[n][BLOCK] for n in placed.values()}
    per_rack = Counter(labels[n][RACK] for n in placed.values())
    assert len(block) == 1 and sorted(per_rack.values()) == [2, 5]
    # The pod of the two-pod rack is lost and replaced (as a PodClique does). Its siblings' rack is full, and
    # a rack in another block is left with one free node: the tightest rack, but outside the gang's block.
    minor = next(r for r, c in per_rack.items() if c == 2)
    lost = next(p for p, n in placed.items() if labels[n][RACK] == minor)
    racks = await stack.racks(client)
    elsewhere = next(r for r, nodes in sorted(racks.items()) if labels[nodes[0]][BLOCK] not in block)
    await fill(client, ns, racks[elsewhere][:4])
    await client.delete(PODS, lost, ns, grace_period_seconds=0)

    async def lost_gone() -> bool:
        return all(p["metadata"]["name"] != lost for p in (await client.list(PODS, ns)).items)

    await wait(lost_gone, message=f"{lost} deleted")
    replacement = "w-new"
    await client.create(PODS, pod_body(replacement, cpu="7", gang="g", gated=True), ns)
    kept = [p for p in names if p != lost] + [replacement]
    body = podgang(
        "g", [GroupSpec("w", kept)], namespace=ns, topology_name=DEV_TOPOLOGY, required=BLOCK, preferred=RACK
    )
    await client.patch(PODGANGS, "g", {"spec": body["spec"]}, ns, patch_type=PatchType.MERGE)
    await wait(lambda: stack.ledger_knows(f"{ns}/g", [f"{ns}/{p}" for p in kept]), message="new PodGang seen")
    await ungate(client, ns, [replacement])
    node = (await bound_nodes(client, ns, [replacement], wait))[replacement]
    assert labels[node][BLOCK] in block and labels[node][RACK] == minor
