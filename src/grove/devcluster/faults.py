"""Fault injection for tests: drop watches, expire the next watch, fail or slow down API requests.

Everything is off by default. Request faults apply to resource requests (``/api/v1/...``,
``/apis/...`` below a group version) but never to discovery, OpenAPI or health endpoints, so kubectl and
clients can still find their way while requests fail.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import structlog

from grove.devcluster import errors
from grove.devcluster.errors import ApiError
from grove.devcluster.store import Store

log = structlog.get_logger("grove.devcluster.faults")


@dataclass
class Faults:
    """Fault switches of one dev cluster (call on its event loop, or through the thread-safe handle)."""

    store: Store
    error_rate: float = 0.0
    error_code: int = 500
    latency: float = 0.0
    include_watches: bool = False
    _rng: random.Random = field(default_factory=random.Random)

    def drop_watches(self) -> int:
        """End every open watch now; clients see their streams close. Returns how many were open."""
        n = self.store.close_all_watches()
        log.info("faults.watches_dropped", count=n)
        return n

    def expire_next_watch(self) -> None:
        """The next watch started from a resourceVersion fails with 410 Gone (reason Expired)."""
        self.store.expire_next_watch()
        log.info("faults.next_watch_expires")

    def fail_requests(self, fraction: float, code: int = 500, *, include_watches: bool = False) -> None:
        """Fail ``fraction`` (0..1) of resource requests with ``code`` (500 or 429)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within [0, 1], got {fraction}")
        if code not in (500, 429, 503):
            raise ValueError(f"code must be 500, 429 or 503, got {code}")
        self.error_rate = fraction
        self.error_code = code
        self.include_watches = include_watches
        log.info("faults.fail_requests", fraction=fraction, code=code)

    def add_latency(self, seconds: float) -> None:
        """Delay every resource request by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"latency must be >= 0, got {seconds}")
        self.latency = seconds
        log.info("faults.latency", seconds=seconds)

    def reset(self) -> None:
        """Turn every request fault off."""
        self.error_rate = 0.0
        self.error_code = 500
        self.latency = 0.0
        self.include_watches = False

    def injected_error(self, is_watch: bool) -> ApiError | None:
        """The error to answer the current request with, if one is due."""
        if self.error_rate <= 0.0 or (is_watch and not self.include_watches):
            return None
        if self._rng.random() >= self.error_rate:
            return None
        if self.error_code == 429:
            return errors.too_many_requests()
        if self.error_code == 503:
            return ApiError(
                503, "ServiceUnavailable", "the server is currently unable to handle the request (injected)"
            )
        return errors.internal_error("injected fault")
