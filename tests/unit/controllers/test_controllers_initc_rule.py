"""The grove-initc readiness rule and its kubelet gate."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from grove.initc.rule import make_initc_gate, parse_podcliques, unmet_parents


def pod(pclq: str, ready: bool, terminating: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "labels": {"grove.io/podclique": pclq, "grove.io/podgang": "g"},
        "namespace": "ns",
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_parse_podcliques() -> None:
    assert parse_podcliques(["a-0-x:2", "b:1,c:3"]) == {"a-0-x": 2, "b": 1, "c": 3}
    with pytest.raises(ValueError, match="must be <podclique>:<minAvailable>"):
        parse_podcliques(["nocolon"])
    with pytest.raises(ValueError, match="minAvailable must be a positive integer"):
        parse_podcliques(["a:0"])


def test_unmet_parents_counts_ready_non_terminating_pods() -> None:
    pods = [pod("a", True), pod("a", True, terminating=True), pod("a", False), pod("b", True)]
    assert unmet_parents({"a": 2, "b": 1}, pods) == {"a": (1, 2)}
    assert unmet_parents({"a": 1, "b": 1}, pods) == {}


def test_gate_holds_only_grove_initc_until_parents_are_ready() -> None:
    pods = [pod("a", False)]
    seen: list[tuple[str, str]] = []

    def list_pods(namespace: str, selector: str) -> list[dict[str, Any]]:
        seen.append((namespace, selector))
        return pods

    gate = make_initc_gate(list_pods)
    me = pod("b", False)
    initc = {"name": "grove-initc", "command": ["grove", "initc"], "args": ["--podcliques=a:1"]}
    assert asyncio.run(gate(me, {"name": "other"}))
    assert not asyncio.run(gate(me, initc))
    pods[0] = pod("a", True)
    assert asyncio.run(gate(me, initc))
    assert seen == [("ns", "grove.io/podgang=g"), ("ns", "grove.io/podgang=g")]
