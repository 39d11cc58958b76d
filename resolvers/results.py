"""What resolvers answer: storage records, with what the schema needs to show them.

Resolvers know nothing of GraphQL types; the schema wraps these (``Job.from_read``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.records import ItemRecord, JobRecord, LogLineRecord, TailText


@dataclass(frozen=True, slots=True)
class JobRead:
    """A job to show: its record, how many log lines ``logTail`` shows, and its items and tail
    when they were read with it (None: the schema's loaders fetch them if asked). A tail is
    only ever read with the job for a key with the ``read`` scope."""

    record: JobRecord
    tail: int
    items: list[ItemRecord] | None = None
    tail_text: TailText | None = None


@dataclass(frozen=True, slots=True)
class PageRead:
    """A page of jobs, each to show as a ``JobRead`` of its record, ``tail``, and its items and
    tail text from ``items`` and ``tails`` by job id; ``cursors``, one per job, when asked for.
    (One object for the page rather than one per job: a page is the hottest read there is.)"""

    jobs: list[JobRecord] = field(default_factory=list)
    tail: int = 0
    items: dict[str, list[ItemRecord]] | None = None
    tails: dict[str, TailText] | None = None
    cursors: list[str] | None = None
    has_next_page: bool = False
    has_previous_page: bool = False
    start_cursor: str | None = None
    end_cursor: str | None = None
    total_count: int = 0


@dataclass(frozen=True, slots=True)
class LogBatchRecord:
    """One jobLogBatches message: the lines since the previous one, and the last one's seq."""

    lines: list[LogLineRecord]
    last_seq: int
