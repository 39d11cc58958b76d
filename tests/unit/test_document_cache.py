"""Parsed documents and validation verdicts are kept by query text, per schema and per set of
rules, bounded by count and by the memory their parsed documents take (schema.document_cache)."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError, ValidationRule, parse
from strawberry.extensions import SchemaExtension

from schema import document_cache
from schema.document_cache import DocumentCache, DocumentStore, parsed_size


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
    size = parsed_size("{ hello } #000" + "x" * 300, parse("{ hello } #000" + "x" * 300))
    store = schema.documents = DocumentStore(max_bytes=3 * size + 10)  # type: ignore[attr-defined]
    for index in range(50):
        query = "{ hello } #" + f"{index:03d}" + "x" * 300  # a unique comment each
        assert schema.execute_sync(query).data == {"hello": "world"}
        assert store.size <= store.max_bytes
    assert len(store) == 3
    big = "{ hello } #" + "y" * 20_000  # larger than the whole cache: answered, not kept
    assert schema.execute_sync(big).data == {"hello": "world"}
    assert store.get(big, 0) is None and store.size <= store.max_bytes


def test_a_dense_document_counts_what_its_parse_takes() -> None:
    """Its text would undercount it fifty times: the estimate covers what parsing allocates."""
    for query in (
        "{ " + "hello " * 2000 + "}",
        "{ " + " ".join(f"a{n}: hello" for n in range(1000)) + " }",
        "{ hello } #" + "x" * 100_000,
    ):
        gc.collect()
        tracemalloc.start()
        try:
            document = parse(query)
            allocated = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert allocated <= parsed_size(query, document) <= 2 * allocated + len(query)
