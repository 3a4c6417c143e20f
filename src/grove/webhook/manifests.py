"""The objects that register Grove's webhooks with the API server: the Service in front of the operator
and the three webhook configurations. ``deploy/webhook/`` holds exactly these (a unit test keeps them
equal), so ``grove dev`` can install them without the repository's files."""

from __future__ import annotations

from typing import Any

from grove.webhook.server import (
    DEFAULT_PODCLIQUESET_PATH,
    VALIDATE_CLUSTERTOPOLOGY_PATH,
    VALIDATE_PODCLIQUESET_PATH,
    WebhookOptions,
)

__all__ = ["SERVICE_PORT_NAME", "webhook_configurations", "webhook_manifests", "webhook_service"]

SERVICE_PORT_NAME = "webhooks"
_LABELS = {"app.kubernetes.io/name": "grove-operator", "app.kubernetes.io/part-of": "grove"}
_DEFAULTS = WebhookOptions()


def webhook_service(
    namespace: str = _DEFAULTS.namespace, name: str = _DEFAULTS.service_name
) -> dict[str, Any]:
    """The Service kube-apiserver calls: port 443 to the operator pods' webhook port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(_LABELS)},
        "spec": {
            "selector": {"app.kubernetes.io/name": "grove-operator"},
            "ports": [
                {"name": SERVICE_PORT_NAME, "protocol": "TCP", "port": 443, "targetPort": _DEFAULTS.port}
            ],
        },
    }


def _webhook(name: str, path: str, resource: str, scope: str, namespace: str, service: str) -> dict[str, Any]:
    return {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": {"service": {"name": service, "namespace": namespace, "path": path, "port": 443}},
        "rules": [
            {
                "apiGroups": ["grove.io"],
                "apiVersions": ["v1alpha1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": [resource],
                "scope": scope,
            }
        ],
        "failurePolicy": "Fail",
        "matchPolicy": "Exact",
        "sideEffects": "None",
        "timeoutSeconds": 10,
    }


def webhook_configurations(
    namespace: str = _DEFAULTS.namespace, service: str = _DEFAULTS.service_name
) -> list[dict[str, Any]]:
    """The MutatingWebhookConfiguration and the two ValidatingWebhookConfigurations (named as
    :class:`WebhookOptions` expects), calling ``service`` in ``namespace``. They carry no ``caBundle``: the
    server patches its CA in (``certProvisionMode: auto``)."""
    [mutating] = _DEFAULTS.mutating_configurations
    validating_pcs, validating_ct = _DEFAULTS.validating_configurations
    defaulting = _webhook(
        "pcs.defaulting.webhooks.grove.io",
        DEFAULT_PODCLIQUESET_PATH,
        "podcliquesets",
        "Namespaced",
        namespace,
        service,
    )
    defaulting["reinvocationPolicy"] = "Never"
    meta = {"labels": dict(_LABELS)}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": mutating, **meta},
            "webhooks": [defaulting],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": validating_pcs, **meta},
            "webhooks": [
                _webhook(
                    "pcs.validating.webhooks.grove.io",
                    VALIDATE_PODCLIQUESET_PATH,
                    "podcliquesets",
                    "Namespaced",
                    namespace,
                    service,
                )
            ],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": validating_ct, **meta},
            "webhooks": [
                _webhook(
                    "clustertopology.validating.webhooks.grove.io",
                    VALIDATE_CLUSTERTOPOLOGY_PATH,
                    "clustertopologybindings",
                    "Cluster",
                    namespace,
                    service,
                )
            ],
        },
    ]


def webhook_manifests(
    namespace: str = _DEFAULTS.namespace, service: str = _DEFAULTS.service_name
) -> list[dict[str, Any]]:
    """Everything ``kubectl apply -k deploy/webhook`` creates: the Service, then the configurations."""
    return [webhook_service(namespace, service), *webhook_configurations(namespace, service)]
