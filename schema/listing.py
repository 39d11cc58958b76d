"""Relay-style connection types and the job filter for ``jobs(filter, first, after)``."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from resolvers.results import PageRead
from schema.enums import JobStatus, Platform
from schema.types import Job


@strawberry.input(description="Which jobs to list. Every given field must match.")
class JobFilter:
    statuses: list[JobStatus] | None = strawberry.field(
        default=None, description="Jobs in any of these states."
    )
    platform: Platform | None = strawberry.field(
        default=None, description="Jobs with at least one video on this platform."
    )
    created_after: datetime | None = strawberry.field(
        default=None, description="Created at or after this instant."
    )
    created_before: datetime | None = strawberry.field(
        default=None, description="Created strictly before this instant."
    )


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="True when the page was asked for with `after`."
    )
    start_cursor: str | None
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; stays valid while new jobs arrive."
    )


@strawberry.type
class JobEdge:
    cursor: str
    node: Job


@strawberry.type(description="A page of jobs, newest first.")
class JobConnection:
    edges: list[JobEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Jobs matching the filter, on every page.")

    @classmethod
    def from_read(cls, page: PageRead) -> Self:
        tail, items, tails = page.tail, page.items or {}, page.tails or {}
        cursors = page.cursors or [""] * len(page.jobs)
        return cls(
            edges=[
                JobEdge(
                    cursor=cursor,
                    node=Job(
                        record=record,
                        tail=tail,
                        prefetched_items=items.get(record.id),
                        prefetched_tail=tails.get(record.id),
                    ),
                )
                for cursor, record in zip(cursors, page.jobs, strict=True)
            ],
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.start_cursor,
                end_cursor=page.end_cursor,
            ),
            total_count=page.total_count,
        )
