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
    modules = WEB / "node_modules"
    if not missing_vendor_files() and all(
        (modules / name).is_dir() for name in ("playwright-core", "axe-core")
    ):
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


def start_node(script: str, *args: str) -> subprocess.Popen[str]:
    """Start ``node web/tests/SCRIPT ARGS`` without waiting (for tests that act meanwhile)."""
    return subprocess.Popen(
        ["node", str(WEB / "tests" / script), *args],
        cwd=WEB,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def node_result(process: subprocess.Popen[str], *, timeout: float = 90) -> dict[str, Any]:
    """Wait for a node script and return the JSON object it prints last."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"node did not finish in {timeout} s:\n{stdout}\n{stderr}") from None
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise AssertionError(
            f"node {process.args!r} failed ({process.returncode}):\n{stdout}\n{stderr}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_node(script: str, *args: str, timeout: float = 90) -> dict[str, Any]:
    """Run ``node web/tests/SCRIPT ARGS`` and return the JSON object it prints last."""
    return node_result(start_node(script, *args), timeout=timeout)


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
