"""schema.graphql, the committed SDL frontends run codegen against, matches the running schema."""

from __future__ import annotations

import difflib

from schema.sdl import SDL_PATH, render


def test_committed_sdl_matches_the_schema() -> None:
    committed = SDL_PATH.read_text() if SDL_PATH.exists() else ""
    current = render()
    if committed != current:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                current.splitlines(keepends=True),
                "schema.graphql (committed)",
                "schema (running)",
            )
        )
        raise AssertionError(
            "schema.graphql is out of date with the schema; regenerate it with `make schema` "
            f"(or `.venv/bin/python -m schema.sdl`) and commit it.\n{diff[:4000]}"
        )
    for name in ("type Query", "jobs(", "JobConnection", "LogPage", "input JobFilter"):
        assert name in committed
