"""Structured logs: one JSON object a line, with the request id and GraphQL operation name.

``log_config(settings)`` is the ``logging.config.dictConfig`` that ``app.py serve`` hands to
uvicorn (every worker applies it). ``JOBGRAPH_LOG_FORMAT=json|text``; the default is JSON in
production and readable text otherwise.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

import orjson

from server.log_redaction import RedactingFilter, redact
from server.request_context import current_request
from settings import Settings
from telemetry import tracing

# Fields a record may carry through ``extra=`` that the JSON line keeps.
_EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "client", "operation_type", "outcome")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", "operation", "trace_id",
    "span_id", ...}`` per line (the trace ids when tracing is on and a span is current)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": os.getpid(),
        }
        info = current_request.get()
        if info is not None:
            line["request_id"] = info.request_id
            if info.operation is not None:
                line["operation"] = info.operation
        if tracing.provider() is not None:
            ids = tracing.current_ids()
            if ids is not None:
                line["trace_id"], line["span_id"] = ids
        for name in _EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        info = current_request.get()
        if info is not None:
            suffix = f" [{info.request_id}" + (f" {info.operation}]" if info.operation else "]")
            text += suffix
        duration = record.__dict__.get("duration_ms")
        if duration is not None:
            text += f" {duration}ms"
        return redact(text)


def log_format(settings: Settings) -> str:
    if settings.log_format is not None:
        return settings.log_format
    return "json" if settings.is_production else "text"


def log_config(settings: Settings, *, access_log: bool = True) -> dict[str, Any]:
    formatter = JsonFormatter if log_format(settings) == "json" else TextFormatter
    level = settings.log_level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
        # Every record, from any logger, at any level: no piece of a key (server.log_redaction).
        "filters": ["redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact": {"()": f"{RedactingFilter.__module__}.{RedactingFilter.__qualname__}"}
        },
        "formatters": {"default": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"default": handler},
        "loggers": {
            "jobgraph": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            # One line per request; off (``--no-access-log``) it costs nothing per request.
            "jobgraph.access": {
                "handlers": ["default"],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
            # Our middleware writes the access log (with request id and duration) instead.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
