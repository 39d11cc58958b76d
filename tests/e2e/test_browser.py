"""The pages in a real browser (Debian's Chromium via playwright-core) and a real frontend client
(@apollo/client), against a real uvicorn. Screenshots go to test-artifacts/browser/.

The scenarios live in web/tests/scenarios/; a worker's calls are made over HTTP beside the
browser, so the page sees the same server changes a real pipeline makes.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.live
from storage.records import JobRecord
from storage.store import Store
from tests.factories import make_job, make_key
from tests.frontend import (
    ARTIFACTS,
    ensure_chromium,
    ensure_web_assets,
    node_result,
    off_machine,
    run_node,
    start_node,
)
from tests.live import LiveServer, free_port, live_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

# Computed colours of the progress bar's fill, by status (dashboard.css).
BLUE = "rgb(37, 99, 235)"
RED = "rgb(220, 38, 38)"
GREEN = "rgb(22, 163, 74)"


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


def scenario_args(
    scenario: str, url: str, tmp_path: Path, browser: str, **options: str
) -> tuple[str, str]:
    payload = {
        "url": url,
        "screenshots": str(ARTIFACTS),
        "userDataDir": str(tmp_path / f"chromium-{scenario}"),  # a fresh profile every run
        "executablePath": browser,
        **options,
    }
    return scenario, json.dumps(payload)


def checked(result: dict[str, Any]) -> dict[str, Any]:
    assert result["ok"], result.get("error")
    assert result["requests"], "the browser recorded no request at all"
    assert off_machine(result["requests"]) == [], result["requests"]
    assert result["pageErrors"] == [], result["pageErrors"]
    return result


def drive(
    scenario: str, server: LiveServer, tmp_path: Path, browser: str, **options: str
) -> dict[str, Any]:
    args = scenario_args(scenario, server.url, tmp_path, browser, **options)
    return checked(run_node("browser.mjs", *args, timeout=180))


async def failed_job(store: Store, *, items: int = 2) -> JobRecord:
    """A job a worker claimed and failed (the oldest PENDING job must be this one)."""
    job = await make_job(store, items=items)
    claimed = await store.lifecycle.claim_next(tenant=None, worker_id="w", lease_seconds=60)
    assert claimed is not None and claimed.id == job.id
    return await store.lifecycle.fail(tenant=None, job_id=job.id, worker_id="w", error="boom")


def serious(axe: dict[str, Any], *, ran: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations, once it is clear that axe ran its rules."""
    assert {"color-contrast", "label", *ran} <= set(axe["passed"]), axe
    return [v for v in axe["violations"] if v["impact"] in ("serious", "critical")]


# ---- GraphiQL ------------------------------------------------------------------------------


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
    assert "No key set" in result["keyState"]


async def test_graphiql_checks_the_key_when_it_is_set(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read,submit", name="laptop")
    result = drive("graphiqlKeyCheck", server, tmp_path, browser, key=key)
    assert result["initial"]["state"] == "none"
    wrong = result["wrong"]
    assert wrong["state"] == "refused" and "UNAUTHENTICATED" in wrong["text"]
    assert "not saved" in wrong["text"] and wrong["stored"] is None
    assert wrong["invalid"] == "true"
    good = result["good"]
    assert good["state"] == "ok" and good["stored"] == key and good["invalid"] == "false"
    assert "laptop · tenant default · read, submit" in good["text"]
    # A stored key is checked again when the page opens.
    assert result["reloaded"]["state"] == "ok"
    # One way to enter the key: GraphiQL's headers editor is off.
    assert result["headersTab"] == 0
    assert serious(result["axe"]) == [], result["axe"]


# ---- the dashboard: live -------------------------------------------------------------------


async def test_dashboard_shows_a_job_with_timed_levelled_log_lines(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read,submit")
    job = await make_job(store, items=3, lines=12)
    result = drive("dashboard", server, tmp_path, browser, key=key, jobId=job.id)
    assert "PENDING" in result["row"] and "0/3" in result["row"]
    assert result["progress"] == 0
    assert "read, submit" in result["me"]
    assert result["total"] == "1 job"
    detail = result["detail"]
    assert detail["items"] == ["PENDING"] * 3
    assert detail["hash"] == f"#/jobs/{job.id}"
    assert [line["message"] for line in detail["lines"]] == [f"line {n}" for n in range(1, 13)]
    assert [line["seq"] for line in detail["lines"]] == list(range(1, 13))
    first = detail["lines"][0]
    assert first["level"] == "INFO" and re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", first["time"])
    # The time shown is the line's instant (the browser runs in UTC).
    assert first["datetime"][11:23] == first["time"]
    assert detail["headings"] == []  # one run: no attempt headings
    assert detail["facts"]["Attempt"] == "1" and detail["facts"]["Worker"] == "—"
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
    assert result["barColor"] == BLUE


async def test_dashboard_items_follow_the_worker(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read")
    worker_key = await make_key(store, scopes="work", name="worker")
    job = await make_job(store, items=3)
    result = drive(
        "liveItems", server, tmp_path, browser, key=key, workerKey=worker_key, jobId=job.id
    )
    steps = result["steps"]
    running = steps["running"]
    assert running["status"] == "RUNNING" and running["items"] == ["RUNNING", "PENDING", "PENDING"]
    assert running["facts"]["Worker"] == "browser-test-worker"
    assert running["facts"]["Lease ends"].startswith("in ")
    assert steps["middle"]["items"] == ["COMPLETED", "FAILED", "RUNNING"]
    assert "video removed" in steps["middle"]["itemText"][1]
    assert steps["middle"]["facts"]["Progress"].endswith("66%")
    assert "1/3 · 1 failed" in steps["middleRow"]
    done = steps["done"]
    assert done["status"] == "COMPLETED" and done["items"] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert done["facts"]["Finished"] != "—" and done["facts"]["Duration"] != "—"
    assert "2/3 · 1 failed" in steps["doneRow"]
    assert steps["barColor"] == GREEN
    # What the page shows is what the server has.
    assert [item["status"] for item in result["server"]["items"]] == done["items"]


async def test_dashboard_follows_a_job_through_requeue_and_retry(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read,submit")
    worker_key = await make_key(store, scopes="work", name="worker")
    job = await make_job(store, items=2)
    result = drive(
        "retryRequeue", server, tmp_path, browser, key=key, workerKey=worker_key, jobId=job.id
    )
    steps = result["steps"]
    assert steps["requeued"]["facts"]["Attempt"] == "2"

    failed = steps["failed"]
    assert failed["status"] == "FAILED" and failed["logState"] == "(complete)"
    assert failed["items"] == ["COMPLETED", "FAILED"]
    assert failed["facts"]["Progress"].endswith("50%")
    assert failed["actions"] == ["Retry"]
    assert steps["failedBar"] == RED and steps["failedDetailBar"] == RED
    levels = {line["level"]: line["levelColor"] for line in failed["lines"]}
    assert set(levels) == {"INFO", "DEBUG", "WARNING", "ERROR"}
    assert len(set(levels.values())) == 4  # each level its own colour

    retried = steps["retried"]
    assert retried["facts"]["Attempt"] == "3" and retried["logState"] == "(live)"
    assert retried["items"] == ["COMPLETED", "PENDING"]  # the server reset the failed item

    completed = steps["completed"]
    assert completed["status"] == "COMPLETED"
    assert [line["seq"] for line in completed["lines"]] == list(range(1, 8))  # once each, in order
    assert [line["attempt"] for line in completed["lines"]] == [1, 1, 2, 2, 2, 3, 3]
    assert completed["headings"] == ["Attempt 1", "Attempt 2", "Attempt 3"]
    assert [line["message"] for line in completed["lines"]][-2:] == ["run 3 starts", "run 3 done"]
    assert result["server"]["logLineCount"] == 7 and result["server"]["attempt"] == 3


async def test_dashboard_comes_back_after_a_server_restart(
    database_url: str,
    store: Store,
    tmp_path: Path,
    browser: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = await make_key(store, scopes="read,submit")
    worker_key = await make_key(store, scopes="work", name="worker")
    job = await make_job(store, items=2)
    signals = tmp_path / "signals"
    signals.mkdir()
    port = free_port()
    monkeypatch.setattr(tests.live, "free_port", lambda: port)  # the restarted server's port
    with live_server(database_url, tmp_path) as first:
        args = scenario_args(
            "serverRestart",
            first.url,
            tmp_path,
            browser,
            key=key,
            workerKey=worker_key,
            jobId=job.id,
            signalDir=str(signals),
        )
        page = start_node("browser.mjs", *args)
        deadline = time.monotonic() + 90
        while not (signals / "ready").exists():
            assert page.poll() is None, node_result(page)
            assert time.monotonic() < deadline, "the page never got ready"
            time.sleep(0.1)
    with live_server(database_url, tmp_path):
        (signals / "restarted").touch()
        result = checked(node_result(page, timeout=120))
    assert "reconnecting…" in result["liveStates"] and result["live"] == "live"
    detail = result["detail"]
    assert detail["status"] == "COMPLETED" and detail["items"] == ["COMPLETED", "COMPLETED"]
    assert [line["message"] for line in detail["lines"]] == [
        "before the restart",
        "after the restart",
    ]
    assert detail["logState"] == "(complete)"
    assert result["total"] == "2 jobs"
    assert result["server"]["logLineCount"] == 2


async def test_dashboard_reads_earlier_log_lines_on_demand(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read")
    job = await make_job(store, lines=450)
    result = drive("earlierLines", server, tmp_path, browser, key=key, jobId=job.id)
    assert result["initial"] == {"seqs": list(range(251, 451)), "button": True}
    assert result["after"] == {"seqs": list(range(1, 451)), "button": False}


async def test_dashboard_without_websocket_client_refreshes(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read")
    worker_key = await make_key(store, scopes="work", name="worker")
    job = await make_job(store, items=1)
    result = drive(
        "pollingFallback", server, tmp_path, browser, key=key, workerKey=worker_key, jobId=job.id
    )
    assert result["live"].startswith("not live (graphql-ws is not installed: run make web)")
    assert result["detail"]["status"] == "RUNNING"
    assert [line["message"] for line in result["detail"]["lines"]] == ["seen by polling"]
    websockets = [url for url in result["requests"] if url.startswith("ws")]
    assert websockets == []


# ---- the dashboard: controls ---------------------------------------------------------------


async def test_dashboard_controls_follow_the_key_scopes(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    read_key = await make_key(store, scopes="read", name="viewer")
    key = await make_key(store, scopes="read,submit", name="operator")
    failed = await failed_job(store)
    pending = await make_job(store)
    result = drive(
        "scopes",
        server,
        tmp_path,
        browser,
        key=key,
        readKey=read_key,
        jobId=pending.id,
        failedJobId=failed.id,
    )
    hidden = {"hidden": True, "display": "none"}
    assert result["noKey"]["form"] == hidden and "Enter an API key" in result["noKey"]["message"]
    assert result["read"]["form"] == hidden
    assert result["read"]["pending"] == [] and result["read"]["failed"] == []
    assert result["submit"]["form"] == {"hidden": False, "display": "block"}
    assert result["submit"]["failed"] == ["Retry"]
    assert result["submit"]["pending"] == ["Cancel job…"]


async def test_dashboard_cancel_asks_first(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read,submit")
    job = await make_job(store, items=2)
    result = drive("cancelConfirm", server, tmp_path, browser, key=key, jobId=job.id)
    assert result["hash"] == f"#/jobs/{job.id}"
    assert result["rowButtons"] == 0  # nothing to press inside a row
    assert result["opened"] is True and "Cancel job" in result["dialog"]
    assert result["focusedOnOpen"] == "confirm-no"  # the safe answer has the focus
    assert result["afterEscape"] == {"open": False, "server": "PENDING"}
    assert result["afterKeep"] == {"open": False, "server": "PENDING", "focused": "cancel-job"}
    after = result["afterConfirm"]
    assert after["server"] == "CANCELLED" and after["detail"]["status"] == "CANCELLED"
    assert after["detail"]["items"] == ["SKIPPED", "SKIPPED"] and after["detail"]["actions"] == []


async def test_dashboard_has_a_url_per_job(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read")
    job = await make_job(store, lines=3)
    other = await make_job(store)
    unknown = str(uuid.uuid4())
    result = drive(
        "deepLink",
        server,
        tmp_path,
        browser,
        key=key,
        jobId=job.id,
        otherJobId=other.id,
        unknownId=unknown,
    )
    assert result["linked"]["id"] == job.id and len(result["linked"]["lines"]) == 3
    assert result["reloaded"]["id"] == job.id and result["reloaded"]["hash"] == f"#/jobs/{job.id}"
    assert result["title"] == f"jobgraph · job {job.id[:8]}"
    assert result["selectedRow"] == job.id
    assert result["other"]["id"] == other.id and result["other"]["hash"] == f"#/jobs/{other.id}"
    assert result["back"]["id"] == job.id
    assert result["closed"] == {"hash": "#/", "selected": 0}
    assert result["unknown"]["message"] == f"There is no job {unknown} for this key."
    assert result["malformed"]["message"] == "There is no job not-a-job-id for this key."


async def test_dashboard_rows_work_from_the_keyboard(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read")
    for _ in range(3):
        await make_job(store)
    result = drive("keyboard", server, tmp_path, browser, key=key)
    order = result["order"]
    assert result["first"] == {"job": order[0], "link": True}
    assert result["tabStops"] == 1  # the rows are one stop in the tab order
    assert result["down"]["job"] == order[1]
    assert result["end"]["job"] == order[2]
    assert result["home"]["job"] == order[0]
    assert result["opened"]["id"] == order[1] and result["opened"]["hash"] == f"#/jobs/{order[1]}"
    assert result["escaped"] == {"hash": "#/", "focus": {"job": order[1], "link": True}}
    assert result["tabOut"]["link"] is False  # Tab leaves the rows


async def test_dashboard_empty_states_and_count(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    await make_job(store)  # another tenant's job: never seen, never counted
    key = await make_key(store, scopes="read,submit", tenant="newcomer")
    result = drive("emptyStates", server, tmp_path, browser, key=key)
    assert result["empty"]["total"] == "0 jobs"
    assert result["empty"]["message"] == "No jobs yet. Submit one with the form above."
    assert result["first"]["total"] == "1 job" and result["first"]["rows"] == 1
    assert result["first"]["status"].startswith("Submitted job ")
    assert result["second"] == {"total": "2 jobs", "rows": 2}
    assert result["elsewhere"] == {"total": "3 jobs", "rows": 3}
    filtered = result["filtered"]
    assert filtered == {"message": "No jobs match this filter.", "total": "0 jobs", "rows": 0}
    assert result["unfiltered"] == {"total": "3 jobs", "rows": 3}


async def test_dashboard_says_what_is_wrong_with_a_key_or_the_server(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read,submit")
    worker_key = await make_key(store, scopes="work", name="pipeline")
    job = await make_job(store)
    result = drive(
        "keyErrors", server, tmp_path, browser, key=key, workerKey=worker_key, jobId=job.id
    )
    wrong = result["wrong"]
    assert wrong["notice"].startswith("This key was refused (UNAUTHENTICATED): ")
    assert wrong["notice"].endswith("It was not saved.")
    assert wrong["stored"] is None and wrong["form"] is True
    assert wrong["table"]["text"] == "Enter an API key above to see your jobs."

    work_only = result["workOnly"]
    assert work_only["table"] == {
        "kind": "error",
        "text": "This key has no read scope, so it cannot list jobs.",
        "button": None,
    }
    assert work_only["me"] == "pipeline · tenant default · work"
    assert work_only["form"] is True and work_only["notice"] is False and work_only["stored"]

    unreachable = result["unreachable"]
    assert unreachable["table"]["kind"] == "error" and unreachable["rows"] == 0
    assert unreachable["table"]["text"].startswith("Could not reach the server: network error")
    assert unreachable["table"]["button"] == "Try again"
    assert result["back"] == {"rows": 1, "total": "1 job", "placeholder": 0}


async def test_dashboard_screens_and_accessibility(
    store: Store, server: LiveServer, tmp_path: Path, browser: str
) -> None:
    key = await make_key(store, scopes="read,submit")
    worker_key = await make_key(store, scopes="work", name="worker")
    result = drive("screens", server, tmp_path, browser, key=key, workerKey=worker_key)
    summary = {width: seen["axe"] for width, seen in result["widths"].items()}
    (ARTIFACTS / "axe-dashboard.json").write_text(json.dumps(summary, indent=2))
    for width, seen in result["widths"].items():
        assert seen["overflow"] <= 0, f"{width}: the page scrolls sideways by {seen['overflow']} px"
        ran = frozenset({"aria-progressbar-name", "page-has-heading-one"})
        assert serious(seen["axe"], ran=ran) == [], (width, seen["axe"])
    assert result["failedBar"] == RED and result["runningBar"] == BLUE
    # The open job is on its second run: both runs' lines, each under its heading, every level.
    shown = result["open"]
    assert shown["status"] == "RUNNING" and shown["facts"]["Attempt"] == "2"
    assert shown["headings"] == ["Attempt 1", "Attempt 2"]
    assert [line["attempt"] for line in shown["lines"]] == [1, 1, 2, 2, 2, 2, 2]
    assert {line["level"] for line in shown["lines"]} == {"INFO", "DEBUG", "WARNING", "ERROR"}
    assert shown["items"] == ["COMPLETED", "RUNNING", "PENDING", "PENDING"]
    for width in (360, 768, 1440):
        assert (ARTIFACTS / f"dashboard-{width}.png").stat().st_size > 10_000


# ---- a frontend client ---------------------------------------------------------------------


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
