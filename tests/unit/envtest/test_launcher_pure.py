"""The launcher's pure parts: the network rule's refusal, asset lookup, certificates and kubeconfigs, and the
webhook configuration a server outside the cluster needs."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from grove.envtest.controlplane import ControlPlaneError, find_assets, kubeconfig
from grove.envtest.netns import NetworkNamespaceError, check_loopback_only, interfaces
from grove.envtest.pki import CertificateAuthority, service_account_keys
from grove.envtest.stack import url_client_config
from grove.webhook.manifests import webhook_configurations


@pytest.mark.skipif(
    interfaces() == ["lo"],
    reason="the refusal needs a namespace with more than loopback; this run is in a private one",
)
def test_refuses_outside_a_loopback_only_namespace_and_says_how() -> None:
    with pytest.raises(NetworkNamespaceError) as e:
        check_loopback_only()
    message = str(e.value)
    assert "interfaces other than loopback" in message
    assert "unshare --net" in message and "ip link set lo up" in message


def _make_binaries(directory: Path, names: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)


def test_assets_are_found_in_the_directory_or_its_bin(tmp_path: Path) -> None:
    _make_binaries(tmp_path / "bin", ["etcd", "kube-apiserver"])
    assert find_assets(tmp_path, need=["etcd", "kube-apiserver"]) == tmp_path / "bin"
    _make_binaries(tmp_path, ["etcd", "kube-apiserver"])
    assert find_assets(tmp_path, need=["etcd", "kube-apiserver"]) == tmp_path


def test_missing_assets_are_named(tmp_path: Path) -> None:
    _make_binaries(tmp_path, ["etcd"])
    with pytest.raises(ControlPlaneError) as e:
        find_assets(tmp_path)
    message = str(e.value)
    assert "no executable kube-apiserver, kube-controller-manager, kube-scheduler there" in message
    assert "KUBEBUILDER_ASSETS" in message


def test_certificates_chain_to_the_ca_with_names_and_groups(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path, "ca")
    serving = ca.issue("apiserver", "kube-apiserver", names=["127.0.0.1", "kubernetes"], server=True)
    admin = ca.issue("admin", "kubernetes-admin", organizations=["system:masters"], client=True)
    cert = x509.load_pem_x509_certificate(admin.cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.pair.cert))
    san = x509.load_pem_x509_certificate(serving.cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "kubernetes" in san.value.get_values_for_type(x509.DNSName)
    # Both load as TLS credentials, and private keys are private.
    context = ssl.create_default_context(cafile=str(ca.cert_file))
    context.load_cert_chain(str(admin.cert_file), str(admin.key_file))
    assert os.stat(admin.key_file).st_mode & 0o077 == 0
    private, public = service_account_keys(tmp_path)
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()


def test_kubeconfig_names_server_ca_and_credentials(tmp_path: Path) -> None:
    config = kubeconfig("https://127.0.0.1:1234", tmp_path / "ca.crt", user="sa", token="abc")
    assert config["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:1234",
        "certificate-authority": str(tmp_path / "ca.crt"),
    }
    assert config["users"] == [{"name": "sa", "user": {"token": "abc"}}]
    assert config["current-context"] == "sa"


def test_webhooks_outside_the_cluster_are_called_by_url() -> None:
    for config in webhook_configurations():
        out = url_client_config(config, "https://127.0.0.1:9443")
        for before, after in zip(config["webhooks"], out["webhooks"], strict=True):
            path = before["clientConfig"]["service"]["path"]
            assert after["clientConfig"] == {"url": f"https://127.0.0.1:9443{path}"}
            assert {k: v for k, v in after.items() if k != "clientConfig"} == {
                k: v for k, v in before.items() if k != "clientConfig"
            }
