"""The embedded dev cluster: a Kubernetes API emulator faithful enough for kubectl and controllers.

Independent of Grove: it serves the built-in kinds controllers need and any CustomResourceDefinition
applied to it. See ``store`` for the in-process API and ``cluster`` for :class:`DevCluster`.
"""

from grove.devcluster.cluster import Component, DevCluster
from grove.devcluster.errors import ApiError
from grove.devcluster.store import DeleteResult, ListResult, Store
from grove.devcluster.threaded import ThreadedDevCluster
from grove.devcluster.watch import Watch, WatchEvent

__all__ = [
    "ApiError",
    "Component",
    "DeleteResult",
    "DevCluster",
    "ListResult",
    "Store",
    "ThreadedDevCluster",
    "Watch",
    "WatchEvent",
]
