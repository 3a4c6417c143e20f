"""Condition types and reasons the controllers write (upstream's constants, and this operator's own)."""

from __future__ import annotations

from typing import Final

from grove.api.constants import (
    CONDITION_GANG_TERMINATION_IN_PROGRESS,
    CONDITION_MIN_AVAILABLE_BREACHED,
    CONDITION_PODCLIQUE_SCHEDULED,
    CONDITION_PODGANG_INITIALIZED,
    REASON_PODGANG_PODS_CREATED,
    REASON_PODGANG_PODS_CREATION_PENDING,
)

__all__ = [
    "CONDITION_GANG_TERMINATION_IN_PROGRESS",
    "CONDITION_MIN_AVAILABLE_BREACHED",
    "CONDITION_PODCLIQUE_SCHEDULED",
    "CONDITION_PODGANG_INITIALIZED",
    "CONDITION_SPEC_VALID",
    "REASON_PODGANG_PODS_CREATED",
    "REASON_PODGANG_PODS_CREATION_PENDING",
]

CONDITION_SPEC_VALID: Final = "SpecValid"
"""PodCliqueSet condition: True when the spec passes validation (the operator acts on it), False otherwise."""
REASON_SPEC_VALID: Final = "SpecValid"
REASON_SPEC_INVALID: Final = "InvalidSpec"

REASON_SUFFICIENT_SCHEDULED_PODS: Final = "SufficientScheduledPods"
REASON_INSUFFICIENT_SCHEDULED_PODS: Final = "InsufficientScheduledPods"
REASON_SCHEDULED_BELOW_MIN_AVAILABLE: Final = "ScheduledReplicasBelowMinAvailable"
REASON_INSUFFICIENT_READY_PODS: Final = "InsufficientReadyPods"
REASON_SUFFICIENT_READY_PODS: Final = "SufficientReadyPods"
REASON_INSUFFICIENT_AVAILABLE_PCSG_REPLICAS: Final = "InsufficientAvailablePodCliqueScalingGroupReplicas"
REASON_SUFFICIENT_AVAILABLE_PCSG_REPLICAS: Final = "SufficientAvailablePodCliqueScalingGroupReplicas"
REASON_UPDATE_IN_PROGRESS: Final = "UpdateInProgress"
"""MinAvailableBreached is Unknown while a rolling update replaces the replica (gang termination waits)."""
REASON_GANG_TERMINATION_ACTIVE: Final = "GangTerminationActive"
REASON_GANG_TERMINATION_COMPLETE: Final = "GangTerminationComplete"
"""Not in upstream (GangTerminationActive is its only reason): the recycle is over, MinAvailable is met."""
CONDITION_HEALTHY_STATE_OBSERVED: Final = "HealthyStateObserved"
"""Scaling group condition, set once and never removed: the group once met minAvailable (later upstream's
durable marker; its breach condition's history is lost every time an update turns it Unknown)."""
REASON_HEALTHY_STATE_OBSERVED: Final = "HealthyStateObserved"

# status.lastErrors codes.
ERR_INVALID_SPEC: Final = "ERR_INVALID_PODCLIQUESET_SPEC"
ERR_RESOURCE_CONFLICT: Final = "ERR_RESOURCE_CONFLICT"
ERR_REJECTED: Final = "ERR_REQUEST_REJECTED"
