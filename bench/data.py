"""The records the bench writes: valid names, distinct increasing instants, request bodies."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from deploystatus.records import Record
from deploystatus.timestamps import canonical

ENVIRONMENTS = (
    "prod", "staging", "dev", "qa", "perf", "prod-eu", "prod-us", "sandbox", "demo", "canary",
)  # fmt: skip
_NS = 1_000_000_000
BASE_NS = 1_700_000_000 * _NS  # 2023-11-14T22:13:20Z
STEP_NS = 1_000_000  # 1 ms between consecutive instants


def rfc3339(nanos: int) -> str:
    seconds, fraction = divmod(nanos, _NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


@dataclass(frozen=True, slots=True)
class Sent:
    """One record as the bench sends it; ``nanos`` is its instant."""

    component: str
    environment: str
    state: str
    nanos: int

    def stored(self) -> Record:
        """The record as the store holds it (canonical timestamp)."""
        return Record(self.component, self.environment, self.state, canonical(self.nanos))


Deployable = tuple[str, str]


def deployables(prefix: str, count: int, environments: int = 10) -> list[Deployable]:
    """``count`` deployables: components ``prefix-00000``... with up to 10 environments each."""
    envs = ENVIRONMENTS[:environments]
    components = math.ceil(count / len(envs))
    return [(f"{prefix}-{c:05d}", env) for c in range(components) for env in envs][:count]


def body(records: Sequence[Sent]) -> bytes:
    return json.dumps(
        {
            "Records": [
                {
                    "Component": r.component,
                    "Environment": r.environment,
                    "State": r.state,
                    "Timestamp": rfc3339(r.nanos),
                }
                for r in records
            ]
        },
        separators=(",", ":"),
    ).encode()


class Clock:
    """Distinct, increasing instants shared by every writer of a run."""

    def __init__(self, start: int = BASE_NS) -> None:
        self._next = start

    def take(self, count: int) -> int:
        """The first of ``count`` consecutive instants, ``STEP_NS`` apart."""
        first = self._next
        self._next += count * STEP_NS
        return first


def history_batches(
    pool: Sequence[Deployable], per_deployable: int, batch: int, clock: Clock, state: str
) -> Iterator[list[Sent]]:
    """``per_deployable`` more records for each deployable of ``pool``, as batches of at most
    ``batch`` records grouped by deployable (few current-state writes per batch). Each
    deployable's last record is its newest, with state ``state``; the others are history."""
    group = max(1, batch // per_deployable) if per_deployable <= batch else 1
    current: list[Sent] = []
    for start in range(0, len(pool), group):
        for component, environment in pool[start : start + group]:
            first = clock.take(per_deployable)
            for i in range(per_deployable):
                last = i == per_deployable - 1
                current.append(
                    Sent(
                        component,
                        environment,
                        state if last else ("deploy-started" if i % 2 else "deploy-success"),
                        first + i * STEP_NS,
                    )
                )
                if len(current) == batch:
                    yield current
                    current = []
    if current:
        yield current


class WriteWorkload:
    """Batches of ``size`` records for the write benchmark: a batch covers ``min(size, 25)``
    deployables (one record each up to 25; a 500-record batch is a backfill of 20 records
    for each of 25), taken in turn from a pool of 1,000, with new instants every time."""

    POOL = 1000
    SPREAD = 25

    def __init__(self, prefix: str, size: int, clock: Clock) -> None:
        self.size = size
        self.per_batch = min(size, self.SPREAD)
        self._pool = deployables(prefix, self.POOL)
        self._cursor = 0
        self._clock = clock

    def next_batch(self) -> list[Sent]:
        chosen = [self._pool[(self._cursor + i) % len(self._pool)] for i in range(self.per_batch)]
        self._cursor = (self._cursor + self.per_batch) % len(self._pool)
        first = self._clock.take(self.size)
        return [
            Sent(*chosen[i % self.per_batch], "deploy-success", first + i * STEP_NS)
            for i in range(self.size)
        ]
