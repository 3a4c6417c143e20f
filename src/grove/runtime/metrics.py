"""Prometheus metrics of the framework, with controller-runtime's names so existing dashboards work.

Every metric lives in a :class:`RuntimeMetrics`, which owns one ``CollectorRegistry``. A manager creates its
own, so two managers in one process (tests, ``grove dev``) never collide; components built outside a manager
take ``metrics=None`` and record nothing. There is deliberately no process-wide default registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# controller-runtime pkg/internal/controller/metrics: 5 ms .. 60 s.
RECONCILE_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.35,
    0.4,
    0.45,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    1.0,
    1.25,
    1.5,
    1.75,
    2.0,
    2.5,
    3.0,
    3.5,
    4.0,
    4.5,
    5.0,
    6.0,
    7.0,
    8.0,
    9.0,
    10.0,
    15.0,
    20.0,
    25.0,
    30.0,
    40.0,
    50.0,
    60.0,
)
# controller-runtime pkg/metrics/workqueue.go: ExponentialBuckets(1e-8, 10, 12).
WORKQUEUE_BUCKETS: tuple[float, ...] = tuple(1e-8 * 10**i for i in range(12))
# client-go rest_client_request_duration_seconds.
REST_BUCKETS: tuple[float, ...] = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)

_QUEUE_LABELS = ("name", "controller")


class RuntimeMetrics:
    """All framework metrics, registered in one registry (``self.registry``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry

        # Workqueue (pkg/metrics/workqueue.go).
        self.workqueue_depth = Gauge(
            "workqueue_depth", "Current depth of workqueue", _QUEUE_LABELS, registry=r
        )
        self.workqueue_adds = Counter(
            "workqueue_adds", "Total number of adds handled by workqueue", _QUEUE_LABELS, registry=r
        )
        self.workqueue_queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            _QUEUE_LABELS,
            buckets=WORKQUEUE_BUCKETS,
            registry=r,
        )
        self.workqueue_work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            _QUEUE_LABELS,
            buckets=WORKQUEUE_BUCKETS,
            registry=r,
        )
        self.workqueue_unfinished_work = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.",
            _QUEUE_LABELS,
            registry=r,
        )
        self.workqueue_longest_running = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            _QUEUE_LABELS,
            registry=r,
        )
        self.workqueue_retries = Counter(
            "workqueue_retries", "Total number of retries handled by workqueue", _QUEUE_LABELS, registry=r
        )

        # Controller (pkg/internal/controller/metrics/metrics.go).
        self.reconcile_total = Counter(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            ("controller", "result"),
            registry=r,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            ("controller",),
            registry=r,
        )
        self.terminal_reconcile_errors = Counter(
            "controller_runtime_terminal_reconcile_errors",
            "Total number of terminal reconciliation errors per controller",
            ("controller",),
            registry=r,
        )
        self.reconcile_timeouts = Counter(
            "controller_runtime_reconcile_timeouts",
            "Total number of reconciliation timeouts per controller",
            ("controller",),
            registry=r,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ("controller",),
            buckets=RECONCILE_BUCKETS,
            registry=r,
        )
        self.max_concurrent_reconciles = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ("controller",),
            registry=r,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ("controller",),
            registry=r,
        )

        # REST client (pkg/metrics/client_go_adapter.go).
        self.rest_requests = Counter(
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code, method, and host.",
            ("code", "method", "host"),
            registry=r,
        )
        self.rest_request_duration = Histogram(
            "rest_client_request_duration_seconds",
            "Request latency in seconds. Broken down by verb, and host.",
            ("verb", "host"),
            buckets=REST_BUCKETS,
            registry=r,
        )
        self.rest_request_retries = Counter(
            "rest_client_request_retries",
            "Number of request retries, partitioned by status code, verb, and host.",
            ("code", "verb", "host"),
            registry=r,
        )

        # Leader election (pkg/metrics/leaderelection.go).
        self.leader_election_master_status = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
            "1 indicates master. 'name' is the string used to identify the lease.",
            ("name",),
            registry=r,
        )

        # Informers: not in controller-runtime, but a silent watch or a relist storm must be visible.
        self.informer_relists = Counter(
            "informer_relists",
            "Number of full LISTs an informer did (initial list and relists after 410 Gone or errors).",
            ("resource",),
            registry=r,
        )
        self.informer_watches = Counter(
            "informer_watches",
            "Number of WATCH requests an informer started.",
            ("resource",),
            registry=r,
        )
        self.informer_watch_errors = Counter(
            "informer_watch_errors",
            "Number of watches that ended in an error, partitioned by reason.",
            ("resource", "reason"),
            registry=r,
        )
        self.informer_events = Counter(
            "informer_events",
            "Number of events an informer delivered to its store, partitioned by type.",
            ("resource", "type"),
            registry=r,
        )
        self.informer_objects = Gauge(
            "informer_objects", "Number of objects in an informer's store.", ("resource",), registry=r
        )

        # Event recorder.
        self.events_dropped = Counter(
            "event_recorder_dropped_events",
            "Events the recorder dropped because its queue was full or the API rejected them.",
            ("component",),
            registry=r,
        )
