"""The worker SDK outlives its server: jobgraph is killed (SIGKILL) twice while a worker is in
the middle of a job and started again on the same port and database. The job still completes
on its first attempt, and every line the processor logged is stored exactly once, in order."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import httpx
import pytest
from jobgraph_worker import Backoff, JobLog, Worker, WorkItem

from tests.sdk_support import CODES, Api, LogFigures, Server, tenant_keys

pytestmark = pytest.mark.e2e

LINES_PER_ITEM = 40


async def test_server_killed_and_restarted_mid_job(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jobgraph_worker")
    keys = await tenant_keys(database_url, "restart")
    with Server(database_url, tmp_path) as server:
        await asyncio.to_thread(server.start)
        async with httpx.AsyncClient(timeout=30) as http:
            api = Api(http, server.graphql, keys.client)
            job_id = await api.create(CODES)
            appended: list[str] = []

            async def process(item: WorkItem, log: JobLog) -> None:
                for n in range(LINES_PER_ITEM):
                    message = f"item {item.position} line {n}"
                    log.info(message)
                    appended.append(message)
                    await asyncio.sleep(0.02)

            worker = Worker(
                server.graphql,
                keys.work,
                process,
                worker_id="restart-test",
                lease_seconds=30,
                heartbeat_seconds=0.5,
                log_flush_seconds=0.05,
                log_batch=7,  # many small batches: a kill is likely to cut one in flight
                backoff=Backoff(first=0.05, most=1.0),
                handle_signals=False,
            )
            running = asyncio.create_task(worker.run(until_idle=True))
            outages = []
            for share in (0.3, 0.65):
                while len(appended) < share * LINES_PER_ITEM * len(CODES):
                    assert not running.done(), running
                    await asyncio.sleep(0.01)
                killed = time.monotonic()
                server.kill()
                await asyncio.sleep(1.0)  # the worker goes on processing and logging meanwhile
                await asyncio.to_thread(server.start)
                outages.append(time.monotonic() - killed)
            assert await asyncio.wait_for(running, 120) == 1

            job = await api.job(job_id)
            stored = await api.lines(job_id)
    figures = LogFigures.of(appended, stored)
    backend = database_url.split(":", 1)[0]
    print(
        f"\nrestart test ({backend}): server killed twice (outages "
        f"{', '.join(f'{seconds:.1f} s' for seconds in outages)}); {figures}"
    )
    assert job["status"] == "COMPLETED" and job["progress"] == 100, job
    # The lease held through both outages: no requeue, the same worker all along.
    assert job["attempt"] == 1 and job["workerId"] == "restart-test"
    assert [item["status"] for item in job["items"]] == ["COMPLETED"] * len(CODES)
    assert len(appended) == LINES_PER_ITEM * len(CODES)
    assert (figures.duplicates, figures.gaps) == (0, 0), figures
    assert figures.stored == figures.appended == job["logLineCount"]
    assert [line["message"] for line in stored] == appended  # and in the order logged
    assert [line["seq"] for line in stored] == list(range(1, len(appended) + 1))
    messages = [record.getMessage() for record in caplog.records]
    assert sum("does not answer" in message for message in messages) >= 2, messages
    assert sum("answers again" in message for message in messages) >= 2, messages
    assert server.starts == 3
    assert keys.work not in "\n".join(messages) and keys.work not in server.logs()
