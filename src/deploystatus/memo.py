"""A bounded memo for values that come back read after read.

Dashboards poll ``/current``: every read returns the same deployables, mostly in the same
states, so turning each stored item into a record and each record into its JSON again is
work already done (at 10,000 deployables, 20 of the service's 40 ms of CPU per read).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """``compute(key)``, computed once per key. Once ``limit`` keys are held the memo
    forgets them all: stale keys (states since replaced) go that way, and memory stays
    bounded without bookkeeping on every hit. More live keys than ``limit`` (a table with
    more deployables) only make every read compute again, as it would without the memo."""

    __slots__ = ("_compute", "_limit", "_values")

    def __init__(self, compute: Callable[[K], V], limit: int) -> None:
        self._compute = compute
        self._limit = limit
        self._values: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: K) -> V:
        try:
            return self._values[key]
        except KeyError:
            pass
        value = self._compute(key)
        if len(self._values) >= self._limit:
            self._values.clear()
        self._values[key] = value
        return value
