"""Strawberry's schema-extension runner, with each hook's context-manager factory made once.

For every phase of every operation (operation, parsing, validation, execution) Strawberry looks
at each extension's class again and wraps its hook in a new ``contextlib.contextmanager`` —
which copies the function's metadata with ``functools.wraps`` each time. With our six
extensions that was ~6 % of a job(id) request (py-spy). Here the wrapping happens once per
extension class and hook; entering, ordering and exception handling are Strawberry's own
(``ExtensionContextManagerBase`` with its exit stacks), only ``get_hook`` is cached.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

# A context-manager factory taking the extension instance, and whether it is async.
_Factory = tuple[Callable[[SchemaExtension], Any], bool]
_factories: dict[tuple[type[SchemaExtension], str], _Factory | None] = {}


def _factory(cls: type[SchemaExtension], hook_name: str) -> _Factory | None:
    """What ``ExtensionContextManagerBase.get_hook`` builds, as a factory over instances."""
    hook = getattr(cls, hook_name)
    if hook is getattr(SchemaExtension, hook_name):
        return None  # the class does not implement this hook
    if inspect.isgeneratorfunction(hook):
        return contextlib.contextmanager(hook), False
    if inspect.isasyncgenfunction(hook):
        return contextlib.asynccontextmanager(hook), True
    if not callable(hook):
        raise ValueError(f"Hook {hook_name} on {cls} must be callable, received {hook!r}")
    if inspect.iscoroutinefunction(hook):

        @contextlib.asynccontextmanager
        async def run_async(extension: SchemaExtension) -> AsyncIterator[None]:
            await hook(extension)
            yield

        return run_async, True

    @contextlib.contextmanager
    def run(extension: SchemaExtension) -> Iterator[None]:
        hook(extension)
        yield

    return run, False


class _CachedHooks(ExtensionContextManagerBase):
    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        key = (type(extension), self.HOOK_NAME)
        try:
            made = _factories[key]
        except KeyError:
            made = _factories[key] = _factory(type(extension), self.HOOK_NAME)
        if made is None:
            return None
        factory, is_async = made
        return WrappedHook(extension=extension, hook=partial(factory, extension), is_async=is_async)


class _Operation(_CachedHooks, OperationContextManager):
    __slots__ = ()


class _Parsing(_CachedHooks, ParsingContextManager):
    __slots__ = ()


class _Validation(_CachedHooks, ValidationContextManager):
    __slots__ = ()


class _Executing(_CachedHooks, ExecutingContextManager):
    __slots__ = ()


class CachedHooksRunner(SchemaExtensionsRunner):
    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)
