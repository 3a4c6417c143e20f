"""Fixtures for the runtime integration tests: fast informer options (``client`` is the root one)."""

from __future__ import annotations

import pytest
from runtime_it_helpers import FAST

from grove.runtime.informer import InformerOptions


@pytest.fixture
def fast_options() -> InformerOptions:
    """Informer options with short backoffs."""
    return FAST
