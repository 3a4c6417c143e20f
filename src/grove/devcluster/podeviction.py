"""The ``pods/eviction`` subresource (policy/v1 ``Eviction``), which ``kubectl drain`` posts.

The dev cluster serves no PodDisruptionBudgets, so every eviction is allowed, as kube-apiserver allows
one when no budget selects the pod: a pod that is not yet terminal first gets the DisruptionTarget
condition ``EvictionByEvictionAPI``, then it is deleted with the eviction's ``deleteOptions``.
"""

from __future__ import annotations

from typing import Any

from grove.devcluster import errors, meta
from grove.devcluster.store import Store

JSON = dict[str, Any]

SUCCESS: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def mark_disruption_target(store: Store, pod: JSON, reason: str, message: str, *, field_manager: str) -> None:
    """Sets the pod's ``DisruptionTarget`` condition (replacing any earlier one), as whatever is about to
    delete it does first so that controllers and users can tell why it went."""
    conditions = [
        c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") != "DisruptionTarget"
    ]
    conditions.append(
        {
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": meta.rfc3339(store.clock()),
            "reason": reason,
            "message": message,
        }
    )
    md = pod["metadata"]
    store.patch(
        "pods",
        md["name"],
        {"status": {"conditions": conditions}},
        md["namespace"],
        subresource="status",
        field_manager=field_manager,
    )


def evict(store: Store, name: str, namespace: str, body: Any, *, dry_run: bool) -> JSON:
    """Evict pod ``namespace/name`` as ``body`` (an Eviction) asks; the ``Status`` to answer with 201."""
    if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
        raise errors.bad_request("the body of an eviction request must be a policy/v1 Eviction")
    md: JSON = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
    if md.get("name") != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    opts: JSON = body["deleteOptions"] if isinstance(body.get("deleteOptions"), dict) else {}
    dry_run = dry_run or opts.get("dryRun") == ["All"]
    pod = store.get("pods", name, namespace)
    if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and not dry_run:
        mark_disruption_target(
            store, pod, "EvictionByEvictionAPI", "Eviction API: evicting", field_manager="kube-apiserver"
        )
    preconditions = opts.get("preconditions")
    store.delete(
        "pods",
        name,
        namespace,
        propagation_policy=opts.get("propagationPolicy"),
        grace_period_seconds=opts.get("gracePeriodSeconds"),
        preconditions=preconditions if isinstance(preconditions, dict) else None,
        dry_run=dry_run,
    )
    return SUCCESS
