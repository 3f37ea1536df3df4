"""Structured logging (structlog): JSON lines in production, readable lines in a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


class _Stderr:
    """Whatever `sys.stderr` is at write time: a CLI run inside a test harness (or any caller
    that swaps stderr) must not leave loggers bound to a stream that is closed later."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR = _Stderr()


def configure_logging(level: str = "INFO", json: bool = True, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to stderr (or `stream`), as JSON lines or console lines."""
    out: Any = stream if stream is not None else _STDERR
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    handler: logging.StreamHandler[Any] = logging.StreamHandler(out)
    handler.set_name("bridge")
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    # Replace our own handler (configure may run again), keep others (e.g. a test's capture).
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "bridge"] + [handler]
    root.setLevel(numeric)
    # aiokafka logs expected transient states (coordinator not ready yet) at ERROR/WARNING.
    logging.getLogger("aiokafka").setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A structlog logger bound to a component name."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(component=name)
    return logger
