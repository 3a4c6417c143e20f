"""Cost of admission webhooks: PodCliqueSet creates per second on the dev cluster through real HTTP, without
webhooks and with Grove's defaulting and validating webhooks (HTTPS calls, JSON patch, validation), plus the
webhook server's own latency per AdmissionReview. Cluster, webhook server and client share one process and
one event loop, so the figures are the whole cost on one core.

Prints one line per figure. Run with ``make bench`` or ``.venv/bin/python hack/bench/webhook_admission.py``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from grove.devcluster import DevCluster
from grove.runtime.client import Client
from grove.runtime.logging import configure_logging
from grove.runtime.resources import NAMESPACES, Resource
from grove.webhook import VALIDATE_PODCLIQUESET_PATH, WebhookOptions, WebhookServer
from grove.webhook.provision import MUTATING_WEBHOOK_CONFIGURATIONS, VALIDATING_WEBHOOK_CONFIGURATIONS

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "deploy" / "samples" / "complete-inference-pipeline.yaml"
PCS = Resource("grove.io", "v1alpha1", "podcliquesets", "PodCliqueSet")
ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints")
CONCURRENCY = 16
COUNT = 400


async def creates_per_second(client: Client, namespace: str, prefix: str) -> float:
    sample: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    queue = list(range(COUNT))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            obj = copy.deepcopy(sample)
            obj["metadata"] = {"name": f"{prefix}-{i}", "namespace": namespace}
            await client.create(PCS, obj)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return COUNT / (time.perf_counter() - start)


async def review_latency(server: WebhookServer) -> float:
    sample: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "bench",
            "kind": {"group": "grove.io", "version": "v1alpha1", "kind": "PodCliqueSet"},
            "operation": "CREATE",
            "name": "bench",
            "namespace": "default",
            "object": sample,
        },
    }
    body = json.dumps(review)
    ctx = ssl.create_default_context(cadata=(server.ca_bundle or b"").decode())
    url = f"https://127.0.0.1:{server.port}{VALIDATE_PODCLIQUESET_PATH}"
    async with aiohttp.ClientSession() as http:
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < 1.0:
            async with http.post(
                url,
                data=body,
                ssl=ctx,
                headers={"Content-Type": "application/json"},
                server_hostname="localhost",
            ) as resp:
                await resp.read()
            calls += 1
        return (time.perf_counter() - start) / calls


async def main() -> None:
    configure_logging("warning")
    with tempfile.TemporaryDirectory() as d:
        cluster = DevCluster(port=0, kubeconfig_path=f"{d}/kubeconfig")
        await cluster.start()
        client = await Client.connect(cluster.kubeconfig_path)
        try:
            for crd in sorted((ROOT / "deploy" / "crds").glob("*.yaml")):
                cluster.store.create("customresourcedefinitions", yaml.safe_load(crd.read_text()))
            for ns in ("bench", "grove-system"):
                await client.create(NAMESPACES, {"metadata": {"name": ns}})
            plain = await creates_per_second(client, "bench", "plain")
            print(f"PodCliqueSet creates/s without webhooks ({CONCURRENCY} concurrent): {plain:.0f}")
            for f in ("service.yaml", "mutating.yaml", "validating.yaml"):
                for doc in yaml.safe_load_all((ROOT / "deploy" / "webhook" / f).read_text()):
                    resource = {
                        "Service": Resource("", "v1", "services", "Service"),
                        "MutatingWebhookConfiguration": MUTATING_WEBHOOK_CONFIGURATIONS,
                        "ValidatingWebhookConfiguration": VALIDATING_WEBHOOK_CONFIGURATIONS,
                    }[doc["kind"]]
                    await client.create(resource, doc)
            server = WebhookServer(
                client,
                WebhookOptions(port=0, host="127.0.0.1", extra_names=("localhost",)),
            )
            await server.start()
            await client.create(
                ENDPOINTS,
                {
                    "metadata": {"name": "grove-operator-webhook", "namespace": "grove-system"},
                    "subsets": [
                        {
                            "addresses": [{"ip": "127.0.0.1"}],
                            "ports": [{"name": "webhooks", "port": server.port}],
                        }
                    ],
                },
            )
            hooked = await creates_per_second(client, "bench", "hooked")
            print(f"PodCliqueSet creates/s with the defaulting and validating webhooks: {hooked:.0f}")
            latency = await review_latency(server)
            print(f"validating AdmissionReview round trip (HTTPS, sequential): {latency * 1000:.2f} ms")
            await server.stop()
        finally:
            await client.close()
            await cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
