"""A test package's own dev cluster, or the session's real cluster as it is.

Packages whose tests need more than the session's bare dev cluster (fake nodes, kubelets, the scheduler
stand-in) override the ``cluster`` fixture with one of these::

    @pytest.fixture(scope="package")
    def cluster(cluster: Any) -> Iterator[Any]:
        with grove_dev_cluster(cluster) as handle:
            yield handle
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from grove.dev_command import prepare_dev_cluster
from grove.devcluster import ThreadedDevCluster
from grove.devcluster.simulation import SimulationOptions

# Fast kubelets so the tests take seconds; pods still go Pending -> Running -> Ready as on a real node, and
# their containers exit on SIGTERM (as well-behaved servers do, and KWOK's) instead of waiting out the grace
# period, so a deleted PodCliqueSet is gone in a moment.
FAST_KUBELETS = SimulationOptions(
    start_delay=0.05, init_container_duration=0.05, gate_recheck_interval=0.2, exit_on_sigterm_after=0.05
)


@contextlib.contextmanager
def package_dev_cluster(cluster: Any, **kwargs: Any) -> Iterator[Any]:
    """``cluster`` itself when it is a real one; otherwise a new ``ThreadedDevCluster(port=0, **kwargs)``
    for the package, as a copy of ``cluster`` pointing at it, stopped afterwards."""
    if cluster.dev is None:
        yield cluster
        return
    dev = ThreadedDevCluster(port=0, **kwargs)
    dev.start()
    try:
        yield dataclasses.replace(cluster, kubeconfig=dev.kubeconfig_path, dev=dev)
    finally:
        dev.stop()


def grove_dev_cluster(cluster: Any, nodes: int = 40) -> contextlib.AbstractContextManager[Any]:
    """:func:`package_dev_cluster` as ``grove dev`` runs it: ``nodes`` fake nodes with fast kubelets, the
    scheduler stand-in and the ``grove-initc`` kubelet gate, bookmarks every second."""
    return package_dev_cluster(
        cluster, setup=prepare_dev_cluster, nodes=nodes, simulation=FAST_KUBELETS, bookmark_interval=1.0
    )
