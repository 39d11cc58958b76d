"""The root Query type: one-line fields that delegate to ``resolvers``."""

from __future__ import annotations

import strawberry

from engine.fields import fast
from resolvers import jobs as job_resolvers
from resolvers import listing as listing_resolvers
from schema.listing import JobConnection, JobFilter
from schema.lookahead import selected_names
from schema.types import ApiKeyInfo, Info, Job


@strawberry.type
class Query:
    @strawberry.field(
        description="A job by id, with the last `tail` log lines in logTail.", metadata=fast()
    )
    async def job(self, info: Info, id: strawberry.ID, tail: int | None = None) -> Job | None:
        read = await job_resolvers.job(
            info.context, id=id, tail=tail, selected=selected_names(info)
        )
        return Job.from_read(read)

    @strawberry.field(
        description="The caller's jobs, newest first, a page at a time (`first` at most 100); "
        "`tail` works as in job(id, tail).",
        metadata=fast(),
    )
    async def jobs(
        self,
        info: Info,
        filter: JobFilter | None = None,
        first: int = 20,
        after: str | None = None,
        tail: int | None = None,
    ) -> JobConnection:
        page = await listing_resolvers.jobs(
            info.context,
            filter=filter,
            first=first,
            after=after,
            tail=tail,
            selected=selected_names(info),
            edge_selected=selected_names(info, ("edges",)),
            node_selected=selected_names(info, ("edges", "node")),
        )
        return JobConnection.from_read(page)

    @strawberry.field(description="The calling API key's name, tenant and scopes.")
    def me(self, info: Info) -> ApiKeyInfo:
        principal = info.context.require()
        return ApiKeyInfo(
            name=principal.name,
            tenant=principal.tenant,
            scopes=sorted(scope.value for scope in principal.scopes),
        )
