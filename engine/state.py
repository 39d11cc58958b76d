"""What the engine remembers for one schema: compiled code, answers by operation, variable
coercers and extension hooks. It lives on the graphql-core schema (its ``extensions``), so two
schemas in one process (tests build many) never share an entry, and it goes with its schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLSchema

from engine.answers import Operations
from engine.codegen import CodeCache
from engine.variables import Coercers

_KEY = "jobgraph.engine"


@dataclass
class EngineState:
    code: CodeCache = field(default_factory=dict)
    operations: Operations = field(default_factory=dict)
    coercers: Coercers = field(default_factory=dict)
    hooks: dict[Any, Any] = field(default_factory=dict)


def attach(schema: GraphQLSchema) -> EngineState:
    state = EngineState()
    schema.extensions = {**(schema.extensions or {}), _KEY: state}
    return state


def state_of(schema: GraphQLSchema) -> EngineState | None:
    state = (schema.extensions or {}).get(_KEY)
    return state if isinstance(state, EngineState) else None
