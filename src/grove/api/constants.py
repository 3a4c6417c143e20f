"""API groups, enumerations and defaults of Grove's API."""

from __future__ import annotations

from typing import Final, Literal

GROVE_GROUP: Final = "grove.io"
SCHEDULER_GROUP: Final = "scheduler.grove.io"
VERSION: Final = "v1alpha1"
GROVE_API_VERSION: Final = f"{GROVE_GROUP}/{VERSION}"
SCHEDULER_API_VERSION: Final = f"{SCHEDULER_GROUP}/{VERSION}"

CliqueStartupType = Literal[
    "CliqueStartupTypeAnyOrder", "CliqueStartupTypeInOrder", "CliqueStartupTypeExplicit"
]
STARTUP_ANY_ORDER: Final = "CliqueStartupTypeAnyOrder"
STARTUP_IN_ORDER: Final = "CliqueStartupTypeInOrder"
STARTUP_EXPLICIT: Final = "CliqueStartupTypeExplicit"

UpdateStrategyType = Literal["RollingRecreate", "OnDelete"]
ROLLING_RECREATE: Final = "RollingRecreate"
ON_DELETE: Final = "OnDelete"

ResourceSharingScope = Literal["AllReplicas", "PerReplica"]

PodGangPhase = Literal["Pending", "Starting", "Running"]

# Scheduler profiles a clique may name in podSpec.schedulerName. "" means the cluster default.
DEFAULT_SCHEDULER: Final = "default-scheduler"
GROVE_SCHEDULER: Final = "grove-scheduler"
SUPPORTED_SCHEDULERS: Final = (DEFAULT_SCHEDULER, GROVE_SCHEDULER)

# Defaults applied by the defaulting webhook (grove.api.defaults).
DEFAULT_TERMINATION_DELAY: Final = "4h"
DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: Final = 30
DEFAULT_RESTART_POLICY: Final = "Always"
DEFAULT_NAMESPACE: Final = "default"

# Scheduling gate Grove puts on every pod until its PodGang exists.
PODGANG_SCHEDULING_GATE: Final = "grove.io/podgang-pending-creation"

# Finalizers.
PCS_FINALIZER: Final = "grove.io/podcliqueset.grove.io"
PCLQ_FINALIZER: Final = "grove.io/podclique.grove.io"
PCSG_FINALIZER: Final = "grove.io/podcliquescalinggroup.grove.io"

# Condition types and reasons.
CONDITION_MIN_AVAILABLE_BREACHED: Final = "MinAvailableBreached"
CONDITION_PODCLIQUE_SCHEDULED: Final = "PodCliqueScheduled"
CONDITION_GANG_TERMINATION_IN_PROGRESS: Final = "GangTerminationInProgress"
CONDITION_TOPOLOGY_LEVELS_UNAVAILABLE: Final = "TopologyLevelsUnavailable"
CONDITION_PODGANG_INITIALIZED: Final = "Initialized"
CONDITION_PODGANG_SCHEDULED: Final = "Scheduled"
CONDITION_PODGANG_READY: Final = "Ready"
CONDITION_PODGANG_UNHEALTHY: Final = "Unhealthy"
CONDITION_PODGANG_DISRUPTION_TARGET: Final = "DisruptionTarget"
REASON_PODGANG_PODS_CREATION_PENDING: Final = "PodGangPodsCreationPending"
REASON_PODGANG_PODS_CREATED: Final = "PodGangPodsCreated"

# Start-up ordering init container (grove.api.naming has the names that depend on objects).
INITC_CONTAINER_NAME: Final = "grove-initc"
INITC_SA_TOKEN_VOLUME: Final = "sa-token-secret-vol"
INITC_SA_TOKEN_MOUNT_PATH: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
INITC_POD_INFO_VOLUME: Final = "pod-info-vol"
INITC_POD_INFO_MOUNT_PATH: Final = "/var/grove/pod-info"
INITC_POD_INFO_NAMESPACE_FILE: Final = "namespace"
INITC_POD_INFO_PODGANG_FILE: Final = "podgangname"

CLUSTER_DOMAIN: Final = "cluster.local"
