"""The resolver of ``Job.logs(after, first, before, last)``: a page of log lines by seq.

It imports no schema type, so ``schema.types`` can call it without an import cycle.
"""

from __future__ import annotations

from domain.errors import BadUserInput
from domain.principal import Scope
from resolvers.context import Context
from storage.listing import LogPageRecord
from storage.records import JobRecord

DEFAULT_LOG_PAGE = 100


async def logs(
    context: Context,
    *,
    job: JobRecord,
    after: int | None,
    first: int | None,
    before: int | None,
    last: int | None,
) -> LogPageRecord:
    """Forward with ``first`` (from ``after``), backward with ``last`` (up to ``before``).

    Without ``first`` or ``last``: forward from ``after`` unless only ``before`` is given.
    FORBIDDEN without ``read``, wherever the job came from (a mutation's answer too). A page
    stops early, with ``hasMore``, where the response budget runs out.
    """
    context.require(Scope.READ)
    if first is not None and last is not None:
        raise BadUserInput("give first or last, not both")
    cap = context.settings.max_tail
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 1 <= size <= cap:
            raise BadUserInput(f"{name} must be between 1 and {cap}; got {size}")
    for name, seq in (("after", after), ("before", before)):
        if seq is not None and seq < 0:
            raise BadUserInput(f"{name} must not be negative")
    if after is not None and before is not None and after >= before:
        raise BadUserInput("after must be smaller than before")
    backward = last is not None or (first is None and before is not None and after is None)
    limit = (last if backward else first) or DEFAULT_LOG_PAGE
    if job.last_seq == 0:
        return LogPageRecord()
    budget = context.budget
    async with budget as allowance:
        page = await context.store.listing.log_page(
            job_id=job.id,
            after=after,
            before=before,
            limit=limit,
            backward=backward,
            allowance=allowance,
            last_seq=job.last_seq,
        )
        budget.spend(lines=len(page.lines), bytes=page.bytes)
    return page
