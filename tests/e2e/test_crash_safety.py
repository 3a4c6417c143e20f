"""Crash safety: the operator is killed at 20 points while the five tutorial samples converge, scale out,
scale in and are deleted; each time a new incarnation starts, and every phase still ends in exactly the
expected state, with no object ever created twice or deleted by mistake (see ``scenario``).

Kill points are counted in writes: the operator dies right after the n-th write the dev cluster stores in
the test's namespace since its last start, synchronously inside that write (so when the write was the
operator's own, it dies with the request sent and the answer lost, the window a crash hits hardest). On a
real control plane the writes are those of the scenario's kinds (pods, PodCliques, scaling groups, PodGangs,
Services, PodCliqueSets), seen through watches of the namespace: the operator dies just after the n-th of
them, usually with more requests of the same reconcile in flight. The
gaps n are drawn from a seeded RNG (``GROVE_CRASH_SEED`` to choose another seed); the run is reproducible
in where the kills fall in the write stream, not in thread timing. Each phase has its share of the kill
points; those a phase does not reach before it converges are spent at the end in the steady state (kill,
restart, still exact).
"""

from __future__ import annotations

import os
import random
import threading
from typing import Any

import pytest

from .scenario import PHASES, Ledger, recording, wait_exact

SEED = int(os.environ.get("GROVE_CRASH_SEED", "5"))
KILL_PLAN = ((6, 20), (6, 20), (4, 8), (4, 4))
"""Per phase (create, scale out, scale in, delete): kill points and the largest gap in writes between them
(phases with fewer writes get shorter gaps). 20 kill points in all."""
KILLS = sum(kills for kills, _ in KILL_PLAN)


class Killer:
    """Kills the operator after the n-th write in the namespace (n from ``gaps``), up to ``budget`` times
    in the current phase, counting again from each restart."""

    def __init__(self, operator: Any, ledger: Ledger, gaps: list[int]) -> None:
        self.operator = operator
        self.ledger = ledger
        self.gaps = gaps
        self.kills: list[str] = []
        self._budget = 0
        self._armed = False
        self._count = 0
        self._lock = threading.Lock()

    def phase(self, budget: int) -> None:
        """A new phase, with ``budget`` kill points."""
        with self._lock:
            self._budget = budget
        self.arm()

    def arm(self) -> None:
        """Count writes from now on towards the next kill point."""
        with self._lock:
            self._count = 0
            self._armed = self._budget > 0 and len(self.kills) < len(self.gaps)

    def on_event(self, rtype: Any, ev: Any) -> None:
        """The store subscriber: runs on the cluster's loop, inside the write (on a real cluster: the
        watches' callback, on the test's loop)."""
        self.ledger.on_event(rtype, ev)
        if ev.namespace != self.ledger.namespace:
            return
        with self._lock:
            if not self._armed:
                return
            self._count += 1
            if self._count < self.gaps[len(self.kills)]:
                return
            self._armed = False
            self._budget -= 1
            self.kills.append(f"after {ev.type} {rtype.kind} {ev.object['metadata']['name']}")
        self.operator.threaded.kill()

    def restart_if_killed(self) -> None:
        """Start a new incarnation if the operator was killed (from the test's thread)."""
        if not self.operator.threaded.running:
            self.operator.start()
            self.arm()


async def test_operator_killed_at_20_points_converges_exactly(
    operator: Any,
    namespace: str,
    client: Any,
    cluster: Any,
    timeout: float,  # noqa: ASYNC109 - a deadline
) -> None:
    if not operator.in_process:
        pytest.skip("needs an in-process operator to kill; GROVE_TEST_KUBECONFIG points at a real cluster")
    rng = random.Random(SEED)
    gaps = [rng.randint(1, max_gap) for kills, max_gap in KILL_PLAN for _ in range(kills)]
    ledger = Ledger(namespace, cluster.dev.cluster.store if cluster.dev is not None else None)
    killer = Killer(operator, ledger, gaps)
    async with recording(cluster, client, namespace, killer.on_event) as ledger.feed:
        per_phase = []
        for phase, (budget, _) in zip(PHASES, KILL_PLAN, strict=True):
            before = len(killer.kills)
            killer.phase(budget)
            await phase.act(client, namespace)
            await wait_exact(client, namespace, phase, timeout, tick=killer.restart_if_killed)
            per_phase.append(f"{phase.name}: {len(killer.kills) - before} kills")
        killer.restart_if_killed()
        killer.phase(0)
        while len(killer.kills) < KILLS:
            operator.kill()
            killer.kills.append("in the steady state")
            operator.start()
            await wait_exact(client, namespace, PHASES[-1], timeout)
        report = f"seed {SEED}, gaps {gaps}; " + "; ".join(per_phase) + "\n  " + "\n  ".join(killer.kills)
        assert len(killer.kills) == KILLS, report
        await ledger.settle(timeout)
    problems = ledger.problems(PHASES, namespace)
    assert problems == [], report + "\n" + "\n".join(problems)
    print(report)
