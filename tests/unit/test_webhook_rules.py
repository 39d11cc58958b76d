"""Unit (no database, no app): webhook URLs, the address policy, the retry schedule, Retry-After,
answers, signatures and the secrets' cipher."""

from __future__ import annotations

import ipaddress
import os
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from domain.errors import BadUserInput
from domain.webhook_urls import MAX_URL_LENGTH, address_refusal, parse_webhook_url
from domain.webhooks import (
    DEFAULT_EVENTS,
    DEFAULT_SCHEDULE,
    Outcome,
    WebhookEvent,
    classify,
    parse_events,
    parse_schedule,
    retry_after_seconds,
    retry_delay,
)
from server.webhook_worker import origin_of, sign
from settings import Settings
from storage.webhook_secrets import SecretCipher, SecretUnreadable, new_secret

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.1.2.3": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "CGNAT",
    "fd12:3456::1": "unique-local",
    "224.0.0.251": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "64:ff9b::a00:1": "private",  # NAT64 of 10.0.0.1
    "2002:a9fe:a9fe::1": "link-local",  # 6to4 of 169.254.169.254
}


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    reason = address_refusal(ipaddress.ip_address(address))
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "must be an http"),
        ("hooks.example.com/x", "must be an http"),
        ("ftp://hooks.example.com/", "must be an http"),
        ("javascript:alert(1)", "must be an http"),
        ("file:///etc/passwd", "must be an http"),
        ("http://", "has no host"),
        ("http:///path", "has no host"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://token@hooks.example.com/", "credentials"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com:0/", "port 0"),
        ("https://hooks example.com/", "spaces"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com\\@evil.example/", "backslashes"),
        ("https://hooks.example.com/\n", "control characters"),
        ("https://" + "a" * MAX_URL_LENGTH + ".com/", f"at most {MAX_URL_LENGTH}"),
        ("https://exa_mple.com/", "invalid host name"),
        ("https://-bad.example.com/", "invalid host name"),
        ("https://a..b/", "invalid host name"),
        ("http://127.1/", "neither a name nor"),
        ("http://2130706433/", "neither a name nor"),
        ("http://0x7f000001/", "neither a name nor"),
        ("http://localhost:8080/", "localhost"),
        ("http://api.localhost/", "localhost"),
        ("http://127.0.0.1:9000/", "loopback"),
        ("http://[::1]:9000/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/", "private"),
    ],
)
def test_bad_urls_are_bad_user_input(url: str, message: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        parse_webhook_url(url, allow_private=False)
    assert message in refused.value.message
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "webhook.url"}


def test_good_urls_are_normalised() -> None:
    url = parse_webhook_url("HTTPS://Hooks.Example.COM/jobs?k=1#top", allow_private=False)
    assert url.url == "https://hooks.example.com/jobs?k=1"
    assert (url.host, url.port, url.target, url.host_header) == (
        "hooks.example.com",
        443,
        "/jobs?k=1",
        "hooks.example.com",
    )
    idn = parse_webhook_url("http://bücher.example:8080", allow_private=False)
    assert idn.url == "http://xn--bcher-kva.example:8080/"
    assert idn.host_header == "xn--bcher-kva.example:8080"
    v6 = parse_webhook_url("https://[2606:4700::1111]:8443/h", allow_private=False)
    assert v6.origin == "https://[2606:4700::1111]:8443"


def test_private_literals_pass_only_when_allowed() -> None:
    for url in ("http://127.0.0.1:9/h", "http://[::1]:9/h", "http://localhost:9/h"):
        assert parse_webhook_url(url, allow_private=True).url == url
    # Odd spellings and credentials stay refused even then.
    for url in ("http://127.1/", "http://u:p@127.0.0.1/"):
        with pytest.raises(BadUserInput):
            parse_webhook_url(url, allow_private=True)


def test_events() -> None:
    assert parse_events(None) == DEFAULT_EVENTS
    assert parse_events(["completed", "STARTED", "Completed"]) == (
        WebhookEvent.STARTED,
        WebhookEvent.COMPLETED,
    )
    for bad in ([], ["DONE"]):
        with pytest.raises(BadUserInput) as refused:
            parse_events(bad)
        assert refused.value.extra == {"field": "webhook.events"}
    assert WebhookEvent.CANCELLED.type_name == "job.cancelled"


def test_schedule_and_jitter() -> None:
    assert parse_schedule(DEFAULT_SCHEDULE) == (
        0,
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        50400,
        72000,
        86400,
    )
    assert parse_schedule("0, 0.5, 1m, 1d") == (0, 0.5, 60, 86400)
    for bad in ("", "5x", "0,,5", "-1"):
        with pytest.raises(ValueError):
            parse_schedule(bad)
    schedule = parse_schedule(DEFAULT_SCHEDULE)
    rng = random.Random(7)
    delays = [retry_delay(schedule, 2, jitter=0.2, rng=rng) for _ in range(500)]
    assert all(240 <= delay <= 360 for delay in delays if delay is not None)
    assert len(set(delays)) > 400  # spread, not one value
    assert retry_delay(schedule, 0, jitter=0.2) == 0
    assert retry_delay(schedule, 10, jitter=0.2) is None
    with pytest.raises(ValueError):
        Settings(webhook_retry_schedule="0,soon")


def test_retry_after_and_answers() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("120", now=now, cap=3600) == 120
    assert retry_after_seconds("999999", now=now, cap=3600) == 3600
    later = "Thu, 01 Jan 2026 00:01:30 GMT"
    assert retry_after_seconds(later, now=now, cap=3600) == 90
    assert retry_after_seconds("Wed, 31 Dec 2025 00:00:00 GMT", now=now, cap=3600) == 0
    assert retry_after_seconds("soon", now=now, cap=3600) is None
    assert retry_after_seconds(None, now=now, cap=3600) is None
    assert [classify(code) for code in (200, 204, 299)] == [Outcome.SUCCEEDED] * 3
    assert [classify(code) for code in (301, 302, 307, 308)] == [Outcome.REDIRECTED] * 4
    assert classify(410) is Outcome.GONE and not Outcome.GONE.retried
    assert classify(429) is classify(503) is Outcome.THROTTLED
    assert classify(500) is classify(404) is Outcome.HTTP_ERROR
    assert not Outcome.REFUSED.retried and Outcome.UNREACHABLE.retried


def test_signatures_verify_with_standardwebhooks() -> None:
    old, new = new_secret(), new_secret()
    body = '{"type":"job.completed","timestamp":"2026-01-01T00:00:00+00:00","data":{}}'
    at = datetime.now(UTC)
    headers = sign(secrets=[new, old], message_id="msg_1", body=body, at=at)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        assert Webhook(secret).verify(body, headers)["type"] == "job.completed"
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(body, headers)
    stale = sign(secrets=[new], message_id="msg_1", body=body, at=at - timedelta(minutes=10))
    with pytest.raises(Exception, match="too old"):
        Webhook(new).verify(body, stale)
    assert origin_of("https://h.example.com:8443/p?token=x") == "https://h.example.com:8443"


def test_secret_cipher(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "webhook.key"
    settings = Settings(webhook_secret_key_file=str(path))
    made: list[SecretCipher] = []
    threads = [
        threading.Thread(target=lambda: made.append(SecretCipher.from_settings(settings)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    secret = new_secret()
    token = made[0].encrypt(secret)
    assert secret not in token and secret[6:] not in token
    assert all(cipher.decrypt(token) == secret for cipher in made)  # one key won
    assert list(tmp_path.joinpath("keys").iterdir()) == [path]  # no temporary left
    configured = Settings(webhook_secret_key=f"{'A' * 43}=,{path.read_text().strip()}")
    rotated_key = SecretCipher.from_settings(configured)
    assert rotated_key.decrypt(token) == secret  # the old key still decrypts
    with pytest.raises(SecretUnreadable):
        SecretCipher.from_settings(Settings(webhook_secret_key="B" * 43 + "=")).decrypt(token)
    with pytest.raises(ValueError, match="Fernet keys"):
        SecretCipher.from_settings(Settings(webhook_secret_key="short"))
