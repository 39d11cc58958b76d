"""Stopping a worker cleanly: SIGTERM lets the current item finish, then the job goes back to
the queue for the items left; when the item outlives the grace time (or a second SIGTERM
comes) it is stopped and runs again on the next attempt; a cancelled job stops its item at
once and the worker goes on to the next job."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jobgraph_worker import Backoff, GraphQLClient, JobLog, Worker, WorkItem

from tests.sdk_support import (
    CANCEL,
    CODES,
    WORKER_COMMAND,
    Api,
    Keys,
    Served,
    make_keys,
    serve_sqlite,
    tenant_keys,
    wait_for,
)

pytestmark = pytest.mark.e2e

MARKING_PROCESSOR = '''
"""Marks each item's start and end in files, so a test sees what ran, and when."""
import asyncio
import os
from pathlib import Path

from jobgraph_worker import JobLog, WorkItem

MARKS = Path(os.environ["MARKS_DIR"])


async def process(item: WorkItem, log: JobLog) -> None:
    (MARKS / f"started-{item.position}-{item.attempt}").touch()
    log.info(f"attempt {item.attempt} item {item.position} started")
    await asyncio.sleep(float(os.environ["ITEM_SECONDS"]))
    log.info(f"attempt {item.attempt} item {item.position} finished")
    (MARKS / f"finished-{item.position}-{item.attempt}").touch()
'''


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_sqlite(
        tmp_path_factory.mktemp("sdk-stop"), env={"JOBGRAPH_SWEEP_INTERVAL_SECONDS": "0.2"}
    ) as served:
        yield served


class Run:
    """``jobgraph-worker marks:process`` in a directory of its own."""

    def __init__(self, served: Served, keys: Keys, tmp_path: Path) -> None:
        self.served, self.keys, self.dir = served, keys, tmp_path
        (tmp_path / "marks.py").write_text(textwrap.dedent(MARKING_PROCESSOR))
        self.marks = tmp_path / "marks"
        self.marks.mkdir()

    def start(self, *args: str, item_seconds: float) -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "JOBGRAPH_API_KEY": self.keys.work,
            "MARKS_DIR": str(self.marks),
            "ITEM_SECONDS": str(item_seconds),
        }
        command = [WORKER_COMMAND, "--url", self.served.graphql, "--lease-seconds", "3"]
        return subprocess.Popen(
            [*command, "--app-dir", str(self.dir), *args, "marks:process"],
            cwd=self.dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def marked(self, name: str) -> bool:
        return (self.marks / name).exists()

    def finish_the_job(self) -> str:
        """A second worker run (fast items) takes the requeued job and ends it."""
        worker = self.start("--until-idle", item_seconds=0)
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr
        return stderr


def job_of(served: Served, keys: Keys, job_id: str) -> dict[str, Any]:
    async def read() -> tuple[dict[str, Any], list[str]]:
        async with httpx.AsyncClient(timeout=30) as http:
            api = Api(http, served.graphql, keys.client)
            job = await api.job(job_id)
            return job, [line["message"] for line in await api.lines(job_id)]

    job, lines = asyncio.run(read())
    return {**job, "lines": lines}


def create_job(served: Served, keys: Keys, codes: list[str]) -> str:
    async def create() -> str:
        async with httpx.AsyncClient(timeout=30) as http:
            return await Api(http, served.graphql, keys.client).create(codes)

    return asyncio.run(create())


def wait_until_requeued(served: Served, keys: Keys, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        job = job_of(served, keys, job_id)
        if job["status"] == "PENDING":
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_sigterm_finishes_the_current_item_then_the_job_is_requeued(
    served: Served, tmp_path: Path
) -> None:
    keys = make_keys(served.database_url, "sigterm")
    job_id = create_job(served, keys, CODES[:3])
    run = Run(served, keys, tmp_path)
    worker = run.start(item_seconds=1.5)
    wait_for(lambda: run.marked("started-0-1"))
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=20)
    assert worker.returncode == 0, stderr
    assert time.monotonic() - sent < 10
    assert run.marked("finished-0-1") and not run.marked("started-1-1")
    assert "SIGTERM: claiming nothing more; finishing the current item" in stderr
    assert "left unfinished (it was asked to stop)" in stderr
    assert keys.work not in stderr

    job = job_of(served, keys, job_id)
    assert [item["status"] for item in job["items"]] == ["COMPLETED", "PENDING", "PENDING"]
    assert job["lines"][:2] == ["attempt 1 item 0 started", "attempt 1 item 0 finished"]
    assert "stopped before finishing the job (it was asked to stop)" in job["lines"][2]

    requeued = wait_until_requeued(served, keys, job_id)
    assert requeued["attempt"] == 2
    run.finish_the_job()
    done = job_of(served, keys, job_id)
    assert done["status"] == "COMPLETED" and done["attempt"] == 2
    # The finished item is not run again; the two left are.
    assert not run.marked("started-0-2")
    assert run.marked("finished-1-2") and run.marked("finished-2-2")


@pytest.mark.parametrize("how", ["grace runs out", "second SIGTERM"])
def test_an_item_that_does_not_finish_in_time_is_stopped_and_runs_again(
    served: Served, tmp_path: Path, how: str
) -> None:
    keys = make_keys(served.database_url, "grace")
    job_id = create_job(served, keys, CODES[:2])
    run = Run(served, keys, tmp_path)
    grace = ["--stop-grace", "0.5"] if how == "grace runs out" else []
    worker = run.start(*grace, item_seconds=60)
    wait_for(lambda: run.marked("started-0-1"))
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    if how == "second SIGTERM":
        time.sleep(0.3)
        worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=20)
    assert worker.returncode == 0, stderr
    assert time.monotonic() - sent < 5, stderr
    assert not run.marked("finished-0-1")
    expected = "did not finish within" if how == "grace runs out" else "SIGTERM again: stopping now"
    assert expected in stderr

    job = job_of(served, keys, job_id)
    assert job["status"] == "RUNNING" or job["attempt"] == 2  # until its lease ends
    assert "stopped before finishing the job (it stopped during item 0)" in job["lines"][-1]
    requeued = wait_until_requeued(served, keys, job_id)
    assert [item["status"] for item in requeued["items"]] == ["PENDING", "PENDING"]
    run.finish_the_job()
    assert job_of(served, keys, job_id)["status"] == "COMPLETED"
    assert run.marked("finished-0-2") and run.marked("finished-1-2")


def test_sigterm_while_idle_exits_at_once(served: Served, tmp_path: Path) -> None:
    run = Run(served, make_keys(served.database_url, "idle"), tmp_path)
    worker = run.start("--poll-seconds", "30", item_seconds=0)
    time.sleep(2)  # past the first claim: waiting for the next poll
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=10)
    assert worker.returncode == 0 and time.monotonic() - sent < 3, stderr
    assert "no job is pending" in stderr and "stopped (0 jobs claimed)" in stderr


@pytest.mark.parametrize("kind", ["async", "plain"])
async def test_cancel_stops_the_item_and_the_worker_goes_on(served: Served, kind: str) -> None:
    keys = await tenant_keys(served.database_url, f"cancel-{kind}")
    seen: list[str] = []
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def slow(item: WorkItem, log: JobLog) -> None:
        seen.append(f"start {item.code}")
        log.info(f"working on {item.code}")
        started.set()
        try:
            await asyncio.sleep(30 if item.code == CODES[0] else 0)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    def plain(item: WorkItem, log: JobLog) -> None:
        seen.append(f"start {item.code}")
        log.info(f"working on {item.code}")
        loop.call_soon_threadsafe(started.set)
        time.sleep(3 if item.code == CODES[0] else 0)  # cannot be interrupted: left to end

    process: Any = slow if kind == "async" else plain
    async with httpx.AsyncClient(timeout=30) as http:
        api = Api(http, served.graphql, keys.client)
        cancelled_id = await api.create([CODES[0], CODES[1]])
        next_id = await api.create([CODES[2]])
        worker = Worker(
            served.graphql,
            keys.work,
            process,
            heartbeat_seconds=0.2,
            log_flush_seconds=0.05,
            backoff=Backoff(first=0.05, most=0.5),
            handle_signals=False,
        )
        client = GraphQLClient(http, served.graphql, keys.work)
        first = asyncio.create_task(worker.run_one(client))
        await asyncio.wait_for(started.wait(), 10)
        while (await api.job(cancelled_id))["logLineCount"] < 1:  # the line is stored
            await asyncio.sleep(0.05)
        cancel_sent = time.monotonic()
        assert (await api(CANCEL, j=cancelled_id))["cancelJob"]["status"] == "CANCELLED"
        assert await asyncio.wait_for(first, 10) == "CANCELLED"
        assert time.monotonic() - cancel_sent < 2
        assert await worker.run_one(client) == "COMPLETED"

        cancelled, after = await api.job(cancelled_id), await api.job(next_id)
        lines = [line["message"] for line in await api.lines(cancelled_id)]
    assert cancelled["status"] == "CANCELLED"
    assert [item["status"] for item in cancelled["items"]] == ["SKIPPED", "SKIPPED"]
    assert lines == [f"working on {CODES[0]}"]
    assert after["status"] == "COMPLETED"
    assert seen[0] == f"start {CODES[0]}" and f"start {CODES[1]}" not in seen
    if kind == "async":
        assert seen[1] == "cancelled"
