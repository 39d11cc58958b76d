"""graphql-http's serverAudits (the GraphQL-over-HTTP spec's conformance suite) against a real
uvicorn: every audit passes, with no warnings."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live import cli, live_server

pytestmark = pytest.mark.e2e

AUDIT_DIR = Path(__file__).resolve().parent.parent / "audit"


@pytest.fixture(scope="session")
def audit_script() -> Path:
    """tests/audit with its node_modules (``make test`` runs ``npm ci`` first; so does this)."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed for the GraphQL-over-HTTP audit")
    installed = AUDIT_DIR / "node_modules" / ".package-lock.json"
    lock = AUDIT_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=AUDIT_DIR,
            check=True,
            timeout=300,
        )
    return AUDIT_DIR / "audit.mjs"


def test_server_audits_pass_without_warnings(audit_script: Path, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/audit.db"
    cli(database_url, "migrate")
    key = cli(database_url, "keys", "create", "--name", "audit", "--scopes", "read").stdout.strip()
    with live_server(database_url, tmp_path) as server:
        run = subprocess.run(
            ["node", str(audit_script), f"{server.url}/graphql", key],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    results = json.loads(run.stdout)["results"]
    assert len(results) >= 50  # the suite ran (graphql-http 1.23 has 61 server audits)
    problems = [result for result in results if result["status"] != "ok"]
    assert problems == [], json.dumps(problems, indent=2)
    assert key not in server.logs()
