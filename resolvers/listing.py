"""The resolver of ``jobs(filter, first, after, tail)``: a keyset page of the caller's jobs."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from domain.cursors import JobCursor
from domain.errors import BadUserInput
from domain.jobs import JobStatus
from domain.principal import Scope
from domain.videos import Platform
from resolvers.arguments import resolve_tail
from resolvers.context import Context
from resolvers.results import PageRead
from storage.listing import JobListFilter
from storage.records import JobRecord, TailRequest


class JobFilterFields(Protocol):
    """Which jobs to list (GraphQL's ``JobFilter``)."""

    @property
    def statuses(self) -> list[JobStatus] | None: ...

    @property
    def platform(self) -> Platform | None: ...

    @property
    def created_after(self) -> datetime | None: ...

    @property
    def created_before(self) -> datetime | None: ...


async def jobs(
    context: Context,
    *,
    filter: JobFilterFields | None,
    first: int,
    after: str | None,
    tail: int | None,
    selected: Collection[str] = ("totalCount", "pageInfo"),
    edge_selected: Collection[str] = ("cursor",),
    node_selected: Collection[str] = (),
) -> PageRead:
    """``selected``: the connection fields the query asks for; ``edge_selected`` and
    ``node_selected``: the fields under ``edges`` and ``edges { node }``. Items and log
    tails asked for there are read with the page (resolvers.lookahead); the total only when
    ``totalCount`` is selected; cursors only where they are shown."""
    principal = context.require(Scope.READ)
    cap = context.settings.max_page_size
    if not 1 <= first <= cap:
        raise BadUserInput(f"first must be between 1 and {cap}; got {first}")
    limit = resolve_tail(tail, cap=context.settings.max_tail)
    cursor = JobCursor.decode(after) if after is not None else None
    spec = JobListFilter(tenant=principal.tenant_filter)
    if filter is not None:
        if (
            filter.created_after is not None
            and filter.created_before is not None
            and filter.created_after >= filter.created_before
        ):
            raise BadUserInput("createdAfter must be earlier than createdBefore")
        for name, value in (
            ("createdAfter", filter.created_after),
            ("createdBefore", filter.created_before),
        ):
            if value is not None and value.tzinfo is None:
                raise BadUserInput(f"{name} needs a time zone (e.g. 2025-01-01T00:00:00Z)")
        spec = JobListFilter(
            tenant=principal.tenant_filter,
            statuses=tuple(filter.statuses or ()),
            platform=filter.platform,
            created_after=filter.created_after,
            created_before=filter.created_before,
        )
    listing = context.store.listing
    count, items_selected = "totalCount" in selected, "items" in node_selected
    if "logTail" in node_selected or "logTailTruncated" in node_selected:
        # Each job's tail gets an equal share of what the response budget has left.
        budget = context.budget
        async with budget as allowance:
            page = await listing.job_page(
                spec=spec,
                first=first,
                after=cursor,
                count=count,
                items=items_selected,
                tail=TailRequest(limit, allowance),
            )
            spent = (page.tails or {}).values()
            budget.spend(
                lines=sum(tail.lines for tail in spent), bytes=sum(tail.bytes for tail in spent)
            )
    else:
        page = await listing.job_page(
            spec=spec, first=first, after=cursor, count=count, items=items_selected
        )
    # Not selected: never shown, so not encoded.
    cursors = "cursor" in edge_selected
    ends = "pageInfo" in selected and bool(page.jobs)
    return PageRead(
        jobs=page.jobs,
        tail=limit,
        items=page.items,
        tails=page.tails,
        cursors=[_cursor(record) for record in page.jobs] if cursors else None,
        has_next_page=page.has_next_page,
        has_previous_page=cursor is not None,
        # Not selected: never shown, so not encoded.
        start_cursor=_cursor(page.jobs[0]) if ends else None,
        end_cursor=_cursor(page.jobs[-1]) if ends else None,
        # Not selected: never shown, so the scan behind it was skipped.
        total_count=page.total_count if page.total_count is not None else 0,
    )


def _cursor(record: JobRecord) -> str:
    return JobCursor(created_at=record.created_at, id=record.id).encode()
