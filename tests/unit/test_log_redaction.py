"""The log net (server.log_redaction): no piece of a key in any record, from any logger."""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import sys

import pytest
from websockets.frames import Close, Frame, Opcode

from server import log_redaction
from server.json_logs import JsonFormatter, TextFormatter
from server.log_redaction import RedactingFilter, redact

# Fixed, so that parallel workers collect the same test ids; as random as a real one.
KEY = "jg_" + base64.urlsafe_b64encode(random.Random(17).randbytes(32)).decode().rstrip("=")
SECRET = KEY.removeprefix("jg_")


def no_piece(text: str, size: int = 6) -> bool:
    return not any(SECRET[i : i + size] in text for i in range(len(SECRET) - size + 1))


@pytest.mark.parametrize("padding", [0, 40, 400, 4000])
@pytest.mark.parametrize("field", ["X-API-Key", "apiKey", "api_key"])
def test_a_frame_is_logged_without_its_payload(padding: int, field: str) -> None:
    # websockets elides a long frame to its start and end: the end of the key shows alone.
    init = {"type": "connection_init", "payload": {"pad": "x" * padding, field: KEY}}
    for opcode in (Opcode.TEXT, Opcode.BINARY):
        frame = Frame(opcode, json.dumps(init).encode())
        for direction in "<>":
            line = redact(f"{direction} {frame}")
            assert line.startswith(f"{direction} {opcode.name} [payload not logged] [")
            assert "bytes]" in line and no_piece(line)


def test_control_frames_keep_their_code_not_their_payload() -> None:
    close = Frame(Opcode.CLOSE, Close(4400, f"Unknown message type: {KEY}").serialize())
    assert redact(f"> {close}").startswith("> CLOSE 4400 (private use) [payload not logged] [")
    for opcode in (Opcode.PING, Opcode.PONG):
        assert no_piece(redact(f"< {Frame(opcode, KEY.encode())}"))


@pytest.mark.parametrize(
    "text",
    [
        f"key {KEY} in a message",
        f"truncated {KEY[:12]}",
        f"{KEY[:4]}",
        f'{{"X-API-Key": "{KEY}"}}',
        f'{{"apiKey":"{KEY[:20]}...',
        f"(b'x-api-key', b'{KEY}')",
        f"X-API-Key: {SECRET}",
        f"GET /graphql?apiKey={SECRET}&x=1",
        f"api_key={SECRET}",
        f"APIKEY = '{SECRET}'",
    ],
)
def test_keys_and_key_fields_are_redacted(text: str) -> None:
    clean = redact(text)
    assert no_piece(clean, size=3 if KEY[:4] == text else 6)
    assert "[REDACTED]" in clean


def test_lines_without_keys_are_left_alone() -> None:
    line = 'GET /status/{jobId} 200 {"jobs": 3} < not a frame'
    assert redact(line) is line


def test_every_logger_and_handler_gets_redacted_records() -> None:
    log_redaction.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("some.library.nobody.configured")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("< %s", Frame(Opcode.TEXT, f'{{"apiKey":"{KEY}"}}'.encode() * 20))
        logger.debug("params %r", {"X-API-Key": KEY})
        try:
            raise ValueError(f"bad key {KEY}")
        except ValueError:
            logger.exception("failed for %s", "apiKey=" + SECRET)
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "[payload not logged]" in written and "bad key jg_[REDACTED]" in written
    assert no_piece(written)


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_the_filter_and_formatters_redact_messages_extras_and_tracebacks(
    formatter: logging.Formatter,
) -> None:
    try:
        raise RuntimeError(f"with {KEY}")
    except RuntimeError:
        record = logging.LogRecord(
            "uvicorn.error", logging.DEBUG, __file__, 1, "> %s", (f"TEXT '{KEY}'",), None
        )
        record.exc_info = sys.exc_info()
    record.path = f"/status/{KEY}"
    assert RedactingFilter().filter(record)
    line = formatter.format(record)
    assert no_piece(line)
