"""The store: the only code that knows the item format, and the calls that write and read
it, one read per access pattern (docs/design.md, "Access patterns").

One table, string keys ``PK`` and ``SK`` (see docs/design.md for the reasoning):

    history   PK = "H#" + component             SK = timestamp "#" environment "#" state
                                                     [U+0001 digest of the details]
                                                D = details (JSON), Expires = TTL
    current   PK = "CURRENT#" + shard (0-3)     SK = component "#" environment
                                                Latest = timestamp "#" ordered(state)
    facts     PK = "FACTS#" + shard (0-3)       SK = component "#" environment
                                                Latest, D: the current record's
                                                Since, Break, Success, Rules, Rev
                                                Tr: how it became current (_feed.py)
    event     PK = "EVENTS#" hour "#" shard     SK = position (_feed.py)

``timestamp`` is the canonical UTC form (fixed width), so sort-key order is time order and
``Latest`` compares as (timestamp, state) by code point on every engine (``ordered``:
_keys.py). Neither component nor environment may contain ``#``, and ``#`` sorts below
every character they may contain, so splitting is unambiguous and ``SK`` order of current
items is (component, environment) order. A record with details is a history item of its
own beside the same record without (or with other details), after U+0001, which no state
contains: readers keep the one of greatest precedence, and all of them sort next to each
other.

The invariant every write keeps: a deployable's current item names a record its history
holds, the latest one once writes settle; its facts item counts the records of its history
(facts.py). `put` writes history before current state and facts; `remove` moves current
state off a record before deleting it from history, then derives the facts again (see
docs/design.md, "Removing a record").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import zlib
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Self, TypeVar

from deploystatus import facts as derived
from deploystatus import timestamps
from deploystatus.config import Settings
from deploystatus.errors import (
    DeployStatusError,
    InvalidRequest,
    RecordNotFound,
    StorageError,
    StorageUnavailable,
)
from deploystatus.events import Event, position
from deploystatus.facts import Facts
from deploystatus.memo import Memo
from deploystatus.records import DETAIL_NAMES, Details, HistoryRange, Position, Record, Removal
from deploystatus.states import DEFAULT_RULES, Classifier, Rules

from . import _feed
from ._feed import Transition
from ._keys import ordered, unordered
from ._shared_read import SharedRead
from ._slots import CallSlots
from .dynamodb import Client, ConditionalCheckFailed, ResourceInUse, TableNotFound, send

T = TypeVar("T")

CURRENT_SHARDS = 4  # part of the stored format: changing it needs a migration
BATCH_SIZE = 25  # BatchWriteItem's limit
EVENTS_WRITTEN_KEPT = 65_536  # event positions a process remembers writing (~100 bytes each)
CURRENT_RECORDS_LIMIT = 32_768  # deployables whose records reads reuse (560 bytes each)
_READS = frozenset(
    {"Query", "GetItem", "BatchGetItem", "DescribeTable"}
)  # served first when calls queue
_MAX_BACKOFF = 1.0
# History range reads (Store.history_page): see docs/design.md, "Query options".
HISTORY_MAX_READ = 10_000  # items one page request reads at most when filtering by environment
_FILTERED_READ = 500  # items per Query call when filtering by environment
# Rounds of `Store.settle_current` before a removal gives up (503: retrying is safe). A round
# repeats only when another writer changed the deployable meanwhile.
SETTLE_ROUNDS = 20
_EARLIEST = timestamps.canonical(timestamps.EARLIEST_NS)
_LATEST = timestamps.canonical(timestamps.LATEST_NS)
_VARIANT = "\x01"  # before the digest of a record's details, in a history SK
_STAMP = len(_EARLIEST)  # the canonical timestamp's fixed width
EXPIRES = "Expires"  # history items' TTL attribute (infra/terraform enables it)
_HISTORY_PROJECTION = f"SK, D, {EXPIRES}"
_SECONDS_PER_DAY = 86_400
_BATCH_GET = 100  # BatchGetItem's limit
_DERIVE_PAGE = 100  # history items per Query when reading a streak back

Item = dict[str, Any]


def table_definition(name: str) -> dict[str, Any]:
    """The CreateTable request for the service's table; infra/ must describe the same."""
    return {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def current_shard(component: str) -> int:
    """All environments of a component share a shard, so one Query reads them together."""
    return zlib.crc32(component.encode()) % CURRENT_SHARDS


def _history_key(record: Record) -> Item:
    sort_key = f"{record.timestamp}#{record.environment}#{record.state}"
    if record.details is not None:
        sort_key += _VARIANT + record.details.digest
    return {"PK": {"S": "H#" + record.component}, "SK": {"S": sort_key}}


def _details_text(details: Details) -> str:
    present = {
        name: value for name, value in zip(DETAIL_NAMES, details, strict=True) if value is not None
    }
    return json.dumps(present, ensure_ascii=False, separators=(",", ":"))


def _details_of(text: str) -> Details:
    stored = json.loads(text)
    return Details(*(stored.get(name) for name in DETAIL_NAMES))


def _history_item(record: Record, retention_days: int | None) -> Item:
    item = _history_key(record)
    if record.details is not None:
        item["D"] = {"S": _details_text(record.details)}
    if retention_days is not None:
        seconds = timestamps.from_canonical(record.timestamp) // 1_000_000_000
        item[EXPIRES] = {"N": str(seconds + retention_days * _SECONDS_PER_DAY)}
    return item


def _current_key(component: str, environment: str) -> Item:
    return {
        "PK": {"S": f"CURRENT#{current_shard(component)}"},
        "SK": {"S": f"{component}#{environment}"},
    }


def _facts_key(component: str, environment: str) -> Item:
    return {
        "PK": {"S": f"FACTS#{current_shard(component)}"},
        "SK": {"S": f"{component}#{environment}"},
    }


def _latest(record: Record) -> Item:
    return {"S": f"{record.timestamp}#{ordered(record.state)}"}


def _identity_text(place: derived.Key) -> str:
    timestamp, state = place
    return f"{timestamp}#{ordered(state)}"


def _place(text: str) -> derived.Key:
    return text[:_STAMP], unordered(text[_STAMP + 1 :])


def _success_text(record: Record) -> str:
    stored: dict[str, str] = {"Timestamp": record.timestamp, "State": record.state}
    if record.details is not None:
        stored["D"] = _details_text(record.details)
    return json.dumps(stored, ensure_ascii=False, separators=(",", ":"))


def _success_of(component: str, environment: str, text: str) -> Record:
    stored = json.loads(text)
    details = _details_of(stored["D"]) if "D" in stored else None
    return Record(component, environment, stored["State"], stored["Timestamp"], details)


def _current_item(record: Record) -> Item:
    return {**_current_key(record.component, record.environment), "Latest": _latest(record)}


def _facts_item(facts: Facts, revision: int, transition: Transition | None) -> Item:
    current = facts.current
    item = {
        **_facts_key(current.component, current.environment),
        "Latest": _latest(current),
        "Since": {"S": _identity_text(facts.since)},
        "Rules": {"S": facts.rules},
        "Rev": {"N": str(revision)},
    }
    if current.details is not None:
        item["D"] = {"S": _details_text(current.details)}
    if facts.breaker is not None:
        item["Break"] = {"S": _identity_text(facts.breaker)}
    if facts.last_success is not None:
        item["Success"] = {"S": _success_text(facts.last_success)}
    if transition is not None:
        previous = transition.previous
        details = None if previous is None else previous.details
        text = None if details is None else _details_text(details)
        item["Tr"] = {"S": _feed.transition_text(transition, text)}
    return item


@dataclass(frozen=True)
class StoredFacts:
    """A facts item as read: the facts, the revision its next write conditions on, and
    how its current record became current (None: not known, in items written before)."""

    facts: Facts
    revision: int
    transition: Transition | None = None

    @property
    def event(self) -> Event | None:
        """The event of the current record's transition."""
        if self.transition is None:
            return None
        return Event(self.transition.accepted_ns, self.facts.current, self.transition.previous)


# A facts item's attributes, in the order `_facts_from` takes them.
_FACTS_ATTRIBUTES = ("SK", "Latest", "D", "Since", "Break", "Success", "Rules")
FactsText = tuple[str | None, ...]


def _facts_text(item: Item) -> FactsText:
    return tuple(item[name]["S"] if name in item else None for name in _FACTS_ATTRIBUTES)


def _facts_from(text: FactsText) -> Facts:
    key, latest, details, since, breaker, success, rules = text
    assert key is not None and latest is not None and since is not None and rules is not None
    component, environment = key.split("#", 1)
    current = _latest_record(component, environment, latest)
    return Facts(
        current._replace(details=None if details is None else _details_of(details)),
        _place(since),
        None if breaker is None else _place(breaker),
        None if success is None else _success_of(component, environment, success),
        rules,
    )


def _facts_of(item: Item) -> StoredFacts:
    facts = _facts_from(_facts_text(item))
    transition = None
    if "Tr" in item:
        current = facts.current
        transition = _feed.transition_of(
            current.component, current.environment, item["Tr"]["S"], _details_of
        )
    return StoredFacts(facts, int(item["Rev"]["N"]), transition)


def _position_of(item: Item) -> str:
    text: str = item["SK"]["S"]
    return text


def _latest_record(component: str, environment: str, latest: str) -> Record:
    return Record(component, environment, unordered(latest[_STAMP + 1 :]), latest[:_STAMP])


@dataclass(frozen=True)
class Known:
    """A deployable as the reads with details see it: its current record, with its details
    when its facts are of that record, and those facts (None when there are none for that
    record: not derived yet, a moment behind a write, or of other rules)."""

    record: Record
    facts: Facts | None


@dataclass(frozen=True, slots=True)
class Brief:
    """A deployable as a read of all of them for an overview sees it (`Store.briefly`): its
    current record without details, when its class began and the revision of its facts
    item (both None where its facts are not derived, not of that record, or of other
    rules). `Store.known_of` reads the details and facts of the few it shows."""

    record: Record
    since: str | None
    revision: int | None


@dataclass(frozen=True)
class WritePlan:
    """How `Store.put` stores a batch: every ``BatchWriteItem`` of history (run
    concurrently, while ``BatchGetItem`` reads the deployables' facts), then, concurrently,
    a conditional ``PutItem`` of each deployable's latest record as its current state and
    of its facts with ``records`` (each deployable's, in precedence order) counted."""

    history: list[Item]
    current: list[Item]
    deployables: dict[tuple[str, str], list[Record]]


def write_plan(
    table: str, records: Sequence[Record], *, retention_days: int | None = None
) -> WritePlan:
    """The calls `Store.put` makes for ``records`` but the facts', which depend on what is
    stored: a pure function of them, so that what the store writes can be measured without
    the store (bench/engine.py)."""
    history: dict[tuple[str, str], Item] = {}
    deployables: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        item = _history_item(record, retention_days)
        history[(item["PK"]["S"], item["SK"]["S"])] = item
        deployables.setdefault(record.deployable, []).append(record)
    for group in deployables.values():
        group.sort(key=lambda record: record.precedence)
    requests = [{"PutRequest": {"Item": item}} for item in history.values()]
    batches = [
        {"RequestItems": {table: requests[start : start + BATCH_SIZE]}}
        for start in range(0, len(requests), BATCH_SIZE)
    ]
    current = [_current_put(table, group[-1]) for group in deployables.values()]
    return WritePlan(batches, current, deployables)


def _current_put(table: str, record: Record) -> Item:
    item = _current_item(record)
    return {
        "TableName": table,
        "Item": item,
        # Event time, not arrival time: never replace a later state. ``Latest`` orders as
        # `Record.precedence` on every engine (_keys.py).
        "ConditionExpression": "attribute_not_exists(PK) OR Latest < :latest",
        "ExpressionAttributeValues": {":latest": item["Latest"]},
    }


def facts_reads(table: str, deployables: Sequence[tuple[str, str]]) -> list[Item]:
    """The ``BatchGetItem`` calls that read the current and facts items of ``deployables``
    (two keys each)."""
    size = _BATCH_GET // 2
    chunks = [deployables[at : at + size] for at in range(0, len(deployables), size)]
    return [
        {
            "RequestItems": {
                table: {
                    "Keys": [key(*d) for d in chunk for key in (_current_key, _facts_key)],
                    "ConsistentRead": True,
                }
            }
        }
        for chunk in chunks
    ]


def facts_put(
    table: str, facts: Facts, stored: StoredFacts | None, transition: Transition | None = None
) -> Item:
    """The ``PutItem`` of a deployable's facts, on condition that its item is still
    ``stored`` as read (None: that there is none)."""
    revision = 1 if stored is None else stored.revision + 1
    put: Item = {"TableName": table, "Item": _facts_item(facts, revision, transition)}
    if stored is None:
        put["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        put["ConditionExpression"] = "Rev = :rev"
        put["ExpressionAttributeValues"] = {":rev": {"N": str(stored.revision)}}
    return put


def current_query(
    table: str, shard: int, prefix: str | None = None, *, partition: str = "CURRENT"
) -> Item:
    """The Query of a shard's current items (or facts items, ``partition="FACTS"``) whose
    ``SK`` starts with ``prefix``."""
    values = {":pk": {"S": f"{partition}#{shard}"}}
    condition = "PK = :pk"
    if prefix:
        values[":prefix"] = {"S": prefix}
        condition += " AND begins_with(SK, :prefix)"
    return {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ProjectionExpression": "SK, Latest",
        "ConsistentRead": True,
    }


def history_query(table: str, wanted: HistoryRange) -> Item:
    """The Query of a component's history in ``wanted``'s time range and order, after its
    position; other environments are left out after reading (DynamoDB cannot filter on a
    key attribute).

    ``SK`` starts with the fixed-width timestamp, so a time range is a key range; "$"
    sorts just above "#", so ``until + "$"`` is above every ``SK`` at the instant
    ``until`` and below every later one."""
    values: dict[str, Any] = {":pk": {"S": "H#" + wanted.component}}
    condition = "PK = :pk"
    if wanted.since is not None or wanted.until is not None:
        values[":lo"] = {"S": wanted.since or _EARLIEST}
        values[":hi"] = {"S": (wanted.until or _LATEST) + "$"}
        condition += " AND SK BETWEEN :lo AND :hi"
    query = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ProjectionExpression": _HISTORY_PROJECTION,
        "ConsistentRead": True,
        "ScanIndexForward": not wanted.descending,
    }
    if wanted.after is not None:
        _check_position(values, wanted.after)
        query["ExclusiveStartKey"] = wanted.after
    return query


def _check_position(values: Item, position: object) -> None:
    """A position must be a key of this table inside the query's key range (DynamoDB would
    fail the call)."""
    if not (
        isinstance(position, dict)
        and set(position) == {"PK", "SK"}
        and all(
            isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)
            for value in position.values()
        )
    ):
        raise InvalidRequest("cursor is not valid: it holds no position")
    sort_key = position["SK"]["S"]
    if position["PK"] != values[":pk"] or not (
        values.get(":lo", {"S": ""})["S"] <= sort_key <= values.get(":hi", {"S": "~"})["S"]
    ):
        raise InvalidRequest("cursor does not belong to this component and time range")


def _history_record(component: str, item: Item) -> Record:
    timestamp, environment, state = item["SK"]["S"].split("#", 2)
    if "D" not in item:
        return Record(component, environment, state, timestamp)
    state = state.partition(_VARIANT)[0]
    return Record(component, environment, state, timestamp, _details_of(item["D"]["S"]))


def _expired(item: Item, now: int) -> bool:
    """Whether a history item's retention is over: DynamoDB deletes such items only some
    time after, so reads leave them out themselves."""
    expires = item.get(EXPIRES)
    return expires is not None and int(expires["N"]) <= now


def _current_record(stored: tuple[str, str]) -> Record:
    """The record of a current item's ``(SK, Latest)``, without its details."""
    key, latest = stored
    component, environment = key.split("#", 1)
    return _latest_record(component, environment, latest)


class _Collapsed:
    """History items to records, a record's variants (the same record with other details,
    next to each other in key order) made one: the one of greatest precedence. Fed item
    after item; `take` gives the records that are complete. Each record keeps the key of
    the item before its first one and of its last one, where a page may end."""

    def __init__(self, component: str, environment: str | None, now: int) -> None:
        self._component = component
        self._partition = {"S": "H#" + component}
        self._environment = environment
        self._now = now
        self.records: list[Record] = []
        self.before: list[Item | None] = []  # the key of the item before each record's first
        self.last: list[Item] = []  # the key of each record's last item
        self._previous: Item | None = None

    def feed(self, item: Item) -> None:
        key = {"PK": self._partition, "SK": item["SK"]}
        previous, self._previous = self._previous, key
        if _expired(item, self._now):
            return
        record = _history_record(self._component, item)
        if self._environment is not None and record.environment != self._environment:
            return
        if self.records and self.records[-1].identity == record.identity:
            if record.precedence > self.records[-1].precedence:
                self.records[-1] = record
            self.last[-1] = key
            return
        self.records.append(record)
        self.before.append(previous)
        self.last.append(key)

    def take(self, *, complete: bool) -> list[Record]:
        """The records fed so far and not taken, but the last one unless ``complete`` (its
        variants may follow)."""
        end = len(self.records) if complete else max(len(self.records) - 1, 0)
        taken = self.records[:end]
        del self.records[:end], self.before[:end], self.last[:end]
        return taken


async def _all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise it (a bug first)."""
    tasks: list[asyncio.Task[T]] = []
    failure: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except BaseExceptionGroup as failed:
        errors = failed.exceptions
        failure = next((e for e in errors if not isinstance(e, DeployStatusError)), errors[0])
    if failure is not None:
        raise failure
    return [task.result() for task in tasks]


class Store:
    def __init__(
        self,
        client: Client,
        table: str,
        *,
        max_concurrent_calls: int = 64,
        retry_seconds: float = 5.0,
        rules: Rules = DEFAULT_RULES,
        retention_days: int | None = None,
        events: bool = True,
        event_retention_days: int = 7,
    ) -> None:
        self._client = client
        self.table = table
        # Bounds this process's calls in flight: a burst queues here instead of piling up,
        # and queued reads go first (slots.py).
        self._slots = CallSlots(max_concurrent_calls, wait_seconds=retry_seconds)
        self._retry_seconds = retry_seconds
        self._current = SharedRead(self._read_current)
        # Current items come back read after read: each one's record is built once, and
        # each facts item's facts.
        self._current_records = Memo(_current_record, CURRENT_RECORDS_LIMIT)
        self._facts = Memo(_facts_from, CURRENT_RECORDS_LIMIT)
        self.classify = Classifier(rules)
        self.rules = derived.rules_fingerprint(rules)
        self.retention_days = retention_days
        self.events = events  # the change feed: write each transition's event
        # Positions of the events this process wrote (and DynamoDB acknowledged), latest
        # last: a later write need not write them again.
        self._events_written: dict[str, None] = {}
        self.event_retention_days = event_retention_days

    @classmethod
    def from_settings(cls, client: Client, settings: Settings) -> Self:
        return cls(
            client,
            settings.table,
            max_concurrent_calls=settings.max_concurrent_calls,
            retry_seconds=settings.dynamodb_retry_seconds,
            rules=settings.state_rules,
            retention_days=settings.history_retention_days,
            events=settings.events,
            event_retention_days=settings.event_retention_days,
        )

    async def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        read = action in _READS
        await self._slots.take(read=read)
        try:
            return await send(self._client, action, payload, self.table)
        finally:
            self._slots.give_back(read=read)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One call within this store's bound on calls in flight, for storage's other
        items (hooks.py)."""
        return await self._call(action, payload)

    async def batch_write(self, batch: Item) -> None:
        """One ``BatchWriteItem``, its unprocessed items sent again until written."""
        await self._batch_write(batch)

    def _now(self) -> int:
        return time.time_ns() // 1_000_000_000

    # Writes

    async def put(self, records: Sequence[Record]) -> int:
        """Store a batch; returns only once DynamoDB holds all of it (its events in the
        change feed's log too), with the number of transitions it made.

        History first, then current state and facts, so a reader never sees a current state
        that history lacks; the facts items are read meanwhile. Every step is idempotent,
        so a caller may retry a failed batch whole.
        """
        started = time.time_ns()
        plan = write_plan(self.table, records, retention_days=self.retention_days)
        reading = asyncio.ensure_future(self._read_known(list(plan.deployables)))
        try:
            await _all(self._batch_write(batch) for batch in plan.history)
            current, facts = await reading
        finally:
            reading.cancel()
        calls: list[Coroutine[Any, Any, list[Event]]] = []
        for (component, environment), group in plan.deployables.items():
            latest, stored = current.get((component, environment)), group[-1]
            if latest is None or derived.key(stored) > derived.key(latest):
                calls.append(self._put_current(_current_put(self.table, stored)))
            found = facts.get((component, environment))
            calls.append(
                self.settle_facts(
                    component, environment, group, found, unseen=latest is None, known=latest
                )
            )
        settled = await _all(calls)
        # After the facts that name them: a retry, or the deployable's next write, writes
        # them again (docs/design.md, "The change feed"), unless this process knows it
        # wrote them already.
        written = self._events_written
        events = [
            event
            for transitions in settled
            for event in transitions
            if event.position not in written
        ]
        if self.events and events:
            await _all(self._batch_write(batch) for batch in self._event_batches(events))
            for event in events:
                written[event.position] = None
            while len(written) > EVENTS_WRITTEN_KEPT:
                del written[next(iter(written))]
        return sum(1 for t in settled if t and t[0].accepted_ns >= started)

    def _event_batches(self, events: Sequence[Event]) -> list[Item]:
        requests = [
            {
                "PutRequest": {
                    "Item": _feed.event_item(
                        event,
                        shard=current_shard(event.record.component),
                        retention_days=self.event_retention_days,
                        details_text=_details_text,
                    )
                }
            }
            for event in {event.position: event for event in events}.values()
        ]
        return [
            {"RequestItems": {self.table: requests[start : start + BATCH_SIZE]}}
            for start in range(0, len(requests), BATCH_SIZE)
        ]

    async def _batch_write(self, batch: Item) -> None:
        deadline = time.monotonic() + self._retry_seconds
        backoff = 0.05
        while True:
            response = await self._call("BatchWriteItem", batch)
            requests = response.get("UnprocessedItems", {}).get(self.table, [])
            if not requests:
                return
            if time.monotonic() > deadline:
                raise StorageUnavailable(
                    f"DynamoDB left {len(requests)} items unprocessed on {self.table}"
                )
            await asyncio.sleep(random.uniform(0, backoff))
            backoff = min(backoff * 2, _MAX_BACKOFF)
            batch = {"RequestItems": {self.table: requests}}

    async def _put_current(self, put: Item) -> list[Event]:
        with contextlib.suppress(ConditionalCheckFailed):  # a later state is stored: it stays
            await self._call("PutItem", put)
        return []

    async def _read_known(
        self, deployables: list[tuple[str, str]]
    ) -> tuple[dict[Any, Record], dict[Any, StoredFacts]]:
        """The current records and the facts items of ``deployables``, those that exist
        (strongly consistent reads)."""
        current: dict[Any, Record] = {}
        found: dict[Any, StoredFacts] = {}
        for request in facts_reads(self.table, deployables):
            deadline = time.monotonic() + self._retry_seconds
            while True:
                response = await self._call("BatchGetItem", request)
                for item in response.get("Responses", {}).get(self.table, []):
                    if item["PK"]["S"].startswith("F"):
                        stored = _facts_of(item)
                        found[stored.facts.current.deployable] = stored
                    else:
                        record = _current_record((item["SK"]["S"], item["Latest"]["S"]))
                        current[record.deployable] = record
                unprocessed = response.get("UnprocessedKeys", {}).get(self.table)
                if not unprocessed:
                    break
                if time.monotonic() > deadline:
                    left = len(unprocessed["Keys"])
                    raise StorageUnavailable(f"DynamoDB left {left} keys unread")
                await asyncio.sleep(random.uniform(0, 0.05))
                request = {"RequestItems": {self.table: unprocessed}}
        return current, found

    async def facts_item(self, component: str, environment: str) -> StoredFacts | None:
        response = await self._call(
            "GetItem",
            {
                "TableName": self.table,
                "Key": _facts_key(component, environment),
                "ConsistentRead": True,
            },
        )
        item = response.get("Item")
        return None if item is None else _facts_of(item)

    async def settle_facts(
        self,
        component: str,
        environment: str,
        records: Sequence[Record],
        stored: StoredFacts | None,
        *,
        derive: bool = False,
        unseen: bool = False,
        known: Record | None = None,
    ) -> list[Event]:
        """Count ``records`` (in precedence order, all in history) in the deployable's facts,
        read as ``stored``. Each round computes the new facts from the item read and writes
        them on condition that it is unchanged (its ``Rev``), else reads it again: so
        concurrent writers never lose each other's records. Facts that are missing, of other
        rules, or asked to be (``derive``) are read back from history instead, which holds
        ``records`` already; but those of a deployable ``unseen`` before (it had no current
        state when read) are ``records``' alone, at first. The item is written even when
        ``records`` change nothing in it.

        Returns the events the change feed must hold once the item is written: that of the
        transition it records, and that of the one it replaced (written again, in case its
        writer stopped before writing it). ``known`` is the current record read, the
        previous one of a transition where there are no facts to tell."""
        for round_number in range(SETTLE_ROUNDS):
            if round_number:
                await asyncio.sleep(random.uniform(0, min(0.01 * 2**round_number, _MAX_BACKOFF)))
                stored = await self.facts_item(component, environment)
            facts = None if stored is None else stored.facts
            computed: Facts | None
            if stored is None and unseen and round_number == 0 and not derive:
                computed = derived.first(records[0], self.classify, self.rules)
                for record in records[1:]:
                    computed = await self._add(computed, record)
            elif derive or facts is None or facts.rules != self.rules:
                computed = await self._derive(component, environment)
                if computed is None:
                    if stored is None or await self._delete_facts(stored):
                        return []
                    continue
            else:
                computed = facts
                for record in records:
                    computed = await self._add(computed, record)
            if not records and stored is not None and stored.facts == computed:
                return []  # derived again, the same: nothing to tell other writers
            transition = self._transition(stored, known, computed)
            # Written even when nothing changed: the new revision makes a concurrent writer
            # that read the streak back before these records were in history fail its
            # condition and read it again (tests/reliability/test_concurrency.py).
            try:
                await self._call("PutItem", facts_put(self.table, computed, stored, transition))
            except ConditionalCheckFailed:
                continue
            events = []
            if transition is not None:
                events.append(Event(transition.accepted_ns, computed.current, transition.previous))
            replaced = None if stored is None else stored.event
            if replaced is not None and (not events or replaced.id != events[0].id):
                events.append(replaced)
            return events
        raise StorageUnavailable(
            f"the facts of {component} {environment} kept changing during "
            f"{SETTLE_ROUNDS} rounds of writing them"
        )

    def _transition(
        self, stored: StoredFacts | None, known: Record | None, computed: Facts
    ) -> Transition | None:
        """How ``computed``'s current record became current: a new transition when it is
        later than the one it replaces, else the stored one when it is the same record.
        Acceptance times only grow along a deployable's transitions, so its events are in
        record order in the log too."""
        current = computed.current
        replaced = known if stored is None else stored.facts.current
        if replaced is None or derived.key(current) > derived.key(replaced):
            floor = 0
            if stored is not None and stored.transition is not None:
                floor = stored.transition.accepted_ns + 1
            return Transition(max(time.time_ns(), floor), replaced)
        if stored is not None and derived.key(replaced) == derived.key(current):
            return stored.transition
        return None  # an earlier record is current again (a removal): no event

    async def _add(self, facts: Facts, record: Record) -> Facts:
        added = derived.add(facts, record, self.classify)
        if added is not None:
            return added
        # A late record of another class inside the streak: the streak is read back.
        since, breaker = await self._streak(facts.current)
        new = replace(facts, since=since, breaker=breaker)
        success = new.last_success
        if self.classify(record.state) == "success" and (
            success is None or record.precedence > success.precedence
        ):
            new = replace(new, last_success=record)
        return new

    async def _delete_facts(self, stored: StoredFacts) -> bool:
        current = stored.facts.current
        try:
            await self._call(
                "DeleteItem",
                {
                    "TableName": self.table,
                    "Key": _facts_key(current.component, current.environment),
                    "ConditionExpression": "Rev = :rev",
                    "ExpressionAttributeValues": {":rev": {"N": str(stored.revision)}},
                },
            )
        except ConditionalCheckFailed:
            return False
        return True

    async def _newest_first(self, upto: Record) -> AsyncGenerator[Record]:
        """The deployable's records in history up to ``upto``, newest first, ``upto`` itself
        first even if history no longer holds it."""
        wanted = HistoryRange(
            upto.component, upto.environment, until=upto.timestamp, descending=True
        )
        place = derived.key(upto)
        first = True
        async for page in self.history(wanted, page_items=_DERIVE_PAGE):
            for record in page:
                here = derived.key(record)
                if here > place:
                    continue
                if first and here != place:
                    yield upto
                first = False
                yield record
        if first:
            yield upto

    async def _derive(self, component: str, environment: str) -> Facts | None:
        """Every fact of the deployable, from its history (None if it has none): reads,
        newest first, back to the record before the streak and to the newest success."""
        wanted = HistoryRange(component, environment, descending=True)
        kept: list[Record] = []  # the streak and its breaker, then the newest success
        streak_class = None
        broken = found_success = False
        pages = self.history(wanted, page_items=_DERIVE_PAGE)
        try:
            async for page in pages:
                for record in page:
                    kind = self.classify(record.state)
                    if streak_class is None:
                        streak_class = kind
                    if not broken:
                        kept.append(record)
                        broken = kind != streak_class
                    elif kind == "success" and not found_success:
                        kept.append(record)
                    found_success = found_success or kind == "success"
                if broken and found_success:
                    break
        finally:
            await pages.aclose()
        return derived.derive(kept, self.classify, self.rules)

    async def _streak(self, current: Record) -> tuple[derived.Key, derived.Key | None]:
        records = self._newest_first(current)
        try:
            kept: list[Record] = []
            streak_class = self.classify(current.state)
            async for record in records:
                kept.append(record)
                if self.classify(record.state) != streak_class:
                    break
            return derived.streak(kept, self.classify)
        finally:
            await records.aclose()

    # Removing a record (docs/design.md, "Removing a record"). `remove` is the whole of it;
    # its steps are public so that the races it survives can be played step by step.

    async def remove(self, record: Record) -> Removal:
        """Remove ``record`` from history (with whatever details); if it was its deployable's
        current state, the newest record left becomes current (or the deployable has none).
        `RecordNotFound` if neither history nor current state holds it: then nothing changed.

        Current state is moved off the record before history loses it, so that current
        state always names a record history holds (as `put` writes history first), and a
        removal that failed half-way is completed by sending it again. Every change to
        current state is conditional on what was read, so a record written concurrently is
        never overwritten. The facts are derived again at the end."""
        component, environment = record.deployable
        in_history = await self.history_holds(record)
        current = await self.current_of(component, environment)
        was_current = current is not None and current.identity == record.identity
        if not in_history and not was_current:
            raise RecordNotFound(
                f"no record {component} {environment} {record.state!r} at "
                f"{record.timestamp}: nothing was removed"
            )
        if was_current:
            await self.settle_current(component, environment, without=record)
        if in_history:
            await self.delete_history(record)
        # Again, without exception: a writer resending the record meanwhile may have made
        # it current again, or a concurrent removal may have taken what became current.
        now_current = await self.settle_current(component, environment)
        await self.derive_again(component, environment)
        return Removal(record.without_details(), was_current, now_current)

    async def _variants(self, record: Record) -> list[Item]:
        """The keys of ``record``'s history items: without details, and with any."""
        plain = f"{record.timestamp}#{record.environment}#{record.state}"
        response = await self._call(
            "Query",
            {
                "TableName": self.table,
                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {
                    ":pk": {"S": "H#" + record.component},
                    ":lo": {"S": plain},
                    ":hi": {"S": plain + _VARIANT + "~"},
                },
                "ProjectionExpression": "PK, SK",
                "ConsistentRead": True,
            },
        )
        return [{"PK": item["PK"], "SK": item["SK"]} for item in response["Items"]]

    async def history_holds(self, record: Record) -> bool:
        return bool(await self._variants(record))

    async def current_of(self, component: str, environment: str) -> Record | None:
        """The deployable's current state, as stored now (a strongly consistent read)."""
        response = await self._call(
            "GetItem",
            {
                "TableName": self.table,
                "Key": _current_key(component, environment),
                "ProjectionExpression": "SK, Latest",
                "ConsistentRead": True,
            },
        )
        item = response.get("Item")
        return None if item is None else _current_record((item["SK"]["S"], item["Latest"]["S"]))

    async def newest(
        self, component: str, environment: str, *, without: Record | None = None
    ) -> Record | None:
        """The deployable's latest record in history by precedence, the order of its current
        state, leaving out ``without``; None if there is none. History is keyed by
        component, so other environments' records are read and skipped on the way; the
        records of the newest instant are compared here, not in the engine's key order
        (which differs between engines beyond U+D7FF)."""
        wanted = HistoryRange(component, environment, descending=True)
        best: Record | None = None
        async for page in self.history(wanted, page_items=_DERIVE_PAGE):
            for record in page:
                if without is not None and record.identity == without.identity:
                    continue
                if best is not None and record.timestamp < best.timestamp:
                    return best
                if best is None or record.precedence > best.precedence:
                    best = record
        return best

    async def replace_current(
        self, component: str, environment: str, expected: Record | None, new: Record | None
    ) -> bool:
        """Make ``new`` the deployable's current state (None: remove its current item), only
        if it still is ``expected`` (None: it has none). False, and nothing changed, if it
        is not: another writer got there first."""
        if new is None and expected is None:
            return True
        condition: Item
        if expected is None:
            condition = {"ConditionExpression": "attribute_not_exists(PK)"}
        else:
            # Written before states were stored ordered, Latest holds the state as is.
            old_form = f"{expected.timestamp}#{expected.state}"
            condition = {
                "ConditionExpression": "Latest IN (:expected, :old_form)",
                "ExpressionAttributeValues": {
                    ":expected": _latest(expected),
                    ":old_form": {"S": old_form},
                },
            }
        try:
            if new is None:
                await self._call(
                    "DeleteItem",
                    {
                        "TableName": self.table,
                        "Key": _current_key(component, environment),
                        **condition,
                    },
                )
            else:
                await self._call(
                    "PutItem", {"TableName": self.table, "Item": _current_item(new), **condition}
                )
        except ConditionalCheckFailed:
            return False
        return True

    async def settle_current(
        self, component: str, environment: str, *, without: Record | None = None
    ) -> Record | None:
        """Make the deployable's current state the newest record of its history (leaving out
        ``without``), and return it; None when there is none, and then no current item.

        A round reads current state, then history, and stops when they agree; otherwise it
        replaces current state on condition that it is still what was read, and reads both
        again. So a record written meanwhile is never overwritten (the condition fails; the
        next round sees it), and a record removed by someone else after this round chose it
        is caught by the next round, or by that removal's own settling, which reads current
        state after its delete. After `SETTLE_ROUNDS` rounds of interference,
        `StorageUnavailable`: sending the removal again is safe."""
        for _ in range(SETTLE_ROUNDS):
            current = await self.current_of(component, environment)
            newest = await self.newest(component, environment, without=without)
            if current == newest:
                return current
            await self.replace_current(component, environment, current, newest)
        raise StorageUnavailable(
            f"the current state of {component} {environment} kept changing during "
            f"{SETTLE_ROUNDS} rounds of recomputing it"
        )

    async def delete_history(self, record: Record) -> None:
        """Delete ``record``'s history items, with whatever details (no matter whether there
        are any)."""
        keys = await self._variants(record)
        plain = _history_key(record.without_details())
        if plain not in keys:
            keys.append(plain)
        await _all(self._call("DeleteItem", {"TableName": self.table, "Key": key}) for key in keys)

    # Reads: a component's history (all of it, or a page), the current states (all, by
    # component prefix, of one component), with or without facts

    async def _pages(self, query: dict[str, Any]) -> AsyncGenerator[list[Item]]:
        """Every page of a Query, the next one fetched while the caller uses this one."""
        pending: asyncio.Task[dict[str, Any]] | None = asyncio.ensure_future(
            self._call("Query", query)
        )
        try:
            while pending is not None:
                page = await pending
                last = page.get("LastEvaluatedKey")
                pending = (
                    asyncio.ensure_future(self._call("Query", {**query, "ExclusiveStartKey": last}))
                    if last
                    else None
                )
                yield page["Items"]
        finally:
            if pending is not None:
                pending.cancel()

    async def history(
        self, wanted: HistoryRange, *, page_items: int | None = None
    ) -> AsyncGenerator[list[Record]]:
        """Every record in ``wanted``, one DynamoDB page at a time (as many pages, at least
        one), ``page_items`` items a page at most (None: as many as DynamoDB gives)."""
        query = history_query(self.table, wanted)
        if page_items is not None:
            query["Limit"] = page_items
        collapsed = _Collapsed(wanted.component, wanted.environment, self._now())
        held: list[Record] | None = None
        async for items in self._pages(query):
            for item in items:
                collapsed.feed(item)
            # The last record may have variants on the next page: it waits for it.
            if held is not None:
                yield held
            held = collapsed.take(complete=False)
        yield (held or []) + collapsed.take(complete=True)

    async def history_page(
        self, wanted: HistoryRange, limit: int, *, max_read: int = HISTORY_MAX_READ
    ) -> tuple[list[Record], Position | None]:
        """At most ``limit`` records of ``wanted``, and the position to resume after, or
        None when nothing is left. One record more than ``limit`` is read to know that,
        so the last page never promises another. With an environment, other environments'
        items are read and skipped; once ``max_read`` items are read the page ends early
        (shorter than ``limit``, possibly empty) at the last item read."""
        query = history_query(self.table, wanted)
        environment = wanted.environment
        collapsed = _Collapsed(wanted.component, environment, self._now())
        key = wanted.after
        read = 0
        while True:
            wanted_count = limit + 1 - len(collapsed.records)
            request = {
                **query,
                "Limit": (
                    wanted_count
                    if environment is None
                    else min(max(wanted_count, _FILTERED_READ), max_read)
                ),
            }
            if key is not None:
                request["ExclusiveStartKey"] = key
            page = await self._call("Query", request)
            for item in page["Items"]:
                collapsed.feed(item)
            read += len(page["Items"])
            key = page.get("LastEvaluatedKey")
            if len(collapsed.records) > limit:
                # Record ``limit`` has begun, so record ``limit - 1`` has all its variants.
                return collapsed.records[:limit], collapsed.last[limit - 1]
            if not key:
                return collapsed.records, None
            if read >= max_read:
                # When the last item read is the last record's, its variants may go on past
                # it: the record is left for the next page, which starts before it.
                records = collapsed.records
                if records and collapsed.last[-1] == key and collapsed.before[-1] is not None:
                    return records[:-1], collapsed.before[-1]
                return records, key

    async def read_events(
        self, after: tuple[int, str] | None, *, until_ns: int, limit: int
    ) -> list[Event]:
        """At most ``limit`` events of the log in position order: after the position
        ``after`` (None: from the oldest kept) and accepted at ``until_ns`` at the latest.
        Reads hour buckets from the first wanted on, each's shards concurrently, and stops
        at the first that fills the page; expired events are skipped."""
        now = time.time_ns()
        oldest = now - self.event_retention_days * _SECONDS_PER_DAY * 1_000_000_000
        start_ns = oldest if after is None else max(after[0], oldest)
        lower = position(start_ns, "") if after is None or after[0] < oldest else position(*after)
        upper = position(until_ns, "f" * 32)
        found: list[Event] = []
        hour_ns = start_ns - start_ns % _feed.HOUR_NS
        while hour_ns <= until_ns and len(found) < limit:
            hour = _feed.hour_of(hour_ns)
            shards = await _all(
                self._event_items(_feed.partition(hour, shard), lower, upper, limit)
                for shard in range(CURRENT_SHARDS)
            )
            items = sorted((item for items in shards for item in items), key=_position_of)
            now_seconds = now // 1_000_000_000
            for item in items:
                if len(found) == limit:
                    break  # the shards' other items come after the page: not parsed
                if not _feed.expired(item, now_seconds):
                    found.append(_feed.event_of(item, _details_of))
            hour_ns += _feed.HOUR_NS
        return found[:limit]

    async def _event_items(self, pk: str, lower: str, upper: str, limit: int) -> list[Item]:
        query = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lower AND :upper",
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                ":lower": {"S": lower},
                ":upper": {"S": upper},
            },
            "Limit": limit + 1,
            "ConsistentRead": True,
        }
        items: list[Item] = []
        async with contextlib.aclosing(self._pages(query)) as pages:
            async for page in pages:
                items.extend(item for item in page if item["SK"]["S"] != lower)
                if len(items) >= limit:
                    break
        return items[:limit]

    async def current(self) -> Sequence[Record]:
        """The latest record of every deployable, by component then environment. Concurrent
        callers share a read that started after they asked (shared_read.py): the result is
        theirs to read, not to change."""
        return await self._current()

    async def _read_current(self) -> Sequence[Record]:
        items = await self._current_items(range(CURRENT_SHARDS), prefix=None)
        return tuple(self._records_of(items))

    def _records_of(self, items: Iterable[Item]) -> list[Record]:
        record = self._current_records.get
        return [record((item["SK"]["S"], item["Latest"]["S"])) for item in items]

    async def _current_items(
        self,
        shards: Iterable[int],
        *,
        prefix: str | None,
        partition: str = "CURRENT",
        projection: Sequence[str] | None = None,
    ) -> list[Item]:
        """Every current item of ``shards`` (or facts item) whose ``SK`` starts with
        ``prefix``, shards read concurrently, sorted by ``SK`` (that is, by component then
        environment); current items' keys and ``Latest`` only, facts items' ``projection``
        (None: all)."""

        async def shard_items(shard: int) -> list[Item]:
            query = current_query(self.table, shard, prefix, partition=partition)
            if partition != "CURRENT":
                if projection is None:
                    del query["ProjectionExpression"]
                else:  # by placeholders: some names (Rules) are reserved words
                    names = {f"#p{i}": name for i, name in enumerate(projection)}
                    query["ProjectionExpression"] = ", ".join(names)
                    query["ExpressionAttributeNames"] = names
            return [item async for page in self._pages(query) for item in page]

        per_shard = await _all(shard_items(shard) for shard in shards)
        items = [item for shard in per_shard for item in shard]
        items.sort(key=lambda item: item["SK"]["S"])
        return items

    async def component_current(self, component: str) -> list[Record]:
        """The latest record of each of a component's environments: one Query on its shard."""
        items = await self._current_items([current_shard(component)], prefix=component + "#")
        return self._records_of(items)

    async def current_matching(self, component_prefix: str) -> list[Record]:
        """`current` for the components that start with ``component_prefix``: the prefix is
        a key condition on every shard, so only matching items are read."""
        items = await self._current_items(range(CURRENT_SHARDS), prefix=component_prefix or None)
        return self._records_of(items)

    async def deployables(self, component_prefix: str | None = None) -> list[Known]:
        """Every deployable's current state with its details and facts (of components
        starting with ``component_prefix``): one Query per shard of current items and one of
        facts items, concurrently, however long history is."""
        shards = range(CURRENT_SHARDS)
        prefix = component_prefix or None
        current, facts = await _all(
            [
                self._current_items(shards, prefix=prefix),
                self._current_items(shards, prefix=prefix, partition="FACTS"),
            ]
        )
        facts_of = self._facts.get
        known = {item["SK"]["S"]: facts_of(_facts_text(item)) for item in facts}
        return [
            self._known(record, known.get(f"{record.component}#{record.environment}"))
            for record in self._records_of(current)
        ]

    async def briefly(self) -> list[Brief]:
        """Every deployable's current record and when its class began, without details: one
        Query per shard of current items and one of facts items projected to five short
        attributes (at 10,000 deployables, a tenth of the bytes `deployables` reads)."""
        shards = range(CURRENT_SHARDS)
        current, facts = await _all(
            [
                self._current_items(shards, prefix=None),
                self._current_items(
                    shards,
                    prefix=None,
                    partition="FACTS",
                    projection=("SK", "Latest", "Since", "Rules", "Rev"),
                ),
            ]
        )
        known = {item["SK"]["S"]: item for item in facts}
        record_of = self._current_records.get
        briefs = []
        for item in current:
            key, latest = item["SK"]["S"], item["Latest"]["S"]
            record = record_of((key, latest))
            stored = known.get(key)
            if stored is None or stored["Rules"]["S"] != self.rules:
                briefs.append(Brief(record, None, None))
                continue
            of = stored["Latest"]["S"]
            if of != latest and _current_record((key, of)).identity != record.identity:
                briefs.append(Brief(record, None, None))  # a moment behind (or ahead)
                continue
            briefs.append(Brief(record, stored["Since"]["S"][:_STAMP], int(stored["Rev"]["N"])))
        return briefs

    async def known_of(self, deployables: Sequence[tuple[str, str]]) -> list[tuple[Known, Brief]]:
        """The current state, details and facts of ``deployables`` (component, environment),
        those that exist, each also in brief: ``BatchGetItem`` calls of 50 deployables,
        concurrently."""
        groups = [deployables[i : i + 50] for i in range(0, len(deployables), 50)]
        known: list[tuple[Known, Brief]] = []
        for current, found in await _all(self._read_known(list(group)) for group in groups):
            for deployable, record in current.items():
                stored = found.get(deployable)
                seen = self._known(record, None if stored is None else stored.facts)
                if seen.facts is None or stored is None:
                    known.append((seen, Brief(record, None, None)))
                else:
                    brief = Brief(record, seen.facts.since[0], stored.revision)
                    known.append((seen, brief))
        return known

    async def deployable(self, component: str, environment: str) -> Known | None:
        """One deployable's current state with its details and facts: one ``BatchGetItem``."""
        response = await self._call(
            "BatchGetItem",
            {
                "RequestItems": {
                    self.table: {
                        "Keys": [
                            _current_key(component, environment),
                            _facts_key(component, environment),
                        ],
                        "ConsistentRead": True,
                    }
                }
            },
        )
        items = {item["PK"]["S"][0]: item for item in response["Responses"][self.table]}
        if "C" not in items:
            return None
        record = _current_record((items["C"]["SK"]["S"], items["C"]["Latest"]["S"]))
        return self._known(record, _facts_of(items["F"]).facts if "F" in items else None)

    def _known(self, record: Record, facts: Facts | None) -> Known:
        if facts is None or facts.rules != self.rules:
            return Known(record, None)
        if facts.current.identity != record.identity:
            return Known(record, None)  # a moment behind (or ahead of) current state
        return Known(facts.current, facts)

    async def derive_again(self, component: str, environment: str) -> None:
        """Derive the deployable's facts again from its history (after the rules changed, a
        removal, or for a deployable written before facts were kept), and write its current
        state's ``Latest`` in the ordered form if it holds the form written before."""
        current = await self.current_of(component, environment)
        if current is not None:
            old_form = f"{current.timestamp}#{current.state}"
            if old_form != _latest(current)["S"]:
                await self.replace_current(component, environment, current, current)
        stored = await self.facts_item(component, environment)
        await self.settle_facts(component, environment, [], stored, derive=True)

    # The table itself

    async def check(self) -> None:
        """Raise a `StorageError` unless the table exists and is ACTIVE."""
        response = await self._call("DescribeTable", {"TableName": self.table})
        status = response["Table"]["TableStatus"]
        if status != "ACTIVE":
            raise StorageUnavailable(f"table {self.table} is {status}")

    async def table_arn(self) -> str | None:
        """The table's ARN (it names the AWS account), or None if there is no such table."""
        try:
            response = await self._call("DescribeTable", {"TableName": self.table})
        except StorageError as exc:
            if isinstance(exc.__cause__, TableNotFound):
                return None
            raise
        arn: str = response["Table"]["TableArn"]
        return arn

    async def create_table(self, *, timeout: float = 60.0) -> bool:
        """Create the table unless it exists; wait until ACTIVE. True if it was created."""
        try:
            await self._call("CreateTable", table_definition(self.table))
            created = True
        except StorageError as exc:
            if not isinstance(exc.__cause__, ResourceInUse):
                raise
            created = False
        await self._wait_for(lambda status: status == "ACTIVE", timeout)
        return created

    async def delete_table(self, *, timeout: float = 60.0) -> bool:
        """Delete the table and wait until it is gone. True if there was one."""
        try:
            await self._call("DeleteTable", {"TableName": self.table})
        except StorageError as exc:
            if isinstance(exc.__cause__, TableNotFound):
                return False
            raise
        await self._wait_for(lambda status: status is None, timeout)
        return True

    async def _wait_for(self, done: Callable[[str | None], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = await self._call("DescribeTable", {"TableName": self.table})
                status: str | None = response["Table"]["TableStatus"]
            except StorageError as exc:
                if not isinstance(exc.__cause__, TableNotFound):
                    raise
                status = None
            if done(status):
                return
            if time.monotonic() > deadline:
                raise StorageUnavailable(f"table {self.table} stayed {status} for {timeout}s")
            await asyncio.sleep(0.05)
