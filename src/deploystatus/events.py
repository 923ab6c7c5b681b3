"""The change feed's events: a record became its deployable's current state.

An event is one transition: the new current record and the one it replaced (None for a
deployable's first), each with its details, and when the service accepted it. Its id is a
function of the new record's identity, so a retried or repeated record names the same event,
and its position (acceptance time, then id) orders the log across every deployable
(docs/design.md, "The change feed").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from .records import DETAIL_NAMES, Record
from .states import Classifier, StateClass
from .timestamps import canonical

_POSITION = re.compile(r"(\d{19})-([0-9a-f]{32})")
CLASSES: tuple[StateClass, ...] = ("success", "failed", "in-progress", "other")


def event_id(record: Record) -> str:
    """32 hex digits of the record's identity (component, environment, state, instant)."""
    text = "\x00".join(record.identity)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Event:
    accepted_ns: int
    record: Record  # the new current record, details included
    previous: Record | None  # the one it replaced; None: the deployable's first
    # Computed once: streams and the dispatcher look at them for every event.
    id: str = field(init=False, compare=False)
    position: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        identifier = event_id(self.record)
        object.__setattr__(self, "id", identifier)
        object.__setattr__(self, "position", position(self.accepted_ns, identifier))


def position(accepted_ns: int, identifier: str) -> str:
    """An event's place in the log: positions order as text as acceptance order."""
    return f"{accepted_ns:019d}-{identifier}"


def parse_position(text: str) -> tuple[int, str] | None:
    """``(accepted_ns, id)`` of a position, None if ``text`` is not one."""
    match = _POSITION.fullmatch(text)
    return None if match is None else (int(match[1]), match[2])


def _record_document(record: Record, classify: Classifier) -> dict[str, Any]:
    document: dict[str, Any] = {
        "Timestamp": record.timestamp,
        "State": record.state,
        "Class": classify(record.state),
    }
    if record.details is not None:
        for name, value in zip(DETAIL_NAMES, record.details, strict=True):
            if value is not None:
                document[name] = value
    return document


def document(event: Event, classify: Classifier) -> dict[str, Any]:
    """The event as the service's JSON (the stream's data, the log's entries, webhooks)."""
    record = event.record
    return {
        "Id": event.id,
        "Position": event.position,
        "Accepted": canonical(event.accepted_ns),
        "Component": record.component,
        "Environment": record.environment,
        "Record": _record_document(record, classify),
        "Previous": None if event.previous is None else _record_document(event.previous, classify),
    }


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a stream client or a subscription wants: every one by default."""

    component_prefix: str = ""
    environments: frozenset[str] = frozenset()
    classes: frozenset[StateClass] = frozenset()

    def matches(self, event: Event, classify: Classifier) -> bool:
        record = event.record
        return (
            record.component.startswith(self.component_prefix)
            and (not self.environments or record.environment in self.environments)
            and (not self.classes or classify(record.state) in self.classes)
        )
