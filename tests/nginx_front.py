"""Debian's nginx in front of a live jobgraph, configured by the committed
deploy/nginx/jobgraph.conf (only its listen port and upstream address changed)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.live import ROOT, free_port

CONFIG = ROOT / "deploy" / "nginx" / "jobgraph.conf"
NGINX = "/usr/sbin/nginx"


def ensure_nginx() -> str:
    """Debian's nginx, installed with apt-get when absent (as CI does, running as root)."""
    if not Path(NGINX).exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            reason = f"{NGINX} is missing and cannot be installed: apt-get install nginx"
            if IN_CI:
                pytest.fail(reason)
            pytest.skip(reason)
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "nginx"],
            check=True,
            timeout=900,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    return NGINX


def seconds_of(directive: str) -> float:
    """A duration directive's value in the committed config (``client_header_timeout 10s``)."""
    found = re.search(rf"^\s*{directive}\s+(\d+)s;", CONFIG.read_text(), re.MULTILINE)
    assert found, f"{directive} is not set in {CONFIG}"
    return float(found.group(1))


def number_of(pattern: str) -> int:
    found = re.search(pattern, CONFIG.read_text(), re.MULTILINE)
    assert found, f"{pattern} not found in {CONFIG}"
    return int(found.group(1))


@dataclass
class Front:
    port: int
    url: str
    ws_url: str
    error_log: Path


def _render(upstream_port: int, port: int) -> str:
    text = CONFIG.read_text()
    text, listens = re.subn(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{port};", text, flags=re.M)
    text, servers = re.subn(
        r"^(\s*)server 127\.0\.0\.1:8000;",
        rf"\1server 127.0.0.1:{upstream_port};",
        text,
        flags=re.M,
    )
    assert listens == 1 and servers == 1, "the config's listen or upstream line changed"
    return text


@contextmanager
def nginx_front(upstream_port: int, tmp_path: Path) -> Iterator[Front]:
    nginx = ensure_nginx()
    port = free_port()
    root = tmp_path / f"nginx-{port}"
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / name).mkdir(parents=True)
    (root / "jobgraph.conf").write_text(_render(upstream_port, port))
    error_log = root / "error.log"
    (root / "nginx.conf").write_text(
        f"""
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {error_log} info;
events {{ worker_connections 1024; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/jobgraph.conf;
}}
"""
    )
    with (root / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [nginx, "-p", str(root), "-c", str(root / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(root / 'stderr.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not listen") from None
                time.sleep(0.05)
        yield Front(
            port=port,
            url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}/graphql",
            error_log=error_log,
        )
    finally:
        # QUIT: nginx's graceful stop; TERM after a while, then KILL.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
