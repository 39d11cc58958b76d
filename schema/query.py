"""The root Query type: one-line fields that delegate to ``resolvers``."""

from __future__ import annotations

import strawberry

from resolvers import jobs as job_resolvers
from resolvers import listing as listing_resolvers
from resolvers.lookahead import selected_names
from schema.listing import JobConnection, JobFilter
from schema.types import ApiKeyInfo, Info, Job


@strawberry.type
class Query:
    @strawberry.field(description="A job by id, with the last `tail` log lines in logTail.")
    async def job(self, info: Info, id: strawberry.ID, tail: int | None = None) -> Job | None:
        selected = selected_names(info._raw_info)
        return await job_resolvers.job(info.context, id=id, tail=tail, selected=selected)

    @strawberry.field(
        description="The caller's jobs, newest first, a page at a time (`first` at most 100); "
        "`tail` works as in job(id, tail)."
    )
    async def jobs(
        self,
        info: Info,
        filter: JobFilter | None = None,
        first: int = 20,
        after: str | None = None,
        tail: int | None = None,
    ) -> JobConnection:
        return await listing_resolvers.jobs(
            info.context,
            filter=filter,
            first=first,
            after=after,
            tail=tail,
            selected=selected_names(info._raw_info),
            edge_selected=selected_names(info._raw_info, ("edges",)),
            node_selected=selected_names(info._raw_info, ("edges", "node")),
        )

    @strawberry.field(description="The calling API key's name, tenant and scopes.")
    def me(self, info: Info) -> ApiKeyInfo:
        principal = info.context.require()
        return ApiKeyInfo(
            name=principal.name,
            tenant=principal.tenant,
            scopes=sorted(scope.value for scope in principal.scopes),
        )
