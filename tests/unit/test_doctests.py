"""The examples in docstrings run, and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "domain.lifecycle",
    "domain.rate_limit",
    "domain.text",
    "domain.videos",
    "engine.codegen",
    "engine.datetimes",
    "engine.fields",
    "engine.sql",
    "live.memory",
    "schema.scalars",
    "server.negotiation",
    "settings",
    "storage.retention",
    "telemetry.documents",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    failed, tried = doctest.testmod(importlib.import_module(name), raise_on_error=False)
    assert tried > 0 and failed == 0
