"""``python -m jobgraph_worker``: the ``jobgraph-worker`` command."""

from __future__ import annotations

from jobgraph_worker.cli import main

raise SystemExit(main())
