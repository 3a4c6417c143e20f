"""Fake nodes, as KWOK registers them: Node objects with capacity, topology labels, the ``fake-node`` taint,
kubelet-style status conditions and heartbeats (a Lease in ``kube-node-lease`` renewed every 10 s, node
status re-posted every 5 min), plus node failure and recovery for tests.

A failed node behaves as Kubernetes shows it: ``fail_node(name)`` is a node shutting down (Ready=False,
``KubeletNotReady``; the kubelet fails its pods); ``fail_node(name, unreachable=True)`` is a kubelet that
stopped talking (Ready=Unknown, ``NodeStatusUnknown``; pods keep running but turn NotReady and deletions
hang). Either way the node lifecycle controller's taints (``node.kubernetes.io/not-ready`` or
``node.kubernetes.io/unreachable``, NoSchedule and NoExecute) are added and lease renewals stop;
``recover_node(name)`` undoes it.

:class:`NodeFleet` holds what does not depend on the API server: names, addresses, states and the objects
and patches a kubelet posts. :class:`FakeNodes` writes them into the emulator's store;
:class:`grove.envtest.nodes.HttpNodes` posts the same ones to any API server over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from grove.api.k8s_syntax import qualified_name_errors
from grove.api.quantity import parse_quantity
from grove.devcluster import meta
from grove.devcluster.errors import ApiError
from grove.devcluster.server import KUBE_VERSION

if TYPE_CHECKING:
    from grove.devcluster.cluster import DevCluster
    from grove.devcluster.store import Store

log = structlog.get_logger("grove.devcluster.nodes")

JSON = dict[str, Any]

LEASE_NAMESPACE = "kube-node-lease"
HOSTNAME_LABEL = "kubernetes.io/hostname"
GPU_RESOURCE = "nvidia.com/gpu"
FAKE_NODE_TAINT: JSON = {"key": "fake-node", "value": "true", "effect": "NoSchedule"}
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"

READY = "Ready"
NOT_READY = "NotReady"
UNKNOWN = "Unknown"

_POD_NETWORK = ipaddress.IPv4Address("10.244.0.0")
_NODE_NETWORK = ipaddress.IPv4Address("172.18.0.2")
_DOMAIN = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class TopologyLevel:
    """One topology level: nodes ``i * size .. (i + 1) * size - 1`` share the label ``key=<domain>-<i>``."""

    domain: str
    key: str
    size: int


DEFAULT_TOPOLOGY: tuple[TopologyLevel, ...] = (
    TopologyLevel("zone", "topology.kubernetes.io/zone", 20),
    TopologyLevel("block", "topology.grove.io/block", 10),
    TopologyLevel("rack", "topology.grove.io/rack", 5),
)


def parse_topology(text: str) -> tuple[TopologyLevel, ...]:
    """``--topology`` syntax: ``none`` or comma-separated ``domain=label-key:nodes-per-domain``, broad to
    narrow, e.g. ``zone=topology.kubernetes.io/zone:20,rack=topology.grove.io/rack:5``."""
    text = text.strip()
    if text in ("", "none"):
        return ()
    levels: list[TopologyLevel] = []
    for part in text.split(","):
        domain, eq, rest = part.strip().partition("=")
        key, colon, size = rest.rpartition(":")
        if not eq or not colon or not domain or not key:
            raise ValueError(
                f"topology: {part.strip()!r} must be domain=label-key:nodes-per-domain, "
                f"e.g. rack=topology.grove.io/rack:5"
            )
        try:
            n = int(size)
        except ValueError:
            raise ValueError(
                f"topology: nodes-per-domain of {domain!r} must be an integer, got {size!r}"
            ) from None
        levels.append(TopologyLevel(domain.strip(), key.strip(), n))
    return tuple(levels)


@dataclass(frozen=True)
class NodeShape:
    """What every fake node looks like: allocatable amounts, topology labels, taints, extra labels."""

    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 110
    gpus: int = 0
    ephemeral_storage: str = "100Gi"
    topology: tuple[TopologyLevel, ...] = DEFAULT_TOPOLOGY
    taints: tuple[Mapping[str, str], ...] = (FAKE_NODE_TAINT,)
    labels: Mapping[str, str] = field(default_factory=dict)
    name_prefix: str = "fake-node-"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field and the rule it breaks."""
        for name in ("cpu", "memory", "ephemeral_storage"):
            q = parse_quantity(getattr(self, name), f"node {name}")
            if q <= 0:
                raise ValueError(f"node {name} must be positive, got {getattr(self, name)!r}")
        if not 1 <= self.pods <= 256:
            raise ValueError(
                f"node pods must be between 1 and 256 (one /24 pod CIDR per node), got {self.pods}"
            )
        if self.gpus < 0:
            raise ValueError(f"node gpus must be >= 0, got {self.gpus}")
        seen: set[str] = set()
        previous = None
        for level in self.topology:
            if not _DOMAIN.match(level.domain):
                raise ValueError(f"topology: domain {level.domain!r} must match ^[a-z][a-z0-9-]*$")
            problems = qualified_name_errors(level.key)
            if problems:
                why = "; ".join(problems)
                raise ValueError(
                    f"topology: {level.key!r} (domain {level.domain}) is not a valid label key: {why}"
                )
            if level.key in seen or level.domain in seen:
                raise ValueError(f"topology: domain {level.domain!r} or key {level.key!r} appears twice")
            seen.update((level.key, level.domain))
            if level.size < 1:
                raise ValueError(f"topology: nodes per {level.domain} must be >= 1, got {level.size}")
            if previous is not None and level.size > previous.size:
                raise ValueError(
                    f"topology: levels go broad to narrow, but a {level.domain} ({level.size} nodes) is "
                    f"larger than a {previous.domain} ({previous.size} nodes)"
                )
            previous = level
        if not re.match(r"^[a-z0-9]([-a-z0-9]*)?$", self.name_prefix):
            raise ValueError(f"node name prefix {self.name_prefix!r} must be lowercase alphanumerics and '-'")

    def allocatable(self) -> dict[str, str]:
        """``status.allocatable`` (= capacity: fake nodes reserve nothing)."""
        out = {
            "cpu": self.cpu,
            "memory": self.memory,
            "ephemeral-storage": self.ephemeral_storage,
            "pods": str(self.pods),
        }
        if self.gpus:
            out[GPU_RESOURCE] = str(self.gpus)
        return out


def micro_time(ts: float) -> str:
    """``metav1.MicroTime`` (leases' renewTime)."""
    whole = int(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1e6):06d}Z"


def _condition(type_: str, status: str, reason: str, message: str, now: str, since: str) -> JSON:
    return {
        "type": type_,
        "status": status,
        "lastHeartbeatTime": now,
        "lastTransitionTime": since,
        "reason": reason,
        "message": message,
    }


_HEALTHY = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    (READY, "True", "KubeletReady", "kubelet is posting ready status"),
)


class FleetNode:
    """What a :class:`NodeFleet` remembers about one of its nodes."""

    __slots__ = ("deleted", "index", "name", "since", "state", "uid")

    def __init__(self, index: int, name: str) -> None:
        self.index = index
        self.name = name
        self.uid = ""
        self.state = READY
        self.since = ""
        self.deleted = False


NodeListener = Callable[[str, str], None]


class NodeFleet:
    """``count`` fake nodes: their names, addresses, states and the objects their kubelets post (Node,
    conditions, Lease) and the heartbeat timers, without I/O. :class:`FakeNodes` writes them into the
    emulator's store; :class:`grove.envtest.nodes.HttpNodes` posts them to any API server, so both show
    the same nodes.

    ``lease_renew_interval`` (kubelet: 10 s) and ``status_report_interval`` (kubelet:
    ``nodeStatusReportFrequency``, 5 min) set the heartbeats. ``add_listener(fn)`` calls ``fn(node,
    state)`` when a node turns Ready, NotReady or Unknown.
    """

    def __init__(
        self,
        count: int,
        shape: NodeShape | None = None,
        *,
        lease_duration_seconds: int = 40,
        lease_renew_interval: float = 10.0,
        status_report_interval: float = 300.0,
    ) -> None:
        if count < 0:
            raise ValueError(f"nodes must be >= 0, got {count}")
        self.shape = shape or NodeShape()
        self.shape.validate()
        if lease_renew_interval <= 0 or status_report_interval <= 0:
            raise ValueError("lease_renew_interval and status_report_interval must be positive")
        self.lease_duration_seconds = lease_duration_seconds
        self.lease_renew_interval = lease_renew_interval
        self.status_report_interval = status_report_interval
        self.kubelet_version = KUBE_VERSION["gitVersion"]
        width = max(3, len(str(count - 1)))
        self._nodes: dict[str, FleetNode] = {}
        for i in range(count):
            name = f"{self.shape.name_prefix}{i:0{width}d}"
            self._nodes[name] = FleetNode(i, name)
        self._listeners: list[NodeListener] = []
        self._tasks: list[asyncio.Task[None]] = []

    # ----------------------------------------------------------------- queries

    @property
    def names(self) -> list[str]:
        """Node names in index order."""
        return list(self._nodes)

    def is_fake(self, name: str) -> bool:
        """Whether ``name`` is one of this fleet's nodes."""
        return name in self._nodes

    def state(self, name: str) -> str:
        """``Ready``, ``NotReady`` (shut down) or ``Unknown`` (unreachable)."""
        return self._node(name).state

    def pod_cidr(self, name: str) -> ipaddress.IPv4Network:
        """The node's ``spec.podCIDR`` (a /24: ``10.244.<index>.0/24`` for the first 256 nodes)."""
        base = _POD_NETWORK + 256 * self._node(name).index
        return ipaddress.IPv4Network(f"{base}/24")

    def host_ip(self, name: str) -> str:
        """The node's InternalIP."""
        return str(_NODE_NETWORK + self._node(name).index)

    def add_listener(self, listener: NodeListener) -> Callable[[], None]:
        """Call ``listener(node, state)`` on every node state change; returns an unregister callable."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _node(self, name: str) -> FleetNode:
        node = self._nodes.get(name)
        if node is None:
            raise KeyError(f"{name!r} is not a fake node of this cluster")
        return node

    # ----------------------------------------------------------------- objects

    def _labels(self, node: FleetNode) -> dict[str, str]:
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/os": "linux",
            HOSTNAME_LABEL: node.name,
            "type": "kwok",
        }
        for level in self.shape.topology:
            labels[level.key] = f"{level.domain}-{node.index // level.size}"
        labels.update(self.shape.labels)
        return labels

    def _conditions(self, node: FleetNode, now: str) -> list[JSON]:
        if node.state == READY:
            return [_condition(t, s, r, m, now, node.since) for t, s, r, m in _HEALTHY]
        if node.state == NOT_READY:
            conds = [_condition(t, s, r, m, now, node.since) for t, s, r, m in _HEALTHY[:3]]
            conds.append(
                _condition(READY, "False", "KubeletNotReady", "node is shutting down", now, node.since)
            )
            return conds
        return [
            _condition(
                t, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", now, node.since
            )
            for t, _, _, _ in _HEALTHY
        ]

    def _status(self, node: FleetNode, now: str) -> JSON:
        alloc = self.shape.allocatable()
        return {
            "capacity": dict(alloc),
            "allocatable": alloc,
            "conditions": self._conditions(node, now),
            "addresses": [
                {"type": "InternalIP", "address": self.host_ip(node.name)},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "",
                "containerRuntimeVersion": "kwok://grove-dev",
                "kernelVersion": "",
                "kubeProxyVersion": "",
                "kubeletVersion": self.kubelet_version,
                "machineID": "",
                "operatingSystem": "linux",
                "osImage": "",
                "systemUUID": "",
            },
            "phase": "Running",
        }

    def node_object(self, name: str, now: str) -> JSON:
        """The Node a kubelet registers for ``name`` (status as of ``now``, an RFC 3339 time)."""
        node = self._node(name)
        cidr = str(self.pod_cidr(node.name))
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": node.name,
                "labels": self._labels(node),
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {
                "podCIDR": cidr,
                "podCIDRs": [cidr],
                "providerID": f"kwok://{node.name}",
                "taints": [dict(t) for t in self.shape.taints],
            },
            "status": self._status(node, now),
        }

    def lease(self, name: str, now: float) -> JSON:
        """The node's Lease in ``kube-node-lease``, renewed at ``now`` (epoch seconds), owned by the Node
        (its uid as registered)."""
        node = self._node(name)
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": node.name,
                "namespace": LEASE_NAMESPACE,
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": node.uid}],
            },
            "spec": {
                "holderIdentity": node.name,
                "leaseDurationSeconds": self.lease_duration_seconds,
                "renewTime": micro_time(now),
            },
        }

    @staticmethod
    def lease_renewal(name: str, now: float) -> JSON:
        """The merge patch renewing a node's Lease at ``now``."""
        return {"spec": {"renewTime": micro_time(now), "holderIdentity": name}}

    def status_patch(self, name: str, now: str) -> JSON:
        """The merge patch of ``nodes/status`` a kubelet (or, for an unreachable node, the node lifecycle
        controller) posts: the conditions as of ``now``."""
        return {"status": {"conditions": self._conditions(self._node(name), now)}}

    @staticmethod
    def failure_taints(unreachable: bool, now: str) -> list[JSON]:
        """The node lifecycle controller's taints of a NotReady (or, ``unreachable``, Unknown) node."""
        key = UNREACHABLE_TAINT if unreachable else NOT_READY_TAINT
        return [{"key": key, "effect": "NoSchedule"}, {"key": key, "effect": "NoExecute", "timeAdded": now}]

    # ----------------------------------------------------------------- state

    def _set_state(self, name: str, state: str, now: str) -> bool:
        """Record a node's new state (``now``: since when); False when it already was in it."""
        node = self._node(name)
        if node.state == state:
            return False
        node.state = state
        node.since = now
        return True

    def _notify(self, name: str, state: str) -> None:
        for listener in tuple(self._listeners):
            listener(name, state)

    # ------------------------------------------------------------------------- heartbeat timers

    def _renew_leases(self) -> None:
        """Renew every running node's Lease (the driver writes it)."""
        raise NotImplementedError

    def _report_status(self) -> None:
        """Post every running node's status (the driver writes it)."""
        raise NotImplementedError

    def _start_heartbeats(self, name: str) -> None:
        """Run :meth:`_renew_leases` and :meth:`_report_status` at their intervals until stopped."""
        self._tasks = [
            asyncio.create_task(
                self._every(self.lease_renew_interval, self._renew_leases), name=f"{name}-leases"
            ),
            asyncio.create_task(
                self._every(self.status_report_interval, self._report_status), name=f"{name}-status"
            ),
        ]

    async def _stop_heartbeats(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []

    async def _every(self, interval: float, fn: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                fn()
            except Exception:
                log.exception("nodes.heartbeat_failed")


class FakeNodes(NodeFleet):
    """A cluster component registering the fleet's nodes in the emulator's store and keeping them alive."""

    # Set by start(); the fleet's constructor is all a FakeNodes needs.
    _store: Store | None = None

    @property
    def store(self) -> Store:
        """The cluster's store (valid once started)."""
        if self._store is None:
            raise RuntimeError("the fake nodes have not been started")
        return self._store

    # ----------------------------------------------------------------- lifecycle

    async def start(self, cluster: DevCluster) -> None:
        """Register every node and its lease, then start the heartbeats."""
        store = self._store = cluster.store
        now = store.clock()
        stamp = meta.rfc3339(now)
        for node in self._nodes.values():
            node.since = stamp
            obj = self.node_object(node.name, stamp)
            try:
                created = store.create("nodes", obj, field_manager="kubelet")
            except ApiError as e:
                if e.code != 409:
                    raise
                created = self._take_over(node, obj)
            node.uid = created["metadata"]["uid"]
            try:
                store.create(
                    "leases.coordination.k8s.io",
                    self.lease(node.name, now),
                    LEASE_NAMESPACE,
                    field_manager="kubelet",
                )
            except ApiError as e:
                if e.code != 409:
                    raise
                self._renew(node, now)
        self._start_heartbeats("fake-node")
        log.info("nodes.registered", count=len(self._nodes), shape=self.shape.allocatable())

    def _take_over(self, node: FleetNode, obj: JSON) -> JSON:
        """A node of that name exists (the component restarted): post our labels, taints and status."""
        store = self.store
        updated = store.update(
            "nodes", taken_over(store.get("nodes", node.name), obj), field_manager="kubelet"
        )
        return store.update(
            "nodes", {**updated, "status": obj["status"]}, subresource="status", field_manager="kubelet"
        )

    async def stop(self) -> None:
        """Stop the heartbeats (the Node objects stay, as when kubelets stop)."""
        await self._stop_heartbeats()

    def _renew(self, node: FleetNode, now: float) -> None:
        self.store.patch(
            "leases.coordination.k8s.io",
            node.name,
            self.lease_renewal(node.name, now),
            LEASE_NAMESPACE,
            field_manager="kubelet",
        )

    def _renew_leases(self) -> None:
        now = self.store.clock()
        for node in self._nodes.values():
            if node.state == READY and not node.deleted:
                try:
                    self._renew(node, now)
                except ApiError as e:
                    if e.code == 404:
                        self._lease_missing(node, now)
                    else:
                        log.warning("nodes.lease_renew_failed", node=node.name, code=e.code)

    def _lease_missing(self, node: FleetNode, now: float) -> None:
        """The lease is gone: recreate it, unless the Node itself was deleted (a kubelet then only logs
        errors until restarted; its pods are left to pod garbage collection)."""
        try:
            node.uid = self.store.get("nodes", node.name)["metadata"]["uid"]
        except ApiError:
            node.deleted = True
            log.info("nodes.node_deleted", node=node.name)
            return
        self.store.create(
            "leases.coordination.k8s.io", self.lease(node.name, now), LEASE_NAMESPACE, field_manager="kubelet"
        )

    def _post_status(self, node: FleetNode) -> None:
        stamp = meta.rfc3339(self.store.clock())
        self.store.patch(
            "nodes",
            node.name,
            self.status_patch(node.name, stamp),
            subresource="status",
            field_manager="kubelet",
        )

    def _report_status(self) -> None:
        for node in self._nodes.values():
            if node.state == READY and not node.deleted:
                try:
                    self._post_status(node)
                except ApiError as e:
                    log.warning("nodes.status_report_failed", node=node.name, code=e.code)

    # ----------------------------------------------------------------- failure injection

    def _set_taints(self, name: str, add: Sequence[JSON]) -> None:
        taints = replace_failure_taints(self.store.get("nodes", name), add)
        self.store.patch(
            "nodes", name, {"spec": {"taints": taints}}, field_manager="node-lifecycle-controller"
        )

    def fail_node(self, name: str, *, unreachable: bool = False) -> None:
        """Fail a node: shut down (NotReady; its pods fail) or, with ``unreachable``, silent (Unknown;
        pods stay but turn NotReady). Adds the node lifecycle controller's taints. Call on the cluster's
        loop (``dev.call(sim.fail_node, name)`` from tests)."""
        state = UNKNOWN if unreachable else NOT_READY
        stamp = meta.rfc3339(self.store.clock())
        if not self._set_state(name, state, stamp):
            return
        self._post_status(self._node(name))
        self._set_taints(name, self.failure_taints(unreachable, stamp))
        log.info("nodes.failed", node=name, state=state)
        self._notify(name, state)

    def recover_node(self, name: str) -> None:
        """Bring a failed node back: Ready, taints removed, heartbeats resumed."""
        now = self.store.clock()
        if not self._set_state(name, READY, meta.rfc3339(now)):
            return
        node = self._node(name)
        self._post_status(node)
        self._set_taints(name, [])
        self._renew(node, now)
        log.info("nodes.recovered", node=name)
        self._notify(name, READY)


def taken_over(current: JSON, registered: JSON) -> JSON:
    """An existing Node (``current``) as a restarted kubelet re-registers it: our labels added to its own,
    our spec (taints included) instead of its own; status untouched."""
    md = dict(current["metadata"])
    md["labels"] = {**(md.get("labels") or {}), **registered["metadata"]["labels"]}
    return {**current, "metadata": md, "spec": registered["spec"]}


def replace_failure_taints(node: JSON, add: Sequence[JSON]) -> list[JSON] | None:
    """The node's taints with the node lifecycle controller's not-ready/unreachable ones replaced by
    ``add`` (None: no taints left)."""
    keys = (NOT_READY_TAINT, UNREACHABLE_TAINT)
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") not in keys]
    taints.extend(add)
    return taints or None
