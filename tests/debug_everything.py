"""``python tests/debug_everything.py serve ...``: ``app.py`` with every logger at DEBUG.

``app.py serve`` sets jobgraph's and uvicorn's loggers to ``JOBGRAPH_LOG_LEVEL``; this also
turns on every other logger (websockets' frames, SQLAlchemy's statements, asyncio, aiosqlite
...) after the log config is applied, for the tests that look for secrets in the log.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory comes first on the path, and its packages (tests/http)
# would shadow the standard library's: the repository's root takes its place.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import logging  # noqa: E402
import logging.config  # noqa: E402
from typing import Any  # noqa: E402

_configure = logging.config.dictConfig


def _everything_at_debug(config: dict[str, Any]) -> None:
    _configure(config)
    logging.getLogger().setLevel(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.disabled = False


logging.config.dictConfig = _everything_at_debug  # type: ignore[assignment]

if __name__ == "__main__":
    from app import main

    raise SystemExit(main(sys.argv[1:]))
