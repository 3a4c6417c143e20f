"""Webhook metrics with controller-runtime's names (``pkg/webhook/internal/metrics``), plus Grove's count of
answers by verdict.

The ``webhook`` label is the request path, ``code`` the HTTP status code of the answer, as in
controller-runtime, so existing dashboards and alerts work. Every AdmissionReview is answered with HTTP 200
(also when the webhook could not judge the request), so ``grove_webhook_admission_responses_total{result}``
tells allowed, denied and errored answers apart.

Each webhook's series start at 0 when its route is installed (:meth:`WebhookMetrics.initialize`), as
controller-runtime does for codes 200 and 500: ``rate()`` needs a sample before the first increment, so an
error series born with its first error would hide that error from the webhook-errors alert, and a webhook
nothing has called yet still shows up on the dashboard.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RESULTS", "WebhookMetrics"]

RESULTS = ("allowed", "denied", "error")
"""The verdicts ``grove_webhook_admission_responses_total{result}`` counts."""


class WebhookMetrics:
    """The webhook metrics, registered in ``registry`` (a private one when None)."""

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
        self.responses = Counter(
            "grove_webhook_admission_responses",
            "Admission answers by verdict: allowed, denied (the request breaks a rule) or error (the webhook "
            "could not judge it: unreadable request, internal error).",
            ("webhook", "result"),
            registry=self.registry,
        )

    def initialize(self, webhook: str) -> None:
        """Creates ``webhook``'s series at 0: requests answered 200 and 500 (as controller-runtime does),
        requests in flight, and every verdict."""
        for code in ("200", "500"):
            self.requests.labels(webhook, code)
        self.in_flight.labels(webhook)
        for result in RESULTS:
            self.responses.labels(webhook, result)
