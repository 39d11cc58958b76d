"""The garbage collector's settings for a serving process.

A page of 50 jobs allocates tens of thousands of container objects (rows, records, the
answer's dicts and lists), nearly all freed by reference counting as soon as the response is
sent. With Python's default thresholds (700, 10, 10) the cyclic collector still runs several
times a request, and every so often walks every long-lived object too: the schema, the modules,
the parsed-document caches. So a serving process with the fast paths on

- freezes what exists once the app is built (``gc.freeze``): full collections skip it;
- lets 10,000 allocations (``JOBGRAPH_GC_GEN0_THRESHOLD``) pass between young-generation
  collections instead of 700;
- collects the middle generation after every 3 young collections instead of 10, and
  considers a full collection after every 100 middle ones instead of 10.

A request leaves no reference cycle (``tests/graphql/test_execution_fast_path.py``), so what
the collector walks is mostly alive: the sockets, subscriptions and caches a server holds.
When thousands of WebSocket clients connect and subscribe at once, everything they allocate
survives: with the default ratios each middle-generation pass walks up to ten young
generations' worth of it, and full passes over every socket come one after another as the
heap grows, each a pause for every request being served. Shorter middle passes and rare full
ones keep those pauses short (docs/performance.md); cycles are still found and freed, some
later.

Tests that build apps in-process never call this: the serving entry (``app:app``) does, once
per process.
"""

from __future__ import annotations

import gc

# Middle-generation collections after this many young ones, full collections considered after
# this many middle ones (Python's defaults: 10 and 10).
GEN1_THRESHOLD = 3
GEN2_THRESHOLD = 100


def tune_for_serving(gen0_threshold: int) -> None:
    """``gen0_threshold`` 0 leaves Python's defaults alone."""
    if gen0_threshold <= 0:
        return
    gc.freeze()
    gc.set_threshold(gen0_threshold, GEN1_THRESHOLD, GEN2_THRESHOLD)
