"""The store: the only code that knows the item format, and the calls that write and read
it, one read per access pattern (docs/design.md, "Access patterns").

One table, string keys ``PK`` and ``SK`` (see docs/design.md for the reasoning):

    history   PK = "H#" + component             SK = timestamp "#" environment "#" state
    current   PK = "CURRENT#" + shard (0-3)     SK = component "#" environment
                                                Latest = timestamp "#" state

``timestamp`` is the canonical UTC form (fixed width), so sort-key order is time order and
``Latest`` compares as (timestamp, state). Neither component nor environment may contain
``#``, and ``#`` sorts below every character they may contain, so splitting is unambiguous
and ``SK`` order of current items is (component, environment) order.

The invariant every write keeps: a deployable's current item names a record its history
holds, the latest one once writes settle. `put` writes history before current state;
`remove` moves current state off a record before deleting it from history (see
docs/design.md, "Removing a record").
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Self, TypeVar

from deploystatus import timestamps
from deploystatus.config import Settings
from deploystatus.errors import (
    DeployStatusError,
    InvalidRequest,
    RecordNotFound,
    StorageError,
    StorageUnavailable,
)
from deploystatus.memo import Memo
from deploystatus.records import HistoryRange, Position, Record, Removal

from ._shared_read import SharedRead
from ._slots import CallSlots
from .dynamodb import Client, ConditionalCheckFailed, ResourceInUse, TableNotFound, send

T = TypeVar("T")

CURRENT_SHARDS = 4  # part of the stored format: changing it needs a migration
BATCH_SIZE = 25  # BatchWriteItem's limit
CURRENT_RECORDS_LIMIT = 32_768  # deployables whose records reads reuse (560 bytes each)
_READS = frozenset({"Query", "GetItem", "DescribeTable"})  # served first when calls queue
_MAX_BACKOFF = 1.0
# History range reads (Store.history_page): see docs/design.md, "Query options".
HISTORY_MAX_READ = 10_000  # items one page request reads at most when filtering by environment
_FILTERED_READ = 500  # items per Query call when filtering by environment
# Rounds of `Store.settle_current` before a removal gives up (503: retrying is safe). A round
# repeats only when another writer changed the deployable meanwhile.
SETTLE_ROUNDS = 20
_EARLIEST = timestamps.canonical(timestamps.EARLIEST_NS)
_LATEST = timestamps.canonical(timestamps.LATEST_NS)

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
    return {
        "PK": {"S": "H#" + record.component},
        "SK": {"S": f"{record.timestamp}#{record.environment}#{record.state}"},
    }


def _current_key(component: str, environment: str) -> Item:
    return {
        "PK": {"S": f"CURRENT#{current_shard(component)}"},
        "SK": {"S": f"{component}#{environment}"},
    }


def _latest(record: Record) -> Item:
    return {"S": f"{record.timestamp}#{record.state}"}


def _current_item(record: Record) -> Item:
    return {**_current_key(record.component, record.environment), "Latest": _latest(record)}


@dataclass(frozen=True)
class WritePlan:
    """The calls that store a batch, in order: every ``BatchWriteItem`` of history (run
    concurrently), then a conditional ``PutItem`` per deployable (run concurrently)."""

    history: list[Item]
    current: list[Item]


def write_plan(table: str, records: Sequence[Record]) -> WritePlan:
    """What `Store.put` sends for ``records``: a pure function of them, so that what the
    store writes can be measured without the store (bench/engine.py)."""
    history: dict[tuple[str, str], Item] = {}
    latest: dict[tuple[str, str], Record] = {}
    for record in records:
        key = _history_key(record)
        history[(key["PK"]["S"], key["SK"]["S"])] = key
        known = latest.get(record.deployable)
        if known is None or record.precedence > known.precedence:
            latest[record.deployable] = record
    requests = [{"PutRequest": {"Item": item}} for item in history.values()]
    batches = [
        {"RequestItems": {table: requests[start : start + BATCH_SIZE]}}
        for start in range(0, len(requests), BATCH_SIZE)
    ]
    return WritePlan(batches, [_current_put(table, record) for record in latest.values()])


def _current_put(table: str, record: Record) -> Item:
    item = _current_item(record)
    return {
        "TableName": table,
        "Item": item,
        # Event time, not arrival time: never replace a later state.
        "ConditionExpression": "attribute_not_exists(PK) OR Latest < :latest",
        "ExpressionAttributeValues": {":latest": item["Latest"]},
    }


def current_query(table: str, shard: int, prefix: str | None = None) -> Item:
    """The Query of a shard's current items whose ``SK`` starts with ``prefix``."""
    values = {":pk": {"S": f"CURRENT#{shard}"}}
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
        "ProjectionExpression": "SK",
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
    return Record(component, environment, state, timestamp)


def _current_record(stored: tuple[str, str]) -> Record:
    """The record of a current item's ``(SK, Latest)``."""
    key, latest = stored
    component, environment = key.split("#", 1)
    timestamp, state = latest.split("#", 1)
    return Record(component, environment, state, timestamp)


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
    ) -> None:
        self._client = client
        self.table = table
        # Bounds this process's calls in flight: a burst queues here instead of piling up,
        # and queued reads go first (slots.py).
        self._slots = CallSlots(max_concurrent_calls, wait_seconds=retry_seconds)
        self._retry_seconds = retry_seconds
        self._current = SharedRead(self._read_current)
        # Current items come back read after read: each one's record is built once.
        self._current_records = Memo(_current_record, CURRENT_RECORDS_LIMIT)

    @classmethod
    def from_settings(cls, client: Client, settings: Settings) -> Self:
        return cls(
            client,
            settings.table,
            max_concurrent_calls=settings.max_concurrent_calls,
            retry_seconds=settings.dynamodb_retry_seconds,
        )

    async def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        read = action in _READS
        await self._slots.take(read=read)
        try:
            return await send(self._client, action, payload, self.table)
        finally:
            self._slots.give_back(read=read)

    # Writes

    async def put(self, records: Sequence[Record]) -> None:
        """Store a batch; returns only once DynamoDB holds all of it.

        History first, then current state, so a reader never sees a current state that
        history lacks. Both steps are idempotent, so a caller may retry a failed batch whole.
        """
        plan = write_plan(self.table, records)
        await _all(self._batch_write(batch) for batch in plan.history)
        await _all(self._put_current(put) for put in plan.current)

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

    async def _put_current(self, put: Item) -> None:
        with contextlib.suppress(ConditionalCheckFailed):  # a later state is stored: it stays
            await self._call("PutItem", put)

    # Removing a record (docs/design.md, "Removing a record"). `remove` is the whole of it;
    # its steps are public so that the races it survives can be played step by step.

    async def remove(self, record: Record) -> Removal:
        """Remove ``record`` from history; if it was its deployable's current state, the
        newest record left becomes current (or the deployable has none). `RecordNotFound`
        if neither history nor current state holds it: then nothing changed.

        Current state is moved off the record before history loses it, so that current
        state always names a record history holds (as `put` writes history first), and a
        removal that failed half-way is completed by sending it again. Every change to
        current state is conditional on what was read, so a record written concurrently is
        never overwritten."""
        component, environment = record.deployable
        in_history = await self.history_holds(record)
        was_current = await self.current_of(component, environment) == record
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
        return Removal(record, was_current, now_current)

    async def history_holds(self, record: Record) -> bool:
        response = await self._call(
            "GetItem",
            {
                "TableName": self.table,
                "Key": _history_key(record),
                "ProjectionExpression": "PK",
                "ConsistentRead": True,
            },
        )
        return "Item" in response

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
        """The deployable's latest record in history by (timestamp, state), the order of its
        current state, leaving out ``without``; None if there is none. History is keyed by
        component, so other environments' records are read and skipped on the way."""
        wanted = HistoryRange(component, environment, descending=True)
        while True:
            # Newest first: SK order is (timestamp, environment, state), so the first two
            # records of the environment are its two latest, and ``without`` is at most one.
            records, position = await self.history_page(wanted, 2)
            for record in records:
                if record != without:
                    return record
            if position is None:
                return None
            wanted = replace(wanted, after=position)

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
            condition = {
                "ConditionExpression": "Latest = :expected",
                "ExpressionAttributeValues": {":expected": _latest(expected)},
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
        """Delete ``record``'s history item (no matter whether it is there)."""
        await self._call("DeleteItem", {"TableName": self.table, "Key": _history_key(record)})

    # Reads: a component's history (all of it, or a page), the current states (all, by
    # component prefix, of one component)

    async def _pages(self, query: dict[str, Any]) -> AsyncIterator[list[Item]]:
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

    async def history(self, wanted: HistoryRange) -> AsyncIterator[list[Record]]:
        """Every record in ``wanted``, one DynamoDB page at a time (at least one page)."""
        component, environment = wanted.component, wanted.environment
        async for items in self._pages(history_query(self.table, wanted)):
            records = [_history_record(component, item) for item in items]
            if environment is not None:
                records = [record for record in records if record.environment == environment]
            yield records

    async def history_page(
        self, wanted: HistoryRange, limit: int, *, max_read: int = HISTORY_MAX_READ
    ) -> tuple[list[Record], Position | None]:
        """At most ``limit`` records of ``wanted``, and the position to resume after, or
        None when nothing is left. One record more than ``limit`` is read to know that,
        so the last page never promises another. With an environment, other environments'
        items are read and skipped; once ``max_read`` items are read the page ends early
        (shorter than ``limit``, possibly empty) at the last item read."""
        query = history_query(self.table, wanted)
        component, environment = wanted.component, wanted.environment
        key = wanted.after
        found: list[Record] = []
        read = 0
        while True:
            wanted_count = limit + 1 - len(found)
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
                record = _history_record(component, item)
                if environment is None or record.environment == environment:
                    found.append(record)
                    if len(found) > limit:
                        return found[:limit], _history_key(found[limit - 1])
            read += len(page["Items"])
            key = page.get("LastEvaluatedKey")
            if not key:
                return found, None
            if read >= max_read:
                return found, key

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

    async def _current_items(self, shards: Iterable[int], *, prefix: str | None) -> list[Item]:
        """Every current item of ``shards`` whose ``SK`` starts with ``prefix``, shards read
        concurrently, sorted by ``SK`` (that is, by component then environment)."""

        async def shard_items(shard: int) -> list[Item]:
            query = current_query(self.table, shard, prefix)
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
