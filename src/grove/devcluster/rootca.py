"""kube-controller-manager's root CA publisher (``root-ca-cert-publisher``): a ``kube-root-ca.crt``
ConfigMap in every namespace, data ``ca.crt`` the PEM of the CA that verifies the API server, created
shortly after the namespace, recreated when deleted and restored when modified.

:class:`grove.devcluster.gc.Controllers` runs :func:`publish` for a namespace when it is added or changed
and when its ConfigMap is modified or deleted. The CA is the dev cluster's serving certificate with TLS (it
is self-signed), otherwise one generated at start (:func:`generate_ca_pem`), as a cluster always has one.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from grove.devcluster import meta
from grove.devcluster.store import Store

CONFIGMAP = "kube-root-ca.crt"
DATA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such "
    "as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions "
    "of Kubernetes clusters."
)
FIELD_MANAGER = "kube-controller-manager"


def generate_ca_pem(common_name: str = "grove-dev-ca") -> str:
    """A self-signed CA certificate (PEM) for a cluster that serves plain HTTP; its key is discarded, as
    nothing is signed with it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def publish(store: Store, namespace: str, ca_pem: str) -> None:
    """``syncNamespace``: create the ConfigMap in ``namespace``, or restore its data and description."""
    data = {DATA_KEY: ca_pem}
    cm = store.by_key("configmaps", CONFIGMAP, namespace)
    if cm is None:
        ns = store.by_key("namespaces", namespace)
        # The publisher does not retry a create refused for a missing or terminating namespace.
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        body = {
            "metadata": {"name": CONFIGMAP, "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
            "data": data,
        }
        store.create("configmaps", body, namespace, field_manager=FIELD_MANAGER)
        return
    annotations = cm["metadata"].get("annotations") or {}
    if cm.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
        return
    new = meta.deep_copy(cm)
    new["data"] = data
    new["metadata"]["annotations"] = {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION}
    store.update("configmaps", new, namespace, field_manager=FIELD_MANAGER)
