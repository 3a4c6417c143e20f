"""Gang termination: recreating a gang whose minAvailable stayed breached for ``terminationDelay``.

:mod:`.rules` says what is a breach candidate and when it is due, :mod:`.records` keeps the decision on the
owner before anything is deleted, :mod:`.replica` recycles PodCliqueSet replicas (PodCliqueSet controller),
:mod:`.scalinggroup` recycles scaling-group replicas (PodCliqueScalingGroup controller).
"""

from grove.controllers.gangtermination.records import (
    RECORD_ANNOTATION_PREFIX,
    GangRecord,
    read_records,
    recorded_replicas,
)
from grove.controllers.gangtermination.replica import ReplicaGangTermination, replica_record
from grove.controllers.gangtermination.rules import in_progress_condition
from grove.controllers.gangtermination.scalinggroup import ScalingGroupGangTermination, replica_recycle

__all__ = [
    "RECORD_ANNOTATION_PREFIX",
    "GangRecord",
    "ReplicaGangTermination",
    "ScalingGroupGangTermination",
    "in_progress_condition",
    "read_records",
    "recorded_replicas",
    "replica_record",
    "replica_recycle",
]
