"""Where the client connects: explicit kubeconfig, $KUBECONFIG, in-cluster service account, or an error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.config import incluster_config

from grove.runtime.config import ConfigError, load_configuration


def write_kubeconfig(path: Path, server: str, token: str) -> str:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return str(path)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


async def test_explicit_kubeconfig_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write_kubeconfig(tmp_path / "a", "http://127.0.0.1:1111", "tok-a")
    monkeypatch.setenv("KUBECONFIG", write_kubeconfig(tmp_path / "b", "http://127.0.0.1:2222", "tok-b"))
    cfg = await load_configuration(explicit)
    assert cfg.host == "http://127.0.0.1:1111"
    assert cfg.api_key["BearerToken"] == "Bearer tok-a"
    from_env = await load_configuration()
    assert from_env.host == "http://127.0.0.1:2222"


async def test_in_cluster_service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("sa-token")
    ca = tmp_path / "ca.crt"
    ca.write_text("not checked here")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    cfg = await load_configuration()
    assert cfg.host == "https://10.0.0.1:443"
    settings = await cfg.auth_settings()
    assert settings["BearerToken"]["value"] == "Bearer sa-token"


async def test_no_configuration_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="kubeconfig"):
        await load_configuration()
