"""Pure builders of the objects the operator creates for a (defaulted) PodCliqueSet. No I/O.

The PodCliqueSet must be defaulted (:func:`grove.api.defaults.default_podcliqueset`), as it is in a cluster
after admission. Builders return:

* Grove kinds as models: :class:`~grove.api.podclique.PodClique`,
  :class:`~grove.api.scalinggroup.PodCliqueScalingGroup`, :class:`~grove.api.podgang.PodGang`
  (``.to_dict()`` gives the manifest). Controllers compare and patch them field by field.
* Built-in kinds as plain JSON dicts: the headless ``Service`` and ``Pod`` manifests, ready to send.

Replica counts that belong to a child once it exists are parameters: a PodClique's or scaling group's
existing ``spec.replicas`` wins over the template (``kubectl scale`` and HPAs change them), so controllers
pass the observed value and ``grove render`` passes nothing (template values). Owner references are
optional parameters; controllers pass :func:`grove.api.meta.controller_reference` of the owner.

Where a PodClique sits is a :class:`PodCliqueRef` (PodCliqueSet replica, clique, and for members of a
scaling group the group and group replica).
"""

from grove.controllers.desired.env import GROVE_ENV_NAMES, inject_env, pod_env, scaling_group_env
from grove.controllers.desired.hpa import build_hpas
from grove.controllers.desired.pod import build_pod
from grove.controllers.desired.podclique import (
    PodCliqueRef,
    build_podclique,
    podclique_ref,
    podclique_refs,
    podgang_of,
    startup_parents,
)
from grove.controllers.desired.podgang import build_podgangs, expected_podgang_names, translate_constraint
from grove.controllers.desired.scalinggroup import build_scaling_group
from grove.controllers.desired.service import build_headless_service

__all__ = [
    "GROVE_ENV_NAMES",
    "PodCliqueRef",
    "build_headless_service",
    "build_hpas",
    "build_pod",
    "build_podclique",
    "build_podgangs",
    "build_scaling_group",
    "expected_podgang_names",
    "inject_env",
    "pod_env",
    "podclique_ref",
    "podclique_refs",
    "podgang_of",
    "scaling_group_env",
    "startup_parents",
    "translate_constraint",
]
