"""The pages in a real browser (Debian's Chromium via playwright-core) and a real frontend client
(@apollo/client), against a real uvicorn. Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.store import Store
from tests.factories import make_job, make_key
from tests.frontend import ARTIFACTS, ensure_chromium, ensure_web_assets, off_machine, run_node
from tests.live import LiveServer, live_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture(scope="session")
def browser() -> str:
    ensure_web_assets()
    return ensure_chromium()


@pytest.fixture
def server(database_url: str, tmp_path: Path, store: Store) -> Iterator[LiveServer]:
    with live_server(database_url, tmp_path) as running:
        yield running


def shown_json(text: str) -> Any:
    """The JSON GraphiQL's result pane shows (its editor renders indentation as no-break spaces)."""
    return json.loads(text.replace("\xa0", " "))


def drive(
    scenario: str, server: LiveServer, tmp_path: Path, browser: str, **options: str
) -> dict[str, Any]:
    payload = {
        "url": server.url,
        "screenshots": str(ARTIFACTS),
        "userDataDir": str(tmp_path / f"chromium-{scenario}"),  # a fresh profile every run
        "executablePath": browser,
        **options,
    }
    result = run_node("browser.mjs", scenario, json.dumps(payload), timeout=120)
    assert result["ok"], result.get("error")
    assert result["requests"], "the browser recorded no request at all"
    assert off_machine(result["requests"]) == [], result["requests"]
    return result


async def test_graphiql_offline_runs_job_tail(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read")
    job = await make_job(store, items=2, lines=5)
    result = drive("graphiql", server, tmp_path, browser, key=key, jobId=job.id)
    response = shown_json(result["response"])
    assert response == {
        "data": {"job": {"id": job.id, "status": "PENDING", "logTail": "line 4\nline 5"}}
    }
    urls = result["requests"]
    assert any(url.endswith("/vendor/graphiql.min.js") for url in urls)
    assert (ARTIFACTS / "graphiql.png").stat().st_size > 10_000


async def test_graphiql_shows_401_as_json(server: LiveServer, tmp_path: Path, browser: str) -> None:
    result = drive("graphiqlUnauthenticated", server, tmp_path, browser)
    response = shown_json(result["response"])
    assert response["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_dashboard_shows_a_new_job(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read,submit")
    job = await make_job(store, items=3, lines=12)
    result = drive("dashboard", server, tmp_path, browser, key=key, jobId=job.id)
    assert "PENDING" in result["row"] and "0/3" in result["row"]
    assert result["progress"] == 0
    assert "read, submit" in result["me"]
    assert result["items"].count("PENDING") == 3
    assert "line 12" in result["log"] and "line 1\n" in result["log"]
    assert (ARTIFACTS / "dashboard.png").exists() and (ARTIFACTS / "dashboard-job.png").exists()


async def test_dashboard_progress_moves_when_a_worker_reports(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read,submit")
    worker_key = await make_key(store, scopes="work", name="worker")
    job = await make_job(store, items=2)
    result = drive(
        "dashboardProgress", server, tmp_path, browser, key=key, workerKey=worker_key, jobId=job.id
    )
    assert result["claimed"] == job.id
    assert (result["before"], result["after"]) == (0, 60)
    assert "RUNNING" in result["row"]
    assert result["live"] == "live"  # moved by jobEvents, not by the polling fallback
    assert (ARTIFACTS / "dashboard-progress-after.png").exists()


async def test_apollo_client_pages_and_tail(store: Store, server: LiveServer, browser: str) -> None:
    key = await make_key(store, scopes="read")
    jobs = [await make_job(store, items=1, lines=3) for _ in range(3)]
    await make_job(store, tenant="someone-else")
    result = run_node(
        "apollo.mjs", json.dumps({"url": server.url, "key": key, "jobId": jobs[0].id})
    )
    assert result["ok"], result.get("error")
    first, second = result["pages"]
    assert first["totalCount"] == second["totalCount"] == 3
    seen = [edge["node"]["id"] for page in (first, second) for edge in page["edges"]]
    assert seen == [job.id for job in reversed(jobs)]
    assert first["pageInfo"]["hasNextPage"] is True and second["pageInfo"]["hasNextPage"] is False
    assert result["job"]["logTail"] == "line 2\nline 3"
    assert result["job"]["logLineCount"] == 3
    # Apollo reports it as GraphQL errors or as a ServerError, by media type; either way the
    # code is there, not "Unexpected token".
    assert result["unauthenticated"]["code"] == "UNAUTHENTICATED", result["unauthenticated"]
    assert result["unauthenticated"]["name"] in ("CombinedGraphQLErrors", "ServerError")
