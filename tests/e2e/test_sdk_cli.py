"""The ``jobgraph-worker`` command: runs a ``MODULE:FUNCTION`` against a real server, reads the
key from the environment and never prints it, logs INFO (DEBUG with ``--verbose``), and
says clearly what is wrong with its arguments, its key or its URL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import ROOT
from tests.sdk_support import CODES, WORKER_COMMAND, Api, Keys, Served, make_keys, serve_sqlite

pytestmark = pytest.mark.e2e

PIPELINE = '''
"""A plain (not async) process function: the worker runs it in a thread."""
from jobgraph_worker import JobLog, SkipItem, WorkItem

CONSTANT = 3


def process(item: WorkItem, log: JobLog) -> None:
    log.warning(f"extracting {item.code}")
    if item.position == 1:
        raise SkipItem("private video")
'''


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_sqlite(tmp_path_factory.mktemp("sdk-cli")) as served:
        yield served


@pytest.fixture(scope="module")
def keys(served: Served) -> Keys:
    return make_keys(served.database_url, "cli")


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    return tmp_path


def worker(
    app_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("JOBGRAPH")}
    return subprocess.run(
        [WORKER_COMMAND, *args],
        cwd=app_dir,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("verbose", [True, False])
def test_runs_a_module_function_until_idle(
    served: Served, keys: Keys, app_dir: Path, verbose: bool
) -> None:
    async def create() -> str:
        async with httpx.AsyncClient(timeout=30) as http:
            return await Api(http, served.graphql, keys.client).create(CODES[:2])

    job_id = asyncio.run(create())
    args = ["--url", served.graphql, "--key-env", "MY_WORKER_KEY", "--until-idle"]
    done = worker(
        app_dir,
        *args,
        *(["--verbose"] if verbose else []),
        "pipeline:process",
        env={"MY_WORKER_KEY": keys.work},
    )
    assert done.returncode == 0, done.stderr
    assert f"claimed job {job_id} (attempt 1, 2 items, 2 to do)" in done.stderr
    assert f"job {job_id} COMPLETED" in done.stderr
    assert "no job is pending: done (1 claimed)" in done.stderr
    # --verbose: debug lines, with every job log line echoed.
    assert (f"[{job_id[:8]}] WARNING extracting {CODES[0]}" in done.stderr) is verbose
    assert (" DEBUG " in done.stderr) is verbose
    assert "httpx" not in done.stderr  # other libraries stay quiet
    assert keys.work not in done.stdout + done.stderr

    async def read() -> tuple[dict[str, Any], list[str]]:
        async with httpx.AsyncClient(timeout=30) as http:
            api = Api(http, served.graphql, keys.client)
            return await api.job(job_id), [line["message"] for line in await api.lines(job_id)]

    job, lines = asyncio.run(read())
    assert job["status"] == "COMPLETED"
    assert lines == [f"extracting {CODES[0]}", f"extracting {CODES[1]}"]


EXPECTED = {
    "no key": (2, "set JOBGRAPH_API_KEY to an API key with the work scope"),
    "no key in the named variable": (2, "set OTHER to an API key with the work scope"),
    "no function": (2, "expected MODULE:FUNCTION, e.g. mypipeline:process; got 'pipeline'"),
    "no module": (2, "no module named 'no_such_module'"),
    "no attribute": (2, "module 'pipeline' has no 'nope'"),
    "not callable": (2, "pipeline:CONSTANT is not a function"),
    "bad lease": (2, "lease_seconds must be at least 1"),
    "wrong key": (1, "stopped: UNAUTHENTICATED"),
    "key without work scope": (1, "stopped: FORBIDDEN"),
    "not graphql": (1, "stopped: NOT_GRAPHQL"),
    "another path of the server": (
        1,
        "stopped: BAD_USER_INPUT: method POST is not allowed on /healthz",
    ),
}


@contextmanager
def web_page() -> Iterator[str]:
    """A URL on a real HTTP server that answers a POST with an HTML page: not GraphQL."""

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b"<!doctype html><p>a web page</p>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/graphql"
    finally:
        server.shutdown()
        server.server_close()


def arguments(case: str, served: Served, keys: Keys, page: str) -> tuple[list[str], dict[str, str]]:
    base = ["--url", served.graphql, "--until-idle"]
    work = {"JOBGRAPH_API_KEY": keys.work}
    return {
        "no key": ([*base, "pipeline:process"], {}),
        "no key in the named variable": ([*base, "--key-env", "OTHER", "pipeline:process"], work),
        "no function": ([*base, "pipeline"], work),
        "no module": ([*base, "no_such_module:process"], work),
        "no attribute": ([*base, "pipeline:nope"], work),
        "not callable": ([*base, "pipeline:CONSTANT"], work),
        "bad lease": ([*base, "--lease-seconds", "0", "pipeline:process"], work),
        "wrong key": ([*base, "pipeline:process"], {"JOBGRAPH_API_KEY": "jg_notakey"}),
        "key without work scope": ([*base, "pipeline:process"], {"JOBGRAPH_API_KEY": keys.client}),
        "not graphql": (["--url", page, "--until-idle", "pipeline:process"], work),
        # Every error of the server is a GraphQL error, so this one is read as one.
        "another path of the server": (
            ["--url", f"{served.url}/healthz", "--until-idle", "pipeline:process"],
            work,
        ),
    }[case]


@pytest.mark.parametrize("case", list(EXPECTED))
def test_says_what_is_wrong(served: Served, keys: Keys, app_dir: Path, case: str) -> None:
    with web_page() as page:
        args, env = arguments(case, served, keys, page)
        done = worker(app_dir, *args, env=env)
    status, message = EXPECTED[case]
    assert done.returncode == status, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    for key in env.values():
        assert key not in done.stdout + done.stderr


def test_the_repository_entry_points(tmp_path: Path) -> None:
    """``python worker.py`` (the repository's compatibility module) and ``python -m
    jobgraph_worker`` are the same command."""
    compat = subprocess.run(
        [sys.executable, "worker.py", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert compat.returncode == 0 and "MODULE:FUNCTION" in compat.stdout
    version = subprocess.run(
        [sys.executable, "-m", "jobgraph_worker", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert version.returncode == 0 and version.stdout.startswith("jobgraph-worker 0.1.0")
