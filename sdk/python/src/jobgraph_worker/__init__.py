"""jobgraph's worker SDK: claim jobs, run ``process(item, log)`` on each video, report back.

::

    import asyncio
    from jobgraph_worker import JobLog, SkipItem, Worker, WorkItem

    async def process(item: WorkItem, log: JobLog) -> None:
        log.info(f"extracting {item.platform} {item.code}")
        ...                      # raise SkipItem("reason") to skip; any other error fails it

    asyncio.run(Worker("http://127.0.0.1:8000/graphql", "jg_...", process).run())

Or, without writing the loop: ``jobgraph-worker --verbose mymodule:process``.
"""

from __future__ import annotations

from jobgraph_worker._version import __version__
from jobgraph_worker.backoff import Backoff
from jobgraph_worker.client import GraphQLClient
from jobgraph_worker.errors import ServerUnreachable, SkipItem, WorkerError
from jobgraph_worker.items import Processor, WorkItem
from jobgraph_worker.joblog import JobLog, LogLevels
from jobgraph_worker.worker import Worker

__all__ = [
    "Backoff",
    "GraphQLClient",
    "JobLog",
    "LogLevels",
    "Processor",
    "ServerUnreachable",
    "SkipItem",
    "WorkItem",
    "Worker",
    "WorkerError",
    "__version__",
]
