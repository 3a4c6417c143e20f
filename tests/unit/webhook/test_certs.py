"""Serving certificates: coverage, renewal reasons, CA reuse, and a real TLS handshake verified by the CA."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path

from cryptography import x509

from grove.webhook.certs import (
    REFRESH_BEFORE,
    SERVING_VALIDITY,
    CertBundle,
    generate_bundle,
    needs_refresh,
    reusable_ca,
    serving_names,
)


def test_serving_names_cover_the_service_dns_names() -> None:
    assert serving_names("hook", "sys", ["127.0.0.1"]) == [
        "hook",
        "hook.sys",
        "hook.sys.svc",
        "hook.sys.svc.cluster.local",
        "127.0.0.1",
    ]


def test_fresh_bundle_serves_its_names() -> None:
    names = serving_names("hook", "sys", ["127.0.0.1"])
    bundle = generate_bundle("hook", names)
    assert needs_refresh(bundle, names) is None
    cert = x509.load_pem_x509_certificate(bundle.cert)
    ca = x509.load_pem_x509_certificate(bundle.ca_cert)
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_refresh_reasons() -> None:
    bundle = generate_bundle("hook", ["hook.sys.svc"])
    assert needs_refresh(bundle, ["other.sys.svc"]) == "serving certificate does not cover other.sys.svc"
    later = datetime.datetime.now(datetime.UTC) + SERVING_VALIDITY - REFRESH_BEFORE
    assert (needs_refresh(bundle, ["hook.sys.svc"], at=later) or "").startswith("serving certificate expires")
    foreign = generate_bundle("other", ["hook.sys.svc"])
    mixed = CertBundle(bundle.ca_cert, bundle.ca_key, foreign.cert, foreign.key)
    assert (needs_refresh(mixed, ["hook.sys.svc"]) or "").startswith(
        "serving certificate not issued by the CA"
    )
    broken = CertBundle(b"junk", bundle.ca_key, bundle.cert, bundle.key)
    assert (needs_refresh(broken, ["hook.sys.svc"]) or "").startswith("unreadable")


def test_renewal_keeps_a_healthy_ca() -> None:
    first = generate_bundle("hook", ["a.sys.svc"])
    assert reusable_ca(first) is first
    second = generate_bundle("hook", ["a.sys.svc", "b.sys.svc"], ca=reusable_ca(first))
    assert second.ca_cert == first.ca_cert and second.cert != first.cert
    assert needs_refresh(second, ["b.sys.svc"]) is None
    expiring = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3650)
    assert reusable_ca(first, at=expiring) is None


async def test_tls_handshake_is_verified_by_the_ca(tmp_path: Path) -> None:
    bundle = generate_bundle("hook", ["hook.sys.svc", "127.0.0.1"])
    (tmp_path / "tls.crt").write_bytes(bundle.cert)
    (tmp_path / "tls.key").write_bytes(bundle.key)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        client_ctx = ssl.create_default_context(cadata=bundle.ca_cert.decode())
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname="hook.sys.svc"
        )
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
