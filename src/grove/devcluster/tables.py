"""Server-side ``Table`` responses (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``), as
kube-apiserver's printers produce them for ``kubectl get``: pods and nodes with their computed columns,
custom resources from ``additionalPrinterColumns``, and Name/Age for everything else."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import orjson

from grove.devcluster.meta import parse_rfc3339
from grove.devcluster.resources import PrinterColumn, ResourceType

JSON = dict[str, Any]

Row = Callable[[JSON, float], list[Any]]


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a Table."""
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 60 * 2:
        return f"{s}s"
    m = s // 60
    if m < 10:
        rem = s % 60
        return f"{m}m{rem}s" if rem else f"{m}m"
    if m < 60 * 3:
        return f"{m}m"
    h = m // 60
    if h < 8:
        rem = m % 60
        return f"{h}h{rem}m" if rem else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        rem = h % 24
        return f"{h // 24}d{rem}h" if rem else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        days = (h // 24) % 365
        return f"{h // 24 // 365}y{days}d" if days else f"{h // 24 // 365}y"
    return f"{h // 24 // 365}y"


def age(ts: str | None, now: float) -> str:
    """``translateTimestampSince``."""
    if not ts:
        return "<unknown>"
    try:
        return human_duration(now - parse_rfc3339(ts))
    except ValueError:
        return "<unknown>"


def _col(name: str, type_: str, description: str = "", priority: int = 0, fmt: str = "") -> JSON:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


_NAME = _col("Name", "string", "Name must be unique within a namespace.", fmt="name")
_AGE = _col(
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)


# ----------------------------------------------------------------------------- pods


def _pod_status(pod: JSON) -> str:
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    reason = status.get("reason") or status.get("phase") or ""
    # printPod: the condition kube-apiserver sets on gated pods, not the gates themselves.
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
        for c in status.get("conditions") or []
    ):
        reason = "SchedulingGated"
    initializing = False
    init_specs = spec.get("initContainers") or []
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        restartable = i < len(init_specs) and init_specs[i].get("restartPolicy") == "Always"
        if restartable and cs.get("started"):
            continue
        if term:
            reason = "Init:" + (
                term.get("reason")
                or (f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode')}")
            )
        elif (state.get("waiting") or {}).get("reason") not in (None, "", "PodInitializing"):
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
            elif state.get("terminated"):
                t = state["terminated"]
                reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode')}"
            elif state.get("running") and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            reason = "Running" if ready else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def _pod_row(pod: JSON, now: float) -> list[Any]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    gates = spec.get("readinessGates") or []
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        gate_cell = f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}/{len(gates)}"
    else:
        gate_cell = "<none>"
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(spec.get('containers') or [])}",
        _pod_status(pod),
        str(restarts),
        age(pod["metadata"].get("creationTimestamp"), now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gate_cell,
    ]


_POD_COLUMNS = [
    _NAME,
    _col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "string", "The aggregate status of the containers in this pod."),
    _col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last "
        "container in this pod has restarted.",
    ),
    _AGE,
    _col(
        "IP",
        "string",
        "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        1,
    ),
    _col("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", 1),
    _col(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node.",
        1,
    ),
    _col(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
        1,
    ),
]

# ----------------------------------------------------------------------------- nodes


def _node_row(node: JSON, now: float) -> list[Any]:
    status = node.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    ready = conds.get("Ready")
    state = "Ready" if ready == "True" else ("NotReady" if ready == "False" else "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(
        {k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k}
        | {v for k, v in labels.items() if k == "kubernetes.io/role"}
    )
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        node["metadata"]["name"],
        state,
        ",".join(r for r in roles if r) or "<none>",
        age(node["metadata"].get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        addrs.get("InternalIP") or "<none>",
        addrs.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


_NODE_COLUMNS = [
    _NAME,
    _col("Status", "string", "The status of the node"),
    _col("Roles", "string", "The roles of the node"),
    _AGE,
    _col("Version", "string", "Kubelet Version reported by the node."),
    _col("Internal-IP", "string", "List of internal IPs.", 1),
    _col("External-IP", "string", "List of external IPs.", 1),
    _col(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        1,
    ),
    _col(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        1,
    ),
    _col(
        "Container-Runtime",
        "string",
        "Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        1,
    ),
]


def _namespace_row(ns: JSON, now: float) -> list[Any]:
    return [
        ns["metadata"]["name"],
        (ns.get("status") or {}).get("phase", ""),
        age(ns["metadata"].get("creationTimestamp"), now),
    ]


def _service_row(svc: JSON, now: float) -> list[Any]:
    spec = svc.get("spec") or {}
    ports = ",".join(
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    ext = ",".join(spec.get("externalIPs") or []) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    )
    sel = spec.get("selector")
    return [
        svc["metadata"]["name"],
        spec.get("type", ""),
        spec.get("clusterIP") or "<none>",
        ext,
        ports or "<none>",
        age(svc["metadata"].get("creationTimestamp"), now),
        ",".join(f"{k}={v}" for k, v in sorted(sel.items())) if sel else "<none>",
    ]


_SERVICE_COLUMNS = [
    _NAME,
    _col("Type", "string", "type determines how the Service is exposed."),
    _col("Cluster-IP", "string", "clusterIP is the IP address of the service."),
    _col(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
        "traffic for this service.",
    ),
    _col("Port(s)", "string", "The list of ports that are exposed by this service."),
    _AGE,
    _col(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
        1,
    ),
]


def _lease_row(lease: JSON, now: float) -> list[Any]:
    holder = (lease.get("spec") or {}).get("holderIdentity") or ""
    return [lease["metadata"]["name"], holder, age(lease["metadata"].get("creationTimestamp"), now)]


def _configmap_row(cm: JSON, now: float) -> list[Any]:
    return [
        cm["metadata"]["name"],
        len(cm.get("data") or {}) + len(cm.get("binaryData") or {}),
        age(cm["metadata"].get("creationTimestamp"), now),
    ]


def _created_at_row(obj: JSON, now: float) -> list[Any]:
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp", "")]


_CREATED_AT = [
    _NAME,
    _col("Created At", "date", "CreationTimestamp is a timestamp of when this object was created."),
]


def _secret_row(sec: JSON, now: float) -> list[Any]:
    md = sec["metadata"]
    return [
        md["name"],
        sec.get("type", ""),
        len(sec.get("data") or {}),
        age(md.get("creationTimestamp"), now),
    ]


def _sa_row(sa: JSON, now: float) -> list[Any]:
    md = sa["metadata"]
    return [md["name"], len(sa.get("secrets") or []), age(md.get("creationTimestamp"), now)]


def _event_row(ev: JSON, now: float) -> list[Any]:
    obj = ev.get("involvedObject") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    first = ev.get("firstTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    source = (ev.get("source") or {}).get("component") or ev.get("reportingComponent") or ""
    return [
        age(last, now),
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}",
        obj.get("fieldPath", ""),
        source,
        str(ev.get("message", "")).strip(),
        age(first, now),
        int(ev.get("count") or 1),
        ev["metadata"]["name"],
    ]


_EVENT_COLUMNS = [
    _col("Last Seen", "string", "Time when last event from this object was observed."),
    _col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future."),
    _col("Reason", "string", "Short, machine understandable string that gives the reason for this event."),
    _col("Object", "string", "The object that this event is about."),
    _col("Subobject", "string", "Field path of the object this event is about.", 1),
    _col("Source", "string", "The component reporting this event.", 1),
    _col("Message", "string", "A human-readable description of the status of this operation."),
    _col("First Seen", "string", "Time when this event was first observed.", 1),
    _col("Count", "integer", "The number of times this event has occurred.", 1),
    _col("Name", "string", "Name of the event.", 1, "name"),
]


def _hpa_row(hpa: JSON, now: float) -> list[Any]:
    spec = hpa.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    status = hpa.get("status") or {}
    return [
        hpa["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        "<unknown>" if spec.get("metrics") else "<none>",
        spec.get("minReplicas", 1),
        spec.get("maxReplicas", 0),
        status.get("currentReplicas", 0),
        age(hpa["metadata"].get("creationTimestamp"), now),
    ]


_HPA_COLUMNS = [
    _NAME,
    _col("Reference", "string", "The scale target of the autoscaler."),
    _col("Targets", "string", "The current and target values of the metrics."),
    _col("MinPods", "string", "Lower limit for the number of pods."),
    _col("MaxPods", "string", "Upper limit for the number of pods."),
    _col("Replicas", "string", "Current number of replicas of pods managed by this autoscaler."),
    _AGE,
]


def _rolebinding_row(rb: JSON, now: float) -> list[Any]:
    ref = rb.get("roleRef") or {}
    subjects = rb.get("subjects") or []

    def names(kind: str) -> str:
        return ",".join(s.get("name", "") for s in subjects if s.get("kind") == kind)

    return [
        rb["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        age(rb["metadata"].get("creationTimestamp"), now),
        names("User"),
        names("Group"),
        ",".join(
            f"{s.get('namespace', '')}/{s.get('name', '')}"
            for s in subjects
            if s.get("kind") == "ServiceAccount"
        ),
    ]


_ROLEBINDING_COLUMNS = [
    _NAME,
    _col("Role", "string", "RoleRef is the reference to the role."),
    _AGE,
    _col("Users", "string", "Users in the roleBinding.", 1),
    _col("Groups", "string", "Groups in the roleBinding.", 1),
    _col("ServiceAccounts", "string", "ServiceAccounts in the roleBinding.", 1),
]

_RBAC = "rbac.authorization.k8s.io"

_BUILTIN: dict[tuple[str, str], tuple[list[JSON], Row]] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): (_CREATED_AT, _created_at_row),
    (_RBAC, "roles"): (_CREATED_AT, _created_at_row),
    (_RBAC, "clusterroles"): (_CREATED_AT, _created_at_row),
    (_RBAC, "rolebindings"): (_ROLEBINDING_COLUMNS, _rolebinding_row),
    (_RBAC, "clusterrolebindings"): (_ROLEBINDING_COLUMNS, _rolebinding_row),
    ("", "secrets"): (
        [
            _NAME,
            _col("Type", "string", "The type of the secret"),
            _col("Data", "integer", "Number of keys"),
            _AGE,
        ],
        _secret_row,
    ),
    ("", "serviceaccounts"): ([_NAME, _col("Secrets", "integer", "Number of secrets"), _AGE], _sa_row),
    ("", "events"): (_EVENT_COLUMNS, _event_row),
    ("autoscaling", "horizontalpodautoscalers"): (_HPA_COLUMNS, _hpa_row),
    ("", "pods"): (_POD_COLUMNS, _pod_row),
    ("", "nodes"): (_NODE_COLUMNS, _node_row),
    ("", "namespaces"): (
        [_NAME, _col("Status", "string", "The status of the namespace"), _AGE],
        _namespace_row,
    ),
    ("", "services"): (_SERVICE_COLUMNS, _service_row),
    ("", "configmaps"): ([_NAME, _col("Data", "integer", "Number of keys"), _AGE], _configmap_row),
    ("coordination.k8s.io", "leases"): (
        [_NAME, _col("Holder", "string", "The holder of the lease"), _AGE],
        _lease_row,
    ),
}

# ----------------------------------------------------------------------------- custom resources (JSONPath)

_TOKEN = re.compile(
    r"\.([A-Za-z0-9_\-/]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]|\['([^']+)'\]"
)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Values at a kubectl-style JSONPath: ``.a.b``, ``[0]``, ``[*]``, ``[?(@.type=="Ready")]``."""
    p = path.strip()
    if p.startswith("{") and p.endswith("}"):
        p = p[1:-1]
    if p.startswith("$"):
        p = p[1:]
    current = [obj]
    pos = 0
    while pos < len(p):
        m = _TOKEN.match(p, pos)
        if m is None:
            return []
        pos = m.end()
        nxt: list[Any] = []
        field, index, fkey, fval, quoted = m.groups()
        for cur in current:
            if field is not None or quoted is not None:
                key = field if field is not None else quoted
                if isinstance(cur, dict) and key in cur:
                    nxt.append(cur[key])
            elif index is not None:
                if isinstance(cur, list):
                    if index == "*":
                        nxt.extend(cur)
                    elif int(index) < len(cur):
                        nxt.append(cur[int(index)])
            elif fkey is not None and isinstance(cur, list):
                for item in cur:
                    val: Any = item
                    for part in fkey.split("."):
                        val = val.get(part) if isinstance(val, dict) else None
                    if val is not None and str(val) == fval:
                        nxt.append(item)
        current = nxt
    return current


def _cell(col: PrinterColumn, obj: JSON, now: float) -> Any:
    # kube-apiserver's table convertor shows the first result only, even of a path like ``.items[*].name``.
    values = jsonpath(obj, col.json_path)
    if not values or values[0] is None:
        return None
    v = values[0]
    if col.type == "date":
        return age(str(v), now) if isinstance(v, str) else None
    if col.type == "integer":
        return v if isinstance(v, int) else None
    if col.type == "number":
        return v if isinstance(v, (int, float)) else None
    if col.type == "boolean":
        return v if isinstance(v, bool) else None
    if isinstance(v, (dict, list)):
        return orjson.dumps(v).decode()
    return v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)


def _columns_and_row(rtype: ResourceType) -> tuple[list[JSON], Row]:
    builtin = _BUILTIN.get((rtype.group, rtype.plural))
    if builtin is not None:
        return builtin
    cols = list(rtype.printer_columns) or [PrinterColumn("Age", "date", ".metadata.creationTimestamp")]
    defs = [_NAME] + [
        _col(c.name, "string" if c.type == "date" else c.type, c.description, c.priority, c.format)
        for c in cols
    ]

    def row(obj: JSON, now: float) -> list[Any]:
        return [obj["metadata"]["name"], *(_cell(c, obj, now) for c in cols)]

    return defs, row


def _row_object(obj: JSON, include: str) -> JSON | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(
    rtype: ResourceType,
    objects: list[JSON],
    *,
    resource_version: str = "",
    continue_: str | None = None,
    remaining: int | None = None,
    include_object: str = "Metadata",
    api_version: str = "meta.k8s.io/v1",
) -> JSON:
    """A Table of ``objects`` (in ``rtype``'s version)."""
    cols, row = _columns_and_row(rtype)
    now = time.time()
    rows = []
    for o in objects:
        r: JSON = {"cells": row(o, now)}
        ro = _row_object(o, include_object)
        if ro is not None:
            r["object"] = ro
        rows.append(r)
    md: JSON = {}
    if resource_version:
        md["resourceVersion"] = resource_version
    if continue_:
        md["continue"] = continue_
    if remaining:
        md["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": md,
        "columnDefinitions": cols,
        "rows": rows,
    }


def table_api_version(accept: str) -> str:
    """meta.k8s.io/v1 unless the client only accepts v1beta1."""
    for part in accept.split(","):
        if "as=Table" in part and "v=v1beta1" not in part:
            return "meta.k8s.io/v1"
    return "meta.k8s.io/v1beta1"
