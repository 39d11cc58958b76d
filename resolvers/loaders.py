"""Per-request DataLoaders, so a page of jobs costs a fixed number of queries."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from strawberry.dataloader import DataLoader

from storage.records import ItemCountsRecord, ItemRecord
from storage.store import Store
from storage.webhook_records import WebhookRecord

TailKey = tuple[str, int]


class Loaders:
    """Created per request in ``get_context``: a cache must never outlive its request."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.items = DataLoader[str, list[ItemRecord]](self._load_items)
        self.item_counts = DataLoader[str, ItemCountsRecord](self._load_item_counts)
        self.log_tails = DataLoader[TailKey, str](self._load_log_tails)
        self.webhooks = DataLoader[str, WebhookRecord | None](self._load_webhooks)

    async def _load_items(self, job_ids: Sequence[str]) -> list[list[ItemRecord]]:
        by_job = await self._store.jobs.get_items(job_ids=job_ids)
        return [by_job[job_id] for job_id in job_ids]

    async def _load_item_counts(self, job_ids: Sequence[str]) -> list[ItemCountsRecord]:
        by_job = await self._store.jobs.get_item_counts(job_ids=job_ids)
        return [by_job[job_id] for job_id in job_ids]

    async def _load_webhooks(self, job_ids: Sequence[str]) -> list[WebhookRecord | None]:
        found = await self._store.webhooks.get_webhooks(job_ids=job_ids)
        return [found.get(job_id) for job_id in job_ids]

    async def _load_log_tails(self, keys: Sequence[TailKey]) -> list[str]:
        found: dict[TailKey, str] = {}
        # Requests in one batch nearly always share one limit; group so each group is one call.
        for limit, group in groupby(sorted(set(keys), key=lambda key: key[1]), key=lambda k: k[1]):
            job_ids = [job_id for job_id, _ in group]
            tails = await self._store.logs.tail_texts(job_ids=job_ids, limit=limit)
            found.update({(job_id, limit): tails[job_id] for job_id in job_ids})
        return [found[key] for key in keys]
