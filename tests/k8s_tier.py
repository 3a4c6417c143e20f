"""The real-Kubernetes tier of the test suite (``make test-k8s``): with ``GROVE_K8S_ASSETS=DIR`` the
session's cluster is a real control plane started from those binaries (:mod:`grove.envtest`), with Grove
installed as in a cluster: fake nodes and kubelets over HTTP, the webhooks and the scheduler extender
under their ServiceAccounts, and a second kube-scheduler running ``deploy/scheduler``'s configuration.
The tests' operators run per test namespace under the operator's ServiceAccount (the ``operator``
fixture)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grove.devcluster.simulation import SimulationOptions
from grove.envtest.controlplane import ControlPlane, ControlPlaneOptions
from grove.envtest.stack import StackOptions, ThreadedKubernetesStack

# Every request of Grove's ServiceAccounts, and of those of the workloads' namespaces (what ``grove initc``
# runs as), at Metadata level (verb, resource, user, user agent, response code): what the RBAC coverage test
# checks, and nothing else (not kube-controller-manager's controllers, under kube-system's accounts), so the
# log stays small.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "userGroups": ["system:serviceaccounts:grove-system"]},
        {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
        {"level": "None"},
    ],
}

# A webhook (or aggregated API) referenced by a `service` resolves to the Service's endpoints, not its
# ClusterIP (no kube-proxy here): how the dev cluster resolves them, so a test webhook on 127.0.0.1 behind a
# Service with hand-written Endpoints is reachable on both tiers.
APISERVER_ARGS = ("--enable-aggregator-routing=true",)

# As the e2e package's dev cluster (package_cluster.FAST_KUBELETS): containers exit on SIGTERM.
FAST_KUBELETS = SimulationOptions(
    start_delay=0.05, init_container_duration=0.05, gate_recheck_interval=0.2, exit_on_sigterm_after=0.05
)


@dataclass
class K8sTier:
    """The session's real control plane and the Grove stack on it."""

    plane: ControlPlane
    stack: ThreadedKubernetesStack

    @property
    def operator_kubeconfig(self) -> str:
        """A kubeconfig holding the ``grove-system/grove-operator`` ServiceAccount's token."""
        return self.stack.stack.operator_kubeconfig

    def fail_node(self, name: str, *, unreachable: bool = False, node_lifecycle: bool = False) -> None:
        """Fail a fake node (see :meth:`grove.envtest.kubelet.HttpKubelets.fail_node`). The node lifecycle
        part is kube-controller-manager's, on its schedule; ``node_lifecycle`` does it at once instead
        (taints, Unknown conditions, pods NotReady), for tests about what follows rather than about it."""
        kubelets = self.stack.stack.kubelets
        assert kubelets is not None
        self.stack.call(kubelets.fail_node, name, unreachable=unreachable, node_lifecycle=node_lifecycle)

    def recover_node(self, name: str, *, node_lifecycle: bool = False) -> None:
        """Bring a failed fake node back (``node_lifecycle``: its failure taints removed at once)."""
        kubelets = self.stack.stack.kubelets
        assert kubelets is not None
        self.stack.call(kubelets.recover_node, name, node_lifecycle=node_lifecycle)


@contextlib.contextmanager
def k8s_tier(assets: Path, nodes: int = 40) -> Iterator[K8sTier]:
    """Start the control plane (in this, the main, thread: see :mod:`grove.envtest.controlplane`) and the
    stack; stop both afterwards."""
    plane = ControlPlane(
        ControlPlaneOptions(assets=assets, audit_policy=AUDIT_POLICY, apiserver_args=APISERVER_ARGS)
    ).start()
    try:
        stack = ThreadedKubernetesStack(plane, StackOptions(nodes=nodes, simulation=FAST_KUBELETS))
        stack.start(timeout=120.0)
        try:
            yield K8sTier(plane, stack)
        finally:
            stack.stop()
    finally:
        plane.stop()
