"""The PromQL of deploy/monitoring (dashboard panels and variables, alert rules), parsed, and checked against
the metrics our processes expose.

::

    queries = dashboard_queries() + rule_queries()          # syntax errors raise here
    exposed = exposed_metrics(operator_text, extender_text)  # sample name -> label names (None: no samples)
    values = exposed_values(operator_text, extender_text)    # sample name -> label -> values seen
    problems = check(queries, exposed, values)               # [] when every reference resolves

A query references metric names (every selector), label names (matchers, ``by``/``on`` lists, the label of
``label_values``, ``$labels.x`` in alert annotations, ``{{x}}`` in a panel's legend) and label values (the
``label="value"`` matchers); each must exist in what the processes expose, plus the labels Prometheus adds
to every scraped series (``TARGET_LABELS``). A value must be one the processes exposed for that label of
that metric, or one of ``values``' extra entries for values the scrape may not have shown yet.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser as pq
import yaml
from prometheus_client.parser import text_string_to_metric_families

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
RULES = MONITORING / "prometheusrule.yaml"

TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "service", "endpoint", "container"})
"""Labels Prometheus (through a ServiceMonitor) attaches to every series it scrapes."""
PROMETHEUS_METRICS = frozenset({"up"})
"""Series Prometheus itself produces per target."""

# Grafana's built-in interval variables, replaced before parsing (other variables only occur in strings).
_GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}")
_LABEL_VALUES = re.compile(
    r"^\s*label_values\((?P<selector>.*),\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$"
)
_TEMPLATE_LABELS = re.compile(r"\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)")
_LEGEND_LABELS = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


@dataclass
class Query:
    """One PromQL expression and where it comes from."""

    origin: str
    expr: str
    ast: Any = field(repr=False)
    result_label: str | None = None
    """A label the query's consumer reads from the result (``label_values``)."""
    annotation_labels: set[str] = field(default_factory=set)
    """``$labels.x`` an alert's annotations or ``{{x}}`` a panel's legend use: the result must carry them."""


def parse(expr: str) -> Any:
    """The AST of ``expr`` with Grafana's interval variables replaced; raises ValueError on bad syntax."""
    return pq.parse(_GRAFANA_INTERVALS.sub("5m", expr))


def dashboard_queries(path: Path = DASHBOARD) -> list[Query]:
    """Every target expression and every ``label_values`` variable query of the dashboard."""
    board = json.loads(path.read_text())
    out: list[Query] = []
    for panel in board["panels"]:
        for target in panel.get("targets", ()):
            origin = f"panel {panel['title']!r} target {target['refId']}"
            legend = set(_LEGEND_LABELS.findall(target.get("legendFormat") or ""))
            out.append(Query(origin, target["expr"], parse(target["expr"]), annotation_labels=legend))
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = _LABEL_VALUES.match(query)
        if m is None:
            raise ValueError(
                f"variable {var['name']}: only label_values(selector, label) is supported: {query}"
            )
        out.append(
            Query(f"variable {var['name']}", m["selector"], parse(m["selector"]), result_label=m["label"])
        )
    return out


def rule_queries(path: Path = RULES) -> list[Query]:
    """Every rule expression of the PrometheusRule, with the labels its annotations use."""
    rule_file = yaml.safe_load(path.read_text())
    out: list[Query] = []
    for group in rule_file["spec"]["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            used = set()
            for text in (rule.get("annotations") or {}).values():
                used.update(_TEMPLATE_LABELS.findall(text))
            out.append(Query(f"rule {name}", rule["expr"], parse(rule["expr"]), annotation_labels=used))
    return out


def exposed_metrics(*expositions: str) -> dict[str, frozenset[str] | None]:
    """Sample names a Prometheus scrape of these texts would store, with their label names (the union over
    samples), or None for a family exposed without samples (a labelled metric nothing has touched yet)."""
    out: dict[str, frozenset[str] | None] = {}
    for text in expositions:
        for family in text_string_to_metric_families(text):
            names = _sample_names(family.name, family.type)
            seen: dict[str, set[str]] = {}
            for s in family.samples:
                seen.setdefault(s.name, set()).update(s.labels)
            for n in names:
                labels = seen.get(n)
                if labels is not None:
                    previous = out.get(n)
                    out[n] = frozenset(labels | (previous or set()))
                else:
                    out.setdefault(n, None)
    return out


def exposed_families(*expositions: str) -> dict[str, tuple[str, frozenset[str] | None]]:
    """Metric families as users query them (counters with ``_total``), with their type and label names
    (``le`` excluded; None for a family exposed without samples)."""
    out: dict[str, tuple[str, frozenset[str] | None]] = {}
    for text in expositions:
        for family in text_string_to_metric_families(text):
            name = f"{family.name}_total" if family.type == "counter" else family.name
            labels = {label for s in family.samples for label in s.labels if label not in ("le", "quantile")}
            previous = out.get(name, (family.type, None))[1]
            if family.samples or previous is not None:
                out[name] = (family.type, frozenset(labels | (previous or set())))
            else:
                out[name] = (family.type, None)
    return out


Values = dict[str, dict[str, set[str]]]
"""Sample name -> label name -> the values seen."""


def exposed_values(*expositions: str) -> Values:
    """The label values of every sample of these texts, per sample name and label."""
    out: Values = {}
    for text in expositions:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                for label, value in s.labels.items():
                    out.setdefault(s.name, {}).setdefault(label, set()).add(value)
    return out


def _sample_names(name: str, kind: str) -> list[str]:
    if kind == "counter":
        return [f"{name}_total", f"{name}_created"]
    if kind == "histogram":
        return [f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"]
    if kind == "summary":
        return [name, f"{name}_sum", f"{name}_count", f"{name}_created"]
    return [name]


Exposed = dict[str, frozenset[str] | None]


def check(queries: Iterable[Query], exposed: Exposed, values: Values | None = None) -> list[str]:
    """Every unresolved reference of ``queries`` (empty when all resolve). With ``values``, every
    ``label="value"`` matcher must also name a value of ``values`` (skipped where ``values`` has none for
    that metric and label, and for Grafana variables and the target labels Prometheus adds)."""
    problems: list[str] = []
    for q in queries:
        problems.extend(f"{q.origin}: {p}" for p in _check(q, exposed))
        if values is not None:
            problems.extend(f"{q.origin}: {p}" for p in _check_values(q, values))
    return problems


def check_jobs(
    queries: Iterable[Query], by_job: dict[str, Exposed], variables: dict[str, str] | None = None
) -> list[str]:
    """Every selector of ``queries`` names its ``job`` (literally or through a Grafana variable of
    ``variables``, e.g. ``$operator_job`` -> ``grove-operator``), and that job's process (``by_job``: job ->
    what it exposes) exposes the metric: an operator metric selected under the extender's job matches
    nothing."""
    problems: list[str] = []
    for q in queries:
        for s in _selectors(q.ast):
            jobs = [m.value for m in s.matchers.matchers if m.name == "job"]
            if len(jobs) != 1:
                problems.append(f"{q.origin}: {s.name} needs one job matcher, has {jobs}")
                continue
            job = (variables or {}).get(jobs[0], jobs[0])
            if job not in by_job:
                problems.append(f"{q.origin}: {s.name}: unknown job {job!r}")
            elif s.name not in PROMETHEUS_METRICS and s.name not in by_job[job]:
                problems.append(f"{q.origin}: {s.name} is not exposed by job {job!r}")
    return problems


def dashboard_job_variables(path: Path = DASHBOARD) -> dict[str, str]:
    """The dashboard's job variables with their defaults (``$operator_job`` -> ``grove-operator``)."""
    board = json.loads(path.read_text())
    return {f"${v['name']}": v["query"] for v in board["templating"]["list"] if v["type"] == "textbox"}


def _check_values(q: Query, values: Values) -> Iterator[str]:
    for s in _selectors(q.ast):
        for m in s.matchers.matchers:
            if m.op != pq.MatchOp.Equal or m.name in TARGET_LABELS or "$" in m.value:
                continue
            seen = values.get(s.name, {}).get(m.name)
            if seen and m.value not in seen:
                yield f"{s.name}{{{m.name}={m.value!r}}} matches nothing: its values are {sorted(seen)}"


def _labels_of(name: str, exposed: Exposed) -> frozenset[str] | None:
    if name in PROMETHEUS_METRICS:
        return TARGET_LABELS
    labels = exposed.get(name)
    return None if labels is None else labels | TARGET_LABELS


def _nodes(ast: Any) -> Iterator[Any]:
    found: list[Any] = []
    pq.walk(ast, pre_visit=lambda n: found.append(n))
    yield from found


def _selectors(ast: Any) -> list[Any]:
    return [n for n in _nodes(ast) if isinstance(n, pq.VectorSelector)]


def _check(q: Query, exposed: Exposed) -> Iterator[str]:
    for s in _selectors(q.ast):
        if not s.name:
            yield "a selector without a metric name"
            continue
        if s.name not in exposed and s.name not in PROMETHEUS_METRICS:
            yield f"metric {s.name} is not exposed"
            continue
        labels = _labels_of(s.name, exposed)
        if labels is None:
            continue
        for m in s.matchers.matchers:
            if m.name not in labels:
                yield f"{s.name} has no label {m.name!r} (it has {sorted(labels)})"
    for node in _nodes(q.ast):
        if isinstance(node, pq.AggregateExpr) and node.modifier is not None:
            inner = _union_labels(node.expr, exposed)
            if inner is not None:
                for label in node.modifier.labels:
                    if label not in inner | {"le"}:
                        yield f"aggregation by {label!r}: no such label under it ({sorted(inner)})"
        if (
            isinstance(node, pq.BinaryExpr)
            and node.modifier is not None
            and node.modifier.matching is not None
        ):
            for side in (node.lhs, node.rhs):
                labels = _union_labels(side, exposed)
                if labels is None:
                    continue
                for label in node.modifier.matching.labels:
                    if label not in labels:
                        yield f"vector matching on {label!r}: not a label of {side}"
    wanted = set(q.annotation_labels)
    if q.result_label:
        wanted.add(q.result_label)
    if wanted:
        result = output_labels(q.ast, exposed)
        if result is not None:
            for label in sorted(wanted - result):
                yield f"the result has no label {label!r} (it has {sorted(result)})"


def _union_labels(ast: Any, exposed: Exposed) -> frozenset[str] | None:
    """Every label any selector under ``ast`` has (None if one of them is unknown)."""
    out: set[str] = set()
    for s in _selectors(ast):
        labels = _labels_of(s.name, exposed)
        if labels is None:
            return None
        out |= labels
    return frozenset(out)


_KEEPS_LABELS = {"topk", "bottomk", "limitk", "limit_ratio"}


def output_labels(ast: Any, exposed: Exposed) -> frozenset[str] | None:
    """The labels every series of the result carries (None where unknown), following Prometheus' rules for
    aggregations, functions and vector matching."""
    if isinstance(ast, pq.VectorSelector):
        return _labels_of(ast.name, exposed)
    if isinstance(ast, pq.MatrixSelector):
        return output_labels(ast.vector_selector, exposed)
    if isinstance(ast, pq.ParenExpr | pq.SubqueryExpr | pq.UnaryExpr):
        return output_labels(ast.expr, exposed)
    if isinstance(ast, pq.NumberLiteral | pq.StringLiteral):
        return frozenset()
    if isinstance(ast, pq.AggregateExpr):
        inner = output_labels(ast.expr, exposed)
        op = str(ast.op).lower()
        if any(op.endswith(k) for k in _KEEPS_LABELS):
            return inner
        if ast.modifier is None:
            return frozenset()
        labels = frozenset(ast.modifier.labels)
        if ast.modifier.type == pq.AggModifierType.By:
            return labels
        return None if inner is None else inner - labels
    if isinstance(ast, pq.Call):
        name = ast.func.name
        if name == "absent":
            (arg,) = ast.args
            return frozenset(
                m.name for s in _selectors(arg) for m in s.matchers.matchers if m.op == pq.MatchOp.Equal
            )
        vectors = [a for a in ast.args if not isinstance(a, pq.NumberLiteral | pq.StringLiteral)]
        if not vectors:
            return frozenset()
        inner = output_labels(vectors[0], exposed)
        if name == "histogram_quantile" and inner is not None:
            return inner - {"le"}
        return inner
    if isinstance(ast, pq.BinaryExpr):
        lhs = output_labels(ast.lhs, exposed)
        rhs = output_labels(ast.rhs, exposed)
        if isinstance(ast.lhs, pq.NumberLiteral):
            return rhs
        if isinstance(ast.rhs, pq.NumberLiteral):
            return lhs
        op = str(ast.op).strip().lower()
        if op == "or":
            return None if lhs is None or rhs is None else lhs & rhs
        if op in ("and", "unless"):
            return lhs
        matching = ast.modifier.matching if ast.modifier is not None else None
        card = ast.modifier.card if ast.modifier is not None else None
        if card == pq.VectorMatchCardinality.ManyToOne:
            return None if lhs is None else lhs | frozenset(ast.modifier.group_labels or ())
        if card == pq.VectorMatchCardinality.OneToMany:
            return None if rhs is None else rhs | frozenset(ast.modifier.group_labels or ())
        if matching is not None and matching.type == pq.LabelModifierType.Include:
            return frozenset(matching.labels)
        if matching is not None:
            return None if lhs is None else lhs - frozenset(matching.labels)
        return lhs
    return None
