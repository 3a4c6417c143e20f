"""The Deployments of ``deploy/`` start on a real cluster: their security contexts are satisfiable and the
operator's webhook has a writable place for its certificate and the port its Service targets."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from grove.operator_command import add_arguments, webhook_options_from_args

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
DEPLOYMENTS = [DEPLOY / "operator" / "deployment.yaml", DEPLOY / "scheduler" / "deployment.yaml"]


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _deployment(path: Path) -> dict[str, Any]:
    (deployment,) = [d for d in _docs(path) if d["kind"] == "Deployment"]
    return deployment


@pytest.mark.parametrize("path", DEPLOYMENTS, ids=lambda p: p.parent.name)
def test_run_as_non_root_names_a_non_root_user(path: Path) -> None:
    # The kubelet can only verify runAsNonRoot for a numeric user: an image running as root (kube-scheduler's
    # does) or names its user fails with CreateContainerConfigError unless runAsUser is set.
    pod = _deployment(path)["spec"]["template"]["spec"]
    pod_ctx = pod.get("securityContext") or {}
    for c in pod["containers"]:
        ctx = {**pod_ctx, **(c.get("securityContext") or {})}
        if ctx.get("runAsNonRoot"):
            assert isinstance(ctx.get("runAsUser"), int) and ctx["runAsUser"] > 0, c["name"]


def test_operator_webhook_can_write_its_certificate_and_serves_the_service_port() -> None:
    deployment = _deployment(DEPLOY / "operator" / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "operator"]
    assert container["command"][:2] == ["grove", "operator"]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = webhook_options_from_args(parser.parse_args(container.get("args") or []))
    assert options is not None and options.cert_provision_mode == "auto"
    # Without a cert dir the certificate goes to a temporary directory: on a read-only root filesystem that
    # needs a writable volume there.
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    target = options.cert_dir or tempfile.gettempdir()
    writable = {v["name"] for v in pod.get("volumes") or () if "emptyDir" in v}
    assert any(
        m["mountPath"] == target and m["name"] in writable and not m.get("readOnly")
        for m in container.get("volumeMounts") or ()
    ), f"no writable volume at {target}"
    (service,) = _docs(DEPLOY / "webhook" / "service.yaml")
    (port,) = service["spec"]["ports"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port["targetPort"] in (options.port, "webhooks")
    assert ports["webhooks"] == options.port
    assert service["spec"]["selector"].items() <= pod_labels(deployment).items()


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    """The labels of the Deployment's pods."""
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels
