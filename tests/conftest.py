"""Shared fixtures: one cluster for the whole session, a namespace and an API client per test.

* ``cluster`` (session): ``.kubeconfig`` (path), ``.dev`` (a thread-safe
  :class:`~grove.devcluster.ThreadedDevCluster`, or None on a real cluster) and ``.k8s`` (the real
  control plane this session started, or None). With ``GROVE_TEST_KUBECONFIG=path`` the tests use that
  cluster as it is; with ``GROVE_K8S_ASSETS=DIR`` they start a real control plane from those binaries with
  Grove installed as in a cluster (:mod:`k8s_tier`, ``make test-k8s``); otherwise one dev cluster runs in
  a background thread for the session.
* ``dev`` (function): the ``.dev`` handle; skips with a reason on a real cluster (see ``require_dev``).
* ``namespace`` (function): a fresh uniquely named namespace, deleted afterwards.
* ``api_client`` (function, async): a kubernetes_asyncio ``ApiClient`` for the cluster, closed afterwards.
* ``client`` (function, async): a :class:`grove.runtime.client.Client` for the cluster, closed afterwards.
* ``kubectl`` (function): ``kubectl(*args, input=None, timeout=60, check=False)`` running the real
  kubectl next to the interpreter with ``--kubeconfig``; returns the ``CompletedProcess``.
  ``kubectl_factory(kubeconfig)`` (session) makes one for a package's own cluster.
* ``wait_for(predicate, timeout=..., interval=...)``: async deadline-based polling.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from crd_helpers import wait_established
from grove.api.crds import crd_manifests
from grove.devcluster import ThreadedDevCluster
from grove.envtest.controlplane import ASSETS_ENV
from grove.runtime.client import Client, RetryPolicy
from grove.runtime.metrics import RuntimeMetrics

if TYPE_CHECKING:
    from k8s_tier import K8sTier

KUBECTL = str(Path(sys.executable).with_name("kubectl"))


@dataclass
class ClusterHandle:
    """Where the tests run: a kubeconfig, plus the dev cluster's handle when it is the emulator."""

    kubeconfig: str
    dev: ThreadedDevCluster | None
    k8s: K8sTier | None = None


def require_dev(cluster: ClusterHandle, what: str = "fault injection") -> ThreadedDevCluster:
    """The dev cluster handle, or skip: a real cluster has no ``what``."""
    if cluster.dev is None:
        pytest.skip(f"needs the embedded dev cluster ({what}); this run is on a real cluster")
    return cluster.dev


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterHandle]:
    """The cluster every test of the session shares."""
    real = os.environ.get("GROVE_TEST_KUBECONFIG")
    if real:
        yield ClusterHandle(kubeconfig=real, dev=None)
        return
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        # Imported here: only the real tier needs the launcher and the stack.
        from k8s_tier import k8s_tier

        with k8s_tier(Path(assets)) as tier:
            yield ClusterHandle(kubeconfig=str(tier.plane.kubeconfig_path), dev=None, k8s=tier)
        return
    # Bookmarks every second (kube-apiserver: about a minute) so watch tests need not wait.
    dev = ThreadedDevCluster(port=0, bookmark_interval=1.0)
    dev.start()
    try:
        yield ClusterHandle(kubeconfig=dev.kubeconfig_path, dev=dev)
    finally:
        dev.stop()


@pytest.fixture
def dev(cluster: ClusterHandle) -> ThreadedDevCluster:
    """The dev cluster handle; skips on a real cluster."""
    return require_dev(cluster)


async def _wait_for(
    predicate: Callable[[], Any] | Callable[[], Awaitable[Any]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; return it, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        last = result
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last value: {last!r})")
        await asyncio.sleep(interval)


@pytest.fixture
def wait_for() -> Callable[..., Awaitable[Any]]:
    """``await wait_for(predicate, timeout=10.0, interval=0.05, message=...)``: deadline-based polling."""
    return _wait_for


@pytest_asyncio.fixture
async def api_client(cluster: ClusterHandle) -> AsyncIterator[k8s.ApiClient]:
    """A kubernetes_asyncio ApiClient configured from the cluster's kubeconfig."""
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=cluster.kubeconfig, client_configuration=configuration)
    async with k8s.ApiClient(configuration) as api:
        yield api


@pytest_asyncio.fixture
async def client(cluster: ClusterHandle) -> AsyncIterator[Client]:
    """A runtime client (with its own metrics registry) for the test cluster, retrying through brief
    faults."""
    c = await Client.connect(
        cluster.kubeconfig, metrics=RuntimeMetrics(), retry=RetryPolicy(max_retries=4, base_delay=0.02)
    )
    try:
        yield c
    finally:
        await c.close()


@pytest_asyncio.fixture
async def namespace(cluster: ClusterHandle) -> AsyncIterator[str]:
    """A fresh namespace, deleted (without waiting) at the end. On a real cluster it is handed out once its
    ``default`` ServiceAccount exists: until kube-controller-manager creates it, pod creates are refused."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=cluster.kubeconfig, client_configuration=configuration)
    async with k8s.ApiClient(configuration) as api:
        core = k8s.CoreV1Api(api)
        await core.create_namespace({"metadata": {"name": name, "labels": {"grove.test/ephemeral": "true"}}})
        if cluster.dev is None:

            async def has_default_account() -> bool:
                accounts = await core.list_namespaced_service_account(
                    name, field_selector="metadata.name=default"
                )
                return bool(accounts.items)

            await _wait_for(has_default_account, timeout=30.0, message=f"ServiceAccount {name}/default")
        try:
            yield name
        finally:
            try:
                await core.delete_namespace(name)
            except k8s.ApiException as e:
                if e.status != 404:
                    raise


class Kubectl:
    """Runs the real kubectl against the test cluster."""

    def __init__(self, kubeconfig: str, cache_dir: str) -> None:
        self.kubeconfig = kubeconfig
        self.env = dict(os.environ, KUBECACHEDIR=cache_dir)

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 60.0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture(scope="session")
def _kubectl_cache() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="grove-kubectl-cache-") as d:
        yield d


@pytest.fixture(scope="session")
def kubectl_session(cluster: ClusterHandle, _kubectl_cache: str) -> Kubectl:
    """``kubectl`` for session-scoped fixtures."""
    return Kubectl(cluster.kubeconfig, _kubectl_cache)


@pytest.fixture
def kubectl(kubectl_session: Kubectl) -> Kubectl:
    """Real kubectl with the cluster's kubeconfig (discovery cache private to the session)."""
    return kubectl_session


@pytest.fixture(scope="session")
def kubectl_factory(_kubectl_cache: str) -> Callable[[str], Kubectl]:
    """``kubectl_factory(kubeconfig)``: real kubectl for another cluster (a package's own dev cluster)."""

    def make(kubeconfig: str) -> Kubectl:
        return Kubectl(kubeconfig, _kubectl_cache)

    return make


# ---------------------------------------------------------------------------------------------- the operator

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


_CRDS_INSTALLED: set[str] = set()


@pytest.fixture
def grove_crds_installed(cluster: ClusterHandle, _kubectl_cache: str) -> Path:
    """Grove's CRDs (``deploy/crds``), server-side applied and established, once per cluster."""
    crds = DEPLOY / "crds"
    if cluster.kubeconfig not in _CRDS_INSTALLED:
        kubectl = Kubectl(cluster.kubeconfig, _kubectl_cache)
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds), check=True)
        for crd in crd_manifests():
            wait_established(kubectl, crd["metadata"]["name"])
        _CRDS_INSTALLED.add(cluster.kubeconfig)
    return crds


class OperatorUnderTest:
    """The operator serving a test's namespace.

    On the dev cluster and on the real control plane this session started (``GROVE_K8S_ASSETS``) it runs
    in-process (:class:`~grove.controllers.threaded.ThreadedOperator`, watching only the test's namespace;
    on the real control plane under the ``grove-operator`` ServiceAccount's RBAC) and can be stopped,
    killed and restarted; against ``GROVE_TEST_KUBECONFIG`` the operator is assumed deployed and those
    calls skip the test.
    """

    def __init__(self, threaded: Any | None) -> None:
        self.threaded = threaded

    @property
    def in_process(self) -> bool:
        """True when the test controls the operator."""
        return self.threaded is not None

    def _require(self) -> Any:
        if self.threaded is None:
            pytest.skip("needs an in-process operator; GROVE_TEST_KUBECONFIG points at a real cluster")
        return self.threaded

    def start(self) -> None:
        """Start a new incarnation (after stop or kill)."""
        self._require().start()

    def stop(self) -> None:
        """Stop gracefully."""
        self._require().stop()

    def kill(self) -> None:
        """Stop abruptly, as SIGKILL would."""
        self._require().kill()

    def restart(self) -> None:
        """Kill, then start a new incarnation."""
        self.kill()
        self.start()


@pytest.fixture
def operator(
    cluster: ClusterHandle, namespace: str, grove_crds_installed: Path
) -> Iterator[OperatorUnderTest]:
    """The operator for this test's namespace (see :class:`OperatorUnderTest`)."""
    if cluster.dev is None and cluster.k8s is None:
        yield OperatorUnderTest(None)
        return
    from grove.controllers.operator import OperatorOptions
    from grove.controllers.threaded import ThreadedOperator

    options = OperatorOptions(
        namespace=namespace,
        metrics_port=None,
        identity=f"grove-test-{namespace}",
        lease_duration=4.0,
        renew_deadline=3.0,
        retry_period=0.5,
        graceful_shutdown_timeout=5.0,
    )
    kubeconfig = cluster.kubeconfig
    if cluster.k8s is not None:
        # As deployed: the ServiceAccount's token, and the Lease where its Role allows (one per test).
        kubeconfig = cluster.k8s.operator_kubeconfig
        options.leader_election_namespace = "grove-system"
        options.leader_election_id = f"grove-test-{namespace}"
    threaded = ThreadedOperator(kubeconfig, options)
    threaded.start()
    try:
        yield OperatorUnderTest(threaded)
    finally:
        threaded.stop()
