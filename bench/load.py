"""Load generation: wrk (installed on demand), else a small asyncio generator of our own.

Both run as a separate process against one server, send POST /graphql bodies in rotation over
keep-alive connections, and report requests, duration and latency percentiles.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_MARK = "BENCH_JSON "

_LUA = """
local bodies = {%(bodies)s}
local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = %(key)s}
local prepared = {}
local n = 0
init = function(args)
  for i, body in ipairs(bodies) do
    prepared[i] = wrk.format("POST", "/graphql", headers, body)
  end
end
request = function()
  n = n + 1
  return prepared[(n %% #prepared) + 1]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,' ..
    '"errors":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII


def ensure_wrk() -> str | None:
    """wrk's path, installing the Debian package when missing; None when it cannot be had."""
    found = shutil.which("wrk")
    if found:
        return found
    install = ["apt-get", "install", "-y", "wrk"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if subprocess.run(install, check=False, **quiet).returncode != 0:  # type: ignore[call-overload]
        subprocess.run(["apt-get", "update"], check=False, **quiet)  # type: ignore[call-overload]
        subprocess.run(install, check=False, **quiet)  # type: ignore[call-overload]
    return shutil.which("wrk")


class LoadGenerator:
    def __init__(self, *, use_wrk: bool = True) -> None:
        self.wrk = ensure_wrk() if use_wrk else None
        self.name = "wrk" if self.wrk else "bench.pyload (asyncio; wrk unavailable)"
        self._dir = Path(tempfile.mkdtemp(prefix="bench-load-"))

    def run(
        self, port: int, bodies: list[bytes], key: str, *, connections: int, seconds: float
    ) -> LoadResult:
        bodies_file = self._dir / "bodies.json"
        bodies_file.write_text(json.dumps([body.decode() for body in bodies]))
        if self.wrk:
            script = self._dir / "post.lua"
            script.write_text(
                _LUA
                % {
                    "bodies": ", ".join(_lua_string(body.decode()) for body in bodies),
                    "key": _lua_string(key),
                    "mark": _MARK,
                }
            )
            threads = min(2, connections)
            command = [
                self.wrk,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}/graphql",
            ]
        else:
            command = [
                sys.executable,
                "-m",
                "bench.pyload",
                str(port),
                str(bodies_file),
                key,
                str(connections),
                str(seconds),
            ]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        for line in done.stdout.splitlines():
            if line.startswith(_MARK):
                data = json.loads(line[len(_MARK) :])
                return LoadResult(
                    requests=data["requests"],
                    seconds=data["duration_us"] / 1e6,
                    p50_ms=data["p50_us"] / 1000,
                    p99_ms=data["p99_us"] / 1000,
                    errors=data["errors"],
                )
        raise RuntimeError(f"load generator failed:\n{done.stdout}\n{done.stderr}")
