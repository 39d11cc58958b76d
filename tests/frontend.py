"""Helpers for the frontend tests: the npm-installed assets, Debian's Chromium, node scripts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from server.frontend import WEB, missing_vendor_files
from tests.conftest import IN_CI
from tests.live import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"


def ensure_web_assets() -> None:
    """``make web`` (npm ci + copy) unless already done: the tests need node_modules too."""
    if not missing_vendor_files() and (WEB / "node_modules" / "playwright-core").is_dir():
        return
    if shutil.which("npm") is None:
        _unavailable("npm is not installed; the frontend tests need Node.js and npm")
    subprocess.run(["make", "web"], cwd=ROOT, check=True, timeout=600)


def ensure_chromium() -> str:
    """Debian's Chromium, installed with apt-get when absent (as CI does, running as root)."""
    if not Path(CHROMIUM).exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            _unavailable(f"{CHROMIUM} is missing and cannot be installed: apt-get install chromium")
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            timeout=900,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    return CHROMIUM


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def run_node(script: str, *args: str, timeout: float = 90) -> dict[str, Any]:
    """Run ``node web/tests/SCRIPT ARGS`` and return the JSON object it prints last."""
    completed = subprocess.run(
        ["node", str(WEB / "tests" / script), *args],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise AssertionError(
            f"node {script} failed ({completed.returncode}):\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def off_machine(urls: list[str]) -> list[str]:
    """The URLs that would leave the machine: anything but 127.0.0.1, data: and blob:."""
    leaving = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):
            continue
        if parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname != "127.0.0.1":
            leaving.append(url)
    return leaving
