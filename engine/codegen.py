"""One Python function per selection on an object type, for ``engine.answers``.

A page of 50 jobs completes ~250 objects. Answering their fields one answer function at a time
costs a call, a loop step and a comparison per field, more than reading the attribute itself.
So the answers of a selection whose fields all have one are compiled into a single function,
the way ``dataclasses`` compiles ``__init__``: each plain attribute is read inline and taken as
it is when its type needs no conversion (a ``str`` for String/ID, a ``bool`` for Boolean, an
``int`` in range for Int, an enum member by a dict lookup; a ``datetime`` whose serializer is
``isoformat`` gets its text from ``engine.datetimes``); anything else goes through the field's
own completer, and every other field through its answer function. The generated text depends
only on the selection's names and kinds, so its code is compiled once per schema and reused;
the functions it calls come in as the namespace it is executed in.

>>> fields = [Compiled("n", len, None, None, ""), Compiled("s", str, None, None, "")]
>>> project = compile_object(fields, {})
>>> project("abc")
{'n': 3, 's': 'abc'}
>>> gives_up = Compiled("n", lambda source: UNANSWERED, None, None, "")
>>> compile_object([gives_up], {})("abc") is UNANSWERED
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from engine.compat import UNANSWERED
from engine.datetimes import isoformat
from engine.fields import is_attribute_path

Answer = Callable[[Any], Any]

# How an attribute's value may be taken without calling its completer.
Kind = Literal["", "str", "bool", "int", "enum", "isoformat"]


@dataclass(frozen=True)
class Compiled:
    """One field of a selection: its response name; its answer (from the parent object); for a
    leaf read as a plain attribute, the attribute and the completer of its value; ``kind``
    says which values need no completer (with ``names``, an enum's names by member id);
    ``nullable``: a None read is the answer itself."""

    name: str
    answer: Answer
    attribute: str | None
    complete: Answer | None
    kind: Kind
    names: dict[int, str] | None = None
    nullable: bool = False


_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

MAX_CODE = 1024
CodeCache = dict[str, Any]


def compile_object(fields: Sequence[Compiled], code_cache: CodeCache) -> Answer:
    """The selection's answer: its fields' values by response name, in order, or
    ``UNANSWERED`` as soon as one field has no answer (any exception included). ``code_cache``
    keeps compiled code by its text (one per schema)."""
    namespace: dict[str, Any] = {"U": UNANSWERED}
    lines = ["def project(source):", "    try:"]
    values: list[str] = []
    for index, field in enumerate(fields):
        value = f"v{index}"
        values.append(f"{field.name!r}: {value}")
        attribute = field.attribute
        if attribute is not None and field.complete is not None and is_attribute_path(attribute):
            namespace[f"c{index}"] = field.complete
            lines.append(f"        {value} = source.{attribute}")
            test = _TESTS.get(field.kind)
            if field.kind == "isoformat":
                # A datetime whose serializer is isoformat (Strawberry's DateTime): called here.
                namespace["D"], namespace["I"] = datetime, isoformat
                lines += [
                    f"        if type({value}) is D:",
                    f"            {value} = I({value})",
                    f"        elif {value} is not None:" if field.nullable else "        else:",
                    *_completed(value, index, "            "),
                ]
            elif field.kind == "enum":
                namespace[f"e{index}"] = field.names
                lines += [
                    f"        n = e{index}.get(id({value}))",
                    "        if n is None:",
                    *_completed(value, index, "            "),
                    "        else:",
                    f"            {value} = n",
                ]
            else:
                tests = [f"{value} is not None"] if field.nullable else []
                if test is not None:
                    tests.append(f"({test.format(v=value)})")
                if tests:
                    lines.append(f"        if {' and '.join(tests)}:")
                    lines += _completed(value, index, "            ")
                else:
                    lines += _completed(value, index, "        ")
        else:
            namespace[f"a{index}"] = field.answer
            lines += [
                f"        {value} = a{index}(source)",
                f"        if {value} is U:",
                "            return U",
            ]
    lines += ["    except Exception:", "        return U", f"    return {{{', '.join(values)}}}"]
    text = "\n".join(lines)
    code = code_cache.get(text)
    if code is None:
        if len(code_cache) >= MAX_CODE:
            code_cache.clear()
        code = code_cache[text] = compile(text, "<engine.codegen>", "exec")
    # The text is made of this module's templates, response names as repr() literals and
    # attribute names (or dotted paths) checked to be plain identifiers: no input reaches it
    # otherwise.
    exec(code, namespace)  # noqa: S102
    # Taken out of its namespace, which is its globals: left in, the two would be a reference
    # cycle (an operation whose selections depend on its variables compiles per request).
    project: Answer = namespace.pop("project")
    return project


def _completed(value: str, index: int, indent: str) -> list[str]:
    return [
        f"{indent}{value} = c{index}({value})",
        f"{indent}if {value} is U:",
        f"{indent}    return U",
    ]


# Per kind: when the value read must go through the field's completer after all.
_TESTS: dict[str, str] = {
    "str": "type({v}) is not str",
    "bool": "type({v}) is not bool",
    "int": f"type({{v}}) is not int or not {_INT_MIN} <= {{v}} <= {_INT_MAX}",
}
