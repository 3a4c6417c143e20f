"""Event reasons as upstream's ``internal/constants/constants.go``, plus the ones only this operator emits."""

from __future__ import annotations

from typing import Final

POD_CREATE_SUCCESSFUL: Final = "PodCreateSuccessful"
POD_CREATE_FAILED: Final = "PodCreateFailed"
POD_DELETE_SUCCESSFUL: Final = "PodDeleteSuccessful"
POD_DELETE_FAILED: Final = "PodDeleteFailed"

PODCLIQUE_CREATE_OR_UPDATE_SUCCESSFUL: Final = "PodCliqueCreateOrUpdateSuccessful"
PODCLIQUE_CREATE_OR_UPDATE_FAILED: Final = "PodCliqueCreateOrUpdateFailed"
PODCLIQUE_DELETE_SUCCESSFUL: Final = "PodCliqueDeleteSuccessful"
PODCLIQUE_DELETE_FAILED: Final = "PodCliqueDeleteFailed"

PCSG_CREATE_SUCCESSFUL: Final = "PodCliqueScalingGroupCreateSuccessful"
PCSG_CREATE_OR_UPDATE_FAILED: Final = "PodCliqueScalingGroupCreateOrUpdateFailed"
PCSG_DELETE_SUCCESSFUL: Final = "PodCliqueScalingGroupDeleteSuccessful"
PCSG_DELETE_FAILED: Final = "PodCliqueScalingGroupDeleteFailed"
PCSG_REPLICA_DELETE_SUCCESSFUL: Final = "PodCliqueScalingGroupReplicaDeleteSuccessful"
PCSG_REPLICA_DELETE_FAILED: Final = "PodCliqueScalingGroupReplicaDeleteFailed"
ALL_SCHEDULED_REPLICAS_LOST: Final = "AllScheduledReplicasLost"

PODGANG_CREATE_OR_UPDATE_SUCCESSFUL: Final = "PodGangCreateOrUpdateSuccessful"
PODGANG_CREATE_OR_UPDATE_FAILED: Final = "PodGangCreateOrUpdateFailed"
PODGANG_DELETE_SUCCESSFUL: Final = "PodGangDeleteSuccessful"
PODGANG_DELETE_FAILED: Final = "PodGangDeleteFailed"

PCS_REPLICA_DELETE_SUCCESSFUL: Final = "PodCliqueSetReplicaDeleteSuccessful"
PCS_REPLICA_DELETE_FAILED: Final = "PodCliqueSetReplicaDeleteFailed"

# Not in upstream (its admission webhook rejects such objects before any controller sees them).
INVALID_SPEC: Final = "InvalidSpec"
"""A PodCliqueSet breaks a validation rule; the operator does not act on it until it is fixed."""
RESOURCE_CONFLICT: Final = "ResourceConflict"
"""An object the operator would create exists and belongs to someone else."""
