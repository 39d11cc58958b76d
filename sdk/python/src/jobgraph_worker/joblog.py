"""A job's log as a processor sees it: ``log("msg")``, ``log.warning("msg")``; sent in batches.

Lines are appended with ``appendLogs(afterSeq:)``: each batch names the seq it follows, and a
batch stays the same until the server has acknowledged it. When an answer is lost (the server
restarted after appending), the same batch is sent again after the same seq, and the server
recognises it — the log already ends with it — and appends nothing. So a line is stored once,
whatever fails in between, and never out of order.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from jobgraph_worker.client import Deadline, GraphQLClient

APPEND = """mutation($j: ID!, $w: String!, $lines: [LogLineInput!]!, $after: Int) {
  appendLogs(jobId: $j, workerId: $w, lines: $lines, afterSeq: $after) }"""

_LEVEL = re.compile(r"[A-Za-z]{1,16}")
# jobgraph's default JOBGRAPH_MAX_LOG_MESSAGE_BYTES: a longer line would refuse its whole batch.
MAX_MESSAGE_BYTES = 16_384
_CUT = " … [truncated]"

echo = logging.getLogger("jobgraph_worker.job")
"""Every line a processor logs, also written here at DEBUG (``jobgraph-worker --verbose``)."""


def fit(text: str, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    """``text`` as jobgraph accepts it: no NUL characters, at most ``max_bytes`` of UTF-8.

    >>> fit("a\\x00b")
    'a\\ufffdb'
    >>> fit("x" * 50, 30)
    'xxxxxxxxxxxxxx … [truncated]'
    >>> fit("é" * 10, 12)  # never half a character
    'éééééé'
    """
    text = text.replace("\x00", "\ufffd")
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    mark = _CUT.encode()
    if max_bytes <= len(mark):
        return data[:max_bytes].decode("utf-8", "ignore")
    return data[: max_bytes - len(mark)].decode("utf-8", "ignore") + _CUT


class LogLevels:
    """``log.info(...)``, ``log.warning(...)``… for any ``log(message, level)`` callable."""

    def __call__(self, message: str, level: str = "INFO") -> None:
        raise NotImplementedError

    def debug(self, message: str) -> None:
        self(message, "DEBUG")

    def info(self, message: str) -> None:
        self(message, "INFO")

    def warning(self, message: str) -> None:
        self(message, "WARNING")

    def error(self, message: str) -> None:
        self(message, "ERROR")


class JobLog(LogLevels):
    """The ``log`` a processor gets. Calling it only queues the line (with the time of the
    call), so it is cheap and safe from any thread; the worker sends queued lines every
    ``log_flush_seconds``, before it reports an item, and before it ends the job.

    ``level`` is 1 to 16 letters (``INFO`` when omitted; stored upper-case). A message longer
    than the server accepts is cut, with a ``[truncated]`` mark.
    """

    def __init__(
        self,
        client: GraphQLClient,
        job_id: str,
        worker_id: str,
        *,
        last_seq: int,
        batch: int = 500,
        deadline: Deadline | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self._client, self._job_id, self._worker_id = client, job_id, worker_id
        self._batch, self._deadline, self._max_bytes = batch, deadline, max_message_bytes
        self._last_seq = last_seq
        self._queued: deque[dict[str, str]] = deque()
        self._in_flight: list[dict[str, str]] | None = None
        self._queue_lock = threading.Lock()  # a sync processor logs from its own thread
        self._send_lock = asyncio.Lock()  # one batch at a time keeps seqs in logging order

    def __call__(self, message: str, level: str = "INFO") -> None:
        if not isinstance(level, str) or not _LEVEL.fullmatch(level):
            raise ValueError(f"a log level is 1 to 16 letters, not {level!r}")
        message = fit(str(message), self._max_bytes)
        echo.debug("[%s] %s %s", self._job_id[:8], level.upper(), message)
        line = {"message": message, "level": level, "timestamp": datetime.now(UTC).isoformat()}
        with self._queue_lock:
            self._queued.append(line)

    @property
    def last_seq(self) -> int:
        """The seq of the last line the server acknowledged."""
        return self._last_seq

    @property
    def unsent(self) -> int:
        """Lines logged and not yet acknowledged."""
        with self._queue_lock:
            return len(self._queued) + len(self._in_flight or ())

    async def flush(self) -> None:
        """Send every queued line; returns once the server has acknowledged them all."""
        async with self._send_lock:
            while True:
                if self._in_flight is None:
                    with self._queue_lock:
                        take = min(self._batch, len(self._queued))
                        if take == 0:
                            return
                        self._in_flight = [self._queued.popleft() for _ in range(take)]
                # A batch whose answer never came (an error, a cancelled flush) is sent again
                # unchanged after the same seq: that is what lets the server recognise it.
                variables: dict[str, Any] = {
                    "j": self._job_id,
                    "w": self._worker_id,
                    "lines": self._in_flight,
                    "after": self._last_seq,
                }
                data = await self._client.execute(APPEND, variables, deadline=self._deadline)
                self._last_seq = int(data["appendLogs"])
                self._in_flight = None

    def drop_unsent(self) -> int:
        """Forget unsent lines (the server refuses them: the job was cancelled or lost)."""
        with self._queue_lock:
            dropped = len(self._queued) + len(self._in_flight or ())
            self._queued.clear()
            self._in_flight = None
        return dropped
