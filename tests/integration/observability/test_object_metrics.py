"""The Grove object metrics on the operator's ``/metrics`` match the objects: after a sample converges,
after ``kubectl scale`` of a scaling group and of the PodCliqueSet, after a scale-in (series of deleted
objects disappear), after a rolling update of the pod templates, and after the PodCliqueSet is deleted (no
series of it is left). Label values come from the manifest's template (clique and scaling group names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from observability_helpers import Samples, samples, scrape

from grove.controllers.resources import PODCLIQUESCALINGGROUPS, PODCLIQUESETS
from grove.runtime.client import Client, PatchType
from grove_expect import Observed, expected, load_sample, observe, wait_converged

SAMPLE = "complete-inference-pipeline.yaml"
OBJECT_PREFIX = "grove_pod"
"""Prefix of the object metrics (grove_podcliqueset_, _podcliquescalinggroup_, _podclique_, _podgang_)."""


def _template_labels(manifest: Mapping[str, Any], replicas: int, groups: Mapping[str, int]) -> dict[str, Any]:
    """PodClique name -> (scaling_group, clique), and scaling group name -> scaling_group, from the
    manifest's template and the replica counts (as the operator names them)."""
    pcs = manifest["metadata"]["name"]
    template = manifest["spec"]["template"]
    in_group = {c: g["name"] for g in template["podCliqueScalingGroups"] for c in g["cliqueNames"]}
    pclqs: dict[str, tuple[str, str]] = {}
    pcsgs: dict[str, str] = {}
    for i in range(replicas):
        for clique in template["cliques"]:
            c = clique["name"]
            if c not in in_group:
                pclqs[f"{pcs}-{i}-{c}"] = ("", c)
        for g in template["podCliqueScalingGroups"]:
            pcsg = f"{pcs}-{i}-{g['name']}"
            pcsgs[pcsg] = g["name"]
            for j in range(groups.get(pcsg, g.get("replicas", 1))):
                for c in g["cliqueNames"]:
                    pclqs[f"{pcsg}-{j}-{c}"] = (g["name"], c)
    return {"pclqs": pclqs, "pcsgs": pcsgs}


def _key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _expected_samples(ns: str, got: Observed, names: dict[str, Any]) -> Samples:
    """What the collector must export for the objects read from the API server."""
    assert got.pcs is not None
    out: Samples = {}

    def put(metric: str, labels: tuple[tuple[str, str], ...], value: Any) -> None:
        out.setdefault(metric, {})[labels] = float(value or 0)

    def conditions(metric: str, base: dict[str, str], status: Mapping[str, Any]) -> None:
        for c in status.get("conditions") or ():
            put(metric, _key(**base, type=c["type"], status=c["status"].lower()), 1)

    pcs = got.pcs["metadata"]["name"]
    base = {"namespace": ns, "name": pcs}
    status = got.pcs.get("status") or {}
    put("grove_podcliqueset_spec_replicas", _key(**base), got.pcs["spec"]["replicas"])
    put("grove_podcliqueset_status_available_replicas", _key(**base), status.get("availableReplicas"))
    put("grove_podcliqueset_status_updated_replicas", _key(**base), status.get("updatedReplicas"))
    put("grove_podcliqueset_metadata_generation", _key(**base), got.pcs["metadata"]["generation"])
    put("grove_podcliqueset_status_observed_generation", _key(**base), status.get("observedGeneration"))
    progress = status.get("updateProgress") or {}
    updating = bool(progress.get("updateStartedAt")) and not progress.get("updateEndedAt")
    put("grove_podcliqueset_status_update_in_progress", _key(**base), updating)
    conditions("grove_podcliqueset_condition", base, status)
    for name, obj in got.pcsgs.items():
        base = {"namespace": ns, "name": name, "podcliqueset": pcs, "scaling_group": names["pcsgs"][name]}
        status = obj.get("status") or {}
        put("grove_podcliquescalinggroup_spec_replicas", _key(**base), obj["spec"]["replicas"])
        put("grove_podcliquescalinggroup_min_available", _key(**base), obj["spec"]["minAvailable"])
        for field, metric in (
            ("scheduledReplicas", "status_scheduled_replicas"),
            ("availableReplicas", "status_available_replicas"),
            ("updatedReplicas", "status_updated_replicas"),
        ):
            put(f"grove_podcliquescalinggroup_{metric}", _key(**base), status.get(field))
        conditions("grove_podcliquescalinggroup_condition", base, status)
    for name, obj in got.pclqs.items():
        group, clique = names["pclqs"][name]
        base = {"namespace": ns, "name": name, "podcliqueset": pcs, "scaling_group": group, "clique": clique}
        status = obj.get("status") or {}
        put("grove_podclique_spec_replicas", _key(**base), obj["spec"]["replicas"])
        put("grove_podclique_min_available", _key(**base), obj["spec"]["minAvailable"])
        for field, metric in (
            ("readyReplicas", "status_ready_replicas"),
            ("scheduledReplicas", "status_scheduled_replicas"),
            ("scheduleGatedReplicas", "status_schedule_gated_replicas"),
            ("updatedReplicas", "status_updated_replicas"),
        ):
            put(f"grove_podclique_{metric}", _key(**base), status.get(field))
        conditions("grove_podclique_condition", base, status)
    for name, obj in got.podgangs.items():
        base = {"namespace": ns, "name": name, "podcliqueset": pcs}
        status = obj.get("status") or {}
        put("grove_podgang_status_phase", _key(**base, phase=status.get("phase") or "Pending"), 1)
        initialized = any(
            c["type"] == "Initialized" and c["status"] == "True" for c in status.get("conditions") or ()
        )
        put("grove_podgang_initialized", _key(**base), initialized)
    return out


def _settled(exported: Samples) -> bool:
    """The statuses say converged: every PodClique's pods ready and scheduled, none gated, every scaling
    group and the PodCliqueSet fully available, every PodGang initialized (status writes trail the pods)."""

    def all_equal(metric: str, desired: str) -> bool:
        want = exported.get(desired, {})
        return bool(want) and exported.get(metric, {}) == want

    return (
        all_equal("grove_podclique_status_ready_replicas", "grove_podclique_spec_replicas")
        and all_equal("grove_podclique_status_scheduled_replicas", "grove_podclique_spec_replicas")
        and set(exported.get("grove_podclique_status_schedule_gated_replicas", {}).values()) == {0.0}
        and all_equal(
            "grove_podcliquescalinggroup_status_available_replicas",
            "grove_podcliquescalinggroup_spec_replicas",
        )
        and all_equal("grove_podcliqueset_status_available_replicas", "grove_podcliqueset_spec_replicas")
        and set(exported.get("grove_podgang_initialized", {}).values()) == {1.0}
    )


async def _wait_metrics_match(
    client: Client,
    http: aiohttp.ClientSession,
    url: str,
    ns: str,
    pcs: str,
    names: dict[str, Any],
    wait_for: Any,
) -> tuple[Observed, Samples]:
    """Polls until a scrape equals what the objects in the API server say (the cache may lag a moment) and
    the statuses have settled."""
    last: dict[str, Any] = {}

    async def matches() -> bool:
        got = await observe(client, ns, pcs)
        want = _expected_samples(ns, got, names)
        exported = samples(await scrape(http, url), OBJECT_PREFIX)
        last.update(got=got, want=want, exported=exported)
        return exported == want and _settled(exported)

    try:
        await wait_for(matches, timeout=30, interval=0.2, message="metrics matching the objects")
    except AssertionError:
        want, exported = last["want"], last["exported"]
        diff = {
            m: {"want": want.get(m), "exported": exported.get(m)}
            for m in set(want) | set(exported)
            if want.get(m) != exported.get(m)
        }
        raise AssertionError(
            f"metrics differ from the objects or never settled: {diff or exported}"
        ) from None
    return last["got"], last["exported"]


def _only(metric: dict[tuple[tuple[str, str], ...], float], **labels: str) -> float:
    """The value of the one series of ``metric`` carrying ``labels``."""
    values = [v for k, v in metric.items() if labels.items() <= dict(k).items()]
    assert len(values) == 1, f"{labels}: {metric}"
    return values[0]


async def test_object_metrics_follow_the_objects_through_scaling(
    grove: Any, namespace: str, client: Client, http: aiohttp.ClientSession, wait_for: Any
) -> None:
    manifest = load_sample(SAMPLE, namespace)
    pcs = manifest["metadata"]["name"]
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest), timeout=60)
    names = _template_labels(manifest, 1, {})
    got, exported = await _wait_metrics_match(
        client, http, grove.metrics_url, namespace, pcs, names, wait_for
    )

    # Converged: every clique has all its pods ready and scheduled, nothing gated or breached.
    assert exported["grove_podcliqueset_spec_replicas"] == {(("name", pcs), ("namespace", namespace)): 1.0}
    assert _only(exported["grove_podcliqueset_status_available_replicas"], name=pcs) == 1
    assert len(exported["grove_podclique_spec_replicas"]) == len(got.pclqs) == 6
    for key, desired in exported["grove_podclique_spec_replicas"].items():
        assert exported["grove_podclique_status_ready_replicas"][key] == desired
        assert exported["grove_podclique_status_scheduled_replicas"][key] == desired
        assert exported["grove_podclique_status_schedule_gated_replicas"][key] == 0
    breached = {
        dict(k)["name"]
        for k in exported["grove_podclique_condition"]
        if ("type", "MinAvailableBreached") in k and ("status", "false") not in k
    }
    assert breached == set()
    assert set(exported["grove_podgang_initialized"].values()) == {1.0}
    # Label values: the template's names.
    assert {dict(k)["clique"] for k in exported["grove_podclique_spec_replicas"]} == {
        "frontend",
        "vision-encoder",
        "pleader",
        "pworker",
        "dleader",
        "dworker",
    }
    assert _only(exported["grove_podclique_spec_replicas"], name=f"{pcs}-0-prefill-0-pworker") == 4
    assert {dict(k)["scaling_group"] for k in exported["grove_podcliquescalinggroup_spec_replicas"]} == {
        "prefill",
        "decode-cluster",
    }

    # kubectl scale pcsg prefill to 2, and the PodCliqueSet to 2 replicas.
    prefill = f"{pcs}-0-prefill"
    await client.scale(PODCLIQUESCALINGGROUPS, prefill, 2, namespace)
    await client.scale(PODCLIQUESETS, pcs, 2, namespace)
    scaled = {prefill: 2}
    await wait_converged(client, namespace, expected(manifest, replicas=2, group_replicas=scaled), timeout=60)
    names = _template_labels(manifest, 2, scaled)
    got, exported = await _wait_metrics_match(
        client, http, grove.metrics_url, namespace, pcs, names, wait_for
    )
    assert _only(exported["grove_podcliqueset_spec_replicas"], name=pcs) == 2
    assert _only(exported["grove_podcliquescalinggroup_spec_replicas"], name=prefill) == 2
    assert _only(exported["grove_podcliquescalinggroup_spec_replicas"], name=f"{pcs}-1-prefill") == 1
    assert len(exported["grove_podclique_spec_replicas"]) == len(got.pclqs) == 14
    # The scaled-out replica of prefill is in a scaled gang of its own.
    assert f"{prefill}-0" in {dict(k)["name"] for k in exported["grove_podgang_initialized"]}

    # Scale-in: the series of replica 1 disappear.
    await client.scale(PODCLIQUESETS, pcs, 1, namespace)
    await wait_converged(client, namespace, expected(manifest, replicas=1, group_replicas=scaled), timeout=60)
    names = _template_labels(manifest, 1, scaled)
    _, exported = await _wait_metrics_match(client, http, grove.metrics_url, namespace, pcs, names, wait_for)
    remaining = {dict(k)["name"] for k in exported["grove_podclique_spec_replicas"]}
    assert not any(n.startswith(f"{pcs}-1-") for n in remaining)
    assert len(remaining) == 8


async def test_object_metrics_follow_a_rolling_update_and_vanish_with_the_podcliqueset(
    grove: Any, namespace: str, client: Client, http: aiohttp.ClientSession, wait_for: Any
) -> None:
    manifest = load_sample("multi-node-aggregated.yaml", namespace)
    pcs = manifest["metadata"]["name"]
    base = (("name", pcs), ("namespace", namespace))
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest), timeout=60)
    names = _template_labels(manifest, 1, {})
    await _wait_metrics_match(client, http, grove.metrics_url, namespace, pcs, names, wait_for)

    # A new image for the leader clique: generation 2, and once the rollout is over the metrics say it was
    # observed, that no update is in progress and that the replica runs the new templates.
    image = [
        {"op": "replace", "path": "/spec/template/cliques/0/spec/podSpec/containers/0/image", "value": "x:2"}
    ]
    await client.patch(PODCLIQUESETS, pcs, image, namespace, patch_type=PatchType.JSON)

    async def rolled_out() -> bool:
        status = (await client.get(PODCLIQUESETS, pcs, namespace)).get("status") or {}
        if not (status.get("updateProgress") or {}).get("updateEndedAt"):
            return False
        exported = samples(await scrape(http, grove.metrics_url), "grove_podcliqueset_")

        def value(metric: str) -> float | None:
            return exported.get(metric, {}).get(base)

        return (
            value("grove_podcliqueset_metadata_generation") == 2
            and value("grove_podcliqueset_status_observed_generation") == 2
            and value("grove_podcliqueset_status_update_in_progress") == 0
            and value("grove_podcliqueset_status_updated_replicas") == 1
        )

    await wait_for(rolled_out, timeout=60, interval=0.2, message="the rolling update in the metrics")
    _, exported = await _wait_metrics_match(client, http, grove.metrics_url, namespace, pcs, names, wait_for)
    assert exported["grove_podcliqueset_status_available_replicas"] == {base: 1.0}

    # Deleted: no series of the PodCliqueSet, its scaling groups, PodCliques or PodGangs is left.
    await client.delete(PODCLIQUESETS, pcs, namespace)

    async def gone() -> bool:
        exported = samples(await scrape(http, grove.metrics_url), OBJECT_PREFIX)
        return not any(("namespace", namespace) in key for series in exported.values() for key in series)

    await wait_for(gone, timeout=60, interval=0.2, message="no series of the deleted PodCliqueSet")
