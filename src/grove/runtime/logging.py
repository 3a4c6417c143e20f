"""structlog set-up: one JSON object per line in a cluster (no TTY), coloured console lines on a terminal.

Errors logged with an exception carry its traceback (as a list of frames in JSON, as text on a console) but
not the frames' local variables: structlog's defaults include them (``ExceptionDictTransformer`` and, when
``rich`` is installed, the console's rich tracebacks), which turns every reconcile error into the repr of the
controller, its caches and every object in scope.

Every line carries the context variables bound with ``structlog.contextvars``; the controller binds
``controller``, ``namespace``, ``name`` and ``reconcile_id`` around each reconcile, so any log call made
during a reconcile (in the reconciler or in libraries it calls) is attributed to the object reconciled.
Standard-library loggers (aiohttp, kubernetes_asyncio) go through the same renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", *, json: bool | None = None, stream: TextIO | None = None) -> None:
    """Configures structlog and the standard library's root logger.

    ``json`` None picks JSON when ``stream`` is not a TTY. Calling it again reconfigures (last call wins);
    call it once from the program's entry point, never from library code.
    """
    try:
        numeric = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"level: must be one of {sorted(_LEVELS)}, got {level!r}") from None
    out = stream if stream is not None else sys.stderr
    use_json = (not out.isatty()) if json is None else json

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any
    if use_json:
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_grove_runtime", False):
            root.removeHandler(old)
    handler._grove_runtime = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    # Chatty libraries: their debug output is not ours to show at our debug level.
    logging.getLogger("aiohttp.access").setLevel(max(numeric, logging.WARNING))
