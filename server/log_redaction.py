"""No piece of a key in any log line: the net under "nothing logs a key".

jobgraph never logs headers, bodies or frames itself, but libraries do at debug level: the
websockets library (through uvicorn's ``uvicorn.error`` logger) writes every frame, elided to
its first and last characters — so a ``connection_init`` frame shows the end of a key with no
``jg_`` before it. Every record is rewritten before any handler sees it:

- a WebSocket frame's payload is dropped (its type, size and close code stay): frames carry
  keys, documents and variables, none of which jobgraph logs;
- ``jg_`` and whatever key characters follow, however few (a truncated key too), becomes
  ``jg_[REDACTED]``;
- the value after a key's field or header name (``X-API-Key``, ``apiKey``, ``api_key`` …, as
  JSON, a header line or a header tuple) becomes ``[REDACTED]``, whatever it looks like;
- webhook signing secrets (``whsec_…``) become ``whsec_[REDACTED]``.

``install()`` puts this in the log record factory, so it holds for every logger and every
handler, however logging was configured (``app.py serve``'s config, ``uvicorn app:app
--log-level debug``, a test's); ``RedactingFilter`` does the same on the handlers of
``log_config``, for records made before the app was built.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[REDACTED]"
_KEY = re.compile(r"jg_[A-Za-z0-9_\-]*")
_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=_\-]*")
# A key's field or header name, its separator (JSON, a header line, a (name, value) tuple of
# bytes), and the value up to where a value ends.
_FIELD = re.compile(
    r"""((?:x[-_]?)?api[-_]?key)(["']?\s*[:=,]\s*b?["']?)([^"'\s,;}\])]*)""", re.IGNORECASE
)
# A websockets frame, as its debug log shows it: "< TEXT '...' [75 bytes]", "> CLOSE 4401
# (private use) API key revoked [17 bytes]" (a close frame's code stays, its reason goes).
_FRAME = re.compile(r"([<>] (?:TEXT|BINARY|CONT|PING|PONG|CLOSE))( \d{4} \([a-z ]+\))?")
# Anything above, found in one pass: most records have none and cost only this search.
_TRIGGER = re.compile(
    r"jg_|whsec_|api[-_]?key|^[<>] (?:TEXT|BINARY|CONT|PING|PONG|CLOSE)", re.IGNORECASE
)
_MARK = "_jobgraph_redacted"


def redact(text: str) -> str:
    """``text`` with every key, key-bearing field value, secret and frame payload removed.

    >>> redact('< TEXT "{...ad":{"apiKey":"jg_...xyz"}}" [99 bytes]')
    '< TEXT [payload not logged] [99 bytes]'
    >>> redact('{"X-API-Key": "jg_AbCd"} and jg_Ef and x-api-key: hunter2')
    '{"X-API-Key": "[REDACTED]"} and jg_[REDACTED] and x-api-key: [REDACTED]'
    """
    if not _TRIGGER.search(text):
        return text
    frame = _FRAME.match(text)
    if frame is not None:
        # The frame's size is the bracket at the end; its payload is everything between.
        size = text[text.rfind(" [") :] if text.endswith("]") else ""
        return f"{frame.group(1)}{frame.group(2) or ''} [payload not logged]{size}"
    text = _FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _KEY.sub(f"jg_{REDACTED}", text)
    return _SECRET.sub(f"whsec_{REDACTED}", text)


def redact_record(record: logging.LogRecord) -> None:
    """Rewrite a record in place: its message (arguments merged in) and its traceback text."""
    if getattr(record, _MARK, False):
        return
    setattr(record, _MARK, True)
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it when it formats
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """For a handler: lets every record through, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = False


def install() -> None:
    """Redact every log record of this process as it is made (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_factory)
