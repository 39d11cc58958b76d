"""A new user's first commands: ``make run``'s key banner (and what a second start says),
``keys create --help``, ``keys revoke`` by what ``keys list`` prints, and ``make demo``,
which works in a tenant of its own and never claims the user's jobs."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from cli import run as cli_run
from domain.principal import Scope
from settings import Settings
from storage.database import Database
from storage.store import Store
from storage.tables import jobs
from tests.factories import make_job
from tests.live import ROOT, cli, free_port


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"
    monkeypatch.setenv("JOBGRAPH_DATABASE_URL", url)
    return url


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def app(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """``app.py ARGS`` in this process (the database from JOBGRAPH_DATABASE_URL)."""

    def run(*args: str) -> Ran:
        capsys.readouterr()
        returncode = cli_run(list(args))
        out, err = capsys.readouterr()
        return Ran(returncode, out, err)

    return run


def test_every_start_says_how_to_get_a_key(app: Callable[..., Ran], sqlite_url: str) -> None:
    first = app("bootstrap-key")
    key = next(word for word in first.stderr.split() if word.startswith("jg_"))
    assert "created a development API key with every scope (shown once)" in first.stderr
    assert "paste the key into the X-API-Key bar above the editor" in first.stderr

    second = app("bootstrap-key")
    assert key not in second.stderr and "jg_" not in second.stderr
    assert "already has API keys, so none is printed" in second.stderr
    assert ".venv/bin/python app.py keys create --name me --scopes read,submit,work" in (
        second.stderr
    )
    assert "paste the key into the X-API-Key bar above the editor" in second.stderr
    # The command it shows works as shown.
    made = app("keys", "create", "--name", "me", "--scopes", "read,submit,work")
    assert made.stdout.strip().startswith("jg_")


def test_keys_create_help_documents_name_and_default_scopes(sqlite_url: str) -> None:
    shown = cli(sqlite_url, "keys", "create", "--help").stdout
    assert "--name NAME" in shown and "a label for the key" in shown
    assert "(default: read)" in shown
    for scope in ("read ", "submit ", "work ", "admin "):
        assert f"  {scope}" in shown


def listed(app: Callable[..., Ran]) -> list[list[str]]:
    return [line.split("\t") for line in app("keys", "list").stdout.splitlines()]


@pytest.mark.parametrize("by", ["prefix as listed", "prefix without ellipsis", "id"])
def test_revoke_by_what_keys_list_prints_and_twice(
    app: Callable[..., Ran], sqlite_url: str, by: str
) -> None:
    app("keys", "create", "--name", "keep")
    app("keys", "create", "--name", "drop")
    key_id, prefix = next(row[:2] for row in listed(app) if row[2] == "drop")
    assert prefix.endswith("…")
    given = {"prefix as listed": prefix, "prefix without ellipsis": prefix[:-1], "id": key_id}[by]

    revoked = app("keys", "revoke", given)
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked {key_id} ({prefix}, drop)" in revoked.stderr
    states = {row[2]: row[5] for row in listed(app)}
    assert states == {"keep": "active", "drop": "revoked"}

    again = app("keys", "revoke", given)
    assert again.returncode == 0
    assert f"{key_id} ({prefix}, drop) is already revoked" in again.stderr


def test_revoke_unknown_or_ambiguous(
    app: Callable[..., Ran], sqlite_url: str, tmp_path: Path
) -> None:
    app("keys", "create", "--name", "one")
    app("keys", "create", "--name", "two")
    unknown = app("keys", "revoke", "jg_nothere…")
    assert unknown.returncode == 1
    assert "no key has the id or prefix jg_nothere… (see `keys list`)" in unknown.stderr
    # Two keys that happen to share the shown prefix: the id decides.
    with sqlite3.connect(tmp_path / "jobgraph.db") as db:
        db.execute("UPDATE api_keys SET prefix = 'jg_same123'")
    ambiguous = app("keys", "revoke", "jg_same123…")
    assert ambiguous.returncode == 1
    assert "2 keys have the prefix jg_same123; give an id:" in ambiguous.stderr
    assert {row[5] for row in listed(app)} == {"active"}


async def user_job_and_key(database_url: str) -> tuple[str, str]:
    """A job of the user's, PENDING in the default tenant, and a key that could claim it."""
    db = Database(Settings(database_url=database_url))
    try:
        store = Store(db)
        job = await make_job(store, tenant="default", items=2)
        _, key = await store.keys.create(name="mine", tenant="default", scopes=[Scope.WORK])
        return job.id, key
    finally:
        await db.dispose()


async def jobs_by_tenant(database_url: str) -> dict[str, list[tuple[str, str]]]:
    db = Database(Settings(database_url=database_url))
    try:
        query = select(jobs.c.tenant, jobs.c.id, jobs.c.status)
        rows = await db.read(lambda conn: conn.execute(query).all())
    finally:
        await db.dispose()
    found: dict[str, list[tuple[str, str]]] = {}
    for tenant, job_id, status in rows:
        found.setdefault(tenant, []).append((job_id, status))
    return found


@pytest.mark.e2e
def test_demo_works_in_its_own_tenant_only(sqlite_url: str, tmp_path: Path) -> None:
    cli(sqlite_url, "migrate")
    user_job, user_key = asyncio.run(user_job_and_key(sqlite_url))
    key_file = tmp_path / "demo.key"
    env = {
        **os.environ,
        "JOBGRAPH_DATABASE_URL": sqlite_url,
        "JOBGRAPH_PORT": str(free_port()),
        # A key of the user's own tenant in the environment must not be used.
        "JOBGRAPH_API_KEY": user_key,
    }
    command = [sys.executable, "-m", "demo", "--speed", "0", "--once", "--key-file", str(key_file)]
    runs = []
    for _ in range(2):  # the second run reuses the saved key
        runs.append(
            subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        )
        assert runs[-1].returncode == 0, runs[-1].stdout + runs[-1].stderr
    demo_key = key_file.read_text().strip()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    for run in runs:
        assert f"demo API key, tenant 'demo' (also in {key_file}): {demo_key}" in run.stdout
        assert "paste the key into the X-API-Key bar above the editor" in run.stdout
        assert "all sample jobs are done" in run.stdout
        assert user_key not in run.stdout + run.stderr
    assert "{'status': 'COMPLETED', 'attempt': 2}" in runs[0].stdout  # the retried job

    tenants = asyncio.run(jobs_by_tenant(sqlite_url))
    assert tenants["default"] == [(user_job, "PENDING")]  # the user's job, untouched
    assert [status for _, status in tenants["demo"]] == ["COMPLETED"] * 6
    assert set(tenants) == {"default", "demo"}


def test_python_m_demo_outside_the_venv_says_how_to_run_it() -> None:
    # -S: no site-packages, as with a system python that has none of the dependencies.
    bare = subprocess.run(
        [sys.executable, "-S", "-m", "demo", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bare.returncode == 1
    assert "`make demo`, or `make install` then `.venv/bin/python -m demo`" in bare.stderr
    assert "Traceback" not in bare.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "demo", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert shown.returncode == 0 and "usage: .venv/bin/python -m demo" in shown.stdout
