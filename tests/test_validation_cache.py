"""Validation verdicts are kept by query text, per schema and per set of rules."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document

from schema import validation_cache
from schema.validation_cache import TextValidationCache


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


def _schema(*extensions: type[SchemaExtension]) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query, extensions=[ParserCache, *extensions, TextValidationCache]
    )


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = validate_document

    def counting(schema: Any, document: Any, rules: Any) -> list[GraphQLError]:
        seen.append(document.loc.source.body)
        return real(schema, document, rules)

    monkeypatch.setattr(validation_cache, "validate_document", counting)
    return seen


def test_a_repeated_query_is_validated_once(validations: list[str]) -> None:
    schema = _schema()
    for _ in range(3):
        assert schema.execute_sync("{ hello }").data == {"hello": "world"}
    assert validations == ["{ hello }"]


def test_an_invalid_query_keeps_its_errors(validations: list[str]) -> None:
    schema = _schema()
    for _ in range(2):
        result = schema.execute_sync("{ nope }")
        assert result.errors is not None
        assert "Cannot query field 'nope'" in result.errors[0].message
    assert validations == ["{ nope }"]


def test_verdicts_are_kept_per_schema_and_per_rules(validations: list[str]) -> None:
    class NoHello(SchemaExtension):
        def on_operation(self) -> Any:
            from graphql import ValidationRule

            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                _no_hello_rule(ValidationRule),
            )
            yield

    plain, strict = _schema(), _schema(NoHello)
    assert plain.execute_sync("{ hello }").errors is None
    strict_result = strict.execute_sync("{ hello }")
    assert strict_result.errors is not None
    assert strict_result.errors[0].message == "no hello"
    assert plain.execute_sync("{ hello }").errors is None
    assert validations == ["{ hello }", "{ hello }"]


_RULES: dict[type, type] = {}


def _no_hello_rule(base: type) -> type:
    # One class for every operation, as DocumentLimits keeps its rules.
    if base not in _RULES:

        class NoHelloRule(base):  # type: ignore[misc]
            def enter_field(self, node: Any, *_args: Any) -> None:
                if node.name.value == "hello":
                    self.report_error(GraphQLError("no hello", node))

        _RULES[base] = NoHelloRule
    return _RULES[base]


def test_entries_are_bounded(monkeypatch: pytest.MonkeyPatch, validations: list[str]) -> None:
    monkeypatch.setattr(validation_cache, "MAX_ENTRIES", 2)
    schema = _schema()
    for query in ("{ hello }", "{ a: hello }", "{ b: hello }", "{ hello }"):
        assert schema.execute_sync(query).errors is None
    # The third entry pushed out the first, which is validated again.
    assert validations == ["{ hello }", "{ a: hello }", "{ b: hello }", "{ hello }"]
