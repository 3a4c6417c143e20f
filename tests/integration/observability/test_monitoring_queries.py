"""Every PromQL expression of deploy/monitoring (dashboard panels and variables, alert rules) references
metrics, labels and label values that the operator, the extender and the webhook really expose (and every
legend and alert annotation reads labels the result carries), and docs/observability.md
documents exactly those metrics with those labels. The names come from scraping the real registries after a
PodCliqueSet was scheduled through the extender and admission requests were served, so renaming a metric or
a label in the code breaks this test until the dashboard, the rules and the docs follow."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from observability_helpers import samples, scrape

from grove.controllers.resources import PODCLIQUESETS
from grove.runtime.client import Client
from grove_expect import expected, load_sample, wait_converged
from monitoring_queries import (
    Query,
    check,
    check_jobs,
    dashboard_job_variables,
    dashboard_queries,
    exposed_families,
    exposed_metrics,
    exposed_values,
    parse,
    rule_queries,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "observability.md"
DOC_ROW = re.compile(r"^\|\s*`(?P<name>[a-z_:][a-z0-9_:]*)`\s*\|\s*(?P<type>\w+)\s*\|(?P<labels>[^|]*)\|")
# Families prometheus_client's process and platform collectors add, and the *_created gauges it adds beside
# every counter and histogram: documented as groups, not one by one.
GENERIC = ("process_", "python_")
CONDITIONS = (
    "grove_podcliqueset_condition",
    "grove_podcliquescalinggroup_condition",
    "grove_podclique_condition",
)
# A condition's status label is Kubernetes' True, False or Unknown, lower-cased: every one may be matched
# although a converged sample shows only some.
CONDITION_STATUSES = {"true", "false", "unknown"}


async def _exercise(
    grove: Any, stack: Any, namespace: str, client: Client, http: aiohttp.ClientSession
) -> None:
    """Activity that gives every labelled metric samples: a gang sample scheduled by the grove-scheduler
    (extender filter/prioritize/bind, gang plans), a call the extender cannot read, reconciles, and
    admission reviews (allowed, denied, and one the webhook cannot read)."""
    manifest = load_sample("multi-node-aggregated.yaml", namespace)
    for clique in manifest["spec"]["template"]["cliques"]:
        clique["spec"]["podSpec"]["schedulerName"] = "grove-scheduler"
    await client.create(PODCLIQUESETS, manifest)
    await wait_converged(client, namespace, expected(manifest), timeout=60)
    invalid = json.loads(json.dumps(manifest))
    invalid["spec"]["template"]["cliques"][0]["name"] = "Not_A_Name"
    for obj in (manifest, invalid):
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "grove.io", "version": "v1alpha1", "kind": "PodCliqueSet"},
                "resource": {"group": "grove.io", "version": "v1alpha1", "resource": "podcliquesets"},
                "operation": "CREATE",
                "name": obj["metadata"]["name"],
                "namespace": namespace,
                "object": obj,
            },
        }
        for path in ("/webhooks/default-podcliqueset", "/webhooks/validate-podcliqueset"):
            async with http.post(grove.webhook_url + path, json=review, ssl=False) as resp:
                assert resp.status == 200
    async with http.post(grove.webhook_url + "/webhooks/validate-podcliqueset", json={}, ssl=False) as resp:
        # HTTP 200 as for every answer; the AdmissionReview says the webhook could not read the request.
        assert resp.status == 200
        assert (await resp.json())["response"]["status"]["code"] == 400
    async with http.post(stack.extender_url + "/filter", json={}) as resp:
        # The extender answers kube-scheduler with an Error field: its outcome="error".
        assert "Error" in await resp.json()


async def test_dashboard_rules_and_docs_match_the_exposed_metrics(
    grove: Any,
    stack: Any,
    namespace: str,
    client: Client,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    await _exercise(grove, stack, namespace, client, http)
    operator = await scrape(http, grove.metrics_url)
    extender = await scrape(http, stack.extender_metrics_url)
    exposed = exposed_metrics(operator, extender)

    # The webhook's verdicts: the valid object allowed, the invalid one denied, the unreadable one errored.
    verdicts = {
        (dict(k)["webhook"], dict(k)["result"]): v
        for k, v in samples(operator)["grove_webhook_admission_responses_total"].items()
        if v
    }
    assert verdicts == {
        ("/webhooks/default-podcliqueset", "allowed"): 2,
        ("/webhooks/validate-podcliqueset", "allowed"): 1,
        ("/webhooks/validate-podcliqueset", "denied"): 1,
        ("/webhooks/validate-podcliqueset", "error"): 1,
    }

    values = exposed_values(operator, extender)
    for name in CONDITIONS:
        values[name]["status"] |= CONDITION_STATUSES
    assert values["grove_scheduler_extender_requests_total"]["outcome"] >= {"ok", "error"}

    queries = dashboard_queries() + rule_queries()
    assert check(queries, exposed, values) == []
    # Each selector names the job of the process that exposes its metric.
    by_job = {"grove-operator": exposed_metrics(operator), "grove-scheduler": exposed_metrics(extender)}
    assert check_jobs(queries, by_job, dashboard_job_variables()) == []
    for broken in (
        'grove_scheduler_gangs_failed_total{job="grove-operator"}',
        "grove_podclique_spec_replicas",
        'workqueue_depth{job="grove-operatr"}',
    ):
        assert check_jobs([Query("broken", broken, parse(broken))], by_job), broken

    # The check catches what a rename breaks: a metric, a label in a matcher, in a grouping, in an annotation.
    for broken in (
        "sum(rate(controller_runtime_reconcile_totals[5m]))",
        'workqueue_depth{controller_name="x"}',
        "sum by (controler) (rate(controller_runtime_reconcile_total[5m]))",
        "grove_podclique_spec_replicas / on (namespace, nme) grove_podclique_min_available",
    ):
        assert check([Query("broken", broken, parse(broken))], exposed), broken
    expr = "sum by (controller) (rate(controller_runtime_reconcile_total[5m]))"
    assert check([Query("broken", expr, parse(expr), annotation_labels={"verb"})], exposed)
    # A label value that never occurs (a renamed condition, a status not lower-cased) matches nothing.
    for broken in (
        'grove_podclique_condition{type="MinAvailableBreach", status="true"}',
        'grove_podclique_condition{type="MinAvailableBreached", status="True"}',
        'grove_webhook_admission_responses_total{result="failed"}',
    ):
        assert check([Query("broken", broken, parse(broken))], exposed, values), broken
    # A panel whose legend reads a label the result does not carry.
    board = tmp_path / "dashboard.json"
    target = {
        "refId": "A",
        "expr": "sum by (webhook) (rate(grove_webhook_admission_responses_total[5m]))",
        "legendFormat": "{{webhook}} {{ result }}",
    }
    board.write_text(
        json.dumps({"panels": [{"title": "t", "targets": [target]}], "templating": {"list": []}})
    )
    assert check(dashboard_queries(board), exposed) == [
        "panel 't' target A: the result has no label 'result' (it has ['webhook'])"
    ]

    # docs/observability.md: one row per metric family, with its type and labels.
    documented: dict[str, tuple[str, set[str]]] = {}
    for line in DOCS.read_text().splitlines():
        m = DOC_ROW.match(line)
        if m:
            labels = {x.strip(" `") for x in m["labels"].split(",") if x.strip(" `")}
            documented[m["name"]] = (m["type"], labels)
    families = {
        name: info
        for name, info in exposed_families(operator, extender).items()
        if not name.startswith(GENERIC) and not name.endswith("_created")
    }
    assert sorted(set(families) - set(documented)) == [], "exposed but not documented"
    assert sorted(set(documented) - set(families)) == [], "documented but not exposed"
    for name, (kind, labels) in families.items():
        doc_kind, doc_labels = documented[name]
        assert doc_kind == kind, f"{name}: documented as {doc_kind}, exposed as {kind}"
        if labels is not None:
            assert doc_labels == labels, f"{name}: documented labels {doc_labels}, exposed {labels}"
