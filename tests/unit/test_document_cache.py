"""Parsed documents and validation verdicts are kept by query text, per schema and per set of
rules, bounded by count and by the bytes of their texts (schema.document_cache)."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import GraphQLError, ValidationRule
from strawberry.extensions import SchemaExtension

from schema import document_cache
from schema.document_cache import DocumentCache, DocumentStore


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


def _schema(*extensions: type[SchemaExtension]) -> strawberry.Schema:
    schema = strawberry.Schema(query=Query, extensions=[*extensions, DocumentCache])
    schema.documents = DocumentStore()  # type: ignore[attr-defined]
    return schema


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = document_cache.validate_document  # type: ignore[attr-defined]

    def counting(schema: Any, document: Any, rules: Any) -> list[GraphQLError]:
        seen.append(document.loc.source.body)
        return real(schema, document, rules)

    monkeypatch.setattr(document_cache, "validate_document", counting)
    return seen


def test_a_repeated_query_is_parsed_and_validated_once(validations: list[str]) -> None:
    schema = _schema()
    documents = set()
    for _ in range(3):
        result = schema.execute_sync("{ hello }")
        assert result.data == {"hello": "world"}
    assert validations == ["{ hello }"]
    entry = schema.documents.get("{ hello }", 0)  # type: ignore[attr-defined]
    assert entry is not None
    documents.add(id(entry.document))
    assert len(documents) == 1


def test_an_invalid_query_keeps_its_errors(validations: list[str]) -> None:
    schema = _schema()
    for _ in range(2):
        result = schema.execute_sync("{ nope }")
        assert result.errors is not None
        assert "Cannot query field 'nope'" in result.errors[0].message
    assert validations == ["{ nope }"]


def test_a_document_that_does_not_parse_is_not_kept() -> None:
    schema = _schema()
    result = schema.execute_sync("{ hello ")
    assert result.errors is not None and "Syntax Error" in result.errors[0].message
    assert len(schema.documents) == 0  # type: ignore[attr-defined]


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


def test_verdicts_are_kept_per_schema_and_per_rules(validations: list[str]) -> None:
    class NoHello(SchemaExtension):
        def on_operation(self) -> Any:
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


def test_entries_are_bounded_by_count(validations: list[str]) -> None:
    schema = _schema()
    schema.documents = DocumentStore(max_entries=2)  # type: ignore[attr-defined]
    for query in ("{ hello }", "{ a: hello }", "{ b: hello }", "{ hello }"):
        assert schema.execute_sync(query).errors is None
    # The third entry pushed out the first, which is validated again.
    assert validations == ["{ hello }", "{ a: hello }", "{ b: hello }", "{ hello }"]


def test_entries_are_bounded_by_bytes() -> None:
    schema = _schema()
    store = schema.documents = DocumentStore(max_bytes=1000)  # type: ignore[attr-defined]
    for index in range(50):
        query = "{ hello } #" + f"{index:03d}" + "x" * 300  # a unique comment each
        assert schema.execute_sync(query).data == {"hello": "world"}
        assert store.size <= 1000
    assert len(store) == 3
    big = "{ hello } #" + "y" * 2000  # larger than the whole cache: answered, not kept
    assert schema.execute_sync(big).data == {"hello": "world"}
    assert store.get(big, 0) is None and store.size <= 1000
