"""Generates deploy/monitoring/grafana-dashboard.json, Grove's Grafana dashboard.

    python hack/grafana_dashboard.py            # print it
    python hack/grafana_dashboard.py --write    # (re)write deploy/monitoring/grafana-dashboard.json
    python hack/grafana_dashboard.py --check    # exit 1 if the committed file is not what this generates

Panels are declared below as (title, description, unit, [(expr, legend)]) per row; the layout (ids, grid
positions) and the Grafana boilerplate are computed. Variables: ``datasource``, ``operator_job`` and
``scheduler_job`` (the jobs of deploy/monitoring/servicemonitors.yaml), ``namespace`` and ``podcliqueset``
(from the Grove object metrics), ``level`` and ``resource`` (topology domains of the extender).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "deploy" / "monitoring" / "grafana-dashboard.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"

OP = 'job=~"$operator_job"'
SCHED = 'job=~"$scheduler_job"'
OBJ = 'job=~"$operator_job", namespace=~"$namespace"'
PCS_SEL = f'{OBJ}, name=~"$podcliqueset"'
CHILD_SEL = f'{OBJ}, podcliqueset=~"$podcliqueset"'


@dataclass
class Panel:
    """A panel: a time series (default), a stat or a table of instant values."""

    title: str
    description: str
    unit: str
    targets: list[tuple[str, str]]
    kind: str = "timeseries"
    width: int = 8
    height: int = 8
    options: dict[str, Any] = field(default_factory=dict)


def sel(metric: str, selector: str, extra: str = "") -> str:
    """``metric{selector, extra}``."""
    return f"{metric}{{{selector}{', ' + extra if extra else ''}}}"


def rate(metric: str, selector: str, extra: str = "") -> str:
    """``rate(metric{...}[$__rate_interval])``."""
    return f"rate({sel(metric, selector, extra)}[{RATE}])"


def sum_by(labels: str, inner: str) -> str:
    """``sum by (labels) (inner)``."""
    return f"sum by ({labels}) ({inner})"


def quantile(q: float, metric: str, by: str, selector: str) -> str:
    """The ``q`` quantile of histogram ``metric`` per ``by``."""
    return f"histogram_quantile({q}, {sum_by(by + ', le', rate(metric + '_bucket', selector))})"


def quantiles(metric: str, by: str, selector: str, legend: str) -> list[tuple[str, str]]:
    """p50 and p99 of histogram ``metric`` per ``by``."""
    return [(quantile(q, metric, by, selector), f"{legend} p{int(q * 100)}") for q in (0.5, 0.99)]


BREACHED = 'type="MinAvailableBreached", status="true"'
DOMAIN = 'level=~"$level", resource=~"$resource"'
BY_DOMAIN = "topology, level, domain, resource"
DOMAIN_LEGEND = "{{topology}} {{level}} {{domain}} {{resource}}"

ROWS: list[tuple[str, list[Panel]]] = [
    (
        "Operator",
        [
            Panel(
                "Reconciles per second",
                "Reconciles per controller and outcome (controller_runtime_reconcile_total).",
                "ops",
                [
                    (
                        sum_by("controller, result", rate("controller_runtime_reconcile_total", OP)),
                        "{{controller}} {{result}}",
                    )
                ],
            ),
            Panel(
                "Reconcile errors per second",
                "Reconciles that raised, per controller; every one is logged as reconcile.error.",
                "ops",
                [
                    (
                        sum_by("controller", rate("controller_runtime_reconcile_errors_total", OP)),
                        "{{controller}}",
                    )
                ],
            ),
            Panel(
                "Reconcile latency",
                "p50 and p99 of the time a reconcile takes, per controller.",
                "s",
                quantiles("controller_runtime_reconcile_time_seconds", "controller", OP, "{{controller}}"),
            ),
            Panel(
                "Workqueue depth",
                "Keys waiting for a worker, per controller queue.",
                "short",
                [(sum_by("name", sel("workqueue_depth", OP)), "{{name}}")],
            ),
            Panel(
                "Workqueue latency",
                "p99 of the time a key waits in the queue and of the time its processing takes; the "
                "longest-running reconcile.",
                "s",
                [
                    (quantile(0.99, "workqueue_queue_duration_seconds", "name", OP), "{{name}} wait p99"),
                    (quantile(0.99, "workqueue_work_duration_seconds", "name", OP), "{{name}} work p99"),
                    (
                        f"max by (name) ({sel('workqueue_longest_running_processor_seconds', OP)})",
                        "{{name}} longest running",
                    ),
                ],
            ),
            Panel(
                "Workqueue retries per second",
                "Keys requeued with backoff after a failed reconcile.",
                "ops",
                [(sum_by("name", rate("workqueue_retries_total", OP)), "{{name}}")],
            ),
            Panel(
                "API requests by code",
                "Requests of the operator to the Kubernetes API server, by method and HTTP status.",
                "reqps",
                [(sum_by("method, code", rate("rest_client_requests_total", OP)), "{{method}} {{code}}")],
            ),
            Panel(
                "API request latency",
                "p99 of the operator's API requests, by verb (watches: time to the response headers).",
                "s",
                [(quantile(0.99, "rest_client_request_duration_seconds", "verb", OP), "{{verb}} p99")],
            ),
            Panel(
                "Leader",
                "1 for the replica holding the lease (operator and extender), 0 for standbys.",
                "short",
                [
                    (
                        f"max by (instance, name) ({sel('leader_election_master_status', job)})",
                        "{{name}} {{instance}}",
                    )
                    for job in (OP, SCHED)
                ],
                kind="stat",
            ),
            Panel(
                "Operator memory and CPU",
                "Resident memory (left) and CPU cores used (right) per operator replica.",
                "bytes",
                [
                    (sel("process_resident_memory_bytes", OP), "{{instance}} RSS"),
                    (rate("process_cpu_seconds_total", OP), "{{instance}} CPU"),
                ],
                options={"right_axis": "CPU", "right_unit": "short"},
            ),
            Panel(
                "Objects in the operator's caches",
                "Objects per informer (pods, Services, ... are only those Grove manages).",
                "short",
                [(f"max by (resource) ({sel('informer_objects', OP)})", "{{resource}}")],
            ),
        ],
    ),
    (
        "Grove objects",
        [
            Panel(
                "PodCliqueSet replicas",
                "Desired, available (every clique and scaling group at minAvailable) and updated replicas.",
                "short",
                [
                    (
                        sum_by("namespace, name", sel(f"grove_podcliqueset_{m}", PCS_SEL)),
                        f"{{{{name}}}} {what}",
                    )
                    for m, what in (
                        ("spec_replicas", "desired"),
                        ("status_available_replicas", "available"),
                        ("status_updated_replicas", "updated"),
                    )
                ],
                width=12,
            ),
            Panel(
                "Pods per clique: desired, ready, scheduled, updated",
                "Summed over the PodCliques of each clique (all PodCliqueSet and scaling group replicas); "
                "updated: pods running the current template, which a rolling update brings up to desired.",
                "short",
                [
                    (
                        sum_by("podcliqueset, clique", sel(f"grove_podclique_{m}", CHILD_SEL)),
                        f"{{{{podcliqueset}}}}/{{{{clique}}}} {what}",
                    )
                    for m, what in (
                        ("spec_replicas", "desired"),
                        ("status_ready_replicas", "ready"),
                        ("status_scheduled_replicas", "scheduled"),
                        ("status_updated_replicas", "updated"),
                    )
                ],
                width=12,
            ),
            Panel(
                "Scaling group replicas",
                "Desired, scheduled and available replicas per scaling group, summed over PodCliqueSet "
                "replicas.",
                "short",
                [
                    (
                        sum_by(
                            "podcliqueset, scaling_group", sel(f"grove_podcliquescalinggroup_{m}", CHILD_SEL)
                        ),
                        f"{{{{podcliqueset}}}}/{{{{scaling_group}}}} {what}",
                    )
                    for m, what in (
                        ("spec_replicas", "desired"),
                        ("status_scheduled_replicas", "scheduled"),
                        ("status_available_replicas", "available"),
                    )
                ],
            ),
            Panel(
                "Breached cliques and scaling groups",
                "PodCliques and scaling groups whose MinAvailableBreached condition is True.",
                "short",
                [
                    (
                        f"count by (podcliqueset) ({sel('grove_podclique_condition', CHILD_SEL, BREACHED)})",
                        "{{podcliqueset}} PodCliques",
                    ),
                    (
                        "count by (podcliqueset) "
                        f"({sel('grove_podcliquescalinggroup_condition', CHILD_SEL, BREACHED)})",
                        "{{podcliqueset}} scaling groups",
                    ),
                ],
            ),
            Panel(
                "Gated pods",
                "Pods still held by Grove's scheduling gate (their PodGang is not complete yet).",
                "short",
                [
                    (
                        sum_by(
                            "podcliqueset, clique",
                            sel("grove_podclique_status_schedule_gated_replicas", CHILD_SEL),
                        ),
                        "{{podcliqueset}}/{{clique}}",
                    )
                ],
            ),
            Panel(
                "PodGangs",
                "PodGangs per phase, and those not Initialized yet (pods still being created).",
                "short",
                [
                    (
                        f"count by (podcliqueset, phase) ({sel('grove_podgang_status_phase', CHILD_SEL)})",
                        "{{podcliqueset}} {{phase}}",
                    ),
                    (
                        f"count by (podcliqueset) ({sel('grove_podgang_initialized', CHILD_SEL)} == 0)",
                        "{{podcliqueset}} not initialized",
                    ),
                ],
            ),
            Panel(
                "Rolling updates in progress",
                "1 while a PodCliqueSet rolls out new pod templates.",
                "short",
                [(sel("grove_podcliqueset_status_update_in_progress", PCS_SEL), "{{name}}")],
            ),
            Panel(
                "Breached PodCliques",
                "PodCliques with MinAvailableBreached True now.",
                "short",
                [(sel("grove_podclique_condition", CHILD_SEL, BREACHED), "")],
                kind="table",
            ),
            Panel(
                "Errors reported on objects",
                "status.lastErrors by code (an object in the way, a rejected write, an invalid spec).",
                "short",
                [
                    (sel("grove_podcliqueset_status_last_errors", PCS_SEL), ""),
                    (sel("grove_podcliquescalinggroup_status_last_errors", CHILD_SEL), ""),
                    (sel("grove_podclique_status_last_errors", CHILD_SEL), ""),
                ],
                kind="table",
            ),
        ],
    ),
    (
        "Scheduler extender",
        [
            Panel(
                "Extender requests per second",
                "Calls from kube-scheduler by verb and outcome (ok; retry: gang not ready or standby; "
                "error).",
                "reqps",
                [
                    (
                        sum_by("verb, outcome", rate("grove_scheduler_extender_requests_total", SCHED)),
                        "{{verb}} {{outcome}}",
                    )
                ],
            ),
            Panel(
                "Extender request latency",
                "p50 and p99 of the time to answer kube-scheduler, per verb.",
                "s",
                quantiles("grove_scheduler_extender_request_duration_seconds", "verb", SCHED, "{{verb}}"),
            ),
            Panel(
                "Gangs per second",
                "Gang plans computed, planning attempts that found no placement, plans expired unbound, "
                "and re-plans by reason.",
                "ops",
                [
                    (f"sum({rate('grove_scheduler_gangs_planned_total', SCHED)})", "planned"),
                    (f"sum({rate('grove_scheduler_gangs_failed_total', SCHED)})", "failed"),
                    (f"sum({rate('grove_scheduler_gangs_expired_total', SCHED)})", "expired"),
                    (
                        sum_by("reason", rate("grove_scheduler_gang_replans_total", SCHED)),
                        "replan {{reason}}",
                    ),
                ],
            ),
            Panel(
                "Plan time",
                "p50 and p99 of the time to plan one gang.",
                "s",
                quantiles("grove_scheduler_plan_duration_seconds", "job", SCHED, "plan"),
            ),
            Panel(
                "Pods bound",
                "Bindings through the extender by outcome, and gang pods bound off their planned node.",
                "ops",
                [
                    (sum_by("outcome", rate("grove_scheduler_pods_bound_total", SCHED)), "{{outcome}}"),
                    (f"sum({rate('grove_scheduler_pods_bound_off_plan_total', SCHED)})", "off plan"),
                ],
            ),
            Panel(
                "Free capacity per domain",
                "Fraction of the allocatable capacity that is free, per topology domain (level and "
                "resource chosen above).",
                "percentunit",
                [
                    (
                        f"max by ({BY_DOMAIN}) ({sel('grove_scheduler_domain_free', SCHED, DOMAIN)})"
                        f" / max by ({BY_DOMAIN}) "
                        f"({sel('grove_scheduler_domain_allocatable', SCHED, DOMAIN)} > 0)",
                        DOMAIN_LEGEND,
                    )
                ],
                width=12,
            ),
            Panel(
                "Free capacity per domain (units)",
                "Free capacity per topology domain in scheduler units (cpu in millicores, memory in bytes).",
                "short",
                [
                    (
                        f"max by ({BY_DOMAIN}) ({sel('grove_scheduler_domain_free', SCHED, DOMAIN)})",
                        DOMAIN_LEGEND,
                    )
                ],
                width=12,
            ),
        ],
    ),
    (
        "Admission webhook",
        [
            Panel(
                "Admission requests per second",
                "Requests per webhook path and HTTP code (200 for every answer, allowed or denied).",
                "reqps",
                [
                    (
                        sum_by("webhook, code", rate("controller_runtime_webhook_requests_total", OP)),
                        "{{webhook}} {{code}}",
                    )
                ],
            ),
            Panel(
                "Admission verdicts per second",
                "Answers per webhook path: allowed, denied (the object breaks a rule) or error (the webhook "
                "could not judge the request).",
                "reqps",
                [
                    (
                        sum_by("webhook, result", rate("grove_webhook_admission_responses_total", OP)),
                        "{{webhook}} {{result}}",
                    )
                ],
            ),
            Panel(
                "Admission latency",
                "p50 and p99 of the time to answer, per webhook path.",
                "s",
                quantiles("controller_runtime_webhook_latency_seconds", "webhook", OP, "{{webhook}}"),
            ),
            Panel(
                "Admission requests in flight",
                "Requests being served now, per webhook path.",
                "short",
                [
                    (
                        sum_by("webhook", sel("controller_runtime_webhook_requests_in_flight", OP)),
                        "{{webhook}}",
                    )
                ],
            ),
        ],
    ),
]


def _variable_query(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-query"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
        "regex": "",
        "options": [],
    }


def _textbox(name: str, label: str, value: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "textbox",
        "query": value,
        "current": {"text": value, "value": value},
        "hide": 0,
        "options": [{"selected": True, "text": value, "value": value}],
    }


TEMPLATING: list[dict[str, Any]] = [
    {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    },
    _textbox("operator_job", "Operator job", "grove-operator"),
    _textbox("scheduler_job", "Extender job", "grove-scheduler"),
    _variable_query(
        "namespace",
        "Namespace",
        'label_values(grove_podcliqueset_spec_replicas{job=~"$operator_job"}, namespace)',
    ),
    _variable_query(
        "podcliqueset",
        "PodCliqueSet",
        'label_values(grove_podcliqueset_spec_replicas{job=~"$operator_job", namespace=~"$namespace"}, name)',
    ),
    _variable_query(
        "level", "Topology level", 'label_values(grove_scheduler_domain_free{job=~"$scheduler_job"}, level)'
    ),
    _variable_query(
        "resource", "Resource", 'label_values(grove_scheduler_domain_free{job=~"$scheduler_job"}, resource)'
    ),
]


def _panel_json(p: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    targets = [
        {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend, "range": True}
        for i, (expr, legend) in enumerate(p.targets)
    ]
    defaults: dict[str, Any] = {"unit": p.unit}
    out: dict[str, Any] = {
        "id": pid,
        "type": p.kind,
        "title": p.title,
        "description": p.description,
        "datasource": DS,
        "gridPos": {"h": p.height, "w": p.width, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
    }
    if p.kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
        out["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
        if "right_axis" in p.options:
            out["fieldConfig"]["overrides"] = [
                {
                    "matcher": {"id": "byRegexp", "options": f".*{p.options['right_axis']}$"},
                    "properties": [
                        {"id": "custom.axisPlacement", "value": "right"},
                        {"id": "unit", "value": p.options["right_unit"]},
                    ],
                }
            ]
    elif p.kind == "stat":
        out["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
        }
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "text", "value": None}, {"color": "green", "value": 1}],
        }
    elif p.kind == "table":
        for t in targets:
            t.update({"instant": True, "range": False, "format": "table"})
        out["options"] = {"showHeader": True}
        out["transformations"] = [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": False}}},
        ]
    return out


def dashboard() -> dict[str, Any]:
    """The whole dashboard."""
    panels: list[dict[str, Any]] = []
    pid = 1
    y = 0
    for title, row_panels in ROWS:
        panels.append(
            {
                "id": pid,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
        )
        pid += 1
        y += 1
        x = 0
        line_height = 0
        for p in row_panels:
            if x + p.width > 24:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel_json(p, pid, x, y))
            pid += 1
            x += p.width
            line_height = max(line_height, p.height)
        y += line_height
    return {
        "title": "Grove",
        "uid": "grove-overview",
        "description": "Grove operator, Grove objects, scheduler extender and admission webhook "
        "(docs/observability.md).",
        "tags": ["grove", "kubernetes"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": TEMPLATING},
        "panels": panels,
    }


def render() -> str:
    """The dashboard as the committed file holds it."""
    return json.dumps(dashboard(), indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {OUT}")
    mode.add_argument("--check", action="store_true", help="exit 1 if the committed file is out of date")
    args = parser.parse_args()
    text = render()
    if args.write:
        OUT.write_text(text)
    elif args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python hack/grafana_dashboard.py --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
