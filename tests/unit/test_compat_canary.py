"""The canary: every library internal jobgraph relies on is still there, as it is used.

``engine.compat.INTERNALS`` names each one with the parameters the engine passes. When a
library upgrade renames a private executor method, changes a signature or drops an attribute,
this test fails with the name of that internal — before anything subtler does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from engine.compat import INTERNALS, Internal, core_schema, provided_operation_name, raw_info

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "internal", INTERNALS, ids=lambda i: f"{getattr(i.owner, '__name__', i.owner)}.{i.name}"
)
def test_each_internal_is_still_as_used(internal: Internal) -> None:
    assert internal.problem() is None, internal.problem()


def test_instance_internals_exist_on_real_instances() -> None:
    seen: list[object] = []

    @strawberry.type
    class Query:
        @strawberry.field
        def probe(self, info: strawberry.Info) -> int:
            seen.append(raw_info(info).field_nodes[0].name.value)
            return 1

    schema = strawberry.Schema(query=Query)
    assert core_schema(schema).query_type is not None
    assert schema.execute_sync("{ probe }").data == {"probe": 1}
    assert seen == ["probe"]


def test_the_provided_operation_name_is_read_off_a_real_execution_context() -> None:
    names: list[str | None] = []

    class Watch(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            names.append(provided_operation_name(self.execution_context))
            yield

    @strawberry.type
    class Query:
        probe: int = 1

    schema = strawberry.Schema(query=Query, extensions=[Watch])
    schema.execute_sync("query A { probe }")
    schema.execute_sync("query A { probe }", operation_name="A")
    assert names == [None, "A"]


def test_a_changed_signature_is_reported_by_name() -> None:
    changed = Internal(INTERNALS[0].owner, INTERNALS[0].name, ("self", "renamed"))
    problem = changed.problem()
    assert problem is not None and INTERNALS[0].name in problem and "renamed" in problem
    assert "is gone" in (Internal(strawberry.Schema, "no_such_method").problem() or "")


# Library modules that are not part of their package's public API, and undocumented names of
# public modules.
INTERNAL_MODULES = (
    "cross_web",
    "graphql.execution.collect_fields",
    "graphql.execution.execute",
    "graphql.pyutils.gather_with_cancel",
    "graphql.utilities.coerce_input_value",
    "graphql.validation.rules",
    "strawberry.extensions.context",
    "strawberry.extensions.runner",
    "strawberry.http",
    "strawberry.schema.exceptions",
    "strawberry.schema.schema",
    "strawberry.schema.schema_converter",
    "strawberry.schema.types",
    "strawberry.subscriptions.protocols",
    "strawberry.types.arguments",
    "strawberry.types.execution",
    "strawberry.types.field",
    "strawberry.types.unset",
    "uvicorn.protocols",
)
INTERNAL_NAMES = {"strawberry.asgi.ASGIWebSocketAdapter"}


def _internal_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported = [(node.module, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            imported = [(alias.name, alias.name) for alias in node.names]
        else:
            continue
        for module, name in imported:
            if name in INTERNAL_NAMES or any(
                module == prefix or module.startswith(prefix + ".") for prefix in INTERNAL_MODULES
            ):
                found.append(name)
    return found


def test_only_engine_compat_imports_library_internals() -> None:
    sources = [
        path
        for path in ROOT.rglob("*.py")
        if not {".venv", "node_modules", "tests", "bench", "sdk"} & set(path.parts)
    ]
    importers = {
        str(path.relative_to(ROOT)): found for path in sources if (found := _internal_imports(path))
    }
    assert list(importers) == ["engine/compat.py"], importers


def test_the_request_adapter_keeps_its_request() -> None:
    from cross_web import StarletteRequestAdapter
    from starlette.requests import Request

    from engine.compat import starlette_request

    request = Request({"type": "http", "method": "GET", "headers": [], "query_string": b""})
    assert starlette_request(StarletteRequestAdapter(request)) is request
