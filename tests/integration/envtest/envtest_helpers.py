"""Pod manifests, readers and the kubelet timings for the HTTP fake kubelet tests."""

from __future__ import annotations

import re
from typing import Any

from grove.devcluster.simulation import SimulationOptions
from grove.runtime.client import Client
from grove.runtime.errors import NotFound
from grove.runtime.resources import LEASES, PODS

JSON = dict[str, Any]

# Fast kubelets; containers ignore SIGTERM (grace periods are waited out, as by default); Leases renewed
# every second so a test sees renewals (and their absence) quickly.
FAST = SimulationOptions(
    start_delay=0.05, init_container_duration=0.05, gate_recheck_interval=0.2, lease_renew_interval=1.0
)
PAUSE = "registry.k8s.io/pause:3.10"
BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"
TOLERATE_FAKE_NODES = [{"key": "fake-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
GATE = "example.com/ready-to-serve"
_CONDITION_TIMES = ("lastProbeTime", "lastTransitionTime")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def pod(name: str, node: str, *, grace: int = 1, labels: dict[str, str] | None = None, **spec: Any) -> JSON:
    """A Pod running ``pause`` bound to ``node`` (there may be no scheduler); ``spec`` entries merged in."""
    body: JSON = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": "http-kubelet-test"}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "main", "image": PAUSE}],
            "tolerations": TOLERATE_FAKE_NODES,
            "terminationGracePeriodSeconds": grace,
        },
    }
    body["spec"].update(spec)
    return body


def condition(obj: JSON, type_: str) -> JSON | None:
    """The object's status condition of ``type_``."""
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") == type_), None
    )


def is_true(obj: JSON, type_: str) -> bool:
    """Whether the condition ``type_`` is True."""
    c = condition(obj, type_)
    return c is not None and c.get("status") == "True"


def running_ready(p: JSON | None) -> bool:
    """Running with Ready=True."""
    return p is not None and (p.get("status") or {}).get("phase") == "Running" and is_true(p, "Ready")


async def read(client: Client, namespace: str, name: str) -> JSON | None:
    """The pod, or None when it is gone."""
    try:
        return await client.get(PODS, name, namespace)
    except NotFound:
        return None


async def renew_time(client: Client, node: str) -> str:
    """The node's Lease renewTime."""
    lease = await client.get(LEASES, node, "kube-node-lease")
    return str(lease["spec"]["renewTime"])


def normalized_status(p: JSON) -> JSON:
    """A pod's status without what differs from run to run (times, container IDs, the order of the
    conditions) or from server to server (kube-apiserver writes unset condition times as null), to compare
    what two kubelets reported."""

    def scrub(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: scrub(v, k) for k, v in value.items() if not (k in _CONDITION_TIMES and v is None)}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, str) and (_TIME.match(value) or key == "containerID"):
            return "<varies>"
        return value

    status = scrub(p.get("status") or {})
    status["conditions"] = sorted(status.get("conditions") or (), key=lambda c: c["type"])
    return dict(status)
