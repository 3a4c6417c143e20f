"""Fake nodes and kubelets over HTTP, as KWOK runs them: ``grove dev``'s nodes and kubelets for any API
server reached through a kubeconfig, a real kube-apiserver or the emulator.

::

    kubelets = HttpKubelets(kubeconfig, nodes=40, options=SimulationOptions(start_delay=0.05))
    kubelets.add_init_container_gate(make_initc_gate(kubelets.list_pods))   # grove-initc, if wanted
    await kubelets.start()          # nodes registered, Ready, pods bound to them run
    kubelets.fail_node("fake-node-003"); kubelets.recover_node("fake-node-003")
    await kubelets.stop()

**One simulation, two drivers.** The kubelets are the emulator's: :class:`HttpKubelet` is a driver of
:class:`grove.devcluster.kubelet.KubeletSimulation` (admission, pod IPs, init containers one after
another with sidecars, readiness probes' ``initialDelaySeconds``, readiness gates, init container gates,
SIGTERM and grace periods, the final delete with grace period 0 and a UID precondition, node shutdown
and unreachability), and every status is computed by :mod:`grove.devcluster.podstatus`, so a pod on
these nodes reads exactly as on ``grove dev``'s. The nodes are :class:`grove.envtest.nodes.HttpNodes`, a
driver of :class:`~grove.devcluster.nodes.NodeFleet`: the same names (``fake-node-000`` ...), labels,
taints, capacity, addresses, pod CIDRs, conditions and Leases. Timings come from
:class:`~grove.devcluster.simulation.SimulationOptions` (``start_delay``, ``init_container_duration``,
``exit_on_sigterm_after``, ``gate_recheck_interval``, ``lease_renew_interval``,
``status_report_interval``; its scheduler settings do not apply).

**The HTTP driver.**

* Reads: one pod informer, ``fieldSelector=spec.nodeName!=`` (every bound pod, one watch whatever the
  number of nodes), and one node informer, each into a local cache. ``list_pods(namespace, selector)``
  (what ``make_initc_gate`` asks) is served from the pod cache; the pods a gate counts are Ready ones,
  which are always bound, so the cache holds all of them. No pod is ever polled.
* Writes go through a :class:`~grove.envtest.writes.WriteQueue`: ``max_in_flight`` (32) requests at a
  time, in order per pod, node Leases and statuses first. A pod status is written as the kubelet writes
  it: a strategic merge patch of ``pods/status`` with ``metadata.uid`` (a replaced pod is not
  overwritten) carrying only what changed, the kubelet's own conditions merged by type, so conditions
  others set meanwhile (readiness gates) survive. Nothing is sent when nothing changed.
* The simulation sees its own writes at once (as it does on the emulator's store): until a write is
  back through the watch, the pod is shown with the queued status applied. A pod this kubelet deleted is
  gone for it at once.
* Gates are re-checked after every pod event and every ``gate_recheck_interval``.

**What differs from the emulator's kubelets.**

* Statuses land one round trip after the simulation decides them, and in order, so every step (Pending,
  each init container, Running, Ready) is visible to watchers even with zero delays.
* Node failure: ``fail_node(name)`` posts Ready=False and stops the Lease; ``fail_node(name,
  unreachable=True)`` stops everything. The node lifecycle controller's part (taints, conditions Unknown,
  pods NotReady, taint eviction) is left to kube-controller-manager, which does it on its own schedule:
  the not-ready taints within seconds, an unreachable node about 50 s after its last Lease renewal.
  ``node_lifecycle=True`` does the taints, Unknown conditions and pods NotReady at once, as the emulator's
  ``fail_node`` does (for servers without kube-controller-manager, such as the emulator with
  ``nodes=0``); no taint eviction is done either way.
* Init container gates are re-checked after pod changes, not after any change in the cluster: a gate
  reading other objects is re-asked every ``gate_recheck_interval``.
* There is no scheduler here: on the emulator with ``nodes=0`` pods must be created with
  ``spec.nodeName``; on a real control plane kube-scheduler binds them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from grove.devcluster.kubelet import InitContainerGate, KubeletSimulation
from grove.devcluster.nodes import NodeShape
from grove.devcluster.podstatus import PodRun, pod_key
from grove.devcluster.selectors import LabelSelector, parse_label_selector
from grove.devcluster.simulation import SimulationOptions
from grove.devcluster.watch import DELETED
from grove.envtest.nodes import HttpNodes
from grove.envtest.writes import WriteQueue
from grove.runtime.cache import DeletedFinalStateUnknown, index_by_label, unwrap_tombstone
from grove.runtime.client import Client, PatchType
from grove.runtime.errors import Conflict, Invalid, NotFound
from grove.runtime.informer import FuncHandler, Informer, strip_managed_fields
from grove.runtime.meta import Obj, labels_of
from grove.runtime.resources import PODS

__all__ = ["HttpKubelet", "HttpKubelets"]

JSON = dict[str, Any]

USER_AGENT = "grove-http-kubelet/v0.0.0"
BOUND_PODS = "spec.nodeName!="


def _conditions_by_type(conditions: list[JSON] | None) -> dict[str, JSON]:
    return {c.get("type", ""): c for c in conditions or ()}


def _same_condition(a: JSON | None, b: JSON) -> bool:
    # lastTransitionTime follows the status, and servers may drop fields they do not know
    # (observedGeneration): what the condition says is its status, reason and message.
    return a is not None and all(
        (a.get(k) or None) == (b.get(k) or None) for k in ("status", "reason", "message")
    )


def status_diff(current: JSON, status: JSON) -> JSON | None:
    """What of ``status`` differs from ``current`` (a pod's status): the fields to patch, conditions
    listed only when they change; None when nothing does."""
    out = {k: v for k, v in status.items() if k != "conditions" and current.get(k) != v}
    have = _conditions_by_type(current.get("conditions"))
    changed = [
        # A strategic merge patch merges a condition into the one of its type: null removes what the
        # old one said and this one does not (Ready=True keeps no ReadinessGatesNotReady).
        {"reason": None, "message": None, **c}
        for c in status.get("conditions") or ()
        if not _same_condition(have.get(c["type"]), c)
    ]
    if changed:
        out["conditions"] = changed
    return out or None


def apply_status_patch(status: JSON, patch: JSON) -> JSON:
    """``status`` with ``patch`` applied as a strategic merge patch of a pod status applies: fields
    replaced, conditions merged by type."""
    out = {**status, **{k: v for k, v in patch.items() if k != "conditions"}}
    if "conditions" in patch:
        merged = _conditions_by_type(status.get("conditions"))
        for c in patch["conditions"]:
            merged[c["type"]] = {k: v for k, v in {**merged.get(c["type"], {}), **c}.items() if v is not None}
        out["conditions"] = list(merged.values())
    return out


def _resource_version(obj: Obj) -> int | None:
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


class _Pending:
    """Status writes to one pod not yet seen back through the watch."""

    __slots__ = ("in_flight", "patch", "uid", "until")

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.patch: JSON = {}
        self.in_flight = 0
        self.until = 0

    def landed(self, pod: Obj) -> bool:
        """Every write is done and ``pod`` is as new as the last one left it."""
        if self.in_flight:
            return False
        rv = _resource_version(pod)
        return rv is None or rv >= self.until


class HttpKubelet(KubeletSimulation):
    """The kubelet simulation driven by a pod watch, writing over HTTP (see the module doc)."""

    def __init__(
        self,
        nodes: HttpNodes,
        writes: WriteQueue,
        *,
        start_delay: float = 0.5,
        init_container_duration: float = 0.1,
        exit_on_sigterm_after: float | None = None,
        gate_recheck_interval: float = 1.0,
        mark_pods_not_ready: bool = False,
    ) -> None:
        super().__init__(
            nodes,
            start_delay=start_delay,
            init_container_duration=init_container_duration,
            exit_on_sigterm_after=exit_on_sigterm_after,
            gate_recheck_interval=gate_recheck_interval,
            mark_pods_not_ready=mark_pods_not_ready,
        )
        self.http_nodes = nodes
        self.writes = writes
        self._client: Client | None = None
        self._informer: Informer | None = None
        self._pending: dict[str, _Pending] = {}
        self._deleted: set[str] = set()
        self._label_indexes: set[str] = set()

    @property
    def client(self) -> Client:
        """The API client (valid once started)."""
        if self._client is None:
            raise RuntimeError("the HTTP kubelets have not been started")
        return self._client

    @property
    def informer(self) -> Informer:
        """The bound pods' informer (valid once started)."""
        if self._informer is None:
            raise RuntimeError("the HTTP kubelets have not been started")
        return self._informer

    async def start(self, client: Client) -> None:
        """List the bound pods (taking over those on our nodes), then follow them."""
        self._client = client
        informer = self._informer = Informer(
            client, PODS, field_selector=BOUND_PODS, transform=strip_managed_fields
        )
        informer.add_event_handler(
            FuncHandler(
                add=lambda obj, _initial: self._queue_event("ADDED", obj),
                update=lambda _old, obj: self._queue_event("MODIFIED", obj),
                delete=self._on_delete,
            )
        )
        informer.start()
        await informer.wait_for_sync()
        self._start_loop()

    async def stop(self) -> None:
        """Stop following pods (they keep their last status; writes not yet sent are dropped)."""
        if self._informer is not None:
            await self._informer.stop()
        await self._stop_loop()

    def _on_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        pod = unwrap_tombstone(obj)
        uid = pod["metadata"].get("uid", "")
        self._deleted.discard(uid)
        key = pod_key(pod)
        pending = self._pending.get(key)
        if pending is not None and pending.uid == uid:
            del self._pending[key]
        self._queue_event(DELETED, pod)

    def list_pods(self, namespace: str, selector: str) -> list[Obj]:
        """The bound pods of ``namespace`` matching the label ``selector``, from the watch's cache (for
        :func:`grove.initc.rule.make_initc_gate`)."""
        parsed = _parse_selector(selector)
        equal = next((r for r in parsed.requirements if r.op == "="), None)
        if equal is None:
            candidates = self.informer.store.list(namespace)
        else:
            # Gates ask for the same label (a PodGang's) over and over: index it on first use.
            index = f"label:{equal.key}"
            if equal.key not in self._label_indexes:
                self.informer.add_indexers({index: index_by_label(equal.key)})
                self._label_indexes.add(equal.key)
            candidates = self.informer.store.by_index(index, equal.values[0])
        return [
            p
            for p in candidates
            if p["metadata"].get("namespace") == namespace and parsed.matches(labels_of(p))
        ]

    # ----------------------------------------------------------------- I/O

    def _clock(self) -> float:
        return time.time()

    def _read_pod(self, key: str) -> JSON | None:
        pod = self.informer.store.get(key)
        if pod is None:
            return None
        uid = pod["metadata"]["uid"]
        if uid in self._deleted:
            return None
        pending = self._pending.get(key)
        if pending is None:
            return pod
        if pending.uid != uid or pending.landed(pod):
            del self._pending[key]
            return pod
        return {**pod, "status": apply_status_patch(pod.get("status") or {}, pending.patch)}

    def _read_node(self, name: str) -> JSON | None:
        return self.http_nodes.node(name)

    def _patch_pod_status(self, run: PodRun, status: JSON, field_manager: str) -> None:
        pod = self._read_pod(run.key)
        if pod is None or pod["metadata"]["uid"] != run.uid:
            return
        patch = status_diff(pod.get("status") or {}, status)
        if patch is None:
            return
        pending = self._pending.get(run.key)
        if pending is None or pending.uid != run.uid:
            pending = self._pending[run.key] = _Pending(run.uid)
        pending.patch = apply_status_patch(pending.patch, patch)
        pending.in_flight += 1
        self.writes.submit(
            f"pod/{run.key}",
            functools.partial(self._send_status, run.key, run.uid, patch, field_manager, pending),
            done=functools.partial(self._status_done, run.key, pending),
        )

    async def _send_status(
        self, key: str, uid: str, patch: JSON, field_manager: str, pending: _Pending
    ) -> None:
        ns, name = key.split("/", 1)
        try:
            result = await self.client.patch_status(
                PODS,
                name,
                {"metadata": {"uid": uid}, "status": patch},
                ns,
                patch_type=PatchType.STRATEGIC,
                field_manager=field_manager,
            )
        except (NotFound, Conflict):
            return
        except Invalid as e:
            # kube-apiserver refuses a patch for a replaced pod as changing its UID (the emulator: 409).
            if any(c.field == "metadata.uid" for c in e.causes):
                return
            raise
        pending.until = max(pending.until, _resource_version(result) or 0)

    def _status_done(self, key: str, pending: _Pending, ok: bool) -> None:
        pending.in_flight -= 1
        if not ok and not pending.in_flight and self._pending.get(key) is pending:
            # The server never got it: show the pod as it is, the next step writes again.
            del self._pending[key]

    def _delete_pod(self, run: PodRun) -> None:
        self._deleted.add(run.uid)
        self.writes.submit(f"pod/{run.key}", functools.partial(self._send_delete, run.key, run.uid))

    async def _send_delete(self, key: str, uid: str) -> None:
        ns, name = key.split("/", 1)
        try:
            await self.client.delete(PODS, name, ns, uid=uid, grace_period_seconds=0)
        except (NotFound, Conflict):
            return


@functools.lru_cache(maxsize=256)
def _parse_selector(selector: str) -> LabelSelector:
    return parse_label_selector(selector)


class HttpKubelets:
    """``nodes`` fake nodes and their kubelets on the API server of ``kubeconfig`` (see the module doc).

    ``shape`` (default: ``options.shape``) is what every node looks like; ``options`` the kubelet and
    heartbeat timings. ``node_lifecycle`` does the node lifecycle controller's part of a node failure at
    once (for servers without kube-controller-manager). ``max_in_flight`` bounds concurrent writes.
    ``start``/``stop`` and every other method run on one event loop.
    """

    def __init__(
        self,
        kubeconfig: str,
        *,
        nodes: int = 40,
        shape: NodeShape | None = None,
        options: SimulationOptions | None = None,
        node_lifecycle: bool = False,
        max_in_flight: int = 32,
        context: str | None = None,
    ) -> None:
        opts = options or SimulationOptions()
        self.kubeconfig = kubeconfig
        self.context = context
        self.options = opts
        self.writes = WriteQueue(max_in_flight)
        self.nodes = HttpNodes(
            self.writes,
            nodes,
            shape or opts.shape,
            lease_renew_interval=opts.lease_renew_interval,
            status_report_interval=opts.status_report_interval,
            node_lifecycle=node_lifecycle,
        )
        self.kubelet = HttpKubelet(
            self.nodes,
            self.writes,
            start_delay=opts.start_delay,
            init_container_duration=opts.init_container_duration,
            exit_on_sigterm_after=opts.exit_on_sigterm_after,
            gate_recheck_interval=opts.gate_recheck_interval,
            mark_pods_not_ready=node_lifecycle,
        )
        self._client: Client | None = None

    @property
    def names(self) -> list[str]:
        """Node names in index order."""
        return self.nodes.names

    def state(self, name: str) -> str:
        """``Ready``, ``NotReady`` (shut down) or ``Unknown`` (unreachable)."""
        return self.nodes.state(name)

    async def start(self) -> None:
        """Connect, register the nodes (Ready, Leases), then run the pods bound to them; on failure stop
        what started."""
        self._client = await Client.connect(self.kubeconfig, self.context, user_agent=USER_AGENT)
        self.writes.start()
        try:
            await self.nodes.start(self._client)
            await self.kubelet.start(self._client)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the kubelets, heartbeats and writes (Nodes and pods stay as they are)."""
        await self.kubelet.stop()
        await self.nodes.stop()
        await self.writes.stop()
        if self._client is not None:
            await self._client.close()
            self._client = None

    def fail_node(self, name: str, *, unreachable: bool = False, node_lifecycle: bool | None = None) -> None:
        """Fail a node (see :meth:`grove.envtest.nodes.HttpNodes.fail_node` and the module doc).
        ``node_lifecycle`` overrides the setting given at construction for this failure: True does the node
        lifecycle controller's part (taints, Unknown conditions, pods NotReady) at once, for tests that
        cannot wait for kube-controller-manager's grace period."""
        marking = self.kubelet.mark_pods_not_ready
        if node_lifecycle is not None:
            self.kubelet.mark_pods_not_ready = node_lifecycle
        try:
            self.nodes.fail_node(name, unreachable=unreachable, node_lifecycle=node_lifecycle)
        finally:
            self.kubelet.mark_pods_not_ready = marking

    def recover_node(self, name: str, *, node_lifecycle: bool | None = None) -> None:
        """Bring a failed node back (``node_lifecycle`` True: its failure taints removed at once)."""
        self.nodes.recover_node(name, node_lifecycle=node_lifecycle)

    def add_init_container_gate(self, gate: InitContainerGate) -> Callable[[], None]:
        """Hold init containers until ``gate(pod, init_container)`` is true (see
        :meth:`grove.devcluster.kubelet.KubeletSimulation.add_init_container_gate`); returns an
        unregister callable. May be called before :meth:`start`."""
        return self.kubelet.add_init_container_gate(gate)

    def list_pods(self, namespace: str, selector: str) -> list[Obj]:
        """The bound pods of ``namespace`` matching ``selector``, from the kubelets' watch cache."""
        return self.kubelet.list_pods(namespace, selector)
