"""Scraping a ``/metrics`` endpoint and reading its samples."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
"""Sample name -> sorted label pairs -> value."""


async def scrape(http: aiohttp.ClientSession, url: str) -> str:
    """The text of one scrape of ``url``."""
    async with http.get(url) as resp:
        assert resp.status == 200, f"{url}: HTTP {resp.status}"
        return await resp.text()


def samples(text: str, prefix: str = "") -> Samples:
    """Every sample of ``text`` whose name starts with ``prefix``."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith(prefix):
                out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out
