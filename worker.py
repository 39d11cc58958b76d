"""jobgraph's worker, from the installable SDK in ``sdk/python`` (package ``jobgraph_worker``).

``from worker import Worker, WorkItem, JobLog, SkipItem`` keeps working in this repository;
elsewhere, ``pip install ./sdk/python`` and import ``jobgraph_worker``. ``python worker.py
MODULE:FUNCTION`` is the ``jobgraph-worker`` command.
"""

from __future__ import annotations

from jobgraph_worker import (
    Backoff,
    GraphQLClient,
    JobLog,
    LogLevels,
    Processor,
    ServerUnreachable,
    SkipItem,
    Worker,
    WorkerError,
    WorkItem,
)
from jobgraph_worker.cli import main

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
]

if __name__ == "__main__":
    raise SystemExit(main())
