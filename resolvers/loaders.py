"""Per-request DataLoaders, so a page of jobs costs a fixed number of queries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
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
    ``budget``: the running operation's response budget, which tails are read within.

    The loaders' functions hold the store and the budget, not this object: as its bound
    methods they would make every request's loaders a reference cycle, kept (with all they
    loaded) until the cyclic collector finds it."""

    def __init__(self, store: Store, budget: Callable[[], ResponseBudget]) -> None:
        self.items = DataLoader[str, list[ItemRecord]](partial(_load_items, store))
        self.item_counts = DataLoader[str, ItemCountsRecord](partial(_load_item_counts, store))
        self.log_tails = DataLoader[TailKey, TailText](partial(_load_log_tails, store, budget))
        self.webhooks = DataLoader[str, WebhookRecord | None](partial(_load_webhooks, store))


async def _load_items(store: Store, job_ids: Sequence[str]) -> list[list[ItemRecord]]:
    by_job = await store.jobs.get_items(job_ids=job_ids)
    return [by_job[job_id] for job_id in job_ids]


async def _load_item_counts(store: Store, job_ids: Sequence[str]) -> list[ItemCountsRecord]:
    by_job = await store.jobs.get_item_counts(job_ids=job_ids)
    return [by_job[job_id] for job_id in job_ids]


async def _load_webhooks(store: Store, job_ids: Sequence[str]) -> list[WebhookRecord | None]:
    found = await store.webhooks.get_webhooks(job_ids=job_ids)
    return [found.get(job_id) for job_id in job_ids]


async def _load_log_tails(
    store: Store, budget_of: Callable[[], ResponseBudget], keys: Sequence[TailKey]
) -> list[TailText]:
    found: dict[TailKey, TailText] = {}
    budget = budget_of()
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
                tails = await store.logs.tails(ends=ends, limit=limit, allowance=allowance)
                budget.spend(
                    lines=sum(tail.lines for tail in tails.values()),
                    bytes=sum(tail.bytes for tail in tails.values()),
                )
            found.update({(job_id, limit, last): tails[job_id] for job_id, last in ends.items()})
    return [found[key] for key in keys]


def _by_limit(key: TailKey) -> tuple[int, str, int]:
    job_id, limit, last_seq = key
    return limit, job_id, last_seq
