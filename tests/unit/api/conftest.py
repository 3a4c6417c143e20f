"""Fixtures for the API unit tests."""

from __future__ import annotations

from typing import Any

import pytest
from api_samples import SAMPLE_NAMES, load_sample


@pytest.fixture(params=SAMPLE_NAMES)
def sample(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each tutorial sample in turn."""
    return load_sample(request.param)
