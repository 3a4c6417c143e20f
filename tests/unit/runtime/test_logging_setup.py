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


def _fail_with_locals() -> None:
    secret_local = "the-value-of-a-local-variable"
    raise RuntimeError(f"still broken ({len(secret_local)})")


@pytest.mark.parametrize("as_json", [True, False])
def test_error_logs_carry_the_traceback_without_local_variables(as_json: bool) -> None:
    out = io.StringIO()
    configure_logging("info", json=as_json, stream=out)
    try:
        _fail_with_locals()
    except RuntimeError as exc:
        structlog.get_logger("t").error("reconcile.error", error=str(exc), exc_info=exc)
    text = out.getvalue()
    # The value appears only in the local variable (its assignment is not a traceback line).
    assert "the-value-of-a-local-variable" not in text
    if as_json:
        [line] = [json.loads(x) for x in text.splitlines()]
        [exc] = line["exception"]
        assert exc["exc_type"] == "RuntimeError" and exc["exc_value"] == "still broken (29)"
        assert [f["name"] for f in exc["frames"]][-1] == "_fail_with_locals"
        assert all("locals" not in f for f in exc["frames"])
    else:
        assert "Traceback (most recent call last)" in text
        assert "in _fail_with_locals" in text and "RuntimeError: still broken (29)" in text
