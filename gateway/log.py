"""structlog set-up: one JSON event per line on stdout, which journald keeps as is.

Context (queue_id, unit, receive_no) is bound once per letter with bind_contextvars,
so every event of that letter carries it without repeating arguments.
"""
from __future__ import annotations

import logging
import sys

import structlog


def setup_logging(level: str = "info", fmt: str = "json", process: str = "main") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            # An exception becomes a structured field beside the event's context,
            # never a bare traceback without the letter it belongs to. No local
            # variables: they would carry letter content (classified ones included).
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False, max_frames=20)
            ),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(process=process)
    # Libraries that use stdlib logging (aiosmtpd, sqlalchemy) go to stderr, warnings only.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)
