"""Redis for tests: the shared server at 127.0.0.1:6379 with a channel of each test's own (pub/sub
ignores the database number, so the channel keeps parallel runs apart), and a private
``redis-server`` on a free port for tests that stop and restart it."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.live import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
_EPHEMERAL = ("--appendonly", "no")


def unique_channel() -> str:
    return f"jobgraph-test:{uuid.uuid4().hex[:12]}"


def kill_clients(url: str, name: str) -> int:
    """CLIENT KILL every connection named ``name``; returns how many went."""
    client = redis.Redis.from_url(url)
    try:
        ids = [entry["id"] for entry in client.client_list() if entry.get("name") == name]
        for client_id in ids:
            client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        client.close()


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is needed for the restart tests"
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *_EPHEMERAL,
                "--dir",
                str(self._directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
