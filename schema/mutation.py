"""The root Mutation type: one-line fields that delegate to ``resolvers``."""

from __future__ import annotations

import strawberry

from resolvers import jobs as job_resolvers
from schema.inputs import CreateJobInput
from schema.types import Info, Job


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Submit a job of 1 to 1000 videos.")
    async def create_job(self, info: Info, input: CreateJobInput) -> Job:
        return await job_resolvers.create_job(info.context, input=input)
