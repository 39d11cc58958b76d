"""jobgraph's speed layer: fast paths beside the stock ones, behind one switch.

``JOBGRAPH_FAST_PATHS`` (default on) turns on every part below; off, jobgraph runs the stock
Strawberry view, extension runner and field resolvers, graphql-core's executor and variable
coercion, uvicorn's HTTP protocol, SQLAlchemy's execution of every statement and Python's
garbage-collector settings. The contract of every part:

- **Same data, same errors.** A fast path answers exactly what the stock path would answer —
  the same JSON, the same errors with the same paths and codes. The test suite's GraphQL and
  HTTP layers run both ways, and differential tests compare the two paths answer for answer.
- **Fall back on anything unusual.** A fast path takes only the cases it knows exactly (a plain
  attribute, a value of the expected type, a flat list of input objects); anything else — an
  unexpected value, a directive, a field extension, an exception — goes the stock way, which
  then reports it as it always does.
- **Marked where it is defined.** A field opts in with metadata on its Strawberry definition
  (``engine.fields``: ``record_field(...)``, ``metadata=fast(now=...)``); nothing else lists
  fields.
- **Library internals in one place.** Only ``engine.compat`` imports or overrides what a
  library does not publish; its ``INTERNALS`` list is checked by a canary test.

The parts (what each buys, and the test that pins it: ``docs/performance.md``):

- ``executor``, ``answers``, ``codegen``: field answers computed from the objects at hand, one
  compiled function per selection, instead of graphql-core's per-field machinery;
- ``resolvers``: marked fields resolved without Strawberry's resolver wrapper;
- ``variables``: lists of flat input objects (``appendLogs``' lines) coerced in one pass;
- ``lookahead``: which sub-fields a query selects, read off graphql-core's field nodes;
- ``compat.cached_hooks_runner``: schema-extension hooks driven directly, looked up once per
  class;
- ``compat.run_json_post``: the common POST of one JSON operation without the view's dispatch;
- ``http``: a response's head and body leave in one write;
- ``sql``: hot statements compiled once and run on the SQLite driver, reads without pool
  checkouts, big statements on a reader thread;
- ``pg``: PostgreSQL's single-statement reads on asyncpg directly (its own small pool,
  statements prepared once per connection, no pre-ping, transaction or reset around them);
- ``datetimes``: stored timestamps parsed once per text, their ISO texts remembered;
- ``gc``: the collector's thresholds for a serving process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from engine import resolvers, state
from engine.compat import cached_hooks_runner, core_schema
from engine.executor import FastExecutionContext

__all__ = ["FastExecutionContext", "hooks_runner", "install"]


def install(schema: strawberry.Schema) -> None:
    """Prepare a schema built with ``execution_context_class=FastExecutionContext``: its
    per-schema tables, and the resolvers of the marked fields."""
    graphql_schema = core_schema(schema)
    state.attach(graphql_schema)
    resolvers.install(graphql_schema)


def hooks_runner(schema: strawberry.Schema) -> Callable[..., Any]:
    """The extension-runner class for ``schema`` (its hook factories kept with its tables)."""
    found = state.state_of(core_schema(schema))
    if found is None:
        raise RuntimeError("engine.install(schema) first")
    runner = found.hooks.get("runner")
    if runner is None:
        runner = found.hooks["runner"] = cached_hooks_runner({})
    return runner
