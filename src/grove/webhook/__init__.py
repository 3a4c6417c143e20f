"""Grove's admission webhooks: PodCliqueSet defaulting and validation, ClusterTopologyBinding validation.

Served over HTTPS as admission.k8s.io/v1 AdmissionReview by :class:`WebhookServer`, which the operator
starts in-process::

    server = WebhookServer(client, WebhookOptions(port=9443, cert_provision_mode="auto"))
    await server.start()
    ...
    await server.stop()

The rules are :mod:`grove.api`'s; this package turns them into admission responses (JSON patches,
422 Invalid statuses naming every field, warnings) and provisions the serving certificate.
Imports only :mod:`grove.api` and :mod:`grove.runtime`. See ``docs/webhook.md``.
"""

from grove.webhook.server import (
    DEFAULT_PODCLIQUESET_PATH,
    VALIDATE_CLUSTERTOPOLOGY_PATH,
    VALIDATE_PODCLIQUESET_PATH,
    WebhookOptions,
    WebhookServer,
)

__all__ = [
    "DEFAULT_PODCLIQUESET_PATH",
    "VALIDATE_CLUSTERTOPOLOGY_PATH",
    "VALIDATE_PODCLIQUESET_PATH",
    "WebhookOptions",
    "WebhookServer",
]
