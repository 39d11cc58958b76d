"""``make demo``: see jobs move. Starts the server if it is not running, gets an API key of the
demo's own tenant, submits a few sample jobs and works them with a *simulated* extractor (no
video is fetched). The demo works only in its tenant, ``demo``: it never claims your jobs.

Run it with ``make demo``, or ``.venv/bin/python -m demo --speed 0 --once`` (fast, then exit)
from the repository root. The key is kept in ``./var/demo.key`` (``--key-file``), so a second
run reuses it; to watch in GraphiQL, open http://127.0.0.1:8000/graphql and paste the key into
the X-API-Key bar above the editor.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
from pathlib import Path

try:
    import httpx
    from jobgraph_worker import JobLog, SkipItem, Worker, WorkItem

    from domain.principal import Scope
    from settings import Settings
    from storage.database import Database
    from storage.migrate import upgrade_to_head
    from storage.store import Store
except ModuleNotFoundError as missing:  # e.g. a system python outside the project's venv
    raise SystemExit(
        f"demo: cannot import {missing.name}: run it from the repository root with the "
        "project's virtualenv: `make demo`, or `make install` then `.venv/bin/python -m demo`"
    ) from None

ROOT = Path(__file__).resolve().parent
DEMO_TENANT = "demo"
KEY_FILE = Path("var/demo.key")
SAMPLE_JOBS = [
    ["https://youtu.be/dQw4w9WgXcQ", "https://www.youtube.com/shorts/9bZkp7q19f0"],
    [
        "https://www.instagram.com/reel/C1a2B3c4D5e/",
        "https://www.tiktok.com/@x/video/6718335390845095173",
    ],
    [
        "https://youtu.be/kJQP7kiw5Fk",
        "https://youtu.be/OPf0YbXqDm0",
        "https://youtu.be/JGwWNGJdvx8",
    ],
]
# The simulation fails this video on its first attempt, so the demo can show retryJob.
FLAKY_CODE = "OPf0YbXqDm0"


class SimulatedExtractor:
    """A stand-in for the real pipeline: walks the extraction steps with realistic log lines
    and delays, and touches no network. ``speed`` scales every delay (0 = instant)."""

    def __init__(self, *, speed: float = 1.0, seed: int = 7) -> None:
        self.speed = speed
        self.random = random.Random(seed)  # noqa: S311 - a simulation, not cryptography
        self.failed_once: set[str] = set()

    async def _step(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.speed * self.random.uniform(0.5, 1.5))

    async def __call__(self, item: WorkItem, log: JobLog) -> None:
        log.info(f"[{item.position}] resolving {item.platform} video {item.code}: {item.url}")
        await self._step(0.4)
        duration = self.random.randint(15, 900)
        log.info(f"[{item.position}] metadata: duration={duration}s, formats=6, best=1080p/h264")
        if item.platform == "INSTAGRAM" and item.position == 0 and self.random.random() < 0.2:
            raise SkipItem("private account: nothing to extract")
        size = duration * self.random.uniform(0.2, 0.6)
        for percent in (25, 50, 75, 100):
            await self._step(0.3)
            log.debug(f"[{item.position}] download {percent}% of {size:.1f} MB")
        if item.code == FLAKY_CODE and item.code not in self.failed_once:
            self.failed_once.add(item.code)
            log.warning(f"[{item.position}] upstream answered HTTP 503 twice; giving up")
            raise RuntimeError("HTTP 503 Service Unavailable from the video host")
        log.info(f"[{item.position}] extracting audio track (opus, 48 kHz)")
        await self._step(0.5)
        words = self.random.randint(40, 2400)
        log.info(f"[{item.position}] transcribed {words} words (simulated model)")
        await self._step(0.3)
        log.info(f"[{item.position}] wrote results: {item.code}.json, {item.code}.vtt")


def ensure_key(settings: Settings, key_file: Path) -> str:
    """The saved demo key if it is still a valid key of the demo's tenant, else a new one
    (saved). Never a key from the environment: that could be one of the user's own tenant."""
    saved = key_file.read_text().strip() if key_file.exists() else None
    key = asyncio.run(_valid_or_new_key(settings, saved))
    if key != saved:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    return key


async def _valid_or_new_key(settings: Settings, saved: str | None) -> str:
    db = Database(settings)
    try:
        store = Store(db)
        await upgrade_to_head(db)
        if saved:
            principal = await store.keys.authenticate(saved)
            if principal and principal.tenant == DEMO_TENANT and not principal.is_admin:
                return saved
        scopes = [Scope.READ, Scope.SUBMIT, Scope.WORK]
        _, key = await store.keys.create(name="demo", tenant=DEMO_TENANT, scopes=scopes)
        return key
    finally:
        await db.dispose()


def ensure_server(base: str, settings: Settings) -> subprocess.Popen[bytes] | None:
    """None when a server already answers; else a started ``app.py serve`` child."""
    try:
        httpx.get(f"{base}/healthz", timeout=1)
        return None
    except httpx.HTTPError:
        pass
    args = [
        sys.executable,
        str(ROOT / "app.py"),
        "serve",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
    ]
    child = subprocess.Popen(args)  # noqa: S603 - our own interpreter and entry point
    for _ in range(150):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return child
        except httpx.HTTPError:
            pass
        if child.poll() is not None:
            raise SystemExit("the server did not start; see its output above")
        time.sleep(0.2)
    child.terminate()
    raise SystemExit("the server did not become ready in 30 s")


async def demo(base: str, key: str, *, speed: float) -> None:
    url = f"{base}/graphql"
    create = "mutation($i: [VideoItemInput!]!) { createJob(input: {items: $i}) { id } }"
    retry = "mutation($j: ID!) { retryJob(id: $j) { status attempt } }"
    async with httpx.AsyncClient(timeout=30) as http:
        headers = {"X-API-Key": key}

        async def call(query: str, **variables: object) -> dict[str, object]:
            response = await http.post(
                url, json={"query": query, "variables": variables}, headers=headers
            )
            return response.json()  # type: ignore[no-any-return]

        me = await call("{ me { tenant } }")
        data = me.get("data")
        if not isinstance(data, dict) or data.get("me") != {"tenant": DEMO_TENANT}:
            raise SystemExit(
                f"demo: the server at {base} does not accept the demo key as one of tenant "
                f"{DEMO_TENANT!r} ({me.get('errors')}); is it serving another database "
                "(JOBGRAPH_DATABASE_URL)?"
            )
        job_ids = []
        for urls in SAMPLE_JOBS:
            body = await call(create, i=[{"url": link} for link in urls])
            job_ids.append(body["data"]["createJob"]["id"])  # type: ignore[index]
            print(f"submitted job {job_ids[-1]} ({len(urls)} videos)")
        extractor = SimulatedExtractor(speed=speed)
        # Ctrl-C ends the whole demo at once, not just the worker's current item.
        worker = Worker(
            url,
            key,
            extractor,
            worker_id="demo-worker",
            lease_seconds=30,
            http=http,
            handle_signals=False,
        )
        print(f"worker {worker.worker_id} is working on tenant {DEMO_TENANT!r}'s jobs")
        await worker.run(until_idle=True)
        for job_id in job_ids:
            body = await call("query($j: ID!) { job(id: $j) { status } }", j=job_id)
            status = body["data"]["job"]["status"]  # type: ignore[index]
            print(f"job {job_id}: {status}")
            if status == "FAILED":
                print(f"  retrying {job_id}: only its failed video runs again")
                await call(retry, j=job_id)
        await worker.run(until_idle=True)
        for job_id in job_ids:
            body = await call("query($j: ID!) { job(id: $j) { status attempt } }", j=job_id)
            print(f"job {job_id}: {body['data']['job']}")  # type: ignore[index]
        print("all sample jobs are done; try in GraphiQL:")
        print(f'  {{ job(id: "{job_ids[-1]}", tail: 20) {{ status attempt progress logTail }} }}')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=".venv/bin/python -m demo",
        description="See jobs move: sample jobs in the demo's own tenant, worked by a "
        "simulated extractor (nothing is fetched).",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="delay scale; 0 is instant")
    parser.add_argument("--once", action="store_true", help="exit when the jobs are done")
    parser.add_argument(
        "--key-file",
        type=Path,
        default=KEY_FILE,
        help=f"where the demo's key is kept (default: {KEY_FILE})",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    base = f"http://{settings.host}:{settings.port}"
    key = ensure_key(settings, args.key_file)
    child = ensure_server(base, settings)
    print(f"demo API key, tenant {DEMO_TENANT!r} (also in {args.key_file}): {key}")
    print(
        f"to watch: open {base}/graphql and paste the key into the X-API-Key bar above the editor"
    )
    try:
        asyncio.run(demo(base, key, speed=args.speed))
        if child is not None and not args.once:
            print(f"the server keeps running at {base}/graphql; Ctrl-C stops it")
            child.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait(timeout=15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
