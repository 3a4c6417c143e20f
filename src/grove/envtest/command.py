"""``--k8s-assets DIR`` of ``grove dev`` and ``grove demo``: the same experience on a real control plane.

:func:`real_cluster` starts the control plane from ``DIR`` (in the calling, main, thread: see
:mod:`grove.envtest.controlplane`) and the Grove stack on it, and stops both afterwards. Like the launcher it
refuses to run outside a private loopback-only network namespace; kubectl must run in the same namespace
to reach it (``hack/netns.sh`` opens a shell there).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from grove.envtest.controlplane import ASSETS_ENV, ControlPlane, ControlPlaneOptions
from grove.envtest.stack import KubernetesStack, StackOptions

__all__ = ["add_assets_argument", "real_cluster"]


def add_assets_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--k8s-assets`` flag."""
    parser.add_argument(
        "--k8s-assets",
        metavar="DIR",
        help="run on a real control plane started from the binaries in DIR (etcd, kube-apiserver, "
        f"kube-controller-manager, kube-scheduler; as {ASSETS_ENV} / KUBEBUILDER_ASSETS) instead of the "
        "embedded emulator; needs a private network namespace with only loopback (hack/netns.sh)",
    )


@contextlib.asynccontextmanager
async def real_cluster(
    assets: str, options: StackOptions, workdir: Path | None = None
) -> AsyncIterator[KubernetesStack]:
    """A started control plane with the stack on it; :class:`~grove.envtest.controlplane.ControlPlaneError`
    or :class:`~grove.envtest.netns.NetworkNamespaceError` if it cannot start."""
    # Blocks the loop for the few seconds the API server takes: nothing else runs yet, and the processes
    # must be forked by this (the main) thread to die with it.
    plane = ControlPlane(ControlPlaneOptions(assets=Path(assets), workdir=workdir)).start()
    try:
        stack = KubernetesStack(plane, options)
        await stack.start()
        try:
            yield stack
        finally:
            await stack.stop()
    finally:
        plane.stop()
