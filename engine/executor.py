"""The execution context of the fast paths: graphql-core's executor (through
``engine.compat.CompatExecutionContext``), answering what it can from ``engine.answers``.

- a field with an answer is answered by it; every other field, and every field whose answer
  gives up, goes through graphql-core's ``execute_field``, in order;
- a list item whose whole selection has answers is answered in one step;
- an object without ``is_type_of``, with nothing deferred, goes straight to its sub-fields;
- lists of flat input objects in the variables are coerced by ``engine.variables``.

Everything takes graphql-core's path when a schema extension hooks field resolution (its
middleware must see each field).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from graphql import DocumentNode, GraphQLObjectType, GraphQLOutputType, GraphQLSchema

from engine.answers import Answer, Plan, Projections, Subfields, shared_cache
from engine.compat import CompatExecutionContext, FieldDetailsList, GroupedFieldSet
from engine.state import EngineState, state_of
from engine.variables import pre_coerce


class FastExecutionContext(CompatExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        state = _state(self.schema)
        self._projections = Projections(
            _weakly(self.object_subfields),
            shared_cache(state.operations, self.operation, self.fragments.values()),
            state.code,
        )

    @classmethod
    def coerce_fast(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        raw: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return pre_coerce(_state(schema).coercers, schema, document, operation_name, raw)

    def fresh_for_event(self) -> None:
        self._projections = self._projections.for_operation(_weakly(self.object_subfields))

    def field_plan(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> Plan | None:
        return self._projections.plan(parent_type, grouped)

    def item_answer(self, item_type: GraphQLOutputType, details: FieldDetailsList) -> Answer | None:
        return self._projections.object_answer(item_type, details)


def _weakly(subfields: Subfields) -> Subfields:
    """The executor's ``object_subfields`` for its projections, which the executor holds: held
    strongly, each request would be a reference cycle left to the cyclic collector."""
    method = weakref.WeakMethod(subfields)

    def weak(type_: GraphQLOutputType, details: FieldDetailsList) -> Any:
        bound = method()
        return None if bound is None else bound(type_, details)

    return weak


def _state(schema: GraphQLSchema) -> EngineState:
    state = state_of(schema)
    if state is None:
        raise RuntimeError("the engine is not installed on this schema (engine.install)")
    return state
