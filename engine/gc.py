"""The garbage collector's settings for a serving process.

A page of 50 jobs allocates tens of thousands of container objects (rows, records, the
answer's dicts and lists), nearly all freed by reference counting as soon as the response is
sent. With Python's default thresholds (700, 10, 10) the cyclic collector still runs several
times a request, and every so often walks every long-lived object too: the schema, the modules,
the parsed-document caches. So a serving process with the fast paths on

- freezes what exists once the app is built (``gc.freeze``): full collections skip it;
- lets 10,000 allocations (``JOBGRAPH_GC_GEN0_THRESHOLD``) pass between young-generation
  collections instead of 700.

Cycles are still found and freed, a little later; nothing else changes. Tests that build apps
in-process never call this: the serving entry (``app:app``) does, once per process.
"""

from __future__ import annotations

import gc


def tune_for_serving(gen0_threshold: int) -> None:
    """``gen0_threshold`` 0 leaves Python's defaults alone."""
    if gen0_threshold <= 0:
        return
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
