"""The two servers under test, each a real process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process; ``peak_rss_mb`` reads VmHWM, the kernel's high-water mark of its RSS."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, probe: bytes, key: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text(errors='replace')}")
            try:
                response = httpx.post(
                    f"{self.url}/graphql",
                    content=probe,
                    headers={"content-type": "application/json", "x-api-key": key},
                    timeout=2,
                )
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} not ready:\n{self.log.read_text(errors='replace')}"
                )
            time.sleep(0.1)

    def post(self, body: bytes, key: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/graphql",
            content=body,
            headers={"content-type": "application/json", "x-api-key": key},
            timeout=30,
        )

    def peak_rss_mb(self) -> float:
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return float("nan")
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_floor(db_path: Path, logs: Path, *, access_log: bool) -> Server:
    command = [sys.executable, "-m", "bench.floor", "--db", str(db_path), "--log-level", "info"]
    if not access_log:
        command.append("--no-access-log")
    return Server("floor", command, {}, logs / "floor.log")


def start_jobgraph(database_url: str, logs: Path, extra_args: list[str]) -> Server:
    # `app.py serve` exactly as operators run it: one uvicorn worker, default options.
    command = [sys.executable, "app.py", "serve", "--host", "127.0.0.1", *extra_args]
    env = {
        "JOBGRAPH_DATABASE_URL": database_url,
        "JOBGRAPH_ENV": "development",
        # One key sends all the load: keep the limiter's cost in the path, never its 429s.
        "JOBGRAPH_RATE_LIMIT_PER_SECOND": "1000000",
        # One key opens every subscriber's socket.
        "JOBGRAPH_MAX_WS_CONNECTIONS_PER_KEY": "0",
    }
    return Server("jobgraph", command, env, logs / "jobgraph.log")
