"""``jobgraph-worker [options] MODULE:FUNCTION``: run a process function as a worker.

The API key is read from an environment variable (``JOBGRAPH_API_KEY``, or the one
``--key-env`` names), never from the command line, where other users of the machine could
see it; it is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from jobgraph_worker._version import __version__
from jobgraph_worker.errors import WorkerError
from jobgraph_worker.items import Processor
from jobgraph_worker.worker import Worker

DEFAULT_URL = "http://127.0.0.1:8000/graphql"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobgraph-worker",
        description="Claim jobgraph jobs and run a process function on each of their videos.",
        epilog=(
            "The function is `async def process(item: WorkItem, log: JobLog) -> None` (a plain "
            "function runs in a thread). SIGTERM or Ctrl-C: claim nothing more, finish the "
            "current item, then exit; a second one stops at once."
        ),
    )
    parser.add_argument(
        "target", metavar="MODULE:FUNCTION", help="the process function, e.g. mypipeline:process"
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("JOBGRAPH_URL") or DEFAULT_URL,
        help=f"jobgraph's GraphQL endpoint (default: $JOBGRAPH_URL, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--key-env",
        default="JOBGRAPH_API_KEY",
        metavar="VAR",
        help="the environment variable holding an API key with the work scope "
        "(default: JOBGRAPH_API_KEY)",
    )
    parser.add_argument("--worker-id", help="this worker's name (default: host name + random)")
    parser.add_argument(
        "--lease-seconds", type=int, default=60, help="the lease claimJob asks for (default: 60)"
    )
    parser.add_argument(
        "--heartbeat-seconds", type=float, help="between heartbeats (default: a third of the lease)"
    )
    parser.add_argument(
        "--until-idle",
        action="store_true",
        help="exit when no job is pending (default: keep polling)",
    )
    parser.add_argument(
        "--poll-seconds", type=float, default=2.0, help="between claims while idle (default: 2)"
    )
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long the current item may take to finish (default: 30)",
    )
    parser.add_argument(
        "--app-dir",
        default=".",
        metavar="DIR",
        help="where MODULE is looked for first (default: the current directory)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug output, with every job log line"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def load_process(target: str, app_dir: str = ".") -> Processor:
    """The callable ``MODULE:FUNCTION`` names (``FUNCTION`` may be dotted: ``mod:obj.method``).
    Raises ValueError with a sentence saying what is wrong."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected MODULE:FUNCTION, e.g. mypipeline:process; got {target!r}")
    sys.path.insert(0, str(Path(app_dir).resolve()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not module_name.startswith(error.name):
            raise  # the module exists; something it imports does not: show the traceback
        raise ValueError(
            f"no module named {module_name!r} (looked in {app_dir!r} and on sys.path)"
        ) from None
    found: Any = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no {attribute!r}") from None
    if not callable(found):
        raise ValueError(f"{target} is not a function")
    process: Processor = found
    return process


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # other libraries (httpx logs every request) stay quiet
    logging.getLogger("jobgraph_worker").setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        worker = _worker(args)
    except ValueError as problem:
        print(f"jobgraph-worker: {problem}", file=sys.stderr)
        return 2
    _configure_logging(args.verbose)
    try:
        asyncio.run(worker.run(until_idle=args.until_idle, poll_seconds=args.poll_seconds))
    except WorkerError as refused:
        print(f"jobgraph-worker: stopped: {refused}", file=sys.stderr)
        return 1
    return 0


def _worker(args: argparse.Namespace) -> Worker:
    """The worker the arguments describe; ValueError says what is wrong with them."""
    key = os.environ.get(args.key_env, "").strip()
    if not key:
        raise ValueError(
            f"set {args.key_env} to an API key with the work scope (`app.py keys create "
            "--name worker --scopes work` prints one), or name another variable with --key-env"
        )
    return Worker(
        args.url,
        key,
        load_process(args.target, args.app_dir),
        worker_id=args.worker_id,
        lease_seconds=args.lease_seconds,
        heartbeat_seconds=args.heartbeat_seconds,
        stop_grace_seconds=args.stop_grace,
    )
