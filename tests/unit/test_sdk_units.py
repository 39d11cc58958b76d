"""The worker SDK's pure parts: the backoff schedule, what a log line is cut to, how a process
function is recognised and loaded, and the checks on a Worker's arguments."""

from __future__ import annotations

import asyncio
import doctest
import functools
import random
from pathlib import Path

import jobgraph_worker
import pytest
from jobgraph_worker import Backoff, JobLog, Worker, WorkItem
from jobgraph_worker import backoff as backoff_module
from jobgraph_worker import errors as errors_module
from jobgraph_worker import joblog as joblog_module
from jobgraph_worker.cli import load_process
from jobgraph_worker.items import call_processor, is_async
from jobgraph_worker.joblog import fit


@pytest.mark.parametrize("module", [backoff_module, errors_module, joblog_module])
def test_docstring_examples(module: object) -> None:
    failed, tried = doctest.testmod(module, raise_on_error=False)  # type: ignore[arg-type]
    assert tried > 0 and failed == 0


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    backoff = Backoff(first=0.5, factor=2, most=6, rng=random.Random(1))
    assert [backoff.ceiling(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 6, 6]
    waits = [[backoff.delay(n) for _ in range(200)] for n in range(1, 7)]
    for failures, samples in enumerate(waits, start=1):
        ceiling = backoff.ceiling(failures)
        assert all(ceiling / 2 <= wait <= ceiling for wait in samples)
        assert len({round(wait, 6) for wait in samples}) > 100  # jittered, not one value
    assert backoff.ceiling(10_000) == 6  # no overflow after a very long outage


def test_backoff_honours_retry_after_up_to_its_cap() -> None:
    backoff = Backoff(first=0.1, most=5)
    assert backoff.delay(1, at_least=3) == 3
    assert backoff.delay(1, at_least=60) == 5


@pytest.mark.parametrize(
    "arguments", [{"first": 0}, {"factor": 0.5}, {"first": 2, "most": 1}], ids=str
)
def test_backoff_refuses_nonsense(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Backoff needs"):
        Backoff(**arguments)  # type: ignore[arg-type]


def test_fit_keeps_lines_the_server_accepts() -> None:
    assert fit("plain") == "plain"
    assert fit("nul\x00inside") == "nul\ufffdinside"
    cut = fit("é" * 20_000)
    assert len(cut.encode()) <= joblog_module.MAX_MESSAGE_BYTES
    assert cut.endswith("… [truncated]") and cut.startswith("éé")
    assert fit("x" * 100, 64).endswith("[truncated]") and len(fit("x" * 100, 64).encode()) <= 64


async def test_a_log_level_is_letters() -> None:
    log = JobLog(None, "job", "worker", last_seq=0)  # type: ignore[arg-type]
    log("fine", "notice")
    log.warning("also fine")
    assert log.unsent == 2
    for level in ("", "WARN1", "x" * 17, "info level"):
        with pytest.raises(ValueError, match="1 to 16 letters"):
            log("bad", level)
    assert log.drop_unsent() == 2 and log.unsent == 0


class AsyncCallable:
    async def __call__(self, item: WorkItem, log: JobLog) -> None:
        return None


async def async_function(item: WorkItem, log: JobLog) -> None:
    return None


def plain_function(item: WorkItem, log: JobLog) -> None:
    return None


def test_async_processors_are_recognised() -> None:
    assert is_async(async_function) and is_async(AsyncCallable())
    assert is_async(functools.partial(async_function))
    assert not is_async(plain_function)


async def test_a_plain_function_runs_in_a_thread_and_its_error_comes_back() -> None:
    seen: list[str] = []
    loop_thread = asyncio.get_running_loop()

    def failing(item: WorkItem, log: JobLog) -> None:
        seen.append(item.code)
        assert asyncio.get_event_loop_policy() is not None
        raise KeyError("missing")

    item = WorkItem(0, "YOUTUBE", "dQw4w9WgXcQ", "https://youtu.be/dQw4w9WgXcQ")
    with pytest.raises(KeyError, match="missing"):
        await call_processor(failing, item, None)  # type: ignore[arg-type]
    assert seen == ["dQw4w9WgXcQ"] and loop_thread.is_running()


def test_load_process_finds_dotted_attributes(tmp_path: Path) -> None:
    (tmp_path / "sdk_unit_pipeline.py").write_text(
        "class Steps:\n    @staticmethod\n    async def run(item, log):\n        pass\n"
    )
    found = load_process("sdk_unit_pipeline:Steps.run", str(tmp_path))
    assert is_async(found)


def test_load_process_shows_a_broken_import_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "sdk_unit_broken.py").write_text("import no_such_dependency_here\n")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_here"):
        load_process("sdk_unit_broken:process", str(tmp_path))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"api_key": ""}, "an API key"),
        ({"lease_seconds": 0}, "lease_seconds"),
        ({"heartbeat_seconds": 60}, "heartbeat_seconds"),
        ({"log_batch": 1001}, "log_batch"),
    ],
    ids=str,
)
def test_worker_refuses_nonsense(arguments: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"api_key": "jg_x", **arguments}
    api_key = options.pop("api_key")
    with pytest.raises(ValueError, match=message):
        Worker("http://127.0.0.1:1/graphql", api_key, async_function, **options)  # type: ignore[arg-type]


def test_the_key_is_not_in_a_workers_repr() -> None:
    worker = Worker("http://127.0.0.1:1/graphql", "jg_secret_value", async_function)
    assert "jg_secret_value" not in repr(worker) and "jg_secret_value" not in str(
        vars(worker).keys()
    )
    assert worker.heartbeat_seconds == 20  # a third of the default lease


def test_the_package_exports_what_the_contract_names() -> None:
    for name in ("Worker", "WorkItem", "JobLog", "SkipItem"):
        assert name in jobgraph_worker.__all__ and hasattr(jobgraph_worker, name)
