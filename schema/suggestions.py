"""Production hides "Did you mean ...?" hints: they let a caller map a schema it cannot
introspect, one typo at a time.

Strawberry's documented switch (``StrawberryConfig(disable_field_suggestions=True)``) covers
unknown fields only; graphql-core adds hints to unknown arguments, types, enum values and
input fields too, so every error message is trimmed here as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from graphql import GraphQLError

_HINT = re.compile(r"\s*Did you mean\b.*$", re.DOTALL)


def strip_suggestions(errors: Iterable[GraphQLError]) -> None:
    for error in errors:
        if "Did you mean" in error.message:
            error.message = _HINT.sub("", error.message)
