"""The admission webhook's series exist from the start at 0, for every webhook and verdict (as
controller-runtime creates codes 200 and 500): ``rate()`` needs a sample before the first increment, so the
first error of a webhook counts in the webhook-errors alert, and a webhook nothing called yet is on the
dashboard."""

from __future__ import annotations

from typing import Any

import aiohttp
from observability_helpers import samples, scrape

from grove.webhook.server import (
    DEFAULT_PODCLIQUESET_PATH,
    VALIDATE_CLUSTERTOPOLOGY_PATH,
    VALIDATE_PODCLIQUESET_PATH,
)

WEBHOOKS = (DEFAULT_PODCLIQUESET_PATH, VALIDATE_PODCLIQUESET_PATH, VALIDATE_CLUSTERTOPOLOGY_PATH)


def _key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


async def test_every_webhook_series_starts_at_zero(grove: Any, http: aiohttp.ClientSession) -> None:
    exported = samples(await scrape(http, grove.metrics_url))
    verdicts = exported["grove_webhook_admission_responses_total"]
    assert verdicts == {
        _key(webhook=w, result=r): 0.0 for w in WEBHOOKS for r in ("allowed", "denied", "error")
    }
    requests = exported["controller_runtime_webhook_requests_total"]
    assert requests == {_key(webhook=w, code=c): 0.0 for w in WEBHOOKS for c in ("200", "500")}
    in_flight = exported["controller_runtime_webhook_requests_in_flight"]
    assert in_flight == {_key(webhook=w): 0.0 for w in WEBHOOKS}

    # The first unreadable request: its webhook's error series goes from 0 to 1, nothing else moves.
    async with http.post(grove.webhook_url + VALIDATE_CLUSTERTOPOLOGY_PATH, json={}, ssl=False) as resp:
        assert resp.status == 200
    after = samples(await scrape(http, grove.metrics_url))["grove_webhook_admission_responses_total"]
    assert {k: v for k, v in after.items() if v} == {
        _key(webhook=VALIDATE_CLUSTERTOPOLOGY_PATH, result="error"): 1.0
    }
    assert set(after) == set(verdicts)
