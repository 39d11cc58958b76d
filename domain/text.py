"""Text a client may send: no NUL character (U+0000) anywhere.

PostgreSQL's text type cannot hold U+0000, so a NUL that reached a statement would fail there
as an internal error; SQLite would store it and hand it to workers and webhooks later. Every
string input is refused alike, before anything runs, on both databases and every transport.
"""

from __future__ import annotations

from collections.abc import Iterable

NUL = "\x00"
NUL_MESSAGE = "strings must not contain the NUL character (U+0000)"


def nul_path(value: object) -> str | None:
    """Where the first string with a NUL is inside decoded JSON (``$lines[3].message``), or
    None. Iterative; object keys count too.

    >>> nul_path({"a": [{"b": "ok"}, {"c": "x\\x00"}]})
    '$a[1].c'
    >>> nul_path({"a": ["fine"]}) is None
    True
    """
    pending: list[tuple[object, str]] = [(value, "$")]
    while pending:
        current, where = pending.pop()
        if isinstance(current, str):
            if NUL in current:
                return where
            continue
        items: Iterable[tuple[object, str]]
        if isinstance(current, dict):
            if any(isinstance(key, str) and NUL in key for key in current):
                return where
            dot = "" if where == "$" else "."
            items = ((item, f"{where}{dot}{key}") for key, item in current.items())
        elif isinstance(current, list):
            items = ((item, f"{where}[{index}]") for index, item in enumerate(current))
        else:
            continue
        pending.extend((item, path) for item, path in items if isinstance(item, str | dict | list))
    return None
