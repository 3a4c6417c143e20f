"""A real Kubernetes control plane for tests and ``grove dev --k8s-assets``, as controller-runtime's envtest.

Given a directory of binaries (``GROVE_K8S_ASSETS``, laid out as ``KUBEBUILDER_ASSETS``: ``etcd``,
``kube-apiserver`` and, for a whole control plane, ``kube-controller-manager`` and ``kube-scheduler``;
a ``bin/`` subdirectory is accepted too), :class:`ControlPlane` starts etcd, kube-apiserver (client
certificates, ``Node,RBAC`` authorization, service-account tokens), kube-controller-manager and
kube-scheduler on free loopback ports with certificates made here (:mod:`grove.envtest.pki`), waits for
``/readyz``, writes an admin kubeconfig, and stops everything it started.

No orphans: every child gets ``PR_SET_PDEATHSIG`` (SIGKILL when the process that started it dies, even by
``kill -9``), runs in its own session so a terminal's Ctrl-C reaches only us, and :meth:`ControlPlane.stop`
terminates them in reverse order. Start it from the thread that will outlive it (the main thread): the
kernel sends the death signal when the *thread* that forked the child exits.

It refuses to start outside a private network namespace with only loopback (:mod:`grove.envtest.netns`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grove.envtest.netns import check_loopback_only
from grove.envtest.pki import CertificateAuthority, KeyPair, service_account_keys

__all__ = [
    "ASSETS_ENV",
    "ControlPlane",
    "ControlPlaneError",
    "ControlPlaneOptions",
    "find_assets",
    "free_port",
    "kubeconfig",
]

ASSETS_ENV = "GROVE_K8S_ASSETS"
SERVICE_CIDR = "10.0.0.0/24"
# The first address of the service range: the `kubernetes` Service's ClusterIP, in the serving certificate.
KUBERNETES_SERVICE_IP = "10.0.0.1"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_USER = "kubernetes-admin"
_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
_PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """The control plane could not start (the message names the binary and ends with its log)."""


def find_assets(directory: str | os.PathLike[str], *, need: Sequence[str] = _BINARIES) -> Path:
    """The directory holding ``need`` (``directory`` itself or its ``bin/``); a clear error if one is
    missing or not executable."""
    base = Path(directory)
    for candidate in (base, base / "bin"):
        if all(os.access(candidate / b, os.X_OK) for b in need):
            return candidate
    missing = [
        b for b in need if not os.access(base / b, os.X_OK) and not os.access(base / "bin" / b, os.X_OK)
    ]
    raise ControlPlaneError(
        f"{ASSETS_ENV}={base}: no executable {', '.join(missing)} there or in {base / 'bin'} "
        f"(the directory needs {', '.join(need)}, as KUBEBUILDER_ASSETS does)"
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with(parent: int) -> Callable[[], None]:
    """For the child between fork and exec: SIGKILL when ``parent`` (the forking thread) dies."""

    def set_death_signal() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent already died between fork and prctl
            os._exit(1)

    return set_death_signal


def kubeconfig(
    server: str,
    ca_file: Path,
    *,
    user: str,
    client: KeyPair | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig for ``server`` trusting ``ca_file``, authenticating with ``client`` or ``token``."""
    credentials: dict[str, Any] = {}
    if client is not None:
        credentials = {"client-certificate": str(client.cert_file), "client-key": str(client.key_file)}
    if token is not None:
        credentials["token"] = token
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "envtest", "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": user, "context": {"cluster": "envtest", "user": user}}],
        "current-context": user,
    }


@dataclass
class ControlPlaneOptions:
    """What to start and where. ``workdir`` None: a temporary directory, removed by ``stop``."""

    assets: Path
    workdir: Path | None = None
    controller_manager: bool = True
    scheduler: bool = True
    start_timeout: float = 90.0
    apiserver_args: Sequence[str] = ()
    """Extra kube-apiserver flags (``--name=value``)."""
    audit_policy: Mapping[str, Any] | None = None
    """An ``audit.k8s.io/v1`` Policy: the API server then logs events as JSON lines to
    :attr:`ControlPlane.audit_log` (how tests and benchmarks see what each user really sent)."""
    controller_manager_args: Sequence[str] = ()


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback (see module doc)."""

    options: ControlPlaneOptions
    workdir: Path = field(init=False)
    server: str = field(init=False, default="")
    kubeconfig_path: Path = field(init=False)
    ca: CertificateAuthority = field(init=False)
    _processes: list[_Process] = field(init=False, default_factory=list)
    _own_workdir: bool = field(init=False, default=False)

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> ControlPlane:
        """Start everything and wait until the API server is ready; on failure stop what started."""
        opts = self.options
        check_loopback_only()
        need = ["etcd", "kube-apiserver"]
        if opts.controller_manager:
            need.append("kube-controller-manager")
        if opts.scheduler:
            need.append("kube-scheduler")
        self._bin = find_assets(opts.assets, need=need)
        if opts.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="grove-envtest-"))
            self._own_workdir = True
        else:
            self.workdir = opts.workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_all(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(exist_ok=True)
        self.ca = CertificateAuthority(pki, "ca")
        front_proxy = CertificateAuthority(pki, "front-proxy-ca")
        sa_key, sa_pub = service_account_keys(pki)
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        serving = self.ca.issue(
            "apiserver",
            "kube-apiserver",
            names=[
                "127.0.0.1",
                "localhost",
                KUBERNETES_SERVICE_IP,
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            server=True,
        )
        admin = self.ca.issue("admin", ADMIN_USER, organizations=["system:masters"], client=True)
        self.admin = admin
        self.kubeconfig_path = self.write_kubeconfig("admin.kubeconfig", user=ADMIN_USER, client=admin)

        etcd_url = self._start_etcd()
        proxy_client = front_proxy.issue("front-proxy-client", "front-proxy-client", client=True)
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={serving.cert_file}",
                f"--tls-private-key-file={serving.key_file}",
                f"--client-ca-file={self.ca.cert_file}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # A loopback advertise address is not a valid endpoint of the `kubernetes` Service.
                "--endpoint-reconciler-type=none",
                # Fake nodes have no InternalDNS address: logs/exec fail at once instead of dialling one.
                "--kubelet-preferred-address-types=InternalDNS",
                "--allow-privileged=true",
                f"--requestheader-client-ca-file={front_proxy.cert_file}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={proxy_client.cert_file}",
                f"--proxy-client-key-file={proxy_client.key_file}",
                *self._audit_args(),
                *self.options.apiserver_args,
            ],
        )
        self._wait_ready()
        if self.options.controller_manager:
            self._spawn_component(
                "kube-controller-manager",
                "system:kube-controller-manager",
                [
                    # node-ipam needs a cluster CIDR; the last one exists only in the OpenShift fork.
                    "--controllers=*,-node-ipam-controller,-service-ca-certificate-publisher-controller",
                    "--use-service-account-credentials",
                    f"--root-ca-file={self.ca.cert_file}",
                    f"--service-account-private-key-file={sa_key}",
                    f"--cluster-signing-cert-file={self.ca.cert_file}",
                    f"--cluster-signing-key-file={self.ca.pair.key_file}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    *self.options.controller_manager_args,
                ],
            )
        if self.options.scheduler:
            self._spawn_component("kube-scheduler", "system:kube-scheduler", [])

    def _spawn_component(self, binary: str, user: str, args: Sequence[str]) -> None:
        """A control-plane component with a client certificate of its own, serving no port of its own."""
        config = self.write_kubeconfig(
            f"{binary}.kubeconfig", user=user, client=self.ca.issue(binary, user, client=True)
        )
        self._spawn(
            binary,
            [
                f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
                *args,
            ],
        )

    @property
    def audit_log(self) -> Path:
        """Where the API server writes audit events (with ``audit_policy``)."""
        return self.workdir / "audit.log"

    def _audit_args(self) -> list[str]:
        if self.options.audit_policy is None:
            return []
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(dict(self.options.audit_policy)))
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-maxsize=0",
        ]

    def _start_etcd(self) -> str:
        client_port, peer_port = free_port(), free_port()
        url = f"http://127.0.0.1:{client_port}"
        self._spawn(
            "etcd",
            [
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        return url

    def spawn(self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        """Run another process beside the control plane (``argv[0]`` a path), stopped with it, logging to
        ``<workdir>/<name>.log``."""
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with(os.getpid()),
                start_new_session=True,
                env=env,
            )
        self._processes.append(_Process(name, popen, log))

    def _spawn(self, binary: str, args: Sequence[str]) -> None:
        self.spawn(binary, [str(self._bin / binary), *args])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.options.start_timeout
        context = self.ssl_context()
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", context=context, timeout=5) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except (OSError, urllib.error.URLError) as e:
                last = str(e)
            time.sleep(0.1)
        raise ControlPlaneError(
            f"kube-apiserver not ready after {self.options.start_timeout:.0f}s ({last}); "
            f"log tail:\n{self._tail('kube-apiserver')}"
        )

    @property
    def pids(self) -> dict[str, int]:
        """Process IDs of what runs, by name (etcd, kube-apiserver, ...)."""
        return {p.name: p.popen.pid for p in self._processes}

    def check_alive(self) -> None:
        """Raise :class:`ControlPlaneError` naming the first process that exited, with its log's tail."""
        for p in self._processes:
            code = p.popen.poll()
            if code is not None:
                raise ControlPlaneError(f"{p.name} exited with code {code}; log tail:\n{self._tail(p.name)}")

    def _tail(self, name: str, lines: int = 30) -> str:
        for p in self._processes:
            if p.name == name:
                with contextlib.suppress(OSError):
                    return "\n".join(p.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every process (last started first: SIGTERM, then SIGKILL after ``timeout``) and remove a
        temporary working directory."""
        for p in reversed(self._processes):
            if p.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.popen.terminate()
            try:
                p.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait()
        self._processes.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._own_workdir = False

    def stop_process(self, name: str) -> None:
        """Stop one process by name (for tests of outages); :meth:`stop` skips it afterwards."""
        for p in list(self._processes):
            if p.name == name:
                p.popen.terminate()
                p.popen.wait(15)
                self._processes.remove(p)

    # ------------------------------------------------------------------------------------- credentials

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting the cluster CA and presenting the admin certificate."""
        context = ssl.create_default_context(cafile=str(self.ca.cert_file))
        context.load_cert_chain(str(self.admin.cert_file), str(self.admin.key_file))
        return context

    def write_kubeconfig(
        self, filename: str, *, user: str, client: KeyPair | None = None, token: str | None = None
    ) -> Path:
        """Write a kubeconfig for this API server into the working directory; its path."""
        path = self.workdir / filename
        path.write_text(
            yaml.safe_dump(kubeconfig(self.server, self.ca.cert_file, user=user, client=client, token=token))
        )
        path.chmod(0o600)
        return path

    @property
    def bin_dir(self) -> Path:
        """Where the binaries were found."""
        return self._bin
