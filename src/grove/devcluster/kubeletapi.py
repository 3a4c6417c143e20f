"""The pod subresources kube-apiserver proxies to the kubelet: ``log``, ``exec``, ``attach``, ``portforward``.

The dev cluster's fake kubelets run no containers, so there are no logs, processes or ports to reach.
These requests are checked as kube-apiserver checks them (the pod exists, the container is valid, the pod
is bound, its node exists; a log request for a pod on no node is an empty 204) and as the kubelet would (the
container started), then refused as kube-apiserver refuses a request it cannot forward to the kubelet: 500
with no reason (``Error from server: ...`` in kubectl), the message saying the fake kubelets run nothing.
"""

from __future__ import annotations

from typing import Any

from grove.devcluster import errors
from grove.devcluster.store import Store

JSON = dict[str, Any]

SUBRESOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("attach", "PodAttachOptions", ("create", "get")),
    ("exec", "PodExecOptions", ("create", "get")),
    ("log", "Pod", ("get",)),
    ("portforward", "PodPortForwardOptions", ("create", "get")),
)
NAMES = frozenset(s for s, _k, _v in SUBRESOURCES)

_WHAT = {
    "log": "has no container logs",
    "exec": "cannot exec into containers",
    "attach": "cannot attach to containers",
    "portforward": "cannot forward ports",
}


def refuse(
    store: Store, subresource: str, name: str, namespace: str, container: str | None
) -> errors.ApiError | None:
    """The error answering a ``subresource`` request for pod ``namespace/name``, or None for a log request
    of a pod on no node (kube-apiserver streams nothing then: 204)."""
    pod = store.get("pods", name, namespace)
    spec = pod.get("spec") or {}
    containers = [c.get("name", "") for c in spec.get("containers") or []]
    inits = [c.get("name", "") for c in spec.get("initContainers") or []]
    if subresource != "portforward":
        if not container:
            if len(containers) != 1:
                choices = " ".join(containers)
                message = f"a container name must be specified for pod {name}, choose one of: [{choices}]"
                if inits:
                    message += f" or one of the init containers: [{' '.join(inits)}]"
                return errors.bad_request(message)
            container = containers[0]
        if container not in containers and container not in inits:
            return errors.bad_request(f"container {container} is not valid for pod {name}")
    node = spec.get("nodeName")
    if not node:
        return (
            None if subresource == "log" else errors.bad_request(f"pod {name} does not have a host assigned")
        )
    # The kubelet's connection info comes from its Node object; kube-apiserver reports a missing one as
    # NotFound of the pod resource under the node's name (pods "<node>" not found).
    if store.by_key("nodes", node) is None:
        return errors.not_found("pods", "", node)
    if container is not None:
        waiting = _waiting_reason(pod, container)
        if waiting is not None:
            return errors.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: {waiting}'
            )
    # A plain error, as kube-apiserver reports failing to reach a kubelet: 500, no reason.
    return errors.ApiError(
        500,
        "",
        f"the grove dev cluster {_WHAT[subresource]}: its fake kubelets do not run containers "
        f'(pod "{name}" in namespace "{namespace}", node "{node}")',
    )


def _waiting_reason(pod: JSON, container: str) -> str | None:
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting is not None:
                return str(waiting.get("reason") or "ContainerCreating")
            return None
    return "ContainerCreating"
