"""The kube-scheduler extender protocol (``k8s.io/kube-scheduler/extender/v1``) over the ledger.

The wire structs have no json tags, so keys are the Go field names: ``ExtenderArgs{Pod, Nodes, NodeNames}``,
``ExtenderFilterResult{Nodes, NodeNames, FailedNodes, FailedAndUnresolvableNodes, Error}``,
``HostPriorityList[{Host, Score}]``, ``ExtenderBindingArgs{PodName, PodNamespace, PodUID, Node}`` and
``ExtenderBindingResult{Error}``. With ``nodeCacheCapable: true`` kube-scheduler sends and reads
``NodeNames``; otherwise full Node objects in ``Nodes.items``. Answers use the form of the request.

This module is transport-free: :mod:`grove.scheduler.server` puts it behind aiohttp.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from grove.scheduler.gang import PODGANG_LABEL
from grove.scheduler.ledger import Ledger, NotGang, Placed, Unschedulable, Waiting
from grove.scheduler.metrics import SchedulerMetrics

__all__ = ["MAX_SCORE", "Binder", "Extender", "ProtocolError", "Standby"]

log = structlog.get_logger("grove.scheduler.extender")

MAX_SCORE = 10  # MaxExtenderPriority
# How often one filter call re-plans when kube-scheduler keeps rejecting the planned node.
_MAX_REJECTIONS = 3

Binder = Callable[[str, str, str, str], Awaitable[None]]
"""``await binder(namespace, name, uid, node)`` creates the pod's Binding; raises when that fails."""

Standby = Callable[[], str | None]
"""``standby()`` is None while this extender is the active one, else why not (e.g. who leads)."""


class ProtocolError(ValueError):
    """A request that does not follow the extender wire format; the message names the field."""


def _pod_key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


class _Nodes:
    """The candidate nodes of a request, in whichever form it came."""

    def __init__(self, args: Mapping[str, Any]) -> None:
        names = args.get("NodeNames")
        self.items: dict[str, Any] | None = None
        self.list_meta: Mapping[str, Any] = {}
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ProtocolError("NodeNames: must be a list of node names")
            self.names: list[str] = names
            return
        nodes = args.get("Nodes")
        if nodes is None:
            self.names, self.items = [], {}
            return
        items = nodes.get("items") if isinstance(nodes, Mapping) else None
        if not isinstance(items, list):
            raise ProtocolError("Nodes.items: must be a list of Node objects")
        self.items = {}
        for i, item in enumerate(items):
            name = (item.get("metadata") or {}).get("name") if isinstance(item, Mapping) else None
            if not isinstance(name, str):
                raise ProtocolError(f"Nodes.items[{i}].metadata.name: required")
            self.items[name] = item
        self.list_meta = {k: v for k, v in nodes.items() if k != "items"}
        self.names = list(self.items)

    def __contains__(self, name: object) -> bool:
        return name in self.items if self.items is not None else name in self.names

    def result(
        self, passing: list[str], failed: dict[str, str], unresolvable: dict[str, str], error: str = ""
    ) -> dict[str, Any]:
        if self.items is None:
            return {
                "Nodes": None,
                "NodeNames": passing,
                "FailedNodes": failed,
                "FailedAndUnresolvableNodes": unresolvable,
                "Error": error,
            }
        node_list = {**self.list_meta, "items": [self.items[n] for n in passing]}
        return {
            "Nodes": node_list,
            "NodeNames": None,
            "FailedNodes": failed,
            "FailedAndUnresolvableNodes": unresolvable,
            "Error": error,
        }


def _is_gang_pod(pod: Mapping[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return isinstance(labels, Mapping) and bool(labels.get(PODGANG_LABEL))


class Extender:
    """Answers filter, prioritize and bind for one kube-scheduler, backed by a :class:`Ledger`.

    A gang that is not ready (its PodGang or some of its pods not seen yet) is answered with ``Error``:
    kube-scheduler then retries the pod after its backoff. Node-level failures would park the pod in the
    unschedulable pool until a node or bound-pod event or an update of the pod (up to 5 minutes), and what
    makes the gang ready (the PodGang created, our informer catching up, sibling pods) is none of them
    (docs/scheduler.md).

    With ``standby``, a replica that is not the active one (``standby()`` returns a reason) plans nothing:
    filter passes pods outside any gang as usual (that needs no state) and answers gang pods with the
    reason as ``Error``, so kube-scheduler retries them after its backoff; bind still binds (the scheduler
    has decided by then, and a binding needs no plan).
    """

    def __init__(
        self,
        ledger: Ledger,
        binder: Binder,
        metrics: SchedulerMetrics | None = None,
        *,
        standby: Standby | None = None,
    ) -> None:
        self.ledger = ledger
        self.binder = binder
        self.metrics = metrics
        self.standby = standby

    @staticmethod
    def _pod(args: Mapping[str, Any]) -> Mapping[str, Any]:
        pod = args.get("Pod")
        if not isinstance(pod, Mapping) or not isinstance((pod.get("metadata") or {}).get("name"), str):
            raise ProtocolError("Pod: must be a Pod object with metadata.name")
        return pod

    def filter(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """``ExtenderArgs`` → ``ExtenderFilterResult``."""
        pod = self._pod(args)
        nodes = _Nodes(args)
        if self.standby is not None and _is_gang_pod(pod):
            reason = self.standby()
            if reason is not None:
                return nodes.result([], {}, {}, error=reason)
        try:
            decision = self.ledger.decide(pod)
        except ValueError as e:
            raise ProtocolError(f"Pod: {e}") from e
        for _ in range(_MAX_REJECTIONS):
            if not isinstance(decision, Placed) or decision.node in nodes:
                break
            # kube-scheduler's own filters (ports, volumes, pod affinity...) rule the planned node out.
            self.ledger.reject_node(_pod_key(pod), decision.node)
            decision = self.ledger.decide(pod)
        if isinstance(decision, NotGang):
            return nodes.result(list(nodes.names), {}, {})
        if isinstance(decision, Placed):
            if decision.node in nodes:
                reason = f"pod is planned on node {decision.node}"
                failed = {n: reason for n in nodes.names if n != decision.node}
                return nodes.result([decision.node], failed, {})
            reason = f"planned node {decision.node} is not feasible for kube-scheduler; re-planning"
            return nodes.result([], dict.fromkeys(nodes.names, reason), {})
        if isinstance(decision, Unschedulable):
            return nodes.result([], {}, dict.fromkeys(nodes.names, decision.message))
        assert isinstance(decision, Waiting)
        if decision.retry:
            return nodes.result([], {}, {}, error=decision.message)
        return nodes.result([], dict.fromkeys(nodes.names, decision.message), {})

    def prioritize(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``ExtenderArgs`` → ``HostPriorityList``: the planned node scores 10, every other node 0."""
        pod = self._pod(args)
        nodes = _Nodes(args)
        planned = self.ledger.planned_node(_pod_key(pod))
        return [{"Host": n, "Score": MAX_SCORE if n == planned else 0} for n in nodes.names]

    async def bind(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """``ExtenderBindingArgs`` → ``ExtenderBindingResult``: bind through the binder, record it."""
        fields = {}
        for name in ("PodName", "PodNamespace", "Node"):
            value = args.get(name)
            if not isinstance(value, str) or not value:
                raise ProtocolError(f"{name}: required")
            fields[name] = value
        uid = args.get("PodUID") or ""
        if not isinstance(uid, str):
            raise ProtocolError("PodUID: must be a string")
        namespace, name, node = fields["PodNamespace"], fields["PodName"], fields["Node"]
        try:
            await self.binder(namespace, name, uid, node)
        except Exception as e:  # the binder's failure is the scheduler's to retry
            log.warning("pod.bind_failed", pod=f"{namespace}/{name}", node=node, error=str(e))
            if self.metrics is not None:
                self.metrics.pods_bound.labels("error").inc()
            return {"Error": f"binding {namespace}/{name} to {node}: {e}"}
        self.ledger.record_binding(f"{namespace}/{name}", node)
        if self.metrics is not None:
            self.metrics.pods_bound.labels("ok").inc()
        return {"Error": ""}
