"""GraphQL enums: the domain's own enums, registered with Strawberry under the contract's names."""

from __future__ import annotations

import strawberry

from domain.jobs import ItemStatus, JobStatus
from domain.videos import Platform

# strawberry.enum registers the class in place, so records and GraphQL types share one enum.
strawberry.enum(JobStatus, name="JobStatus")
strawberry.enum(ItemStatus, name="ItemStatus")
strawberry.enum(Platform, name="Platform")

__all__ = ["ItemStatus", "JobStatus", "Platform"]
