"""Every use of a library's internals, in one module.

graphql-core, Strawberry, uvicorn and SQLAlchemy have public APIs for everything jobgraph does
on the stock path. The engine's fast paths — and a few adaptations of Strawberry's view — need
more: private executor methods, undocumented modules, private attributes. This module is the
only one in jobgraph that imports such names (import-linter refuses them anywhere else), and
``INTERNALS`` lists every internal the code relies on, with its signature: the canary test
(``tests/unit/test_compat_canary.py``) fails with the name of the internal that changed when a
library upgrade moves one, so an upgrade breaks here, loudly, instead of subtly elsewhere.

Sections: graphql-core's executor (the class the engine's execution context builds on);
Strawberry's schema, fields, extension runner and HTTP view; uvicorn's HTTP protocol.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException, StarletteRequestAdapter
from graphql import (
    DocumentNode,
    GraphQLField,
    GraphQLInputField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    GraphQLSchema,
    Node,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, FragmentDetails, GroupedFieldSet
from graphql.language import printer
from graphql.pyutils import AwaitableOrValue, Path, RefMap
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from graphql.utilities.coerce_input_value import coerce_default_value
from graphql.validation.rules import overlapping_fields_can_be_merged
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.schema.types.base_scalars import isoformat as strawberry_isoformat
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage, StartMessage
from strawberry.types.arguments import convert_argument
from strawberry.types.execution import ExecutionContext as StrawberryExecutionContextData
from strawberry.types.execution import (
    ExecutionResult,
    PreExecutionError,
    SubscriptionExecutionResult,
)
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UnsetType
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

__all__ = [
    "UNANSWERED",
    "ASGIWebSocketAdapter",
    "AsyncHTTPRequestAdapter",
    "AwaitableOrValue",
    "BaseGraphQLTransportWSHandler",
    "BaseGraphQLWSHandler",
    "CannotGetOperationTypeError",
    "CompatExecutionContext",
    "ConnectionInitMessage",
    "ErrorMessage",
    "EventSafeExecutionContext",
    "ExecutionResult",
    "FieldDetailsList",
    "FragmentDetails",
    "GraphQLHTTPResponse",
    "GraphQLRequestData",
    "GroupedFieldSet",
    "HTTPException",
    "Internal",
    "InvalidOperationTypeError",
    "PreExecutionError",
    "StartMessage",
    "StrawberryExecutionContext",
    "StrawberryField",
    "SubscribeMessage",
    "SubscriptionExecutionResult",
    "UnsetType",
    "WebSocketDisconnected",
    "bound_quoted_values",
    "cached_hooks_runner",
    "coerce_default_value",
    "core_schema",
    "definition_of",
    "input_default",
    "is_default_resolver",
    "is_strawberry_isoformat",
    "protocol_with_transport",
    "provided_operation_name",
    "raw_info",
    "resolver_function",
    "run_json_post",
    "set_field_merging_budget",
    "starlette_request",
    "strawberry_conversion",
    "strawberry_info",
    "strawberry_isoformat",
    "strawberry_origin",
    "validate_document",
]

# What an answer returns when graphql-core's own path must answer the field instead.
UNANSWERED: Any = object()

StrawberryExecutionContext = StrawberryGraphQLCoreExecutionContext
Answer = Callable[[Any], Any]


@dataclass(frozen=True)
class Internal:
    """One internal name the code relies on: where it lives and, for a callable, its
    parameter names (what a silent upgrade would break)."""

    owner: Any
    name: str
    parameters: tuple[str, ...] | None = None
    # Set on instances only (not visible on the class): the canary test reads it off real ones.
    per_instance: bool = False

    def problem(self) -> str | None:
        """Why the library no longer offers this internal as used here; None when it does."""
        owner = getattr(self.owner, "__qualname__", None) or getattr(self.owner, "__name__", "")
        where = f"{getattr(self.owner, '__module__', '')}.{owner}".lstrip(".")
        if self.per_instance:
            return None
        if not hasattr(self.owner, self.name):
            return f"{where}.{self.name} is gone"
        if self.parameters is None:
            return None
        try:
            found = tuple(inspect.signature(getattr(self.owner, self.name)).parameters)
        except (TypeError, ValueError):
            return f"{where}.{self.name} has no signature to check"
        if found != self.parameters:
            return f"{where}.{self.name} now takes {found}, the engine passes {self.parameters}"
        return None


# ---------------------------------------------------------------------------------------------
# graphql-core's executor
# ---------------------------------------------------------------------------------------------


class EventSafeExecutionContext(StrawberryExecutionContext):
    """Strawberry's execution context, whose subscription events do not share memo tables.

    graphql-core runs each subscription event on a shallow copy of the subscription's executor,
    so every copy shares its memo tables. They are keyed by the identity of field lists each
    event collects anew and keep those lists alive: shared, they gain entries with every event
    for as long as the subscription lives (memory growing with every line a ``jobLogs`` stream
    delivers). Each event gets its own, as a request does. This is the execution context of
    both paths: a leak is not a speed trade-off.
    """

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        if isinstance(executor, EventSafeExecutionContext):
            executor._relevant_sub_fields = {}
            executor._stream_usages = RefMap()
            executor.fresh_for_event()
        return executor

    def fresh_for_event(self) -> None:
        """Called on the copy made for one subscription event, after its tables are reset."""


class CompatExecutionContext(EventSafeExecutionContext):
    """Strawberry's execution context with the hook points the engine's fast paths use.

    Each override below replaces a step of graphql-core's executor (methods marked
    ``:meta private:`` there) with: ask the subclass for a fast answer, and take graphql-core's
    own step whenever there is none. The subclass (``engine.executor``) supplies the answers;
    this class is the part that knows how the executor is built.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        # A schema extension that hooks field resolution must see every field: no fast path.
        self.fast = manager is None or not manager.middlewares
        # Without incremental delivery the schema has no @stream, so no valid document uses it.
        self._streams = self.schema.get_directive("stream") is not None

    # graphql-core stores helpers whose bound methods point back at the executor: a reference
    # cycle that keeps each request's executor, context and result alive until the cyclic
    # collector finds them (its young-generation passes then walk all of it). Built when a
    # resolver's info asks for them instead, a request leaves no cycle and is freed at once.
    @property
    def async_helpers(self) -> GraphQLResolveInfoHelpers:
        return GraphQLResolveInfoHelpers(gather=self.gather_async_work, track=self.track_async_work)

    @async_helpers.setter
    def async_helpers(self, _helpers: GraphQLResolveInfoHelpers) -> None:
        pass  # graphql-core's __init__ sets them: built on demand above

    # Hooks for the subclass -------------------------------------------------------------------

    def field_plan(
        self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet
    ) -> tuple[Answer | None, ...] | None:
        """Per response name of ``grouped``, an answer or None; None when no field has one."""
        return None

    def item_answer(self, item_type: GraphQLOutputType, details: FieldDetailsList) -> Answer | None:
        """Completes a list item of ``item_type`` in one step, when that is possible."""
        return None

    @classmethod
    def coerce_fast(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        raw: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Coerced values for the variables the subclass handles itself, by name."""
        return {}

    # graphql-core's steps ----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # graphql-core coerces an empty list in place of each variable the subclass coerced
        # (valid for any list type); the real values go in after.
        fast = cls.coerce_fast(schema, document, operation_name, raw_variable_values)
        raw = raw_variable_values
        if fast and raw is not None:
            raw = {**raw, **{name: [] for name in fast}}
        executor = super().build(
            schema, document, root_value, context_value, raw, operation_name, *args, **kwargs
        )
        if fast and raw_variable_values is not None and isinstance(executor, cls):
            values = executor.variable_values
            for name, value in fast.items():
                values.coerced[name] = value
                source = values.sources.get(name)
                if source is not None:
                    values.sources[name] = source._replace(value=raw_variable_values[name])
        return executor

    def get_stream_usage(self, field_details_list: FieldDetailsList, path: Path) -> Any:
        # graphql-core looks every list field up in a map that raises KeyError on a miss.
        if not self._streams:
            return None
        return super().get_stream_usage(field_details_list, path)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        plan = self.field_plan(parent_type, grouped_field_set) if self.fast else None
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        # graphql-core's own loop, with the fields that have an answer answered inline.
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for (response_name, details), answer in zip(
                grouped_field_set.items(), plan, strict=True
            ):
                if answer is not None:
                    answered = answer(source_value)
                    if answered is not UNANSWERED:
                        results[response_name] = answered
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        # An object (a job, an edge): completing it through complete_value, complete_object_value
        # and collect_and_execute_subfields amounts, when there is no is_type_of to call and
        # nothing is deferred, to collecting its sub-fields and executing them.
        if (
            self.fast
            and position_context is None
            and result is not None
            and result is not Undefined
            and not isinstance(result, Exception)
        ):
            subfields = self.object_subfields(return_type, field_details_list)
            if subfields is not None:
                object_type, grouped = subfields
                return self.execute_fields(object_type, result, path, grouped, None)
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        item_path: Path,
        position_context: Any,
    ) -> bool:
        if self.fast and item is not None:
            answer = self.item_answer(item_type, field_details_list)
            if answer is not None:
                answered = answer(item)
                if answered is not UNANSWERED:
                    complete_results.append(answered)
                    return False
        return super().complete_list_item_value(
            item,
            complete_results,
            item_type,
            field_details_list,
            info,
            item_path,
            position_context,
        )

    def object_subfields(
        self, type_: GraphQLOutputType, field_details_list: FieldDetailsList
    ) -> tuple[GraphQLObjectType, GroupedFieldSet] | None:
        """An object type (or its non-null form) and its collected sub-fields, when completing
        a value of it amounts to executing them: no is_type_of to call, nothing deferred."""
        object_type = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if not isinstance(object_type, GraphQLObjectType) or object_type.is_type_of is not None:
            return None
        collected = self.collect_subfields(object_type, field_details_list)
        if collected.new_defer_usages:
            return None
        return object_type, collected.grouped_field_set


def set_field_merging_budget(work: int) -> None:
    """graphql-core's overlapping-fields rule reads this module-level budget when it starts."""
    overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = work


# The most of a value's text an input error quotes.
QUOTED_VALUE_CHARS = 200
# The module, not its function of the same name that graphql.utilities exports.
_input_validation = importlib.import_module("graphql.utilities.validate_input_value")


def _quoted_value(ast: Node) -> str:
    """graphql-core's rendering of a value in an input error, cut at ``QUOTED_VALUE_CHARS``.

    Each unknown field of an input object is an error quoting the whole object, so an object
    of n fields would cost n times its size (up to the error cap): a 20 KB document would hold
    the event loop for seconds and answer megabytes. A value longer than the cap in the
    document is quoted from its source text instead of printed."""
    loc = ast.loc
    if loc is not None and loc.end - loc.start > QUOTED_VALUE_CHARS:
        head = " ".join(loc.source.body[loc.start : loc.start + QUOTED_VALUE_CHARS].split())
        return f"{head} …"
    text = printer.print_for_error(ast)
    return text if len(text) <= QUOTED_VALUE_CHARS else f"{text[:QUOTED_VALUE_CHARS]} …"


def bound_quoted_values() -> None:
    """Input validation's errors quote values with ``_quoted_value`` (process-wide, once)."""
    _input_validation.print_for_error = _quoted_value  # type: ignore[attr-defined]


def input_default(field: GraphQLInputField) -> Any:
    return coerce_default_value(field)


# ---------------------------------------------------------------------------------------------
# Strawberry: schema, fields, resolvers
# ---------------------------------------------------------------------------------------------


def core_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built."""
    return schema._schema


def provided_operation_name(execution_context: Any) -> str | None:
    """The operationName the request sent: Strawberry's ``operation_name`` falls back to the
    first operation's name, which hides a document with several and none named."""
    name = execution_context._provided_operation_name
    return name if isinstance(name, str) else None


def raw_info(info: strawberry.Info[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's resolve info behind Strawberry's ``Info`` (its field nodes, fragments)."""
    return info._raw_info


def definition_of(field: GraphQLField) -> StrawberryField | None:
    """The Strawberry field a graphql-core field was made from."""
    definition = strawberry_origin(field)
    return definition if isinstance(definition, StrawberryField) else None


def strawberry_origin(element: Any) -> Any:
    """What Strawberry made a graphql-core element from (an argument's ``StrawberryArgument``,
    an input type's definition with its ``origin`` class...), or None."""
    return (getattr(element, "extensions", None) or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)


def strawberry_conversion(schema: GraphQLSchema, argument: Any) -> Callable[[Any, Any], Any] | None:
    """Strawberry's own conversion of one argument's coerced value (what its resolver wrapper
    does to it), as ``convert(value, info)``; None when the argument is not Strawberry's."""
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    origin = strawberry_origin(argument)
    if strawberry_schema is None or origin is None or not hasattr(origin, "type"):
        return None
    registry = strawberry_schema.schema_converter.scalar_registry
    config = strawberry_schema.config
    type_ = origin.type

    def convert(value: Any, info: Any) -> Any:
        return convert_argument(value, type_, registry, config, info)

    return convert


def strawberry_info(raw: GraphQLResolveInfo[Any], definition: StrawberryField) -> Any:
    """Strawberry's ``Info`` for a field resolved without Strawberry's resolver wrapper."""
    return strawberry.Info(_raw_info=raw, _field=definition)


def is_strawberry_isoformat(serialize: Callable[[Any], Any]) -> bool:
    """Whether a scalar serializes as Strawberry's ``DateTime`` does: ``value.isoformat()``."""
    return serialize is strawberry_isoformat


def resolver_function(definition: StrawberryField) -> Callable[..., Any] | None:
    """The function a field's resolver wraps, when it has one."""
    resolver = definition.base_resolver
    function = resolver.wrapped_func if resolver is not None else None
    return function if callable(function) else None


def is_default_resolver(field: GraphQLField) -> bool:
    """Whether Strawberry resolves the field by reading the attribute (no resolver of its own)."""
    return bool(getattr(field.resolve, "_is_default", False))


# ---------------------------------------------------------------------------------------------
# Strawberry: the schema-extension runner
# ---------------------------------------------------------------------------------------------

# How a hook runs, and its function (taking the extension instance).
_GENERATOR, _ASYNC_GENERATOR, _FUNCTION, _COROUTINE = range(4)
_Hook = tuple[int, Callable[[SchemaExtension], Any]]
# Wraps a running hook generator in contextlib's context manager, to exit it as contextlib
# and ExitStack do (the factory calls its function with the generator: it is the generator).
_adopt = contextlib.contextmanager(lambda generator: generator)
_adopt_async = contextlib.asynccontextmanager(lambda generator: generator)


def _hook(cls: type[SchemaExtension], hook_name: str) -> _Hook | None:
    """How ``ExtensionContextManagerBase.get_hook`` would run the class's hook; None when the
    class does not implement it."""
    hook = getattr(cls, hook_name)
    if hook is getattr(SchemaExtension, hook_name):
        return None
    if inspect.isgeneratorfunction(hook):
        return _GENERATOR, hook
    if inspect.isasyncgenfunction(hook):
        return _ASYNC_GENERATOR, hook
    if not callable(hook):
        raise ValueError(f"Hook {hook_name} on {cls} must be callable, received {hook!r}")
    return (_COROUTINE if inspect.iscoroutinefunction(hook) else _FUNCTION), hook


def _entered(function: Callable[[SchemaExtension], Any], extension: SchemaExtension) -> Any:
    """A sync generator hook run up to its ``yield`` (as ``contextlib.contextmanager``)."""
    generator = function(extension)
    try:
        next(generator)
    except StopIteration:
        raise RuntimeError("generator didn't yield") from None
    return generator


def cached_hooks_runner(
    table: dict[tuple[type[SchemaExtension], str], _Hook | None],
) -> Callable[..., SchemaExtensionsRunner]:
    """A runner whose phases run the extensions' hooks as Strawberry's do — in order, each up
    to its ``yield`` on entering and the rest in reverse order on leaving, an exception thrown
    into them as ``contextlib`` and ``ExitStack`` would — without a context-manager object and
    an exit stack per hook per phase: each hook's generator is driven directly, and only an
    exception builds the exit stack (from contextlib's own context managers) to unwind the
    hooks still open. How each class's hook runs is looked up once, in ``table`` (one per
    schema). A refusal while entering leaves the hooks entered before it open, as
    Strawberry's ``__aenter__`` does (``schema.build`` orders the extensions for that)."""

    class _DrivenHooks(ExtensionContextManagerBase):
        def __init__(self, extensions: list[SchemaExtension]) -> None:
            name = self.HOOK_NAME
            hooks: list[tuple[int, Callable[[SchemaExtension], Any], SchemaExtension]] = []
            for extension in extensions:
                key = (type(extension), name)
                try:
                    found = table[key]
                except KeyError:
                    found = table[key] = _hook(type(extension), name)
                if found is not None:
                    hooks.append((found[0], found[1], extension))
            self.driven = hooks
            self.open: list[tuple[int, Any]] = []

        def __enter__(self) -> None:
            opened = self.open = []
            for kind, function, extension in self.driven:
                if kind == _GENERATOR:
                    opened.append((kind, _entered(function, extension)))
                elif kind == _FUNCTION:
                    function(extension)
                else:
                    raise RuntimeError(
                        f"SchemaExtension hook {extension}.{self.HOOK_NAME} "
                        "failed to complete synchronously."
                    )

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            # As Strawberry's: what the hooks make of an exception is never a suppression of
            # it (the exit stack's answer is dropped); an exception a hook raises goes on.
            opened = self.open
            try:
                while exc_type is None and opened:
                    _, generator = opened.pop()
                    try:
                        next(generator)
                    except StopIteration:
                        continue
                    generator.close()
                    raise RuntimeError("generator didn't stop")
            except BaseException as failure:
                exc_type, exc, traceback = type(failure), failure, failure.__traceback__
                if not self._sync_stack().__exit__(exc_type, exc, traceback):
                    raise
                return
            if exc_type is not None:
                self._sync_stack().__exit__(exc_type, exc, traceback)

        def _sync_stack(self) -> contextlib.ExitStack:
            """An exit stack over the hooks still open (contextlib's semantics from here on)."""
            stack = contextlib.ExitStack()
            for _, generator in self.open:
                stack.push(_adopt(generator))
            self.open.clear()
            return stack

        async def __aenter__(self) -> None:
            opened = self.open = []
            for kind, function, extension in self.driven:
                if kind == _GENERATOR:
                    opened.append((kind, _entered(function, extension)))
                elif kind == _ASYNC_GENERATOR:
                    generator = function(extension)
                    try:
                        await anext(generator)
                    except StopAsyncIteration:
                        raise RuntimeError("generator didn't yield") from None
                    opened.append((kind, generator))
                elif kind == _FUNCTION:
                    function(extension)
                else:
                    await function(extension)

        async def __aexit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            opened = self.open
            try:
                while exc_type is None and opened:
                    kind, generator = opened.pop()
                    try:
                        if kind == _GENERATOR:
                            next(generator)
                        else:
                            await anext(generator)
                    except (StopIteration, StopAsyncIteration):
                        continue
                    if kind == _GENERATOR:
                        generator.close()
                    else:
                        await generator.aclose()
                    raise RuntimeError("generator didn't stop")
            except BaseException as failure:
                exc_type, exc, traceback = type(failure), failure, failure.__traceback__
                if not await self._stack().__aexit__(exc_type, exc, traceback):
                    raise
                return
            if exc_type is not None:
                await self._stack().__aexit__(exc_type, exc, traceback)

        def _stack(self) -> contextlib.AsyncExitStack:
            """An exit stack over the hooks still open (contextlib's semantics from here on)."""
            stack = contextlib.AsyncExitStack()
            for kind, generator in self.open:
                if kind == _GENERATOR:
                    stack.push(_adopt(generator))
                else:
                    stack.push_async_exit(_adopt_async(generator))
            self.open.clear()
            return stack

    class _Operation(_DrivenHooks, OperationContextManager):
        pass

    class _Parsing(_DrivenHooks, ParsingContextManager):
        pass

    class _Validation(_DrivenHooks, ValidationContextManager):
        pass

    class _Executing(_DrivenHooks, ExecutingContextManager):
        pass

    class DrivenHooksRunner(SchemaExtensionsRunner):
        def operation(self) -> OperationContextManager:
            return _Operation(self.extensions)

        def parsing(self) -> ParsingContextManager:
            return _Parsing(self.extensions)

        def validation(self) -> ValidationContextManager:
            return _Validation(self.extensions)

        def executing(self) -> ExecutingContextManager:
            return _Executing(self.extensions)

    return DrivenHooksRunner


# ---------------------------------------------------------------------------------------------
# Strawberry: the HTTP view
# ---------------------------------------------------------------------------------------------


async def run_json_post(view: Any, request: Request, body: Mapping[str, Any]) -> Response:
    """Strawberry's ``run`` for a POST of one JSON operation answered with one JSON document,
    without its general dispatch (content-type parsing, GraphiQL and streaming checks). Each
    step is the view's own method, in ``run``'s order."""
    request_data = GraphQLRequestData(
        query=body.get("query"),
        variables=body.get("variables"),
        operation_name=body.get("operationName"),
        extensions=body.get("extensions"),
        protocol="http",
    )
    sub_response = await view.get_sub_response(request)
    context = await view.get_context(request, response=sub_response)
    result = await view.execute_single(
        request, view.request_adapter_class(request), sub_response, context, None, request_data
    )
    response_data = await view.process_result(request, result)
    response: Response = view.create_response(response_data, sub_response)
    return response


def starlette_request(adapter: AsyncHTTPRequestAdapter) -> Request:
    """The Starlette request behind Strawberry's request adapter."""
    request: Request = adapter._request  # type: ignore[attr-defined]
    return request


# ---------------------------------------------------------------------------------------------
# uvicorn: the HTTP protocol
# ---------------------------------------------------------------------------------------------


def protocol_with_transport(
    wrap: Callable[[Any, Any], Any],
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, with each connection's transport wrapped by
    ``wrap(transport, loop)`` (``engine.http.CoalescingTransport``)."""

    class WrappedTransportProtocol(HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(wrap(transport, self.loop))

    return WrappedTransportProtocol


# ---------------------------------------------------------------------------------------------
# uvicorn: the WebSocket protocol
# ---------------------------------------------------------------------------------------------


def text_frame_writer(send: Callable[..., Any]) -> Callable[[Sequence[str]], bool] | None:
    """Writes text frames at once to the WebSocket whose ASGI ``send`` (as uvicorn hands it
    to the application) is ``send``; None when that is not uvicorn's websockets (sans-I/O)
    protocol, whose state the writer reads.

    ``write(texts)`` sends each text as one message, all in one write to the transport, and
    returns True; or returns False, writing nothing, when the socket cannot take a frame now:
    closing or closed, or paused by flow control (its peer reads slower than it is written
    to). Without a compression extension a frame is framed here (RFC 6455: a server's text
    frame is unmasked, its length in 1, 3 or 9 bytes), as the connection would frame it."""
    protocol = getattr(send, "__self__", None)
    if type(protocol) is not WebSocketsSansIOProtocol or (
        getattr(send, "__func__", None) is not WebSocketsSansIOProtocol.send
    ):
        return None
    conn = protocol.conn
    writable = protocol.writable

    def write(texts: Sequence[str]) -> bool:
        if (
            protocol.close_sent
            or protocol.disconnected
            or not protocol.handshake_complete
            or not writable.is_set()
            or conn.state is not State.OPEN
        ):
            return False
        transport = protocol.transport
        if transport.is_closing():
            return False
        if conn.extensions:  # per-message deflate: the connection compresses each frame
            for text in texts:
                conn.send_text(text.encode())
            transport.write(b"".join(conn.data_to_send()))
        else:
            transport.write(b"".join(map(_text_frame, texts)))
        return True

    return write


def _text_frame(text: str) -> bytes:
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 1 << 16:
        return b"\x81\x7e" + size.to_bytes(2, "big") + data
    return b"\x81\x7f" + size.to_bytes(8, "big") + data


# ---------------------------------------------------------------------------------------------
# The internals above, for the canary test
# ---------------------------------------------------------------------------------------------

_EXECUTOR = StrawberryExecutionContext
INTERNALS: tuple[Internal, ...] = (
    Internal(
        _EXECUTOR,
        "build",
        (
            "schema",
            "document",
            "root_value",
            "context_value",
            "raw_variable_values",
            "operation_name",
            "field_resolver",
            "type_resolver",
            "subscribe_field_resolver",
            "max_coercion_errors",
            "enable_early_execution",
            "middleware",
            "is_awaitable",
            "is_async_iterable",
            "hide_suggestions",
            "abort_signal",
            "hooks",
            "custom_args",
        ),
    ),
    Internal(_EXECUTOR, "build_per_event_executor", ("self", "payload")),
    Internal(_EXECUTOR, "get_stream_usage", ("self", "field_details_list", "path")),
    Internal(
        _EXECUTOR,
        "execute_fields",
        ("self", "parent_type", "source_value", "path", "grouped_field_set", "position_context"),
    ),
    Internal(
        _EXECUTOR,
        "execute_field",
        ("self", "parent_type", "source", "field_details_list", "path", "position_context"),
    ),
    Internal(_EXECUTOR, "settle_in_background", ("self", "awaitables")),
    # Set by __init__, read when a resolver's info is built (CompatExecutionContext builds them
    # on demand); the helpers' methods:
    Internal(_EXECUTOR, "async_helpers", per_instance=True),
    Internal(_EXECUTOR, "gather_async_work", ("self", "values")),
    Internal(_EXECUTOR, "track_async_work", ("self", "values")),
    Internal(
        _EXECUTOR,
        "complete_value",
        ("self", "return_type", "field_details_list", "info", "path", "result", "position_context"),
    ),
    Internal(
        _EXECUTOR,
        "complete_list_item_value",
        (
            "self",
            "item",
            "complete_results",
            "item_type",
            "field_details_list",
            "info",
            "item_path",
            "position_context",
        ),
    ),
    Internal(_EXECUTOR, "collect_subfields", ("self", "return_type", "field_details_list")),
    Internal(overlapping_fields_can_be_merged, "MAX_COMPLEXITY_BUDGET"),
    # Replaced by bound_quoted_values: the module's own name for the printer, and the printer.
    Internal(_input_validation, "print_for_error"),
    Internal(printer, "print_for_error", ("ast",)),
    Internal(
        importlib.import_module("graphql.utilities.coerce_input_value"),
        "coerce_default_value",
        ("input_value",),
    ),
    Internal(strawberry.Schema, "_schema", per_instance=True),
    Internal(
        strawberry.Schema, "create_extensions_runner", ("self", "execution_context", "extensions")
    ),
    Internal(GraphQLCoreConverter, "DEFINITION_BACKREF"),
    # An argument's conversion (strawberry_conversion): the schema's converter and its scalars.
    Internal(GraphQLSchema, "_strawberry_schema", per_instance=True),
    Internal(strawberry.Schema, "schema_converter", per_instance=True),
    Internal(GraphQLCoreConverter, "scalar_registry", per_instance=True),
    Internal(
        importlib.import_module("strawberry.types.arguments"),
        "convert_argument",
        ("value", "type_", "scalar_registry", "config", "info", "path"),
    ),
    Internal(strawberry.Info, "_raw_info", per_instance=True),
    Internal(StrawberryExecutionContextData, "_provided_operation_name", per_instance=True),
    # The runner's phases: entered and left as (async) context managers, each for its hook;
    # the driven phases subclass the managers and replace how they enter and leave.
    Internal(ExtensionContextManagerBase, "__aenter__", ("self",)),
    Internal(ExtensionContextManagerBase, "__aexit__", ("self", "exc_type", "exc_val", "exc_tb")),
    Internal(SchemaExtensionsRunner, "operation", ("self",)),
    Internal(SchemaExtensionsRunner, "parsing", ("self",)),
    Internal(SchemaExtensionsRunner, "validation", ("self",)),
    Internal(SchemaExtensionsRunner, "executing", ("self",)),
    Internal(OperationContextManager, "HOOK_NAME"),
    Internal(
        GraphQL,
        "execute_single",
        (
            "self",
            "request",
            "request_adapter",
            "sub_response",
            "context",
            "root_value",
            "request_data",
        ),
    ),
    Internal(
        GraphQL,
        "execute_operation",
        (
            "self",
            "request",
            "request_adapter",
            "request_data",
            "context",
            "root_value",
            "sub_response",
        ),
    ),
    Internal(GraphQL, "get_sub_response", ("self", "request")),
    Internal(GraphQL, "create_response", ("self", "response_data", "sub_response")),
    Internal(GraphQL, "parse_json", ("self", "data")),
    Internal(GraphQL, "request_adapter_class"),
    Internal(ASGIWebSocketAdapter, "send_json", ("self", "message")),
    Internal(BaseGraphQLTransportWSHandler, "handle_connection_init", ("self", "message")),
    Internal(BaseGraphQLTransportWSHandler, "handle_subscribe", ("self", "message")),
    Internal(BaseGraphQLTransportWSHandler, "send_message", ("self", "message")),
    Internal(BaseGraphQLWSHandler, "handle_start", ("self", "message")),
    Internal(BaseGraphQLWSHandler, "send_message", ("self", "message")),
    # server.socket_guard: admitting operations and ending a revoked key's sockets.
    Internal(ASGIWebSocketAdapter, "close", ("self", "code", "reason")),
    Internal(BaseGraphQLTransportWSHandler, "handle", ("self",)),
    Internal(BaseGraphQLTransportWSHandler, "cleanup_operation", ("self", "operation_id")),
    Internal(BaseGraphQLTransportWSHandler, "operations", per_instance=True),
    Internal(BaseGraphQLTransportWSHandler, "connection_acknowledged", per_instance=True),
    Internal(BaseGraphQLWSHandler, "handle", ("self",)),
    Internal(BaseGraphQLWSHandler, "handle_connection_init", ("self", "message")),
    Internal(BaseGraphQLWSHandler, "cleanup_operation", ("self", "operation_id")),
    Internal(BaseGraphQLWSHandler, "tasks", per_instance=True),
    Internal(BaseGraphQLWSHandler, "connection_acknowledged", per_instance=True),
    Internal(
        GraphQL,
        "create_streaming_response",
        ("self", "request", "stream", "sub_response", "headers"),
    ),
    Internal(GraphQL, "max_subscriptions_per_connection", per_instance=True),
    Internal(GraphQL, "parse_http_body", ("self", "request")),
    Internal(GraphQL, "graphql_ws_handler_class"),
    Internal(GraphQL, "should_render_graphql_ide", ("self", "request")),
    Internal(StarletteRequestAdapter, "_request", per_instance=True),
    Internal(HttpToolsProtocol, "connection_made", ("self", "transport")),
    # text_frame_writer: the protocol's send, its state and its websockets connection.
    Internal(WebSocketsSansIOProtocol, "send", ("self", "message")),
    Internal(WebSocketsSansIOProtocol, "conn", per_instance=True),
    Internal(WebSocketsSansIOProtocol, "writable", per_instance=True),
    Internal(WebSocketsSansIOProtocol, "close_sent", per_instance=True),
    Internal(WebSocketsSansIOProtocol, "disconnected", per_instance=True),
    Internal(WebSocketsSansIOProtocol, "handshake_complete", per_instance=True),
    Internal(WebSocketsSansIOProtocol, "transport", per_instance=True),
)
