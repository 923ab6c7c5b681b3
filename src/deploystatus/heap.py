"""Garbage-collector settings for a serving process."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Exempt everything alive once the server is built (modules, the app, its routes and
    models: ~100,000 objects) from the cyclic garbage collector.

    A large read allocates tens of thousands of short-lived dicts (every DynamoDB item is
    three), which triggers collections, and each full collection walked that whole startup
    heap again: 30-50% of the CPU of ``GET /current`` at 10,000 deployables went to it
    (docs/performance.md). Frozen objects are still freed by reference counting; only
    reference cycles among them would outlive their use, and startup objects live as
    long as the process anyway. Call it once, in the serving process, just before serving.
    """
    gc.collect()
    gc.freeze()
