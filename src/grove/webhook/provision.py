"""Certificate provisioning in the cluster (``certProvisionMode: auto``), as upstream's cert controller.

The bundle lives in a Secret (``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key``) so every replica serves
the same certificate; the first replica to start creates it, the others read it. The CA is patched into
``clientConfig.caBundle`` of every webhook of the named webhook configurations, and patched again
whenever something (a re-applied manifest) removes it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import structlog

from grove.runtime.client import Client
from grove.runtime.errors import AlreadyExists, Conflict, NotFound
from grove.runtime.meta import Obj
from grove.runtime.resources import SECRETS, Resource
from grove.webhook.certs import CertBundle, generate_bundle, needs_refresh, reusable_ca

__all__ = [
    "MUTATING_WEBHOOK_CONFIGURATIONS",
    "VALIDATING_WEBHOOK_CONFIGURATIONS",
    "bundle_from_secret",
    "ensure_bundle",
    "inject_ca_bundle",
]

log = structlog.get_logger("grove.webhook.provision")

MUTATING_WEBHOOK_CONFIGURATIONS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
    namespaced=False,
)
VALIDATING_WEBHOOK_CONFIGURATIONS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingwebhookconfigurations",
    "ValidatingWebhookConfiguration",
    namespaced=False,
)

_KEYS = ("ca.crt", "ca.key", "tls.crt", "tls.key")
_ATTEMPTS = 5


def bundle_from_secret(secret: Obj) -> CertBundle | None:
    """The bundle stored in ``secret``, or None when an entry is missing or not base64."""
    data = secret.get("data") or {}
    try:
        ca_cert, ca_key, cert, key = (base64.b64decode(data[k], validate=True) for k in _KEYS)
    except (KeyError, ValueError, TypeError):
        return None
    return CertBundle(ca_cert, ca_key, cert, key)


def _secret_data(bundle: CertBundle) -> dict[str, str]:
    values = (bundle.ca_cert, bundle.ca_key, bundle.cert, bundle.key)
    return {k: base64.b64encode(v).decode() for k, v in zip(_KEYS, values, strict=True)}


async def ensure_bundle(
    client: Client, namespace: str, secret_name: str, common_name: str, names: Sequence[str]
) -> CertBundle:
    """The bundle in Secret ``namespace/secret_name``, created or renewed when it cannot serve ``names``."""
    for _ in range(_ATTEMPTS):
        try:
            secret: Obj | None = await client.get(SECRETS, secret_name, namespace)
        except NotFound:
            secret = None
        current = bundle_from_secret(secret) if secret is not None else None
        if current is not None:
            why = needs_refresh(current, names)
            if why is None:
                return current
            log.info("webhook.cert_renewing", secret=secret_name, namespace=namespace, reason=why)
        bundle = generate_bundle(common_name, names, reusable_ca(current) if current else None)
        try:
            if secret is None:
                await client.create(
                    SECRETS,
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": secret_name, "namespace": namespace},
                        "type": "kubernetes.io/tls",
                        "data": _secret_data(bundle),
                    },
                    namespace,
                )
                log.info("webhook.cert_created", secret=secret_name, namespace=namespace)
            else:
                updated = dict(secret)
                updated["data"] = {**(secret.get("data") or {}), **_secret_data(bundle)}
                await client.update(SECRETS, updated)
                log.info("webhook.cert_renewed", secret=secret_name, namespace=namespace)
            return bundle
        except (AlreadyExists, Conflict):
            # Another replica wrote first: use what it stored.
            continue
    raise RuntimeError(f"could not store the webhook certificate in Secret {namespace}/{secret_name}")


async def inject_ca_bundle(client: Client, resource: Resource, name: str, ca_cert: bytes) -> bool | None:
    """Set ``clientConfig.caBundle`` of every webhook of configuration ``name`` to ``ca_cert``.

    Returns True when it was written, False when it was already there, None when the configuration does
    not exist (yet).
    """
    encoded = base64.b64encode(ca_cert).decode()
    for _ in range(_ATTEMPTS):
        try:
            config = await client.get(resource, name)
        except NotFound:
            return None
        webhooks = config.get("webhooks") or []
        if all((w.get("clientConfig") or {}).get("caBundle") == encoded for w in webhooks):
            return False
        config["webhooks"] = [
            {**w, "clientConfig": {**(w.get("clientConfig") or {}), "caBundle": encoded}} for w in webhooks
        ]
        try:
            await client.update(resource, config)
        except Conflict:
            continue
        log.info("webhook.ca_injected", kind=resource.kind, name=name, webhooks=len(webhooks))
        return True
    raise RuntimeError(f"could not patch the caBundle of {resource.kind} {name}: it keeps changing")
