"""What is derived per deployable from its records, whatever order they arrived in.

For a deployable's current record of class C (`states.Classifier`):

- ``since``: the first record of the current streak, the records of class C after the
  newest record of another class (the ``breaker``), or after nothing when there is none;
- ``last_success``: the newest record of class success, details included (the roll-back
  target);
- stuck, read from the two: class in-progress since longer than a limit.

`Facts` is a function of the set of records and the rules, not of their order: `add` takes
one more record, and answers None in the one case it cannot decide alone (a late record of
another class inside the streak moves its start to a record it does not know), where the
store reads the streak back from history (`streak`). Records are compared as in
`Record.precedence`; ``since`` and ``breaker`` are identities (timestamp, state).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .records import Record
from .states import Classifier, Rules, StateClass, format_rules
from .timestamps import from_canonical

Key = tuple[str, str]  # (timestamp, state): a record's place among its deployable's records


def key(record: Record) -> Key:
    return record.timestamp, record.state


def rules_fingerprint(rules: Rules) -> str:
    """Which rules facts were derived with: facts of other rules are derived again."""
    return hashlib.sha256(format_rules(rules).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Facts:
    current: Record
    since: Key
    breaker: Key | None
    last_success: Record | None
    rules: str


def first(record: Record, classify: Classifier, rules: str) -> Facts:
    """The facts of a deployable whose only record is ``record``."""
    success = record if classify(record.state) == "success" else None
    return Facts(record, key(record), None, success, rules)


def add(facts: Facts, record: Record, classify: Classifier) -> Facts | None:
    """The facts once ``record`` is known too (the same facts if it was already); None when
    the streak must be read from history (`streak`), ``record`` being part of it."""
    kind = classify(record.state)
    success = facts.last_success
    if kind == "success" and (success is None or record.precedence > success.precedence):
        facts = replace(facts, last_success=record)
    current = facts.current
    here = key(record)
    if here == key(current):  # the same record, its details perhaps preferred
        if record.precedence > current.precedence:
            facts = replace(facts, current=record)
        return facts
    if record.precedence > current.precedence:
        if kind == classify(current.state):
            return replace(facts, current=record)
        return replace(facts, current=record, since=here, breaker=key(current))
    if kind == classify(current.state):
        if here < facts.since and (facts.breaker is None or here > facts.breaker):
            return replace(facts, since=here)
        return facts
    if here > facts.since:
        return None  # it breaks the streak: the streak now starts after it
    if facts.breaker is None or here > facts.breaker:
        return replace(facts, breaker=here)
    return facts


def streak(newest_first: Iterable[Record], classify: Classifier) -> tuple[Key, Key | None]:
    """``since`` and ``breaker`` from a deployable's records, newest first, its current
    record first of all."""
    since: Key | None = None
    streak_class: StateClass | None = None
    for record in newest_first:
        kind = classify(record.state)
        if streak_class is None:
            streak_class = kind
        elif kind != streak_class:
            assert since is not None
            return since, key(record)
        since = key(record)
    if since is None:
        raise ValueError("a streak needs at least its current record")
    return since, None


def derive(newest_first: Iterable[Record], classify: Classifier, rules: str) -> Facts | None:
    """Every fact from a deployable's records, newest first (None if there are none):
    reads until the streak's breaker and the newest success are found."""
    current: Record | None = None
    since: Key | None = None
    breaker: Key | None = None
    success: Record | None = None
    streak_class: StateClass | None = None
    for record in newest_first:
        kind = classify(record.state)
        if current is None:
            current, streak_class = record, kind
        if breaker is None:
            if kind == streak_class:
                since = key(record)
            else:
                breaker = key(record)
        if success is None and kind == "success":
            success = record
        if breaker is not None and success is not None:
            break
    if current is None or since is None:
        return None
    return Facts(current, since, breaker, success, rules)


@dataclass(frozen=True)
class Deployable:
    """A deployable as the opt-in reads show it: its current record and what is derived."""

    current: Record
    kind: StateClass
    since: str | None  # canonical timestamp; None where facts are not derived yet
    last_success: Record | None
    stuck: bool


def view(
    current: Record,
    facts: Facts | None,
    classify: Classifier,
    *,
    now_ns: int,
    stuck_after_ns: int,
) -> Deployable:
    """``current`` with its facts (None: none of that record, `Store.deployables` decides);
    stuck when in progress for more than ``stuck_after_ns`` at ``now_ns``."""
    if facts is None:
        return brief(current, None, classify, now_ns=now_ns, stuck_after_ns=stuck_after_ns)
    seen = brief(current, facts.since[0], classify, now_ns=now_ns, stuck_after_ns=stuck_after_ns)
    return Deployable(current, seen.kind, seen.since, facts.last_success, seen.stuck)


def brief(
    current: Record,
    since: str | None,
    classify: Classifier,
    *,
    now_ns: int,
    stuck_after_ns: int,
) -> Deployable:
    """``current`` (details or not) with only when its class began (None: not known), as an
    overview of every deployable reads it: no last success."""
    kind = classify(current.state)
    return Deployable(current, kind, since, None, is_stuck(kind, since, now_ns, stuck_after_ns))


def is_stuck(kind: StateClass, since: str | None, now_ns: int, stuck_after_ns: int) -> bool:
    """In progress since longer than ``stuck_after_ns`` at ``now_ns``."""
    return (
        kind == "in-progress"
        and since is not None
        and now_ns - from_canonical(since) > stuck_after_ns
    )
