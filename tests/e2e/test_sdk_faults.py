"""The worker SDK against a real jobgraph through faults: 429/502/503/504 answers, connection
resets, answers lost after the server acted (log batches, item reports, completeJob and
failJob), a real UNAVAILABLE (the database cut away), a real RATE_LIMITED, an outage shorter
than the lease (the heartbeat renews it afterwards) and one longer than the lease (the job is
lost, requeued, and done on its next attempt)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from jobgraph_worker import Backoff, GraphQLClient, JobLog, SkipItem, Worker, WorkItem
from jobgraph_worker.worker import FINAL_REPORTS_SECONDS
from sqlalchemy.engine import make_url

from tests.http_fault_proxy import DROP_ANSWER, PASS, RESET, FaultProxy
from tests.live import live_server
from tests.pg_proxy import TcpProxy
from tests.sdk_support import CODES, Api, LogFigures, Server, tenant_keys

pytestmark = pytest.mark.e2e

FAST = Backoff(first=0.02, most=0.3)


def quick_worker(url: str, key: str, process: Any, **options: Any) -> Worker:
    settings: dict[str, Any] = {
        "lease_seconds": 20,
        "heartbeat_seconds": 0.3,
        "log_flush_seconds": 0.05,
        "log_batch": 3,
        "backoff": FAST,
        "handle_signals": False,
    }
    return Worker(url, key, process, **{**settings, **options})


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"


async def test_lost_answers_and_gateway_errors(sqlite_url: str, tmp_path: Path) -> None:
    keys = await tenant_keys(sqlite_url, "faults")
    with live_server(sqlite_url, tmp_path) as server:
        async with (
            FaultProxy(server.url) as proxy,
            httpx.AsyncClient(timeout=30) as http,
        ):
            api = Api(http, f"{server.url}/graphql", keys.client)
            completed_id = await api.create(CODES[:3])
            failed_id = await api.create(CODES[3:5])
            appended: dict[str, list[str]] = {completed_id: [], failed_id: []}

            async def process(item: WorkItem, log: JobLog) -> None:
                for n in range(6):
                    message = f"item {item.position} line {n}"
                    log.info(message)
                    appended[item.job_id].append(message)
                    await asyncio.sleep(0.01)
                if item.code == CODES[4]:
                    raise RuntimeError("upstream 404")

            proxy.plan("claimJob", RESET, "502")
            proxy.plan("heartbeat", "504", "429", DROP_ANSWER)
            proxy.plan("appendLogs", PASS, DROP_ANSWER, "503", DROP_ANSWER, RESET, DROP_ANSWER)
            proxy.plan("updateItem", PASS, DROP_ANSWER, "502", DROP_ANSWER)
            proxy.plan("completeJob", DROP_ANSWER)
            proxy.plan("failJob", DROP_ANSWER)
            worker = quick_worker(proxy.url, keys.work, process)
            client = GraphQLClient(http, proxy.url, keys.work, backoff=FAST)
            outcomes = [await worker.run_one(client) for _ in range(3)]

            assert outcomes == ["COMPLETED", "FAILED", None]
            assert proxy.unused() == {}, proxy.unused()  # every fault was met
            assert proxy.applied[("appendLogs", DROP_ANSWER)] == 3
            done, failed = await api.job(completed_id), await api.job(failed_id)
            assert done["status"] == "COMPLETED" and done["attempt"] == 1
            assert failed["status"] == "FAILED" and failed["error"] == "1 of 2 failed"
            assert [item["status"] for item in failed["items"]] == ["COMPLETED", "FAILED"]
            assert failed["items"][1]["error"] == "RuntimeError: upstream 404"
            for job_id in (completed_id, failed_id):
                stored = await api.lines(job_id)
                ours = [line for line in stored if " line " in line["message"]]
                figures = LogFigures.of(appended[job_id], ours)
                print(f"\nfaults, job {job_id[:8]}: {figures}")
                assert (figures.duplicates, figures.gaps) == (0, 0), figures
                assert [line["message"] for line in ours] == appended[job_id]
                assert [line["seq"] for line in stored] == list(range(1, len(stored) + 1))
            failure_lines = [
                line for line in await api.lines(failed_id) if line["level"] == "ERROR"
            ]
            assert [line["message"] for line in failure_lines] == [
                "item 1 failed: RuntimeError: upstream 404"
            ]


async def test_an_outage_longer_than_the_lease_loses_the_job_then_it_is_done_again(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jobgraph_worker")
    keys = await tenant_keys(sqlite_url, "outage")
    env = {"JOBGRAPH_SWEEP_INTERVAL_SECONDS": "0.2"}
    with live_server(sqlite_url, tmp_path, env=env) as server:
        async with (
            FaultProxy(server.url) as proxy,
            httpx.AsyncClient(timeout=30) as http,
        ):
            api = Api(http, f"{server.url}/graphql", keys.client)
            job_id = await api.create(CODES[:2])
            started = asyncio.Event()
            runs: list[tuple[int, int]] = []

            async def process(item: WorkItem, log: JobLog) -> None:
                runs.append((item.position, item.attempt))
                log.info(f"attempt {item.attempt} item {item.position}")
                started.set()
                await asyncio.sleep(0.3)

            worker = quick_worker(proxy.url, keys.work, process, lease_seconds=2)
            client = GraphQLClient(http, proxy.url, keys.work, backoff=FAST)
            first = asyncio.create_task(worker.run_one(client))
            await asyncio.wait_for(started.wait(), 10)
            proxy.outage = True
            assert await asyncio.wait_for(first, 10) == "LOST"
            proxy.outage = False
            for _ in range(100):  # the server's sweeper requeues the job once its lease ends
                job = await api.job(job_id)
                if job["status"] == "PENDING":
                    break
                await asyncio.sleep(0.1)
            assert (job["status"], job["attempt"]) == ("PENDING", 2), job
            assert await worker.run_one(client) == "COMPLETED"

            job = await api.job(job_id)
            stored = [line["message"] for line in await api.lines(job_id)]
    assert job["status"] == "COMPLETED" and job["attempt"] == 2
    # Item 0 was being processed when the lease was lost: it runs again on attempt 2.
    assert runs[0] == (0, 1) and runs[-2:] == [(0, 2), (1, 2)]
    assert stored[-2:] == ["attempt 2 item 0", "attempt 2 item 1"]
    assert len(stored) == len(set(stored))
    messages = [record.getMessage() for record in caplog.records]
    assert any("lost its lease" in message for message in messages), messages


async def test_the_heartbeat_goes_on_through_an_outage_shorter_than_the_lease(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Every request fails for half the lease; the heartbeat keeps trying, renews the lease as
    soon as jobgraph answers again, and the job (one item three leases long, so only the
    heartbeat holds the lease) completes on its first attempt. A heartbeat that gave up would
    let the lease lapse and the sweeper requeue the job."""
    keys = await tenant_keys(sqlite_url, "heartbeat")
    lease = 4
    env = {"JOBGRAPH_SWEEP_INTERVAL_SECONDS": "0.2"}
    with live_server(sqlite_url, tmp_path, env=env) as server:
        async with (
            FaultProxy(server.url) as proxy,
            httpx.AsyncClient(timeout=30) as http,
        ):
            api = Api(http, f"{server.url}/graphql", keys.client)
            job_id = await api.create(CODES[:1])
            started = asyncio.Event()

            async def process(item: WorkItem, log: JobLog) -> None:
                started.set()
                for n in range(48):
                    log.info(f"line {n}")
                    await asyncio.sleep(0.25)

            worker = quick_worker(proxy.url, keys.work, process, lease_seconds=lease)
            client = GraphQLClient(http, proxy.url, keys.work, backoff=FAST)
            began = time.monotonic()
            running = asyncio.create_task(worker.run_one(client))
            await asyncio.wait_for(started.wait(), 10)
            await asyncio.sleep(0.5)
            proxy.outage = True
            await asyncio.sleep(lease / 2)
            during = proxy.applied[("heartbeat", "503")]
            proxy.outage = False
            assert await asyncio.wait_for(running, 60) == "COMPLETED"
            took = time.monotonic() - began
            job = await api.job(job_id)
            stored = await api.lines(job_id)
    print(f"\nheartbeat outage of {lease / 2:.0f} s in a {lease} s lease; job took {took:.1f} s")
    assert took > 2 * lease  # it outlived its first lease and the one renewed before the outage
    assert during >= 3  # the heartbeat kept trying through the outage
    assert proxy.applied[("heartbeat", PASS)] > took / 0.3 / 2  # and went on after it
    assert job["status"] == "COMPLETED" and job["attempt"] == 1
    assert len(stored) == 48 and [line["seq"] for line in stored] == list(range(1, 49))


async def test_database_unavailable_mid_job(
    pg_database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """jobgraph answers 503 UNAVAILABLE while its database is cut away; the worker waits it
    out and the job completes with every line once."""
    caplog.set_level(logging.DEBUG, logger="jobgraph_worker")
    url = make_url(pg_database)
    db_proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await db_proxy.start()
    proxied = url.set(host="127.0.0.1", port=db_proxy.port).render_as_string(hide_password=False)
    keys = await tenant_keys(pg_database, "unavailable")
    try:
        with Server(proxied, tmp_path) as server:
            await asyncio.to_thread(server.start)
            async with httpx.AsyncClient(timeout=30) as http:
                api = Api(http, server.graphql, keys.client)
                job_id = await api.create(CODES[:3])
                appended: list[str] = []
                skip_code = CODES[1]

                async def process(item: WorkItem, log: JobLog) -> None:
                    for n in range(20):
                        message = f"item {item.position} line {n}"
                        log.info(message)
                        appended.append(message)
                        await asyncio.sleep(0.02)
                    if item.code == skip_code:
                        raise SkipItem("private video")

                worker = quick_worker(server.graphql, keys.work, process)
                running = asyncio.create_task(worker.run(until_idle=True))
                while len(appended) < 15:
                    await asyncio.sleep(0.01)
                await db_proxy.stop()
                await asyncio.sleep(2.0)
                await db_proxy.start()
                assert await asyncio.wait_for(running, 60) == 1
                job = await api.job(job_id)
                stored = await api.lines(job_id)
            # The database proxy runs on this loop: the server's shutdown needs it serving.
            await asyncio.to_thread(server.stop)
    finally:
        await db_proxy.stop()
    figures = LogFigures.of(appended, stored)
    print(f"\ndatabase unavailable for 2 s: {figures}")
    assert job["status"] == "COMPLETED" and job["attempt"] == 1
    assert [item["status"] for item in job["items"]] == ["COMPLETED", "SKIPPED", "COMPLETED"]
    assert job["items"][1]["error"] == "private video"
    assert (figures.duplicates, figures.gaps) == (0, 0) and figures.stored == len(appended)
    messages = [record.getMessage() for record in caplog.records]
    assert any("UNAVAILABLE" in message for message in messages), messages


async def test_rate_limited_worker_slows_down_and_finishes(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jobgraph_worker")
    keys = await tenant_keys(sqlite_url, "limited")
    env = {"JOBGRAPH_RATE_LIMIT_PER_SECOND": "10", "JOBGRAPH_RATE_LIMIT_BURST": "3"}
    with live_server(sqlite_url, tmp_path, env=env) as server:
        async with httpx.AsyncClient(timeout=30) as http:
            api = Api(http, f"{server.url}/graphql", keys.client)
            job_id = await api.create(CODES[:3])
            await asyncio.sleep(0.5)  # the client key's bucket is its own; the worker's is full

            async def process(item: WorkItem, log: JobLog) -> None:
                log.info(f"item {item.position}")

            worker = quick_worker(f"{server.url}/graphql", keys.work, process)
            assert await asyncio.wait_for(worker.run(until_idle=True), 60) == 1
            await asyncio.sleep(0.5)
            job = await api.job(job_id)
            stored = [line["message"] for line in await api.lines(job_id)]
    assert job["status"] == "COMPLETED"
    assert stored == ["item 0", "item 1", "item 2"]
    messages = [record.getMessage() for record in caplog.records]
    assert any("HTTP 429 RATE_LIMITED" in message for message in messages), messages


async def test_a_stop_while_jobgraph_is_unreachable_ends_in_bounded_time(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jobgraph_worker")
    keys = await tenant_keys(sqlite_url, "stop-unreachable")
    with live_server(sqlite_url, tmp_path) as server:
        async with (
            FaultProxy(server.url) as proxy,
            httpx.AsyncClient(timeout=30) as http,
        ):
            api = Api(http, f"{server.url}/graphql", keys.client)
            job_id = await api.create(CODES[:2])
            started = asyncio.Event()

            async def process(item: WorkItem, log: JobLog) -> None:
                log.info(f"item {item.position}")
                started.set()
                await asyncio.sleep(30)

            worker = quick_worker(
                proxy.url, keys.work, process, lease_seconds=60, stop_grace_seconds=0.5
            )
            client = GraphQLClient(http, proxy.url, keys.work, backoff=FAST)
            running = asyncio.create_task(worker.run_one(client))
            await asyncio.wait_for(started.wait(), 10)
            proxy.outage = True
            asked = time.monotonic()
            worker.stop()
            assert await asyncio.wait_for(running, 30) == "STOPPED"
            took = time.monotonic() - asked
            proxy.outage = False
            job = await api.job(job_id)
    print(f"\nstop while unreachable took {took:.1f} s")
    assert 0.5 + FINAL_REPORTS_SECONDS - 1 < took < 0.5 + FINAL_REPORTS_SECONDS + 2
    assert job["status"] == "RUNNING"  # until its lease ends; then the server requeues it
    messages = [record.getMessage() for record in caplog.records]
    assert any("stopping without its last reports" in message for message in messages)
