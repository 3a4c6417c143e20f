"""Certificates and keys of a test control plane, made here (as kubeadm's ``certs`` phase would).

One cluster CA signs the API server's serving certificate and every client certificate (admin,
controller-manager, scheduler, and any serving certificate a test component needs for a loopback address);
a front-proxy CA signs the aggregation layer's client certificate; an RSA key pair signs service-account
tokens. Everything is written as PEM files into one directory.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from grove.webhook.certs import alt_names, key_pem, self_signed_ca

__all__ = ["CertificateAuthority", "KeyPair", "service_account_keys"]

_VALIDITY = datetime.timedelta(days=365)
_BACKDATE = datetime.timedelta(minutes=5)
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key, and where they were written."""

    cert: bytes
    key: bytes
    cert_file: Path
    key_file: Path


class CertificateAuthority:
    """A self-signed CA (:func:`grove.webhook.certs.self_signed_ca`) that issues client and serving
    certificates into ``directory``."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self._cert, self._key = self_signed_ca(name, _VALIDITY)
        self.pair = self._write(name, self._cert, self._key)

    @property
    def cert_file(self) -> Path:
        """The CA certificate's file (what ``--client-ca-file`` and kubeconfigs name)."""
        return self.pair.cert_file

    def _write(self, stem: str, cert: x509.Certificate, key: PrivateKey) -> KeyPair:
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        pem = key_pem(key)
        cert_file = self.directory / f"{stem}.crt"
        key_file = self.directory / f"{stem}.key"
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(pem)
        key_file.chmod(0o600)
        return KeyPair(cert_pem, pem, cert_file, key_file)

    def issue(
        self,
        stem: str,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        names: Sequence[str] = (),
        client: bool = False,
        server: bool = False,
    ) -> KeyPair:
        """A certificate for ``common_name`` (groups ``organizations``; SANs ``names``, DNS names or IPs),
        usable as a client and/or server certificate, written as ``<stem>.crt``/``<stem>.key``."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        usages = []
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names(names)), critical=False)
        return self._write(stem, builder.sign(self._key, hashes.SHA256()), key)


def service_account_keys(directory: Path) -> tuple[Path, Path]:
    """An RSA key pair that signs and verifies service-account tokens: ``(private key, public key)`` files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = directory / "sa.key"
    public = directory / "sa.pub"
    private.write_bytes(key_pem(key))
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public
