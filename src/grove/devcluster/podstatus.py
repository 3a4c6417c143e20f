"""What a fake kubelet reports about a pod: the status shapes of a real kubelet, as pure functions.

Shared by the kubelet simulation (:class:`grove.devcluster.kubelet.KubeletSimulation`) whichever API server
it talks to, the emulator's store or a real kube-apiserver over HTTP, so both test tiers show identical
statuses. A :class:`PodRun` is the kubelet's memory of one pod (its step, sandbox address, container start
and finish times, when probed containers turn ready); :func:`live_status` and :func:`terminal_status` turn
it and the pod as last seen into the ``status`` to post, with the conditions merged as the kubelet's status
manager merges them (``mergePodStatus``: conditions owned by others are kept).
"""

from __future__ import annotations

import hashlib
from typing import Any

JSON = dict[str, Any]

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
"""The pod conditions the kubelet owns (it rewrites them on every status update)."""
DISRUPTION_TARGET = "DisruptionTarget"
"""Shared between the kubelet and controllers: the kubelet sets it when it terminates a pod itself."""
SHUTDOWN_REASON = "Terminated"
SHUTDOWN_MESSAGE = "Pod was terminated in response to imminent node shutdown."

# A run's step.
CREATED = "created"  # admitted, waiting for the sandbox
INIT = "init"  # init container ``init_index`` running
RUNNING = "running"  # containers started
WAITING = "waiting"  # bound to a node that is down: nothing happens until it is back


def pod_key(obj: JSON) -> str:
    """``namespace/name``."""
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


def _hex(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


class PodRun:
    """The kubelet's view of one pod it runs."""

    __slots__ = (
        "deferred",
        "deleting",
        "exit_code",
        "init_finished",
        "init_index",
        "init_started",
        "ip",
        "ip_index",
        "key",
        "kill_at",
        "node",
        "ready_at",
        "requests",
        "start_time",
        "started_at",
        "step",
        "token",
        "uid",
    )

    def __init__(self, key: str, uid: str, node: str) -> None:
        self.key = key
        self.uid = uid
        self.node = node
        self.step = CREATED
        self.token = 0
        self.ip_index = -1
        self.ip = ""
        self.start_time = ""
        self.init_index = 0
        self.init_started: list[str] = []
        self.init_finished: list[str] = []
        self.started_at = ""
        self.ready_at: dict[str, float] = {}
        self.requests: dict[str, int] = {}
        self.deleting = False
        self.exit_code = 137
        self.kill_at = 0.0
        self.deferred = False


def image_repository(image: str) -> str:
    """``image`` without its tag or digest."""
    if "@" in image:
        return image.split("@", 1)[0]
    head, _, last = image.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def container_status(run: PodRun, c: JSON, state: JSON, *, ready: bool, started: bool) -> JSON:
    """One entry of ``containerStatuses`` / ``initContainerStatuses``; a container that was created has an
    imageID and a containerID derived from the pod's UID, as containerd reports them."""
    image = c.get("image") or ""
    created = "waiting" not in state
    out: JSON = {
        "name": c["name"],
        "state": state,
        "lastState": {},
        "ready": ready,
        "restartCount": 0,
        "image": image,
        "imageID": f"{image_repository(image)}@sha256:{_hex(image)}" if created else "",
        "started": started,
    }
    if created:
        out["containerID"] = f"containerd://{_hex(run.uid, c['name'])}"
    return out


def _waiting(run: PodRun, c: JSON, reason: str) -> JSON:
    return container_status(run, c, {"waiting": {"reason": reason}}, ready=False, started=False)


def _completed_init(run: PodRun, c: JSON, i: int) -> JSON:
    term = {
        "exitCode": 0,
        "reason": "Completed",
        "startedAt": run.init_started[i],
        "finishedAt": run.init_finished[i],
        "containerID": f"containerd://{_hex(run.uid, c['name'])}",
    }
    return container_status(run, c, {"terminated": term}, ready=False, started=False)


def readiness_gate_problems(pod: JSON) -> list[str]:
    """Why the pod's readiness gates keep it unready (the kubelet's ``ReadinessGatesNotReady`` message)."""
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return []
    conds = {c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []}
    problems = []
    for g in gates:
        t = g.get("conditionType")
        if t not in conds:
            problems.append(f'corresponding condition of pod readiness gate "{t}" does not exist.')
        elif conds[t] != "True":
            problems.append(f'the status of pod readiness gate "{t}" is not "True", but {conds[t]}')
    return problems


def merge_conditions(pod: JSON, kubelet_conditions: list[JSON], shared: list[JSON], now: str) -> list[JSON]:
    """``mergePodStatus``: conditions owned by others first (kept as they are), then the shared ones
    (DisruptionTarget) and the kubelet's; a condition keeps its lastTransitionTime while its status holds."""
    old = (pod.get("status") or {}).get("conditions") or []
    by_type = {c.get("type"): c for c in old}
    replaced = set(KUBELET_CONDITIONS) | {c["type"] for c in shared}
    out = [c for c in old if c.get("type") not in replaced]
    generation = pod["metadata"].get("generation", 1)
    for c in [*shared, *kubelet_conditions]:
        prev = by_type.get(c["type"])
        cond: JSON = {
            "type": c["type"],
            "status": c["status"],
            "observedGeneration": generation,
            "lastProbeTime": None,
            "lastTransitionTime": prev["lastTransitionTime"]
            if prev and prev.get("status") == c["status"] and prev.get("lastTransitionTime")
            else now,
        }
        for k in ("reason", "message"):
            if c.get(k):
                cond[k] = c[k]
        out.append(cond)
    return out


def live_status(run: PodRun, pod: JSON, *, host_ip: str, now: str, loop_now: float) -> JSON:
    """The status of a live (Pending or Running) pod: init containers done, running or waiting, the
    containers waiting or running, ready once past their readiness time (``loop_now`` is the event loop's
    clock, as ``run.ready_at``), Ready also waiting for the readiness gates."""
    spec = pod.get("spec") or {}
    inits = spec.get("initContainers") or []
    running = run.step == RUNNING
    init_statuses: list[JSON] = []
    incomplete: list[str] = []
    for i, c in enumerate(inits):
        sidecar = c.get("restartPolicy") == "Always"
        if (run.step == INIT and i == run.init_index) or (sidecar and i < len(run.init_started)):
            ready = sidecar and run.ready_at.get(c["name"], 0.0) <= loop_now
            state = {"running": {"startedAt": run.init_started[i]}}
            init_statuses.append(container_status(run, c, state, ready=ready, started=True))
            if not sidecar or (i == run.init_index and run.step == INIT):
                incomplete.append(c["name"])
        elif i < len(run.init_finished):
            init_statuses.append(_completed_init(run, c, i))
        else:
            init_statuses.append(_waiting(run, c, "PodInitializing"))
            incomplete.append(c["name"])
    statuses: list[JSON] = []
    for c in spec.get("containers") or []:
        if running:
            ready = run.ready_at.get(c["name"], 0.0) <= loop_now
            state = {"running": {"startedAt": run.started_at}}
            statuses.append(container_status(run, c, state, ready=ready, started=True))
        else:
            statuses.append(_waiting(run, c, "PodInitializing" if inits else "ContainerCreating"))
    unready = [s["name"] for s in statuses if not s["ready"]]
    if running or not incomplete:
        initialized: JSON = {"type": "Initialized", "status": "True"}
    else:
        initialized = {
            "type": "Initialized",
            "status": "False",
            "reason": "ContainersNotInitialized",
            "message": f"containers with incomplete status: [{' '.join(incomplete)}]",
        }
    if not unready:
        containers_ready: JSON = {"type": "ContainersReady", "status": "True"}
        gate_problems = readiness_gate_problems(pod)
        ready_cond: JSON = (
            {
                "type": "Ready",
                "status": "False",
                "reason": "ReadinessGatesNotReady",
                "message": ", ".join(gate_problems),
            }
            if gate_problems
            else {"type": "Ready", "status": "True"}
        )
    else:
        containers_ready = {
            "type": "ContainersReady",
            "status": "False",
            "reason": "ContainersNotReady",
            "message": f"containers with unready status: [{' '.join(unready)}]",
        }
        ready_cond = {**containers_ready, "type": "Ready"}
    conditions = [
        {"type": "PodReadyToStartContainers", "status": "True" if run.ip_index >= 0 else "False"},
        initialized,
        ready_cond,
        containers_ready,
        {"type": "PodScheduled", "status": "True"},
    ]
    return _status(
        run, pod, "Running" if running else "Pending", conditions, init_statuses, statuses, host_ip, now
    )


def terminal_status(
    run: PodRun,
    pod: JSON,
    *,
    host_ip: str,
    now: str,
    exit_code: int,
    reason: str | None = None,
    message: str | None = None,
) -> JSON:
    """Containers ended, killed (137, ``Error``) or exited (0, ``Completed``): phase Failed or Succeeded.
    With ``reason`` (node shutdown) the pod also gets a DisruptionTarget condition."""
    spec = pod.get("spec") or {}

    def ended(c: JSON, started_at: str) -> JSON:
        if not started_at:
            term: JSON = {
                "exitCode": 137,
                "reason": "ContainerStatusUnknown",
                "message": "The container could not be located when the pod was terminated",
                "startedAt": None,
                "finishedAt": None,
            }
            return container_status(run, c, {"terminated": term}, ready=False, started=False)
        term = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": started_at,
            "finishedAt": now,
            "containerID": f"containerd://{_hex(run.uid, c['name'])}",
        }
        return container_status(run, c, {"terminated": term}, ready=False, started=False)

    init_statuses = []
    for i, c in enumerate(spec.get("initContainers") or []):
        if i < len(run.init_finished) and c.get("restartPolicy") != "Always":
            init_statuses.append(_completed_init(run, c, i))
        else:
            init_statuses.append(ended(c, run.init_started[i] if i < len(run.init_started) else ""))
    statuses = [ended(c, run.started_at) for c in spec.get("containers") or []]
    phase = "Succeeded" if exit_code == 0 and not reason else "Failed"
    terminal_reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
    if run.step == RUNNING:
        initialized: JSON = {"type": "Initialized", "status": "True"}
    else:
        pending = [s["name"] for s in init_statuses if s["state"]["terminated"].get("reason") != "Completed"]
        initialized = {
            "type": "Initialized",
            "status": "False",
            "reason": "ContainersNotInitialized",
            "message": f"containers with incomplete status: [{' '.join(pending)}]",
        }
    conditions: list[JSON] = [
        {"type": "PodReadyToStartContainers", "status": "False"},
        initialized,
        {"type": "Ready", "status": "False", "reason": terminal_reason},
        {"type": "ContainersReady", "status": "False", "reason": terminal_reason},
        {"type": "PodScheduled", "status": "True"},
    ]
    shared = []
    if reason:
        shared.append(
            {
                "type": DISRUPTION_TARGET,
                "status": "True",
                "reason": "TerminationByKubelet",
                "message": message,
            }
        )
    return _status(
        run,
        pod,
        phase,
        conditions,
        init_statuses,
        statuses,
        host_ip,
        now,
        shared=shared,
        reason=reason,
        message=message,
    )


def _status(
    run: PodRun,
    pod: JSON,
    phase: str,
    kubelet_conditions: list[JSON],
    init_statuses: list[JSON],
    statuses: list[JSON],
    host_ip: str,
    now: str,
    *,
    shared: list[JSON] | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> JSON:
    status: JSON = {
        "phase": phase,
        "conditions": merge_conditions(pod, kubelet_conditions, shared or [], now),
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": run.start_time or now,
        "containerStatuses": statuses,
        "observedGeneration": pod["metadata"].get("generation", 1),
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if run.ip:
        status["podIP"] = run.ip
        status["podIPs"] = [{"ip": run.ip}]
    if reason:
        status["reason"] = reason
        status["message"] = message
    return status


def rejected_status(reason: str, message: str) -> JSON:
    """``rejectPod``: phase Failed with the admission failure, nothing started."""
    return {"phase": "Failed", "reason": reason, "message": f"Pod was rejected: {message}"}


def not_ready_conditions(pod: JSON, now: str) -> list[JSON] | None:
    """The node lifecycle controller's ``MarkPodsNotReady``: the conditions with Ready turned False, or
    None when it already is."""
    conditions = []
    changed = False
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") != "False":
            c = {**c, "status": "False", "lastTransitionTime": now}
            changed = True
        conditions.append(c)
    return conditions if changed else None
