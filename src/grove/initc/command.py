"""``grove initc --podcliques=<pclq>:<minAvailable> ...``: wait until the parent PodCliques are ready.

Runs as the last init container (``grove-initc``) of pods of cliques that start after others. It watches
the pods of its own PodGang (namespace and gang from the downward-API files the operator mounts at
``/var/grove/pod-info``, or ``--namespace``/``--podgang``) with the PodCliqueSet's service account token, and
exits 0 as soon as every parent PodClique has minAvailable Ready pods (:mod:`grove.initc.rule`). It never
polls: the pod informer wakes it on every change of the gang's pods.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import structlog

from grove import __version__
from grove.api import constants, labels
from grove.initc.rule import parse_podcliques, unmet_parents
from grove.runtime.client import Client
from grove.runtime.informer import FuncHandler, InformerFactory
from grove.runtime.logging import configure_logging
from grove.runtime.resources import PODS

log = structlog.get_logger("grove.initc")

# What the init container's API client sends as User-Agent (audit logs tell Grove's components apart by it).
USER_AGENT = f"grove-initc/{__version__}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``grove initc``."""
    parser.add_argument(
        "--podcliques",
        action="append",
        default=[],
        metavar="PCLQ:MIN",
        help="a parent PodClique and how many of its pods must be Ready (repeatable, or comma-separated)",
    )
    parser.add_argument("--namespace", help="namespace of the pods (default: from the pod-info volume)")
    parser.add_argument("--podgang", help="PodGang of this pod (default: from the pod-info volume)")
    parser.add_argument(
        "--pod-info-dir",
        default=constants.INITC_POD_INFO_MOUNT_PATH,
        help="downward-API directory with the namespace and podgang files (default: %(default)s)",
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig (default: in-cluster service account, then $KUBECONFIG)"
    )
    parser.add_argument("--log-level", default="info", help="log level (default: info)")


def _pod_info(directory: str, name: str) -> str:
    path = Path(directory) / name
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


async def wait_for_parents(client: Client, namespace: str, podgang: str, parents: dict[str, int]) -> None:
    """Returns once every parent has its minAvailable Ready pods among the pods of ``podgang``."""
    factory = InformerFactory(client)
    pods = factory.informer(PODS, namespace=namespace, label_selector=f"{labels.PODGANG}={podgang}")
    changed = asyncio.Event()
    pods.add_event_handler(
        FuncHandler(
            add=lambda _o, _i: changed.set(),
            update=lambda _o, _n: changed.set(),
            delete=lambda _o: changed.set(),
        )
    )
    factory.start()
    try:
        await pods.wait_for_sync()
        last: dict[str, tuple[int, int]] | None = None
        while True:
            changed.clear()
            unmet = unmet_parents(parents, pods.store.list())
            if not unmet:
                log.info("initc.parents_ready", parents=sorted(parents))
                return
            if unmet != last:
                log.info("initc.waiting", unmet={k: f"{r}/{n} ready" for k, (r, n) in sorted(unmet.items())})
                last = unmet
            await changed.wait()
    finally:
        await factory.stop()


async def run(args: argparse.Namespace) -> int:
    """Waits for the parents; 0 when they are ready, 2 on bad arguments."""
    configure_logging(args.log_level)
    try:
        parents = parse_podcliques(args.podcliques)
        namespace = args.namespace or _pod_info(args.pod_info_dir, constants.INITC_POD_INFO_NAMESPACE_FILE)
        podgang = args.podgang or _pod_info(args.pod_info_dir, constants.INITC_POD_INFO_PODGANG_FILE)
    except ValueError as exc:
        print(f"grove initc: {exc}", file=sys.stderr)
        return 2
    if not parents:
        log.info("initc.no_parents")
        return 0
    client = await Client.connect(args.kubeconfig, user_agent=USER_AGENT)
    try:
        await wait_for_parents(client, namespace, podgang, parents)
    finally:
        await client.close()
    return 0
