"""End to end (real receiver): jobgraph, its lifespan running the delivery worker, calls a real
Starlette receiver on a loopback port over real HTTP, on SQLite and PostgreSQL. Signatures that
``standardwebhooks`` verifies, retries with one webhook-id, 410, redirects, Retry-After,
timeouts, rotation, the PROGRESS throttle, and SSRF refusals that never reach a socket."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import ssl
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import WebhookVerificationError

from domain.webhooks import WebhookEvent
from server import webhook_http
from storage.webhook_records import WebhookSpec
from tests.factories import video
from tests.webhook_receiver import Answer, Call, Receiver, self_signed
from tests.webhook_support import (
    BEAT,
    CANCEL,
    COMPLETE,
    DELIVERIES,
    FAIL,
    Jobgraph,
    jobgraph,
)

pytestmark = pytest.mark.e2e


async def finish(jg: Jobgraph, job_id: str, end: str = COMPLETE) -> None:
    await jg.claim(job_id)
    await jg.gql(end, j=job_id)


def webhook_metric(text: str) -> dict[tuple[str, str], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        if family.name == "jobgraph_webhook_deliveries":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    found[(sample.labels["event"], sample.labels["outcome"])] = sample.value
    return found


async def test_each_event_once_signed(database_url: str, tmp_path: Path) -> None:
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
        every = ["STARTED", "PROGRESS", "COMPLETED", "FAILED", "CANCELLED"]
        completed = await jg.create(receiver.url("/a"), every)
        await jg.claim(completed)
        await jg.gql(BEAT, j=completed, p=40)
        await jg.gql(COMPLETE, j=completed)
        await receiver.wait_for("/a", 3)
        failed = await jg.create(receiver.url("/b"), every)
        await finish(jg, failed, FAIL)
        cancelled = await jg.create(receiver.url("/c"), every)
        await jg.gql(CANCEL, j=cancelled)
        default = await jg.create(receiver.url("/d"))  # events omitted: the three ends
        await receiver.wait_for("/b", 2)
        await receiver.wait_for("/c", 1)
        await jg.claim(default)
        started = time.monotonic()
        await jg.gql(COMPLETE, j=default)
        latency = (await receiver.wait_for("/d", 1))[0].at - started
        secret = await jg.secret()
        for job_id, count in ((completed, 3), (failed, 2), (cancelled, 1), (default, 1)):
            attempts = await jg.settled(job_id, count)
            assert [d["status"] for d in attempts] == ["SUCCEEDED"] * count
            assert all(d["responseStatus"] == 200 and d["attempt"] == 1 for d in attempts)
        await asyncio.sleep(0.5)  # nothing more arrives
        metrics = (await jg.http.get("/metrics")).text
    by_path = {path: receiver.calls_to(path) for path in ("/a", "/b", "/c", "/d")}
    kinds = {
        path: [call.verify(secret)["type"] for call in calls] for path, calls in by_path.items()
    }
    assert sorted(kinds["/a"]) == ["job.completed", "job.progress", "job.started"]
    assert sorted(kinds["/b"]) == ["job.failed", "job.started"]
    assert kinds["/c"] == ["job.cancelled"] and kinds["/d"] == ["job.completed"]
    every_call = [call for calls in by_path.values() for call in calls]
    assert len({call.webhook_id for call in every_call}) == len(every_call) == 7
    done = next(call for call in by_path["/a"] if call.payload["type"] == "job.completed")
    body = done.verify(secret)
    # Exactly the thin payload: nothing more, nothing less.
    assert set(body) == {"type", "timestamp", "data"}
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    data = body["data"]
    assert set(data) == {
        "id",
        "status",
        "progress",
        "attempt",
        "error",
        "itemCounts",
        "createdAt",
        "updatedAt",
        "finishedAt",
    }
    assert all(
        datetime.fromisoformat(data[name]).tzinfo is not None
        for name in ("createdAt", "updatedAt", "finishedAt")
    )
    assert data["id"] == completed and data["status"] == "COMPLETED" and data["progress"] == 100
    assert data["itemCounts"] == {
        "total": 2,
        "pending": 0,
        "running": 0,
        "completed": 2,
        "failed": 0,
        "skipped": 0,
    }
    assert data["attempt"] == 1 and data["error"] is None and data["finishedAt"]
    progress = next(call for call in by_path["/a"] if call.payload["type"] == "job.progress")
    assert progress.payload["data"]["progress"] == 40
    failure = next(call for call in by_path["/b"] if call.payload["type"] == "job.failed")
    assert failure.payload["data"]["error"] == "no such video"
    assert done.headers["content-type"] == "application/json"
    assert done.headers["webhook-signature"].startswith("v1,")
    assert abs(int(done.headers["webhook-timestamp"]) - time.time()) < 30
    # A tampered body or another secret is refused by the same library.
    tampered = Call(done.path, done.headers, done.body.replace(b"100", b"99"), done.at)
    with pytest.raises(WebhookVerificationError):
        tampered.verify(secret)
    with pytest.raises(WebhookVerificationError):
        done.verify("whsec_" + "A" * 44)
    assert webhook_metric(metrics) == {
        ("STARTED", "succeeded"): 2,
        ("PROGRESS", "succeeded"): 1,
        ("COMPLETED", "succeeded"): 2,
        ("FAILED", "succeeded"): 1,
        ("CANCELLED", "succeeded"): 1,
    }
    print(f"\ncompleteJob to its delivery at the receiver: {latency * 1000:.0f} ms")


async def test_500_500_200_is_three_attempts_with_one_webhook_id(
    database_url: str, tmp_path: Path
) -> None:
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
        receiver.script("/flaky", 500, 500, 200)
        job_id = await jg.create(receiver.url("/flaky"))
        await finish(jg, job_id)
        calls = await receiver.wait_for("/flaky", 3)
        attempts = await jg.settled(job_id, 3)
        secret = await jg.secret()
        await asyncio.sleep(0.6)  # past another step of the schedule: nothing more
    assert len(receiver.calls_to("/flaky")) == 3
    assert len({call.webhook_id for call in calls}) == 1
    assert all(call.verify(secret)["type"] == "job.completed" for call in calls)
    assert len({call.body for call in calls}) == 1  # the same body every time
    assert [(d["attempt"], d["status"], d["responseStatus"]) for d in attempts] == [
        (1, "FAILED", 500),
        (2, "FAILED", 500),
        (3, "SUCCEEDED", 200),
    ]
    assert {d["webhookId"] for d in attempts} == {calls[0].webhook_id}
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]
    assert all(gap >= 0.25 for gap in gaps), gaps  # the schedule's 0.3 s, no jitter
    print(f"\n500, 500, 200: 3 attempts, gaps {', '.join(f'{g:.2f} s' for g in gaps)}")


async def test_410_stops_and_disables_the_webhook(database_url: str, tmp_path: Path) -> None:
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
        receiver.script("/gone", 410)
        job_id = await jg.create(receiver.url("/gone"), ["STARTED", "COMPLETED"])
        await jg.claim(job_id)
        await receiver.wait_for("/gone", 1)
        (attempt,) = await jg.settled(job_id, 1)
        await jg.gql(COMPLETE, j=job_id)  # would call again: the webhook is disabled
        await asyncio.sleep(1.0)
        job = (await jg.gql(DELIVERIES, j=job_id))["job"]
    assert len(receiver.calls_to("/gone")) == 1
    assert attempt["status"] == "GAVE_UP" and attempt["responseStatus"] == 410
    assert job["webhook"]["disabledAt"] is not None
    assert job["webhookDeliveries"]["totalCount"] == 1


async def test_a_redirect_is_not_followed(database_url: str, tmp_path: Path) -> None:
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
        receiver.default = Answer(307, {"location": receiver.url("/elsewhere")})
        job_id = await jg.create(receiver.url("/moved"))
        await finish(jg, job_id)
        attempts = await jg.settled(job_id, 4)  # the whole (short) schedule
    assert receiver.calls_to("/elsewhere") == []
    assert len(receiver.calls_to("/moved")) == 4
    assert [d["status"] for d in attempts] == ["FAILED", "FAILED", "FAILED", "GAVE_UP"]
    assert all(d["responseStatus"] == 307 for d in attempts)
    assert "redirects are not followed" in attempts[-1]["error"]


async def test_retry_after_and_timeouts(database_url: str, tmp_path: Path) -> None:
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
        receiver.script("/busy", Answer(503, {"retry-after": "2"}), 200)
        receiver.script("/slow", Answer(200, delay=4), 200)  # beyond the 2 s timeout
        busy = await jg.create(receiver.url("/busy"))
        slow = await jg.create(receiver.url("/slow"))
        await finish(jg, busy)
        await finish(jg, slow)
        busy_calls = await receiver.wait_for("/busy", 2)
        await receiver.wait_for("/slow", 2)
        busy_attempts = await jg.settled(busy, 2)
        slow_attempts = await jg.settled(slow, 2)
    waited = busy_calls[1].at - busy_calls[0].at
    assert 1.9 <= waited < 4, waited  # Retry-After: 2, not the schedule's 0.3 s
    assert [d["status"] for d in busy_attempts] == ["FAILED", "SUCCEEDED"]
    assert busy_attempts[0]["responseStatus"] == 503
    assert slow_attempts[0]["status"] == "FAILED" and "timed out" in slow_attempts[0]["error"]
    assert slow_attempts[0]["durationMs"] < 3000
    assert slow_attempts[1]["status"] == "SUCCEEDED"
    print(f"\nRetry-After: 2 -> next attempt {waited:.2f} s later")


async def test_attempts_in_flight_are_bounded_per_process(
    database_url: str, tmp_path: Path
) -> None:
    """JOBGRAPH_WEBHOOK_CONCURRENCY caps the attempts one process has in flight: six slow
    receivers are called two at a time, and every call still goes out."""
    hold = 1.5
    options = {"webhook_concurrency": 2, "webhook_timeout_seconds": 10}
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path, **options) as jg:
        receiver.default = Answer(200, delay=hold)
        jobs = [await jg.create(receiver.url(f"/slow{index}")) for index in range(6)]
        for job_id in jobs:
            await finish(jg, job_id)
        for index in range(6):
            await receiver.wait_for(f"/slow{index}", 1, timeout=30)
        for job_id in jobs:
            assert [d["status"] for d in await jg.settled(job_id, 1)] == ["SUCCEEDED"]
    arrivals = sorted(call.at for call in receiver.calls)
    assert len(arrivals) == 6
    assert receiver.peak_in_flight == 2, receiver.peak_in_flight
    # The third call waits for a slot: it starts only when one of the first two has ended.
    assert arrivals[2] - arrivals[0] >= hold * 0.9, arrivals
    print(f"\nconcurrency 2, six {hold} s receivers: at most {receiver.peak_in_flight} at once")


async def test_https_connects_to_the_pinned_address_and_checks_the_name(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTPS the connection goes to the resolved address while TLS (SNI and the
    certificate check) names the host: a certificate for the host name, with no address in it,
    is accepted; the same server reached under another name fails the check and gets nothing."""
    cert = self_signed(tmp_path, "hooks.example.test")
    trusting = ssl.create_default_context(cafile=str(cert.cert_file))
    # The sender's TLS context (httpx's default, the public CAs) trusts this certificate only.
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *_, **__: trusting)
    spy = ConnectionSpy(monkeypatch)
    resolve_to(monkeypatch, {"hooks.example.test": "127.0.0.1", "other.example.test": "127.0.0.1"})
    async with Receiver(tls=cert).running() as receiver, jobgraph(database_url, tmp_path) as jg:
        named = await jg.create(f"https://hooks.example.test:{receiver.port}/tls")
        other = await jg.create(f"https://other.example.test:{receiver.port}/wrong-name")
        await finish(jg, named)
        await finish(jg, other)
        (call,) = await receiver.wait_for("/tls", 1)
        (ok,) = await jg.settled(named, 1)
        refused = await jg.settled(other, 4)  # the whole (short) schedule
        secret = await jg.secret()
    assert ok["status"] == "SUCCEEDED" and ok["responseStatus"] == 200
    assert call.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert call.verify(secret)["type"] == "job.completed"
    assert receiver.calls_to("/wrong-name") == []
    assert [d["status"] for d in refused] == ["FAILED", "FAILED", "FAILED", "GAVE_UP"]
    assert all("CERTIFICATE_VERIFY_FAILED" in d["error"] for d in refused), refused
    assert set(spy.targets) == {"127.0.0.1"}


async def test_rotation_signs_with_both_secrets(database_url: str, tmp_path: Path) -> None:
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
        old = await jg.secret()
        new = await jg.store.webhook_secrets.rotate(tenant="default")
        job_id = await jg.create(receiver.url("/rotated"))
        await finish(jg, job_id)
        (call,) = await receiver.wait_for("/rotated", 1)
    assert new != old and new.startswith("whsec_")
    signatures = call.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert call.verify(new)["type"] == call.verify(old)["type"] == "job.completed"


async def test_progress_is_throttled_and_the_last_is_sent(
    database_url: str, tmp_path: Path
) -> None:
    options = {"webhook_progress_interval_seconds": 1.0}
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path, **options) as jg:
        job_id = await jg.create(receiver.url("/progress"), ["PROGRESS"])
        await jg.claim(job_id)
        for progress in range(5, 96, 5):  # 19 reports over ~1.9 s
            await jg.gql(BEAT, j=job_id, p=progress)
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # the held one falls due
        calls = receiver.calls_to("/progress")
        queued = [datetime.fromisoformat(d["createdAt"]) for d in await jg.deliveries(job_id)]
    values = [call.payload["data"]["progress"] for call in calls]
    assert values[0] == 5 and values[-1] == 95, values
    assert 2 <= len(values) <= 4 and len(queued) == len(values), values
    # Queued at most once a second (when they arrive also depends on the machine's load).
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(queued)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    print(f"\n19 progress reports in 1.9 s -> {len(values)} PROGRESS calls {values}")


async def test_redeliver_sends_the_same_message_again(database_url: str, tmp_path: Path) -> None:
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
        job_id = await jg.create(receiver.url("/again"))
        await finish(jg, job_id)
        (first,) = await receiver.wait_for("/again", 1)
        (attempt,) = await jg.settled(job_id, 1)
        answer = await jg.gql(
            "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { id attempt status } }",
            d=attempt["id"],
        )
        second = (await receiver.wait_for("/again", 2))[1]
        attempts = await jg.settled(job_id, 2)
    assert answer["redeliverWebhook"]["attempt"] == 2
    assert second.webhook_id == first.webhook_id and second.body == first.body
    assert [d["status"] for d in attempts] == ["SUCCEEDED", "SUCCEEDED"]


# --- SSRF: with private addresses refused, nothing is ever connected to ------------------------


class ConnectionSpy:
    """Records every connection the sender makes (and lets it happen, to loopback only: a
    test must never send traffic anywhere else)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.targets: list[str] = []
        real = webhook_http.WebhookSender._post

        async def spy(self_: Any, target: Any, address: Any, *args: Any) -> Any:
            self.targets.append(str(address))
            assert address.is_loopback, f"a test tried to connect to {address}"
            return await real(self_, target, address, *args)

        monkeypatch.setattr(webhook_http.WebhookSender, "_post", spy)


def resolve_to(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> list[str]:
    """Resolve the given names to the given addresses (the resolution function only; the
    connection logic stays real). Returns the names looked up, one per lookup."""
    looked_up: list[str] = []
    real = webhook_http.resolve_host

    async def fake(host: str, port: int) -> list[Any]:
        looked_up.append(host)
        if host in names:
            return [ipaddress.ip_address(names[host])]
        return await real(host, port)

    monkeypatch.setattr(webhook_http, "resolve_host", fake)
    return looked_up


async def test_private_addresses_are_refused_and_never_reached(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = ConnectionSpy(monkeypatch)
    looked_up = resolve_to(monkeypatch, {"hooks.example.test": "127.0.0.1"})
    async with (
        Receiver().running() as v4,
        Receiver("::1").running() as v6,
        jobgraph(database_url, tmp_path, webhook_allow_private=False) as jg,
    ):
        urls = {
            "loopback": v4.url("/ssrf"),
            "ipv6 loopback": v6.url("/ssrf"),
            "metadata service": "http://169.254.169.254/latest/meta-data/",
            "private": "http://10.0.0.1/hook",
            "name resolving to loopback": f"http://hooks.example.test:{v4.port}/ssrf",
            "v4-mapped v6": f"http://[::ffff:127.0.0.1]:{v4.port}/ssrf",
        }
        jobs = {}
        for name, url in urls.items():
            # Stored as if created while private addresses were allowed: the worker's own
            # check is what is under test (createJob's is in the GraphQL tests).
            job, _ = await jg.store.jobs.create_job(
                tenant="default",
                items=[video(0)],
                webhook=WebhookSpec(url, (WebhookEvent.COMPLETED,)),
            )
            jobs[name] = job.id
            await jg.claim(job.id)
            await jg.gql(COMPLETE, j=job.id)
        outcomes = {name: await jg.settled(job_id, 1) for name, job_id in jobs.items()}
        await asyncio.sleep(0.5)
    assert v4.calls == [] and v6.calls == []
    assert spy.targets == []
    for name, attempts in outcomes.items():
        assert [d["status"] for d in attempts] == ["GAVE_UP"], (name, attempts)
        assert attempts[0]["error"].startswith("refused:"), (name, attempts)
        assert attempts[0]["responseStatus"] is None
    assert "loopback" in outcomes["name resolving to loopback"][0]["error"]
    assert "link-local" in outcomes["metadata service"][0]["error"]
    assert "private" in outcomes["private"][0]["error"]
    assert looked_up == ["hooks.example.test"]  # the literals need no lookup to be refused
    print("\nrefused: " + "; ".join(f"{n}: {a[0]['error']}" for n, a in outcomes.items()))


async def test_the_resolved_address_is_the_one_connected_to(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With private addresses allowed, a name no real resolver knows reaches the receiver:
    the connection goes to the address resolved (once per attempt), the Host header keeps
    the name."""
    spy = ConnectionSpy(monkeypatch)
    looked_up = resolve_to(monkeypatch, {"hooks.example.test": "127.0.0.1"})
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
        receiver.script("/pinned", 500, 200)
        job_id = await jg.create(f"http://hooks.example.test:{receiver.port}/pinned")
        await finish(jg, job_id)
        calls = await receiver.wait_for("/pinned", 2)
    assert [call.headers["host"] for call in calls] == [f"hooks.example.test:{receiver.port}"] * 2
    assert looked_up == ["hooks.example.test"] * 2 and spy.targets == ["127.0.0.1"] * 2


async def test_claims_are_counted_in_metrics_and_logged(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="jobgraph.webhooks")
    async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
        receiver.script("/logged", 500, 200)
        job_id = await jg.create(receiver.url("/logged?token=sekrit"))
        await finish(jg, job_id)
        await jg.settled(job_id, 2)
        secret = await jg.secret()
        metrics = webhook_metric((await jg.http.get("/metrics")).text)
    lines = [r.getMessage() for r in caplog.records if r.name == "jobgraph.webhooks"]
    assert len(lines) == 2, lines
    assert "attempt 1" in lines[0] and "failed (HTTP 500; next attempt at" in lines[0]
    assert "attempt 2" in lines[1] and "succeeded" in lines[1]
    text = "\n".join(lines)
    assert "sekrit" not in text and secret not in text and "itemCounts" not in text
    assert metrics == {("COMPLETED", "failed"): 1, ("COMPLETED", "succeeded"): 1}


async def test_a_delivery_waits_in_the_outbox_for_a_worker(
    database_url: str, tmp_path: Path
) -> None:
    """A delivery queued while no worker runs waits in the outbox and goes out on start."""
    async with Receiver().running() as receiver:
        async with jobgraph(database_url, tmp_path, webhook_concurrency=0) as jg:
            job_id = await jg.create(receiver.url("/later"))
            await finish(jg, job_id)
            await asyncio.sleep(0.5)
            assert receiver.calls == []
        async with jobgraph(database_url, tmp_path) as jg:
            await receiver.wait_for("/later", 1)
            (attempt,) = await jg.settled(job_id, 1)
    assert attempt["status"] == "SUCCEEDED"


async def test_each_attempt_is_a_span_when_tracing_is_on(database_url: str, tmp_path: Path) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import engine.sql
    from telemetry import tracing

    exporter = InMemorySpanExporter()
    tracing.configure(SimpleSpanProcessor(exporter))
    try:
        async with Receiver().running() as receiver, jobgraph(database_url, tmp_path) as jg:
            receiver.script("/traced", 500, 200)
            job_id = await jg.create(receiver.url("/traced"))
            await finish(jg, job_id)
            await jg.settled(job_id, 2)
    finally:
        tracing.shutdown()
        engine.sql.observe = None
    spans = [s for s in exporter.get_finished_spans() if s.name == "webhook delivery"]
    assert len(spans) == 2
    outcomes = sorted(str((s.attributes or {})["http.response.status_code"]) for s in spans)
    assert outcomes == ["200", "500"]
    for span in spans:
        attributes = span.attributes or {}
        assert (
            attributes["webhook.event"] == "COMPLETED" and attributes["jobgraph.job.id"] == job_id
        )
        assert "traced" not in str(attributes.get("server.address"))  # the origin, not the path
