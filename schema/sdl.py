"""The schema as SDL: ``python -m schema.sdl`` (``make schema``) writes ``schema.graphql``.

The file is committed so that frontends can run codegen without a running server; a test
fails when it no longer matches the schema the server runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from schema.build import build_schema

SDL_PATH = Path(__file__).resolve().parent.parent / "schema.graphql"


def render() -> str:
    return build_schema().as_str().rstrip("\n") + "\n"


def main() -> int:
    SDL_PATH.write_text(render())
    sys.stdout.write(f"wrote {SDL_PATH.name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
