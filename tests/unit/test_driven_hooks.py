"""The engine's extension runner (``engine.compat.cached_hooks_runner``) runs schema-extension
hooks as Strawberry's runner does: the same hooks in the same order, the same exception
thrown into each, the same outcome — for every kind of hook and every way a hook or the
operation can fail."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

from engine.compat import cached_hooks_runner

Events = list[str]


class Boom(Exception):
    pass


class Other(Exception):
    pass


def generator_hook(name: str, how: str) -> type[SchemaExtension]:
    """A sync generator hook: ``how`` says what it does when it is left."""

    class Hook(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            events: Events = self.execution_context  # type: ignore[assignment]
            if how == "fail-enter":
                events.append(f"{name} refuses")
                raise Boom(name)
            events.append(f"{name} enters")
            try:
                yield
            except Exception as error:
                events.append(f"{name} sees {type(error).__name__}")
                if how == "suppress":
                    return
                if how == "replace":
                    raise Other(name) from None
                raise
            finally:
                events.append(f"{name} leaves")
            if how == "fail-exit":
                raise Boom(name)
            if how == "no-stop":
                yield

    return Hook


def async_generator_hook(name: str, how: str) -> type[SchemaExtension]:
    class Hook(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            events: Events = self.execution_context  # type: ignore[assignment]
            await asyncio.sleep(0)
            if how == "fail-enter":
                events.append(f"{name} refuses")
                raise Boom(name)
            events.append(f"{name} enters")
            try:
                yield
            except Exception as error:
                events.append(f"{name} sees {type(error).__name__}")
                if how == "suppress":
                    return
                if how == "replace":
                    raise Other(name) from None
                raise
            finally:
                events.append(f"{name} leaves")
            await asyncio.sleep(0)
            if how == "fail-exit":
                raise Boom(name)
            if how == "no-stop":
                yield

    return Hook


def function_hook(name: str, how: str) -> type[SchemaExtension]:
    class Hook(SchemaExtension):
        def on_operation(self) -> None:  # type: ignore[override]
            events: Events = self.execution_context  # type: ignore[assignment]
            events.append(f"{name} called")
            if how == "fail-enter":
                raise Boom(name)

    return Hook


def coroutine_hook(name: str, how: str) -> type[SchemaExtension]:
    class Hook(SchemaExtension):
        async def on_operation(self) -> None:  # type: ignore[override]
            events: Events = self.execution_context  # type: ignore[assignment]
            await asyncio.sleep(0)
            events.append(f"{name} awaited")
            if how == "fail-enter":
                raise Boom(name)

    return Hook


KINDS: dict[str, Callable[[str, str], type[SchemaExtension]]] = {
    "gen": generator_hook,
    "agen": async_generator_hook,
    "fn": function_hook,
    "coro": coroutine_hook,
}

# (hooks as kind:behaviour, what the operation itself does)
CASES = [
    (["gen:ok", "agen:ok", "fn:ok", "coro:ok", "gen:ok"], "ok"),
    (["gen:ok", "agen:ok", "gen:ok"], "raise"),
    (["gen:ok", "agen:suppress", "gen:ok"], "raise"),
    (["gen:suppress", "agen:ok", "gen:ok"], "raise"),
    (["gen:ok", "agen:replace", "gen:ok"], "raise"),
    (["agen:ok", "gen:replace", "agen:ok"], "ok"),
    (["gen:ok", "agen:ok", "gen:fail-exit"], "ok"),
    (["gen:ok", "agen:fail-exit", "gen:ok"], "ok"),
    (["gen:suppress", "gen:fail-exit"], "ok"),
    (["agen:suppress", "agen:fail-exit", "gen:ok"], "raise"),
    (["gen:ok", "agen:no-stop", "gen:ok"], "ok"),
    (["agen:ok", "gen:no-stop"], "ok"),
    (["gen:ok", "coro:fail-enter", "gen:ok"], "ok"),
    (["agen:ok", "fn:fail-enter", "gen:ok"], "ok"),
    (["gen:ok", "gen:fail-enter"], "ok"),
    (["agen:fail-enter", "gen:ok"], "ok"),
]


def _extensions(spec: list[str], events: Events) -> list[SchemaExtension]:
    extensions = []
    for index, item in enumerate(spec):
        kind, how = item.split(":")
        hook_class = KINDS[kind](f"{kind}{index}", how)
        hook_class.__repr__ = lambda _self, label=f"{kind}{index}": label  # type: ignore[method-assign,misc]
        extension = hook_class()
        extension.execution_context = events  # type: ignore[assignment]
        extensions.append(extension)
    return extensions


def _outcome(error: BaseException | None) -> str:
    return "completed" if error is None else f"{type(error).__name__}({error})"


async def _run_async(runner_class: Any, spec: list[str], body: str) -> Events:
    events: Events = []
    runner = runner_class(execution_context=None, extensions=_extensions(spec, events))
    error: BaseException | None = None
    try:
        async with runner.operation():
            events.append("operation runs")
            if body == "raise":
                raise Boom("operation")
    except Exception as failure:
        error = failure
    events.append(_outcome(error))
    del runner, error
    # Hooks left open by a refusal are closed when they are collected, by either runner.
    gc.collect()
    for _ in range(3):
        await asyncio.sleep(0)
    return events


def _run_sync(runner_class: Any, spec: list[str], body: str) -> Events:
    events: Events = []
    runner = runner_class(execution_context=None, extensions=_extensions(spec, events))
    error: BaseException | None = None
    try:
        with runner.operation():
            events.append("operation runs")
            if body == "raise":
                raise Boom("operation")
    except Exception as failure:
        error = failure
    events.append(_outcome(error))
    del runner, error
    gc.collect()
    return events


@pytest.mark.parametrize(("spec", "body"), CASES)
async def test_async_phases_run_their_hooks_as_strawberry_does(spec: list[str], body: str) -> None:
    stock = await _run_async(SchemaExtensionsRunner, spec, body)
    driven = await _run_async(cached_hooks_runner({}), spec, body)
    assert driven == stock


SYNC_CASES = [
    (spec, body)
    for spec, body in CASES
    if all(item.split(":")[0] in ("gen", "fn") for item in spec)
] + [(["gen:ok", "agen:ok"], "ok"), (["coro:ok"], "ok")]


@pytest.mark.parametrize(("spec", "body"), SYNC_CASES)
def test_sync_phases_run_their_hooks_as_strawberry_does(spec: list[str], body: str) -> None:
    stock = _run_sync(SchemaExtensionsRunner, spec, body)
    driven = _run_sync(cached_hooks_runner({}), spec, body)
    assert driven == stock


def test_a_runner_reuses_its_table_of_hooks() -> None:
    table: dict[Any, Any] = {}
    runner_class = cached_hooks_runner(table)
    events: Events = []
    extensions = _extensions(["gen:ok", "fn:ok"], events)
    with runner_class(execution_context=None, extensions=extensions).operation():
        pass
    assert len(table) == 2
    assert events == ["gen0 enters", "fn1 called", "gen0 leaves"]
