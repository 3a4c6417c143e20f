"""An asyncio controller framework on raw Kubernetes watches, modelled on client-go and controller-runtime.

It knows nothing of Grove and imports nothing from it. See ``docs/runtime.md`` for the developer guide.
The names below are the public API; submodules hold the details.
"""

from grove.runtime.cache import (
    CONTROLLER_UID_INDEX,
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    Store,
    index_by_label,
    unwrap_tombstone,
)
from grove.runtime.client import Client, ObjectList, PatchType, PropagationPolicy, RetryPolicy, WatchEvent
from grove.runtime.controller import Controller, Request, Result, TerminalError, requests_for_owner
from grove.runtime.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NamespaceTerminating,
    NotFound,
    ServerError,
    TooManyRequests,
    TransportError,
)
from grove.runtime.events import EventRecorder
from grove.runtime.expectations import ControllerExpectations, UIDTrackingExpectations
from grove.runtime.informer import (
    EventHandler,
    FuncHandler,
    Informer,
    InformerFactory,
    InformerOptions,
    strip_managed_fields,
)
from grove.runtime.leaderelection import LeaderElectionConfig
from grove.runtime.logging import configure_logging
from grove.runtime.manager import LeaderElectionLost, Manager, ManagerOptions
from grove.runtime.meta import Obj, controller_owner, mutable_copy, object_key, owner_reference
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.predicates import (
    And,
    AnnotationsChanged,
    FuncPredicate,
    GenerationChanged,
    LabelsChanged,
    Not,
    Or,
    Predicate,
    ResourceVersionChanged,
)
from grove.runtime.resources import Resource
from grove.runtime.workqueue import RateLimitingQueue, ShutDown

__all__ = [
    "CONTROLLER_UID_INDEX",
    "NAMESPACE_INDEX",
    "AlreadyExists",
    "And",
    "AnnotationsChanged",
    "ApiError",
    "BadRequest",
    "Client",
    "Conflict",
    "Controller",
    "ControllerExpectations",
    "DeletedFinalStateUnknown",
    "EventHandler",
    "EventRecorder",
    "Forbidden",
    "FuncHandler",
    "FuncPredicate",
    "GenerationChanged",
    "Gone",
    "Informer",
    "InformerFactory",
    "InformerOptions",
    "Invalid",
    "KubeError",
    "LabelsChanged",
    "LeaderElectionConfig",
    "LeaderElectionLost",
    "Manager",
    "ManagerOptions",
    "NamespaceTerminating",
    "Not",
    "NotFound",
    "Obj",
    "ObjectList",
    "Or",
    "PatchType",
    "Predicate",
    "PropagationPolicy",
    "RateLimitingQueue",
    "Request",
    "Resource",
    "ResourceVersionChanged",
    "Result",
    "RetryPolicy",
    "RuntimeMetrics",
    "ServerError",
    "ShutDown",
    "Store",
    "TerminalError",
    "TooManyRequests",
    "TransportError",
    "UIDTrackingExpectations",
    "WatchEvent",
    "configure_logging",
    "controller_owner",
    "index_by_label",
    "mutable_copy",
    "object_key",
    "owner_reference",
    "requests_for_owner",
    "strip_managed_fields",
    "unwrap_tombstone",
]
