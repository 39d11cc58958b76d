"""GET /status/{jobId}?tail=N through the app, on every backend: the seed's answers and codes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from app import create_app
from settings import Settings
from storage.store import Store
from tests.factories import make_job, make_key
from tests.seed_jobs import SEED_JOB_ID, SEED_RESPONSE, make_seed_job

ISO_MILLIS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def lines(numbers: range) -> str:
    return "\n".join(f"line {n}" for n in numbers)


def assert_detail(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str) and body["detail"]
    detail: str = body["detail"]
    return detail


async def test_seed_example_response(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store, scopes="read")
    await make_seed_job(app_store)
    response = await http.get(f"/status/{SEED_JOB_ID}", headers={"X-API-Key": key})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == SEED_RESPONSE
    # Key order as the seed's pydantic model declared it.
    assert list(response.json()) == list(SEED_RESPONSE)


async def test_new_job_shape(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store, scopes="read")
    job = await make_job(app_store, items=2)
    body = (await http.get(f"/status/{job.id}", headers={"X-API-Key": key})).json()
    assert body["status"] == "pending" and body["progress"] == 0 and body["log_tail"] == ""
    assert ISO_MILLIS_Z.fullmatch(body["createdAt"]) and ISO_MILLIS_Z.fullmatch(body["updatedAt"])
    assert [item["platform"] for item in body["items"]] == ["youtube", "youtube"]


async def test_tail(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store, scopes="read")
    job = await make_job(app_store, lines=20)
    cases = {
        None: lines(range(1, 21)),
        "0": "",
        "2": lines(range(19, 21)),
        "100": lines(range(1, 21)),
    }
    for tail, expected in cases.items():
        params = {} if tail is None else {"tail": tail}
        response = await http.get(f"/status/{job.id}", params=params, headers={"X-API-Key": key})
        assert response.status_code == 200, (tail, response.text)
        assert response.json()["log_tail"] == expected, tail


async def test_bad_tail_is_400(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store, scopes="read")
    job = await make_job(app_store, lines=2)
    for tail in ("abc", "-1", "1.5", "", "0x10", "10001", "9" * 40):
        response = await http.get(
            f"/status/{job.id}", params={"tail": tail}, headers={"X-API-Key": key}
        )
        assert "tail" in assert_detail(response, 400), tail


@pytest.fixture
async def capped(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client for an app whose JOBGRAPH_MAX_TAIL is 5, and the URL of a job with 8 lines."""
    application: Starlette = create_app(settings.model_copy(update={"max_tail": 5}))
    async with application.router.lifespan_context(application):
        store: Store = application.state.store
        headers = {"X-API-Key": await make_key(store, scopes="read")}
        job = await make_job(store, lines=8)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://jobgraph.test", headers=headers
        ) as client:
            yield client, f"/status/{job.id}"


async def test_omitted_tail_is_capped(capped: tuple[httpx.AsyncClient, str]) -> None:
    client, url = capped
    assert (await client.get(url)).json()["log_tail"] == lines(range(4, 9))
    assert (await client.get(url, params={"tail": 5})).json()["log_tail"] == lines(range(4, 9))
    assert "at most 5" in assert_detail(await client.get(url, params={"tail": 6}), 400)


@pytest.mark.parametrize(
    "job_id",
    [
        "not-a-uuid",
        "40a58ff2-4fd0-4263-b5ae-eb3e4b48240",  # one digit short
        "40a58ff2-4fd0-4263-b5ae-eb3e4b482404/extra",
        "",
        "3f2c8e1a-9b7d-4c5e-8a6f-1d2e3c4b5a69",  # well-formed, unknown
    ],
)
async def test_unknown_or_malformed_id_is_404(
    http: httpx.AsyncClient, app_store: Store, job_id: str
) -> None:
    key = await make_key(app_store, scopes="read")
    await make_seed_job(app_store)
    assert_detail(await http.get(f"/status/{job_id}", headers={"X-API-Key": key}), 404)


async def test_id_in_any_case_is_the_same_job(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store, scopes="read")
    await make_seed_job(app_store)
    response = await http.get(f"/status/{SEED_JOB_ID.upper()}", headers={"X-API-Key": key})
    assert response.json() == SEED_RESPONSE


async def test_tenancy(http: httpx.AsyncClient, app_store: Store) -> None:
    await make_seed_job(app_store, tenant="acme")
    other = await make_key(app_store, tenant="globex", scopes="read")
    assert_detail(await http.get(f"/status/{SEED_JOB_ID}", headers={"X-API-Key": other}), 404)
    own = await make_key(app_store, tenant="acme", scopes="read")
    admin = await make_key(app_store, tenant="globex", scopes="admin")
    for key in (own, admin):
        response = await http.get(f"/status/{SEED_JOB_ID}", headers={"X-API-Key": key})
        assert response.json() == SEED_RESPONSE


async def test_keys(http: httpx.AsyncClient, app_store: Store) -> None:
    await make_seed_job(app_store)
    url = f"/status/{SEED_JOB_ID}"
    assert "missing API key" in assert_detail(await http.get(url), 401)
    for bad in ("wrong", "jg_" + "x" * 43, ""):
        assert_detail(await http.get(url, headers={"X-API-Key": bad}), 401)
    submit_only = await make_key(app_store, scopes="submit", name="s")
    assert "read" in assert_detail(await http.get(url, headers={"X-API-Key": submit_only}), 403)
    # The scope is checked before the arguments: a bad id or tail still answers 403.
    bad_args = "/status/nope?tail=abc"
    assert_detail(await http.get(bad_args, headers={"X-API-Key": submit_only}), 403)
    key = await make_key(app_store, scopes="read", name="r")
    assert (await http.get(url, headers={"X-API-Key": key})).status_code == 200
    (record,) = [r for r in await app_store.keys.list() if r.name == "r"]
    assert await app_store.keys.revoke(key_id=record.id)
    assert_detail(await http.get(url, headers={"X-API-Key": key}), 401)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(
    http: httpx.AsyncClient, app_store: Store, method: str
) -> None:
    key = await make_key(app_store)
    response = await http.request(method, f"/status/{SEED_JOB_ID}", headers={"X-API-Key": key})
    assert_detail(response, 405)
    assert response.headers["allow"] == "GET"
