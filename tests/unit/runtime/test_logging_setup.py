"""Logging set-up: JSON lines with the reconcile context, console otherwise, stdlib loggers included."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from grove.runtime.logging import configure_logging


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_grove_runtime", False):
            root.removeHandler(h)


def test_json_lines_carry_context_variables() -> None:
    out = io.StringIO()
    configure_logging("info", json=True, stream=out)
    log = structlog.get_logger("t")
    with structlog.contextvars.bound_contextvars(controller="c1", namespace="ns", name="a"):
        log.info("pod.created", pod="p-1")
    log.debug("hidden")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "pod.created"
    assert line["pod"] == "p-1"
    assert (line["controller"], line["namespace"], line["name"]) == ("c1", "ns", "a")
    assert line["level"] == "info"
    assert "timestamp" in line


def test_stdlib_loggers_and_exceptions_are_rendered_as_json() -> None:
    out = io.StringIO()
    configure_logging("info", json=True, stream=out)
    logging.getLogger("somelib").warning("plain %s", "message")
    try:
        raise ValueError("bad")
    except ValueError:
        structlog.get_logger("t").exception("failed")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["event"] == "plain message"
    assert lines[0]["level"] == "warning"
    assert lines[1]["exception"][0]["exc_type"] == "ValueError"


def test_console_when_not_json_and_bad_level() -> None:
    out = io.StringIO()
    configure_logging("debug", json=False, stream=out)
    structlog.get_logger("t").debug("hello", key="v")
    assert "hello" in out.getvalue() and "key=v" in out.getvalue()
    with pytest.raises(ValueError, match="level"):
        configure_logging("loud")
