"""Serving certificates of the webhook server: a self-signed CA and a certificate it signs.

Pure functions (no I/O). :mod:`grove.webhook.provision` stores the bundle in a Secret and patches the CA
into the webhook configurations, as upstream's cert controller (``certProvisionMode: auto``) does.
The standard library cannot create certificates, hence the ``cryptography`` package.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_VALIDITY",
    "REFRESH_BEFORE",
    "SERVING_VALIDITY",
    "CertBundle",
    "alt_names",
    "generate_bundle",
    "key_pem",
    "needs_refresh",
    "reusable_ca",
    "self_signed_ca",
    "serving_names",
]

CA_VALIDITY = datetime.timedelta(days=3650)
SERVING_VALIDITY = datetime.timedelta(days=365)
# Certificates are replaced this long before they expire (cert-controller uses 90 days for a 10-year cert).
REFRESH_BEFORE = datetime.timedelta(days=30)
_BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertBundle:
    """PEM-encoded CA certificate and key, serving certificate and key (the Secret's four entries)."""

    ca_cert: bytes
    ca_key: bytes
    cert: bytes
    key: bytes


def serving_names(service: str, namespace: str, extra: Sequence[str] = ()) -> list[str]:
    """The names a serving certificate must cover: ``<svc>.<ns>.svc`` (what kube-apiserver verifies) and
    its variants, plus ``extra`` DNS names or IP addresses."""
    names = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    return names + [n for n in extra if n not in names]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    """Subject alternative names: IP addresses for what parses as one, DNS names for the rest."""
    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def self_signed_ca(
    common_name: str, validity: datetime.timedelta = CA_VALIDITY
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new self-signed CA (ECDSA P-256) that may sign leaf certificates only."""
    now = _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def generate_bundle(common_name: str, names: Sequence[str], ca: CertBundle | None = None) -> CertBundle:
    """A serving certificate for ``names`` (DNS names or IPs) signed by ``ca``'s CA, or by a new CA."""
    now = _now()
    if ca is None:
        ca_cert, ca_key = self_signed_ca(f"{common_name}-ca")
        ca_cert_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        ca_key_pem = key_pem(ca_key)
    else:
        ca_cert = x509.load_pem_x509_certificate(ca.ca_cert)
        loaded = serialization.load_pem_private_key(ca.ca_key, password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key must be an ECDSA key")
        ca_key = loaded
        ca_cert_pem, ca_key_pem = ca.ca_cert, ca.ca_key
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + SERVING_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return CertBundle(ca_cert_pem, ca_key_pem, cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def needs_refresh(
    bundle: CertBundle, names: Sequence[str], at: datetime.datetime | None = None
) -> str | None:
    """Why ``bundle`` cannot serve ``names`` until well after ``at`` (now), or None when it can.

    Reasons: unreadable, expiring (CA or serving certificate within :data:`REFRESH_BEFORE`), a name not
    covered, or a serving certificate not issued by the bundle's CA.
    """
    at = at or _now()
    try:
        ca = x509.load_pem_x509_certificate(bundle.ca_cert)
        cert = x509.load_pem_x509_certificate(bundle.cert)
        serialization.load_pem_private_key(bundle.key, password=None)
        serialization.load_pem_private_key(bundle.ca_key, password=None)
    except ValueError as e:
        return f"unreadable: {e}"
    for what, c in (("CA certificate", ca), ("serving certificate", cert)):
        if c.not_valid_after_utc - REFRESH_BEFORE <= at:
            return f"{what} expires at {c.not_valid_after_utc.isoformat()}"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as e:
        return f"serving certificate not issued by the CA: {e}"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "serving certificate has no subjectAltName"
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    missing = [n for n in names if n not in have]
    if missing:
        return f"serving certificate does not cover {', '.join(missing)}"
    return None


def reusable_ca(bundle: CertBundle, at: datetime.datetime | None = None) -> CertBundle | None:
    """``bundle`` when its CA can keep signing (readable, not expiring), so injected caBundles stay valid."""
    at = at or _now()
    try:
        ca = x509.load_pem_x509_certificate(bundle.ca_cert)
        key = serialization.load_pem_private_key(bundle.ca_key, password=None)
    except ValueError:
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or ca.not_valid_after_utc - REFRESH_BEFORE <= at:
        return None
    return bundle
