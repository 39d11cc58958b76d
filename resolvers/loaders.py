"""Per-request DataLoaders, so a page of jobs costs a fixed number of queries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby

from strawberry.dataloader import DataLoader

from resolvers.budget import ResponseBudget
from storage.records import ItemCountsRecord, ItemRecord, TailText
from storage.store import Store
from storage.webhook_records import WebhookRecord

# (job id, tail length, the job's last seq as read): a tail ends at the last seq the answer
# shows in logLineCount.
TailKey = tuple[str, int, int]


class Loaders:
    """Created per request in ``get_context``: a cache must never outlive its request.
    ``budget``: the running operation's response budget, which tails are read within."""

    def __init__(self, store: Store, budget: Callable[[], ResponseBudget]) -> None:
        self._store = store
        self._budget = budget
        self.items = DataLoader[str, list[ItemRecord]](self._load_items)
        self.item_counts = DataLoader[str, ItemCountsRecord](self._load_item_counts)
        self.log_tails = DataLoader[TailKey, TailText](self._load_log_tails)
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

    async def _load_log_tails(self, keys: Sequence[TailKey]) -> list[TailText]:
        found: dict[TailKey, TailText] = {}
        budget = self._budget()
        # Requests in one batch nearly always share one limit and name each job once; each
        # group is one call, in which each job gets an equal share of what the budget has left.
        for limit, group in groupby(sorted(set(keys), key=_by_limit), key=lambda key: key[1]):
            rounds: list[dict[str, int]] = []
            for job_id, _, last_seq in group:
                free = next((ends for ends in rounds if job_id not in ends), None)
                if free is None:
                    rounds.append(free := {})
                free[job_id] = last_seq
            for ends in rounds:
                async with budget as allowance:
                    tails = await self._store.logs.tails(
                        ends=ends, limit=limit, allowance=allowance
                    )
                    budget.spend(
                        lines=sum(tail.lines for tail in tails.values()),
                        bytes=sum(tail.bytes for tail in tails.values()),
                    )
                found.update(
                    {(job_id, limit, last): tails[job_id] for job_id, last in ends.items()}
                )
        return [found[key] for key in keys]


def _by_limit(key: TailKey) -> tuple[int, str, int]:
    job_id, limit, last_seq = key
    return limit, job_id, last_seq
