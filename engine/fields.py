"""How a field is marked for the fast paths: metadata on its Strawberry definition.

Two marks, written where the field is defined:

- ``record_field("record.created_at")`` — a field whose value is read off a path of its parent
  (an output type that keeps its storage record). Strawberry resolves it with a resolver that
  follows the path; the engine reads the path inline.
- ``metadata=fast(now=...)`` on a field with a resolver — the engine calls the resolver
  function itself, with graphql-core's coerced arguments (no Strawberry resolver wrapper), and,
  when ``now`` is given, ``now(parent)`` is the field's value when it is already at hand (None
  when it is not: the resolver then runs). Only for resolvers that need nothing of Strawberry's
  ``Info`` but ``info.context`` and the raw info (``engine.lookahead``), whose arguments are
  scalars or lists of flat input objects; ``now`` only for non-null fields.

With the fast paths off (``JOBGRAPH_FAST_PATHS=false``) the marks are ignored: every field
resolves through Strawberry, as any Strawberry field does.

>>> record_path_of({RECORD_PATH: "record.id"})
'record.id'
"""

from __future__ import annotations

import keyword
import operator
from collections.abc import Callable, Mapping
from typing import Any

import strawberry

RECORD_PATH = "jobgraph.engine.record_path"
DIRECT = "jobgraph.engine.direct"
NOW = "jobgraph.engine.now"


def is_attribute_path(path: str) -> bool:
    """An attribute or a dotted path of them (``record.created_at``): identifiers only, so safe
    to read with ``operator.attrgetter`` and to write into generated code."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in path.split("."))


def record_field(path: str, *, description: str | None = None) -> Any:
    """A field whose value is ``parent.<path>``, e.g. ``record_field("record.progress")``."""
    if not is_attribute_path(path):
        raise ValueError(f"not an attribute path: {path!r}")
    read = operator.attrgetter(path)

    def resolve(self: Any) -> Any:
        return read(self)

    return strawberry.field(resolver=resolve, description=description, metadata={RECORD_PATH: path})


def fast(*, now: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Metadata for a field whose resolver the engine may call directly (see the module)."""
    marks: dict[str, Any] = {DIRECT: True}
    if now is not None:
        marks[NOW] = now
    return marks


def record_path_of(metadata: Mapping[str, Any] | None) -> str | None:
    path = (metadata or {}).get(RECORD_PATH)
    return path if isinstance(path, str) else None


def now_of(metadata: Mapping[str, Any] | None) -> Callable[[Any], Any] | None:
    now = (metadata or {}).get(NOW)
    return now if callable(now) else None


def is_direct(metadata: Mapping[str, Any] | None) -> bool:
    return bool((metadata or {}).get(DIRECT))
