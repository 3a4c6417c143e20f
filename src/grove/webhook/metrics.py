"""Webhook metrics with controller-runtime's names (``pkg/webhook/internal/metrics``).

The ``webhook`` label is the request path, ``code`` the HTTP status code of the answer, as in
controller-runtime, so existing dashboards and alerts work.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["WebhookMetrics"]


class WebhookMetrics:
    """The three webhook metrics, registered in ``registry`` (a private one when None)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.latency = Histogram(
            "controller_runtime_webhook_latency_seconds",
            "Histogram of the latency of processing admission requests",
            ("webhook", "code"),
            registry=self.registry,
        )
        self.requests = Counter(
            "controller_runtime_webhook_requests",
            "Total number of admission requests by HTTP status code.",
            ("webhook", "code"),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "controller_runtime_webhook_requests_in_flight",
            "Current number of admission requests being served.",
            ("webhook",),
            registry=self.registry,
        )
