"""deploy/monitoring: the PromQL parses, the dashboard is what hack/grafana_dashboard.py generates and is
well-formed, the alert rules are complete, and the ServiceMonitors select the metrics Services of
deploy/operator and deploy/scheduler by labels and port names that exist."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from monitoring_queries import DASHBOARD, MONITORING, RULES, dashboard_queries, rule_queries

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
JOB_MATCHER = re.compile(r'job=~?"([^"]*)"')


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _services() -> dict[str, dict[str, Any]]:
    docs = _docs(DEPLOY / "operator" / "service.yaml") + _docs(DEPLOY / "scheduler" / "deployment.yaml")
    docs += _docs(DEPLOY / "webhook" / "service.yaml")
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}


def _deployments() -> list[dict[str, Any]]:
    docs = _docs(DEPLOY / "operator" / "deployment.yaml") + _docs(DEPLOY / "scheduler" / "deployment.yaml")
    return [d for d in docs if d["kind"] == "Deployment"]


def _service_monitors() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _docs(MONITORING / "servicemonitors.yaml")}


def test_every_expression_parses() -> None:
    # Parsing happens while collecting: a syntax error raises with the offending expression.
    queries = dashboard_queries() + rule_queries()
    assert len(queries) > 40


def test_dashboard_is_generated() -> None:
    spec = importlib.util.spec_from_file_location("grafana_dashboard", ROOT / "hack" / "grafana_dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert DASHBOARD.read_text() == module.render(), "run: python hack/grafana_dashboard.py --write"


def test_dashboard_is_well_formed() -> None:
    board = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"namespace", "podcliqueset"} <= set(variables)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    occupied: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"


def test_alert_rules_are_complete() -> None:
    (rule_file,) = _docs(RULES)
    assert (rule_file["apiVersion"], rule_file["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    names = []
    for group in rule_file["spec"]["groups"]:
        for rule in group["rules"]:
            names.append(rule["alert"])
            assert re.fullmatch(r"\d+m", rule["for"]), rule["alert"]
            assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    assert len(names) == len(set(names))
    for wanted in (
        "GroveOperatorDown",
        "GroveOperatorNoLeader",
        "GroveReconcileErrors",
        "GroveWorkqueueDepthHigh",
        "GroveWorkqueueLatencyHigh",
        "GrovePodCliqueMinAvailableBreached",
        "GroveGangUnschedulable",
        "GroveSchedulerExtenderLatencyHigh",
        "GroveWebhookErrors",
    ):
        assert wanted in names


def test_service_monitors_select_the_metrics_services() -> None:
    services = _services()
    monitors = _service_monitors()
    jobs = set()
    for monitor_name, service_name in (
        ("grove-operator", "grove-operator-metrics"),
        ("grove-scheduler", "grove-scheduler-metrics"),
    ):
        monitor = monitors[monitor_name]
        assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "ServiceMonitor")
        spec = monitor["spec"]
        selected = [
            name
            for name, svc in services.items()
            if svc["metadata"]["namespace"] in spec["namespaceSelector"]["matchNames"]
            and spec["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        ]
        assert selected == [service_name], f"{monitor_name} selects {selected}"
        service = services[service_name]
        ports = {p["name"]: p for p in service["spec"]["ports"]}
        for endpoint in spec["endpoints"]:
            assert endpoint["port"] in ports
            assert endpoint["path"] == "/metrics"
        jobs.add(service["metadata"]["labels"][spec["jobLabel"]])
        # The Service's targetPort names a container port of the pods it selects.
        (deployment,) = [
            d
            for d in _deployments()
            if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        container_ports = {
            p["name"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", ())
        }
        for port in ports.values():
            assert port["targetPort"] in container_ports
    assert jobs == {"grove-operator", "grove-scheduler"}
    # The rules and the dashboard's defaults use exactly these jobs.
    used = set(JOB_MATCHER.findall(RULES.read_text()))
    assert used == jobs
    board = json.loads(DASHBOARD.read_text())
    defaults = {v["query"] for v in board["templating"]["list"] if v["type"] == "textbox"}
    assert defaults == jobs


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = _docs(MONITORING / "kustomization.yaml")
    listed = set(kustomization["resources"])
    listed |= {f for g in kustomization["configMapGenerator"] for f in g["files"]}
    present = {p.name for p in MONITORING.iterdir() if p.name != "kustomization.yaml"}
    assert listed == present
