"""The SDK as a user gets it: ``pip install ./sdk/python`` into a fresh virtualenv outside the
repository (its build backend and httpx come from the package index), then the worker snippet
of each README (the project's and the SDK's), verbatim, run from an empty directory against a
live server; the package is typed for mypy --strict, and the ``jobgraph-worker`` command is
installed."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import ROOT, live_server
from tests.sdk_support import Api, make_keys

pytestmark = pytest.mark.e2e

SDK = ROOT / "sdk" / "python"
# The snippet other documents quote: the README must keep showing exactly this.
SNIPPET = """\
import asyncio, os
from jobgraph_worker import JobLog, SkipItem, Worker, WorkItem

async def process(item: WorkItem, log: JobLog) -> None:
    log.info(f"extracting {item.platform} {item.code}")   # also log(...), .debug/.warning/.error
    if item.code.startswith("private"):
        raise SkipItem("private video")                   # the item becomes SKIPPED
    # any other exception fails the item; its message becomes the item's error

asyncio.run(Worker(os.environ.get("JOBGRAPH_URL", "http://127.0.0.1:8000/graphql"),
                   os.environ["JOBGRAPH_API_KEY"], process).run(until_idle=True))
"""


def readme_snippet(readme: Path = SDK / "README.md", heading: str = "## Write a worker") -> str:
    """The first Python block under ``heading``."""
    section = readme.read_text().split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


# The worker snippets a user copies: the project README's (its own layout) and the SDK's.
SNIPPETS = {
    "project_worker.py": readme_snippet(ROOT / "README.md", "## Writing a worker"),
    "my_worker.py": readme_snippet(),
}


def plain_env(**extra: str) -> dict[str, str]:
    """What a user's shell has: no PYTHONPATH, no virtualenv of ours, no JOBGRAPH_ settings."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update({name: value for name, value in os.environ.items() if name.startswith("PIP_")})
    return {**env, **extra}


def run(
    *args: str | Path, cwd: Path, timeout: float, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=plain_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_readme_shows_the_quoted_snippet() -> None:
    assert readme_snippet() == SNIPPET


def test_pip_install_into_a_fresh_venv_and_run_the_readme_snippet(tmp_path: Path) -> None:
    assert not tmp_path.is_relative_to(ROOT)
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    base_python = getattr(sys, "_base_executable", sys.executable)
    made = run(base_python, "-m", "venv", venv, cwd=tmp_path, timeout=120)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    install = ("-m", "pip", "install", "--disable-pip-version-check", "--retries", "5")
    for _ in range(2):  # one more try if the package index had a bad moment
        installed = run(python, *install, "--timeout", "30", SDK, cwd=work, timeout=300)
        if installed.returncode == 0:
            break
    assert installed.returncode == 0, installed.stdout + installed.stderr

    where = run(
        python,
        "-c",
        "import jobgraph_worker; print(jobgraph_worker.__file__)",
        cwd=work,
        timeout=60,
    )
    package = Path(where.stdout.strip()).parent
    assert package.is_relative_to(venv), where.stdout + where.stderr
    assert (package / "py.typed").exists()
    version = run(venv / "bin" / "jobgraph-worker", "--version", cwd=work, timeout=60)
    assert version.returncode == 0 and "jobgraph-worker 0.1.0" in version.stdout

    for name, snippet in SNIPPETS.items():
        (work / name).write_text(snippet)
    # Typed: each snippet passes mypy --strict against the installed package.
    typed = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--python-executable", str(python)),
            *("--cache-dir", str(tmp_path / "mypy-cache"), *SNIPPETS),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr

    database_url = f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"
    keys = make_keys(database_url, "install")
    with live_server(database_url, tmp_path) as server:
        graphql = f"{server.url}/graphql"

        async def create() -> str:
            async with httpx.AsyncClient(timeout=30) as http:
                items = [
                    {"platform": "YOUTUBE", "code": "dQw4w9WgXcQ"},
                    {"platform": "YOUTUBE", "code": "privatevid1"},
                    {"url": "https://www.tiktok.com/@scout/video/6718335390845095173"},
                ]
                job_id: str = (
                    await Api(http, graphql, keys.client)(
                        "mutation($i: [VideoItemInput!]!) { createJob(input: {items: $i}) { id } }",
                        i=items,
                    )
                )["createJob"]["id"]
                return job_id

        async def read(job_id: str) -> tuple[dict[str, Any], list[str]]:
            async with httpx.AsyncClient(timeout=30) as http:
                api = Api(http, graphql, keys.client)
                lines = [line["message"] for line in await api.lines(job_id)]
                return await api.job(job_id), lines

        Run = tuple[str, subprocess.CompletedProcess[str], dict[str, Any], list[str]]
        runs: dict[str, Run] = {}
        for name in SNIPPETS:
            job_id = asyncio.run(create())
            ran = run(
                python,
                name,
                cwd=work,
                timeout=120,
                JOBGRAPH_URL=graphql,
                JOBGRAPH_API_KEY=keys.work,
            )
            assert ran.returncode == 0, name + "\n" + ran.stdout + ran.stderr
            runs[name] = (job_id, ran, *asyncio.run(read(job_id)))
    pip_said = installed.stdout.strip().splitlines()[-1]
    print(f"\nfresh venv {venv}: {pip_said}")
    for name, (job_id, ran, job, lines) in runs.items():
        assert job["status"] == "COMPLETED", name
        statuses = [item["status"] for item in job["items"]]
        assert statuses == ["COMPLETED", "SKIPPED", "COMPLETED"], name
        assert lines == [
            "extracting YOUTUBE dQw4w9WgXcQ",
            "extracting YOUTUBE privatevid1",
            "extracting TIKTOK 6718335390845095173",
        ], name
        # Logging nobody configured still shows what the worker did; the key is never printed.
        assert f"claimed job {job_id}" in ran.stderr and "done (1 claimed)" in ran.stderr, name
        assert keys.work not in ran.stdout + ran.stderr, name
        print(f"{name} (README snippet) -> job {job_id} {job['status']}")
