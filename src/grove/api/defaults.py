"""Defaulting of a PodCliqueSet, as upstream's defaulting webhook plus the CRD schema defaults.

The result is what a real API server stores after admission, so ``grove render`` and the controllers see
the same object as a cluster would.
"""

from __future__ import annotations

from grove.api.constants import (
    DEFAULT_NAMESPACE,
    DEFAULT_RESTART_POLICY,
    DEFAULT_TERMINATION_DELAY,
    DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
    ROLLING_RECREATE,
    STARTUP_ANY_ORDER,
)
from grove.api.podcliqueset import HeadlessServiceConfig, PodCliqueSet

__all__ = ["default_podcliqueset"]


def default_podcliqueset(pcs: PodCliqueSet) -> PodCliqueSet:
    """A defaulted copy of ``pcs`` (the argument is not modified).

    - metadata.namespace "" -> "default"
    - template: cliqueStartupType -> CliqueStartupTypeAnyOrder, terminationDelay -> 4h,
      headlessServiceConfig -> {publishNotReadyAddresses: true}
    - clique: roleName "" -> clique name, replicas 0 -> 1, minAvailable -> replicas,
      autoScalingConfig.minReplicas -> replicas, podSpec restartPolicy -> Always,
      terminationGracePeriodSeconds -> 30
    - scaling group: replicas -> 1, minAvailable -> 1, scaleConfig.minReplicas -> replicas
    - updateStrategy.type -> RollingRecreate when updateStrategy is present

    Unlike upstream, minAvailable defaults to the *defaulted* replicas, so an omitted replicas does not
    yield an invalid minAvailable of 0.
    """
    out = pcs.model_copy(deep=True)
    if not out.metadata.namespace:
        out.metadata.namespace = DEFAULT_NAMESPACE
    spec = out.spec
    if spec.update_strategy is not None and "type" not in spec.update_strategy.model_fields_set:
        spec.update_strategy.type = ROLLING_RECREATE
    template = spec.template
    if template.clique_startup_type is None:
        template.clique_startup_type = STARTUP_ANY_ORDER
    if template.termination_delay is None:
        template.termination_delay = DEFAULT_TERMINATION_DELAY
    if template.headless_service_config is None:
        template.headless_service_config = HeadlessServiceConfig(publish_not_ready_addresses=True)
    elif "publish_not_ready_addresses" not in template.headless_service_config.model_fields_set:
        template.headless_service_config.publish_not_ready_addresses = True
    for clique in template.cliques:
        cs = clique.spec
        if not cs.role_name:
            cs.role_name = clique.name
        if cs.replicas == 0:
            cs.replicas = 1
        if cs.min_available is None:
            cs.min_available = cs.replicas
        if cs.auto_scaling_config is not None and cs.auto_scaling_config.min_replicas is None:
            cs.auto_scaling_config.min_replicas = cs.replicas
        if not cs.pod_spec.get("restartPolicy"):
            cs.pod_spec["restartPolicy"] = DEFAULT_RESTART_POLICY
        if cs.pod_spec.get("terminationGracePeriodSeconds") is None:
            cs.pod_spec["terminationGracePeriodSeconds"] = DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS
    for group in template.pod_clique_scaling_groups:
        if group.replicas is None:
            group.replicas = 1
        if group.min_available is None:
            group.min_available = 1
        if group.scale_config is not None and group.scale_config.min_replicas is None:
            group.scale_config.min_replicas = group.replicas
    return out
