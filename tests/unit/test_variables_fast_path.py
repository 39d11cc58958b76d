"""engine.variables coerces lists of flat input objects exactly as graphql-core does, or
leaves the value to graphql-core (which then coerces it or reports the error)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import ExecutionResult, Undefined, execute, parse
from graphql.utilities import coerce_input_value

from engine.compat import core_schema
from engine.executor import FastExecutionContext
from engine.variables import Coercers, pre_coerce
from schema.build import build_schema
from settings import Settings

SCHEMA = core_schema(build_schema(Settings(fast_paths=True)))
APPEND = parse(
    "mutation A($j: ID!, $w: String!, $lines: [LogLineInput!]!) "
    "{ appendLogs(jobId: $j, workerId: $w, lines: $lines) }"
)
LINES_TYPE = SCHEMA.get_type("Mutation").fields["appendLogs"].args["lines"].type  # type: ignore[union-attr]


def _coercers() -> Coercers:
    return {}


CASES: list[list[Any]] = [
    [{"message": "a"}],
    [{"message": "a", "level": "WARN"}, {"message": "b", "level": None}],
    [{"message": "a", "timestamp": "2025-01-15T10:30:00Z"}],
    [{"message": "a", "timestamp": "2025-01-15T10:30:00"}],
    [{"message": "a", "timestamp": "yesterday"}],
    [{"message": "a", "timestamp": None}],
    [{"message": None}],
    [{"level": "INFO"}],
    [{"message": 5}],
    [{"message": "a", "colour": "red"}],
    [{"message": "a"}, None],
    [{"message": "a"}, "line"],
    [[{"message": "a"}]],
    [{"message": ["a"]}],
]


@pytest.mark.parametrize("lines", CASES)
def test_coerces_as_graphql_core_or_not_at_all(lines: list[Any]) -> None:
    ours = pre_coerce(_coercers(), SCHEMA, APPEND, None, {"j": "x", "w": "w", "lines": lines})
    theirs = coerce_input_value(lines, LINES_TYPE)
    if theirs is Undefined:
        assert ours == {}  # invalid: graphql-core reports it
    else:
        assert ours == {"lines": theirs}


def test_only_list_variables_of_flat_objects_and_the_named_operation() -> None:
    raw = {"j": "x", "w": "w", "lines": [{"message": "a"}]}
    assert set(pre_coerce(_coercers(), SCHEMA, APPEND, None, raw)) == {"lines"}
    assert pre_coerce(_coercers(), SCHEMA, APPEND, "Other", raw) == {}
    assert pre_coerce(_coercers(), SCHEMA, APPEND, None, {**raw, "lines": []}) == {}
    create = parse("mutation C($input: CreateJobInput!) { createJob(input: $input) { id } }")
    assert pre_coerce(_coercers(), SCHEMA, create, None, {"input": {"items": []}}) == {}


def test_bad_lines_still_get_graphql_cores_errors() -> None:
    variables = {"j": "x", "w": "w", "lines": [{"message": "a"}, {"message": 5}]}
    result = execute(
        SCHEMA,
        APPEND,
        variable_values=variables,
        executor_class=FastExecutionContext,
    )
    assert isinstance(result, ExecutionResult)
    assert result.data is None
    assert result.errors is not None
    assert "$lines" in result.errors[0].message
    assert "[1].message" in result.errors[0].message
