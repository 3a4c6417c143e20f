"""The Grove object collector: every sample and label value from cached objects, nothing while inactive."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from grove.controllers.metrics import ALL_FAMILIES, GroveObjectCollector
from grove.runtime.cache import Store

NS = "team-a"
MANAGED = {"app.kubernetes.io/managed-by": "grove-operator", "app.kubernetes.io/part-of": "mn"}


def _obj(name: str, labels: dict[str, str], spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS, "labels": labels}, "spec": spec, "status": status}


def _cond(kind: str, status: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": "R", "lastTransitionTime": "2026-01-01T00:00:00Z"}


def _stores() -> dict[str, Store]:
    stores = {k: Store() for k in ("pcs", "pcsg", "pclq", "podgangs")}
    pcs = _obj(
        "mn",
        {},
        {"replicas": 2},
        {
            "availableReplicas": 1,
            "updatedReplicas": 2,
            "observedGeneration": 3,
            "conditions": [_cond("SpecValid", "True")],
            "lastErrors": [
                {"code": "ERR_RESOURCE_CONFLICT", "description": "a", "observedAt": "2026-01-01T00:00:00Z"},
                {"code": "ERR_RESOURCE_CONFLICT", "description": "b", "observedAt": "2026-01-01T00:00:00Z"},
            ],
            "updateProgress": {"updateStartedAt": "2026-01-01T00:00:00Z"},
        },
    )
    pcs["metadata"]["generation"] = 4
    stores["pcs"].upsert(pcs)
    replica0 = {**MANAGED, "grove.io/podcliqueset-replica-index": "0"}
    stores["pcsg"].upsert(
        _obj(
            "mn-0-prefill",
            replica0,
            {"replicas": 3, "minAvailable": 1, "cliqueNames": ["leader"]},
            {
                "scheduledReplicas": 2,
                "availableReplicas": 1,
                "updatedReplicas": 3,
                "conditions": [_cond("MinAvailableBreached", "False")],
            },
        )
    )
    stores["pclq"].upsert(
        _obj(
            "mn-0-router",
            replica0,
            {"roleName": "router", "replicas": 2, "minAvailable": 1},
            {
                "readyReplicas": 1,
                "scheduledReplicas": 2,
                "scheduleGatedReplicas": 0,
                "updatedReplicas": 1,
                "conditions": [_cond("MinAvailableBreached", "False"), _cond("PodCliqueScheduled", "True")],
            },
        )
    )
    stores["pclq"].upsert(
        _obj(
            "mn-0-prefill-1-leader",
            {**replica0, "grove.io/podcliquescalinggroup": "mn-0-prefill"},
            {"roleName": "leader", "replicas": 1, "minAvailable": 1},
            {"conditions": [_cond("MinAvailableBreached", "Unknown")]},
        )
    )
    stores["podgangs"].upsert(
        _obj(
            "mn-0",
            replica0,
            {"podgroups": []},
            {"phase": "Pending", "conditions": [_cond("Initialized", "True")]},
        )
    )
    stores["podgangs"].upsert(_obj("mn-0-prefill-0", replica0, {"podgroups": []}, {}))
    return stores


def _scrape(active: bool) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    registry = CollectorRegistry()
    registry.register(GroveObjectCollector(**_stores(), active=lambda: active))  # type: ignore[arg-type]
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        out[family.name] = {tuple(sorted(s.labels.items())): s.value for s in family.samples}
    return out


def _key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_every_sample_and_label_from_the_cached_objects() -> None:
    got = _scrape(active=True)
    pcs = _key(namespace=NS, name="mn")
    assert got["grove_podcliqueset_spec_replicas"] == {pcs: 2}
    assert got["grove_podcliqueset_status_available_replicas"] == {pcs: 1}
    assert got["grove_podcliqueset_status_updated_replicas"] == {pcs: 2}
    assert got["grove_podcliqueset_metadata_generation"] == {pcs: 4}
    assert got["grove_podcliqueset_status_observed_generation"] == {pcs: 3}
    assert got["grove_podcliqueset_status_update_in_progress"] == {pcs: 1}
    assert got["grove_podcliqueset_condition"] == {
        _key(namespace=NS, name="mn", type="SpecValid", status="true"): 1
    }
    assert got["grove_podcliqueset_status_last_errors"] == {
        _key(namespace=NS, name="mn", code="ERR_RESOURCE_CONFLICT"): 2
    }

    group = dict(namespace=NS, name="mn-0-prefill", podcliqueset="mn", scaling_group="prefill")
    pcsg = _key(**group)
    assert got["grove_podcliquescalinggroup_spec_replicas"] == {pcsg: 3}
    assert got["grove_podcliquescalinggroup_min_available"] == {pcsg: 1}
    assert got["grove_podcliquescalinggroup_status_scheduled_replicas"] == {pcsg: 2}
    assert got["grove_podcliquescalinggroup_status_available_replicas"] == {pcsg: 1}
    assert got["grove_podcliquescalinggroup_status_updated_replicas"] == {pcsg: 3}
    assert got["grove_podcliquescalinggroup_condition"] == {
        _key(**group, type="MinAvailableBreached", status="false"): 1
    }

    router = dict(namespace=NS, name="mn-0-router", podcliqueset="mn", scaling_group="", clique="router")
    leader = dict(
        namespace=NS,
        name="mn-0-prefill-1-leader",
        podcliqueset="mn",
        scaling_group="prefill",
        clique="leader",
    )
    assert got["grove_podclique_spec_replicas"] == {_key(**router): 2, _key(**leader): 1}
    assert got["grove_podclique_min_available"] == {_key(**router): 1, _key(**leader): 1}
    assert got["grove_podclique_status_ready_replicas"] == {_key(**router): 1, _key(**leader): 0}
    assert got["grove_podclique_status_scheduled_replicas"] == {_key(**router): 2, _key(**leader): 0}
    assert got["grove_podclique_status_schedule_gated_replicas"] == {_key(**router): 0, _key(**leader): 0}
    assert got["grove_podclique_status_updated_replicas"] == {_key(**router): 1, _key(**leader): 0}
    assert got["grove_podclique_condition"] == {
        _key(**router, type="MinAvailableBreached", status="false"): 1,
        _key(**router, type="PodCliqueScheduled", status="true"): 1,
        _key(**leader, type="MinAvailableBreached", status="unknown"): 1,
    }
    assert got["grove_podclique_status_last_errors"] == {}

    base = dict(namespace=NS, podcliqueset="mn")
    assert got["grove_podgang_status_phase"] == {
        _key(**base, name="mn-0", phase="Pending"): 1,
        _key(**base, name="mn-0-prefill-0", phase="Pending"): 1,
    }
    assert got["grove_podgang_initialized"] == {
        _key(**base, name="mn-0"): 1,
        _key(**base, name="mn-0-prefill-0"): 0,
    }


def test_inactive_exports_the_families_without_samples() -> None:
    got = _scrape(active=False)
    assert set(got) == {f.name for f in ALL_FAMILIES}
    assert all(samples == {} for samples in got.values())


def test_registration_does_not_read_the_stores() -> None:
    class Exploding(Store):
        def list(self, *args: Any, **kwargs: Any) -> list[Any]:
            raise AssertionError("read at registration")

    registry = CollectorRegistry()
    stores = {k: Exploding() for k in ("pcs", "pcsg", "pclq", "podgangs")}
    registry.register(GroveObjectCollector(**stores, active=lambda: True))  # type: ignore[arg-type]
