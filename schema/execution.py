"""The execution context: graphql-core's executor with fast paths for what a job answer is
made of (Strawberry's ``execution_context_class``).

- a field with an answer (schema.projection: plain leaves, plain objects and lists of them,
  values already at hand) is answered by it; every other field, and every field whose answer
  gives up, goes through graphql-core's ``execute_field``, in order;
- a list item whose whole selection has answers is answered in one step;
- an object without ``is_type_of``, with nothing deferred, goes straight to its sub-fields
  (what graphql-core's four intermediate completion calls amount to then);
- lists of flat input objects in the variables are coerced by ``schema.variables``.

Everything takes graphql-core's path when a schema extension hooks field resolution (its
middleware must see each field). ``tests/test_execution_fast_path.py`` compares the answers
with graphql-core's own executor, bad values included.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, RefMap
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.object_compiler import UNANSWERED
from schema.projection import Projections, shared_cache
from schema.variables import pre_coerce


class FastPathExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._projections = Projections(
            self._object_subfields, shared_cache(self.operation, self.fragments.values())
        )
        manager = self.middleware_manager
        self._fast = manager is None or not manager.middlewares
        # Without incremental delivery the schema has no @stream, so no valid document uses it.
        self._streams = self.schema.get_directive("stream") is not None

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
        # Lists of flat input objects (appendLogs' lines) are coerced by schema.variables;
        # graphql-core coerces an empty list in their place (valid for any list type), and
        # the real values go in after. Any other variable, and any value schema.variables
        # does not accept, is graphql-core's as always.
        fast = pre_coerce(schema, document, operation_name, raw_variable_values)
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

    def build_per_event_executor(self, payload: Any) -> Any:
        # graphql-core runs each subscription event on a shallow copy of the subscription's
        # executor, so every copy shares its memo tables. Those are keyed by the identity of
        # field lists that each event collects anew, and keep the lists alive: shared, they
        # would gain entries with every event (~1-2 KB) for as long as the subscription lives
        # (RSS growing by MB/s under a jobLogs fan-out). Each event gets its own, as a request
        # does; an event's deferred work (copies of this copy) still shares them.
        executor = super().build_per_event_executor(payload)
        if isinstance(executor, FastPathExecutionContext):
            executor._relevant_sub_fields = {}
            executor._stream_usages = RefMap()
            executor._projections = self._projections.for_operation(executor._object_subfields)
        return executor

    def get_stream_usage(self, field_details_list: FieldDetailsList, path: Path) -> Any:
        # graphql-core looks each list field up in a map that raises KeyError on a miss (every
        # list, every time): ~6 % of a page of jobs.
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
        plan = self._projections.plan(parent_type, grouped_field_set) if self._fast else None
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        # graphql-core's loop (Executor.execute_fields), with plain leaves answered inline.
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
        # An object (a job, an edge): what graphql-core reaches through complete_value (twice
        # for a non-null type), complete_object_value, collect_and_execute_subfields and
        # execute_collected_subfields, when there is no is_type_of to call and nothing is
        # deferred, is collecting its sub-fields and executing them. So do just that.
        if (
            self._fast
            and position_context is None
            and result is not None
            and result is not Undefined
            and not isinstance(result, Exception)
        ):
            subfields = self._object_subfields(return_type, field_details_list)
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
        # An item of a list of objects whose whole selection has answers (a job's items, the
        # edges of a page): answered in one step instead of graphql-core's nested calls.
        if self._fast and item is not None:
            answer = self._projections.object_answer(item_type, field_details_list)
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

    def _object_subfields(
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
