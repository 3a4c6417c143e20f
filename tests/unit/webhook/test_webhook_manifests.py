"""``deploy/webhook`` holds exactly what ``grove.webhook.manifests`` generates (``grove dev`` installs the
generated ones), and they name what the server serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from grove.webhook import WebhookOptions, WebhookServer
from grove.webhook.manifests import SERVICE_PORT_NAME, webhook_configurations, webhook_manifests

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "webhook"


def test_deploy_webhook_matches_the_generated_manifests() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    committed = [
        doc for f in kustomization["resources"] for doc in yaml.safe_load_all((DEPLOY / f).read_text()) if doc
    ]
    assert committed == webhook_manifests()


def test_configurations_call_the_servers_paths_under_the_names_it_keeps_injected() -> None:
    options = WebhookOptions()
    configs = webhook_configurations("ns", "svc")
    names = {(c["kind"], c["metadata"]["name"]) for c in configs}
    assert names == {("MutatingWebhookConfiguration", n) for n in options.mutating_configurations} | {
        ("ValidatingWebhookConfiguration", n) for n in options.validating_configurations
    }
    served = {
        r.resource.canonical for r in WebhookServer(client=None, options=options).make_app().router.routes()
    }  # type: ignore[arg-type]
    for c in configs:
        for hook in c["webhooks"]:
            service = hook["clientConfig"]["service"]
            assert (service["namespace"], service["name"]) == ("ns", "svc")
            assert service["path"] in served
    assert webhook_manifests()[0]["spec"]["ports"][0]["name"] == SERVICE_PORT_NAME
