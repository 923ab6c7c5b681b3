"""The change feed's items: the event log, and the transition a facts item remembers.

    event     PK = "EVENTS#" + hour + "#" + shard    SK = position (events.position)
                                                     Dep = component "#" environment
                                                     Latest, D: the new current record
                                                     Prev, PD: the one it replaced
                                                     Expires = TTL

``hour`` is the acceptance time's ``YYYY-MM-DDTHH`` (UTC), so the log is read an hour
bucket at a time, in position order within each; ``shard`` spreads one hour's writes as
current items are spread (docs/design.md, "The change feed").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deploystatus.events import Event
from deploystatus.records import Details, Record
from deploystatus.timestamps import canonical

Item = dict[str, Any]
HOUR_NS = 3_600 * 1_000_000_000
_STAMP = len(canonical(0))


@dataclass(frozen=True, slots=True)
class Transition:
    """How a deployable's facts item got its current record: accepted when, replacing
    which (None: it was the first). The event of that transition is derived from it."""

    accepted_ns: int
    previous: Record | None


def hour_of(nanos: int) -> str:
    return canonical(nanos)[:13]


def partition(hour: str, shard: int) -> str:
    return f"EVENTS#{hour}#{shard}"


def _record_text(record: Record, details_text: str | None) -> dict[str, str]:
    text = {"T": record.timestamp, "S": record.state}
    if details_text is not None:
        text["D"] = details_text
    return text


def transition_text(transition: Transition, details_text: str | None) -> str:
    """``Tr`` of a facts item: JSON, ``P`` absent for a first record."""
    stored: dict[str, Any] = {"At": transition.accepted_ns}
    previous = transition.previous
    if previous is not None:
        stored["P"] = _record_text(previous, details_text)
    return json.dumps(stored, ensure_ascii=False, separators=(",", ":"))


def transition_of(component: str, environment: str, text: str, details: Any) -> Transition:
    """The transition stored as ``text``; ``details`` turns a details text into `Details`."""
    stored = json.loads(text)
    previous = stored.get("P")
    return Transition(
        stored["At"],
        None
        if previous is None
        else Record(
            component,
            environment,
            previous["S"],
            previous["T"],
            details(previous["D"]) if "D" in previous else None,
        ),
    )


def event_item(
    event: Event,
    *,
    shard: int,
    retention_days: int,
    details_text: Any,
) -> Item:
    """The log's item of ``event``; ``details_text`` turns `Details` into stored text."""
    record, previous = event.record, event.previous
    item: Item = {
        "PK": {"S": partition(hour_of(event.accepted_ns), shard)},
        "SK": {"S": event.position},
        "Dep": {"S": f"{record.component}#{record.environment}"},
        "New": {"S": f"{record.timestamp}#{record.state}"},
        "Expires": {"N": str(event.accepted_ns // 1_000_000_000 + retention_days * 86_400)},
    }
    if record.details is not None:
        item["D"] = {"S": details_text(record.details)}
    if previous is not None:
        item["Old"] = {"S": f"{previous.timestamp}#{previous.state}"}
        if previous.details is not None:
            item["OD"] = {"S": details_text(previous.details)}
    return item


def event_of(item: Item, details: Any) -> Event:
    """The event an item of the log holds; ``details`` turns stored text into `Details`."""
    component, environment = item["Dep"]["S"].split("#", 1)
    accepted = int(item["SK"]["S"].split("-", 1)[0])

    def record(name: str, details_name: str) -> Record:
        text = item[name]["S"]
        found: Details | None = details(item[details_name]["S"]) if details_name in item else None
        return Record(component, environment, text[_STAMP + 1 :], text[:_STAMP], found)

    return Event(accepted, record("New", "D"), record("Old", "OD") if "Old" in item else None)


def expired(item: Item, now_seconds: int) -> bool:
    return "Expires" in item and int(item["Expires"]["N"]) < now_seconds
