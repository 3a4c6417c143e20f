"""Grove's admission webhooks, driven by real kubectl on the dev cluster and on the real tier: the errors a
user sees at ``kubectl apply`` time, defaults stored, update rules, dry runs, certificates and failure
policies."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from webhook_helpers import SYSTEM_NAMESPACE, kubectl_async

from grove.runtime.client import Client
from grove.runtime.resources import SECRETS
from grove.webhook import WebhookOptions, WebhookServer
from grove.webhook.provision import MUTATING_WEBHOOK_CONFIGURATIONS, VALIDATING_WEBHOOK_CONFIGURATIONS


def pcs(name: str, namespace: str, **template: Any) -> dict[str, Any]:
    """A small valid PodCliqueSet: a leader and workers in one scaling group."""
    cliques = [
        {
            "name": n,
            "spec": {
                "replicas": r,
                "podSpec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}]},
            },
        }
        for n, r in (("leader", 1), ("worker", 2))
    ]
    return {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "PodCliqueSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "template": {
                "cliques": cliques,
                "podCliqueScalingGroups": [{"name": "model", "cliqueNames": ["leader", "worker"]}],
                **template,
            },
        },
    }


async def apply(kubectl: Any, obj: dict[str, Any], *args: str) -> Any:
    return await kubectl_async(kubectl, "apply", *args, "-f", "-", input=json.dumps(obj))


async def test_invalid_podcliqueset_is_rejected_with_every_field_error(
    webhook: WebhookServer, kubectl: Any, namespace: str
) -> None:
    bad = pcs("x", namespace)
    bad["spec"]["template"]["podCliqueScalingGroups"][0]["cliqueNames"][1] = "wrker"
    out = await apply(kubectl, bad)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'The PodCliqueSet "x" is invalid: spec.template.podCliqueScalingGroups[0].cliqueNames[1]: '
        'Invalid value: "wrker": no clique named "wrker"'
    )
    worse = copy.deepcopy(bad)
    worse["spec"]["template"]["cliques"][0]["spec"]["minAvailable"] = 5
    out = await apply(kubectl, worse)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert lines[0] == 'The PodCliqueSet "x" is invalid: '
    assert "* spec.template.cliques[0].spec.minAvailable: Invalid value: 5: " in out.stderr
    assert '* spec.template.podCliqueScalingGroups[0].cliqueNames[1]: Invalid value: "wrker"' in out.stderr
    missing = await kubectl_async(kubectl, "get", "pcs", "x", "-n", namespace)
    assert "NotFound" in missing.stderr


async def test_valid_podcliqueset_is_stored_defaulted(
    webhook: WebhookServer, kubectl: Any, namespace: str
) -> None:
    out = await apply(kubectl, pcs("ok", namespace), "-o", "json")
    assert out.returncode == 0, out.stderr
    got = json.loads((await kubectl_async(kubectl, "get", "pcs", "ok", "-n", namespace, "-o", "json")).stdout)
    template = got["spec"]["template"]
    assert template["terminationDelay"] == "4h"
    assert template["cliqueStartupType"] == "CliqueStartupTypeAnyOrder"
    assert template["headlessServiceConfig"] == {"publishNotReadyAddresses": True}
    worker = template["cliques"][1]["spec"]
    assert (worker["roleName"], worker["minAvailable"]) == ("worker", 2)
    assert worker["podSpec"]["restartPolicy"] == "Always"
    assert worker["podSpec"]["terminationGracePeriodSeconds"] == 30
    group = template["podCliqueScalingGroups"][0]
    assert (group["replicas"], group["minAvailable"]) == (1, 1)


async def test_update_rules_are_enforced(webhook: WebhookServer, kubectl: Any, namespace: str) -> None:
    assert (await apply(kubectl, pcs("u", namespace))).returncode == 0
    scaled = await kubectl_async(kubectl, "scale", "pcs", "u", "-n", namespace, "--replicas=2")
    assert scaled.returncode == 0, scaled.stderr
    patch = {"spec": {"template": {"cliqueStartupType": "CliqueStartupTypeInOrder"}}}
    out = await kubectl_async(
        kubectl, "patch", "pcs", "u", "-n", namespace, "--type=merge", "-p", json.dumps(patch)
    )
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'The PodCliqueSet "u" is invalid: spec.template.cliqueStartupType: '
        'Invalid value: "CliqueStartupTypeInOrder": field is immutable'
    )
    renamed = pcs("u", namespace)
    renamed["spec"]["template"]["cliques"][1]["name"] = "workers"
    renamed["spec"]["template"]["podCliqueScalingGroups"][0]["cliqueNames"][1] = "workers"
    out = await apply(kubectl, renamed)
    assert out.returncode == 1
    assert "spec.template.cliques: Forbidden: cliques may not be added, removed or renamed" in out.stderr
    # Re-applying the manifest with another spec.replicas passes: the cliques (a list, replaced whole by
    # the merge patch) are defaulted again to the same values.
    more = pcs("u", namespace)
    more["spec"]["replicas"] = 3
    out = await apply(kubectl, more)
    assert out.returncode == 0, out.stderr


async def test_dry_run_is_admitted_but_not_stored(
    webhook: WebhookServer, kubectl: Any, namespace: str
) -> None:
    out = await apply(kubectl, pcs("dry", namespace), "--dry-run=server", "-o", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["spec"]["template"]["terminationDelay"] == "4h"
    assert "NotFound" in (await kubectl_async(kubectl, "get", "pcs", "dry", "-n", namespace)).stderr
    bad = pcs("dry", namespace, terminationDelay="-1s")
    out = await apply(kubectl, bad, "--dry-run=server")
    assert out.returncode == 1
    assert "spec.template.terminationDelay" in out.stderr


async def test_cluster_topology_binding_rules_and_references(
    webhook: WebhookServer, kubectl: Any, namespace: str
) -> None:
    ct = {
        "apiVersion": "grove.io/v1alpha1",
        "kind": "ClusterTopologyBinding",
        "metadata": {"name": f"ct-{namespace}"},
        "spec": {
            "levels": [
                {"domain": "zone", "key": "topology.kubernetes.io/zone"},
                {"domain": "rack", "key": "example.com/rack"},
                {"domain": "rack", "key": "topology.kubernetes.io/zone"},
            ]
        },
    }
    out = await apply(kubectl, ct)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f'The ClusterTopologyBinding "ct-{namespace}" is invalid: \n'
        '* spec.levels[2].domain: Duplicate value: "rack"\n'
        '* spec.levels[2].key: Duplicate value: "topology.kubernetes.io/zone"'
    )
    constrained = pcs(
        "topo",
        namespace,
        topologyConstraint={"topologyName": f"ct-{namespace}", "pack": {"required": "rack"}},
    )
    out = await apply(kubectl, constrained)
    assert out.returncode == 1
    assert f'ClusterTopologyBinding "ct-{namespace}" not found' in out.stderr
    ct["spec"]["levels"][2] = {"domain": "host", "key": "kubernetes.io/hostname"}
    try:
        assert (await apply(kubectl, ct)).returncode == 0
        constrained["spec"]["template"]["topologyConstraint"]["pack"]["preferred"] = "zone"
        out = await apply(kubectl, constrained)
        assert out.returncode == 0, out.stderr
        warning = (
            'Warning: spec.template.topologyConstraint.pack.preferred: "zone" is broader than the required'
        )
        assert f'{warning} "rack"' in out.stderr
    finally:
        await kubectl_async(kubectl, "delete", "ct", f"ct-{namespace}", "--ignore-not-found")


async def test_certificate_is_stored_and_ca_injected(webhook: WebhookServer, client: Client) -> None:
    assert webhook.ca_bundle is not None
    encoded = base64.b64encode(webhook.ca_bundle).decode()
    secret = await client.get(SECRETS, "grove-webhook-server-cert", SYSTEM_NAMESPACE)
    assert sorted(secret["data"]) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]
    assert secret["data"]["ca.crt"] == encoded
    for resource, name in (
        (MUTATING_WEBHOOK_CONFIGURATIONS, "podcliqueset-defaulting-webhook"),
        (VALIDATING_WEBHOOK_CONFIGURATIONS, "podcliqueset-validating-webhook"),
        (VALIDATING_WEBHOOK_CONFIGURATIONS, "clustertopology-validating-webhook"),
    ):
        config = await client.get(resource, name)
        assert [w["clientConfig"]["caBundle"] for w in config["webhooks"]] == [encoded]
    # A re-applied manifest drops the caBundle; the server puts it back.
    config = await client.get(VALIDATING_WEBHOOK_CONFIGURATIONS, "podcliqueset-validating-webhook")
    del config["webhooks"][0]["clientConfig"]["caBundle"]
    await client.update(VALIDATING_WEBHOOK_CONFIGURATIONS, config)
    await webhook.inject_ca_bundle()
    config = await client.get(VALIDATING_WEBHOOK_CONFIGURATIONS, "podcliqueset-validating-webhook")
    assert config["webhooks"][0]["clientConfig"]["caBundle"] == encoded


async def test_a_second_replica_reuses_the_stored_certificate(webhook: WebhookServer, client: Client) -> None:
    replica = WebhookServer(
        client,
        WebhookOptions(
            port=0, host="127.0.0.1", namespace=SYSTEM_NAMESPACE, service_name="grove-operator-webhook"
        ),
    )
    await replica.start()
    try:
        assert replica.ca_bundle == webhook.ca_bundle
    finally:
        await replica.stop()


async def test_failure_policy_when_the_webhook_is_down(
    webhook: WebhookServer, kubectl: Any, namespace: str, client: Client, wait_for: Any
) -> None:
    await webhook.stop()
    out = await apply(kubectl, pcs("down", namespace))
    assert out.returncode == 1
    assert 'Internal error occurred: failed calling webhook "pcs.defaulting.webhooks.grove.io"' in out.stderr
    assert "connection refused" in out.stderr
    for resource, name in (
        (MUTATING_WEBHOOK_CONFIGURATIONS, "podcliqueset-defaulting-webhook"),
        (VALIDATING_WEBHOOK_CONFIGURATIONS, "podcliqueset-validating-webhook"),
    ):
        config = await client.get(resource, name)
        config["webhooks"][0]["failurePolicy"] = "Ignore"
        await client.update(resource, config)
    # kube-apiserver's webhook configuration cache trails the updates: applied until it uses them.
    applied: dict[str, Any] = {}

    async def admitted() -> bool:
        out = await apply(kubectl, pcs("down", namespace), "-o", "json")
        applied["out"] = out
        return out.returncode == 0 or "failed calling webhook" not in out.stderr

    await wait_for(admitted, timeout=30, interval=0.1, message="failurePolicy Ignore in effect")
    out = applied["out"]
    assert out.returncode == 0, out.stderr
    # Admitted without the webhooks: nothing was defaulted.
    assert "terminationDelay" not in json.loads(out.stdout)["spec"]["template"]


async def test_metrics_count_admission_requests(webhook: WebhookServer, kubectl: Any, namespace: str) -> None:
    assert (await apply(kubectl, pcs("m", namespace))).returncode == 0
    registry = webhook.metrics.registry
    labels = {"webhook": "/webhooks/validate-podcliqueset", "code": "200"}
    assert registry.get_sample_value("controller_runtime_webhook_requests_total", labels) == 1
    assert registry.get_sample_value("controller_runtime_webhook_latency_seconds_count", labels) == 1
    assert (
        registry.get_sample_value(
            "controller_runtime_webhook_requests_in_flight", {"webhook": "/webhooks/validate-podcliqueset"}
        )
        == 0
    )
