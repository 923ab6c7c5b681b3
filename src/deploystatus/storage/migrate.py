"""Migration from the reference service's table (the ``migrate-legacy`` command is
`deploystatus.commands.migrate`).

This module is the only code that knows the reference's item format. Its table (default
``cicd-audit``) has string keys ``Component`` (hash) and ``Environment`` (range), and for
each record the reference wrote two items:

    current      Component = component      Environment, Ts, State, Type = "current"
    historical   Component = Go time string Environment, Ts, State, Type = "historical",
                 (e.g. "2024-07-30 14:06:41 +0000 UTC")   Cmp = component

``Ts`` is Unix seconds (a number) and is authoritative for the instant: the time string only
keys the item (it is in the reference's zone, and has the sub-second digits the reference
threw away everywhere else). Both kinds become records of the new table's history; current
items too, since the reference's current record was also in its history, and a record read
twice collapses into one by identity. Records are written through `Store.put`, so the new
current state is the latest record of each deployable by event time, whatever the legacy
current item said, and running the migration again changes nothing.

Items that break today's rules (`records`: among them a record dated further ahead of the
clock than ``DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS``, which a bad clock wrote and which would
pin its deployable's current state), or whose ``Type`` is missing or unknown, or whose
attributes are missing or malformed, are skipped, counted by reason and sampled in the
report; they never fail the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from deploystatus import timestamps
from deploystatus.errors import DeployStatusError, StorageError
from deploystatus.records import (
    Record,
    component_problem,
    environment_problem,
    future_problem,
    state_problem,
)

from .dynamodb import Client, TableNotFound, send
from .store import Store

Item = dict[str, Any]
Progress = Callable[["MigrationReport"], Awaitable[None] | None]

LEGACY_TABLE = "cicd-audit"
DEFAULT_PAGE_SIZE = 500  # items per Scan page (DynamoDB also stops a page at 1 MB)
PUT_BATCH = 1000  # records per `Store.put`, as many as one POST /records may carry
EXAMPLES_PER_REASON = 5
_KEY_ATTRIBUTES = ("Component", "Environment")
_NS = 1_000_000_000

# Why an item is skipped: the keys of `MigrationReport.skipped_by_reason`.
MISSING_TYPE = "missing-type"
UNKNOWN_TYPE = "unknown-type"
MISSING_FIELD = "missing-field"
MALFORMED_FIELD = "malformed-field"
INVALID_COMPONENT = "invalid-component"
INVALID_ENVIRONMENT = "invalid-environment"
INVALID_STATE = "invalid-state"
TIMESTAMP_OUT_OF_RANGE = "timestamp-out-of-range"
TIMESTAMP_IN_THE_FUTURE = "timestamp-in-the-future"


class MigrationError(DeployStatusError):
    """The migration cannot start: a table is missing or is not what it should be."""

    code = "migration_error"


class MigrationInterrupted(DeployStatusError):
    """DynamoDB failed mid-run. ``report`` covers the pages fully written before the
    failure; running again from ``report.last_evaluated_key`` completes the job."""

    code = "migration_interrupted"

    def __init__(self, message: str, report: MigrationReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class SkippedItem:
    """A legacy item left out: its key (``Component``, ``Environment``), why, and details."""

    key: dict[str, str]
    reason: str
    detail: str


@dataclass
class MigrationReport:
    """What a run did, updated page by page (`migrate`'s ``progress`` sees each update).

    ``read == written + duplicates + skipped``. ``written`` counts distinct records (in a
    dry run: that would be written); ``duplicates`` are valid items whose record this run
    had already seen (a reference current item and its historical twin). Writes are
    idempotent, so running again reports the same counts and changes nothing.

    ``last_evaluated_key`` is the Scan position after the last page fully written: pass it
    as ``start_key`` to resume an interrupted run. It is ``None`` once ``complete``.
    """

    dry_run: bool = False
    read: int = 0
    written: int = 0
    duplicates: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[SkippedItem] = field(default_factory=list)
    pages: int = 0
    last_evaluated_key: Item | None = None
    complete: bool = False


class _Skip(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _string(item: Item, name: str) -> str:
    """A string attribute. ``NULL`` reads as empty: Go's SDK v1 stored empty strings so."""
    value = item.get(name)
    if value is None:
        raise _Skip(MISSING_FIELD, f"no {name} attribute")
    if isinstance(value, dict):
        text = value.get("S")
        if isinstance(text, str):
            return text
        if value.get("NULL") is True:
            return ""
    raise _Skip(MALFORMED_FIELD, f"{name} is {_show(value)}, not a string")


def _seconds(item: Item) -> int:
    value = item.get("Ts")
    if value is None:
        raise _Skip(MISSING_FIELD, "no Ts attribute")
    text = value.get("N") if isinstance(value, dict) else None
    if not isinstance(text, str):
        raise _Skip(MALFORMED_FIELD, f"Ts is {_show(value)}, not a number")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _Skip(MALFORMED_FIELD, f"Ts is {_show(text)}, not a number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise _Skip(MALFORMED_FIELD, f"Ts is {_show(text)}, not a whole number of seconds")
    if number.adjusted() > 18:  # far outside any accepted instant; keep int() cheap
        raise _Skip(TIMESTAMP_OUT_OF_RANGE, f"Ts {_show(text)} is out of range")
    return int(number)


def _legacy_record(item: Item, *, now: int, max_skew_seconds: int) -> Record:
    """The record a reference item stands for; `_Skip` says why there is none. ``now`` is
    the clock (nanoseconds) the timestamp is judged against."""
    kind = item.get("Type")
    if kind is None:
        raise _Skip(MISSING_TYPE, "no Type attribute")
    if kind == {"S": "current"}:
        component_attribute = "Component"
    elif kind == {"S": "historical"}:
        component_attribute = "Cmp"  # the key is the time string
    else:
        raise _Skip(UNKNOWN_TYPE, f"Type is {_show(kind)}")
    component = _string(item, component_attribute)
    environment = _string(item, "Environment")
    state = _string(item, "State")
    seconds = _seconds(item)
    checks = (
        (component_attribute, component, component_problem, INVALID_COMPONENT),
        ("Environment", environment, environment_problem, INVALID_ENVIRONMENT),
        ("State", state, state_problem, INVALID_STATE),
    )
    for name, value, check, reason in checks:
        if (problem := check(value)) is not None:
            raise _Skip(reason, f"{name} {_show(value)} {problem}")
    nanos = seconds * _NS
    if not timestamps.EARLIEST_NS <= nanos <= timestamps.LATEST_NS:
        raise _Skip(
            TIMESTAMP_OUT_OF_RANGE,
            f"Ts {seconds} must lie between 0000-01-02T00:00:00Z and 9999-12-30T23:59:59Z",
        )
    if future_problem(nanos, now=now, max_skew_seconds=max_skew_seconds) is not None:
        # Not the problem's own words: they say how far ahead of this moment, and a
        # report says the same thing every run.
        raise _Skip(
            TIMESTAMP_IN_THE_FUTURE,
            f"Ts {seconds} ({timestamps.canonical(nanos)[:19]}Z) is more than "
            f"{max_skew_seconds:,} s ahead of the clock (DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS)",
        )
    return Record(component, environment, state, timestamps.canonical(nanos))


def _identity(record: Record) -> int:
    """A record's identity (as the store keys history), in 16 bytes: a run remembers every
    record it saw, so this keeps that memory small however large the table."""
    text = "\0".join((record.component, record.environment, record.state, record.timestamp))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest())


def _item_key(item: Item) -> dict[str, str]:
    key: dict[str, str] = {}
    for name in _KEY_ATTRIBUTES:
        value = item.get(name)
        key[name] = value["S"] if isinstance(value, dict) and "S" in value else _show(value)
    return key


@dataclass
class _Page:
    read: int = 0
    duplicates: int = 0
    skipped: list[SkippedItem] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)


def _sort_page(items: list[Item], seen: set[int], *, max_skew_seconds: int) -> _Page:
    page = _Page(read=len(items))
    now = time.time_ns()
    for item in items:
        try:
            record = _legacy_record(item, now=now, max_skew_seconds=max_skew_seconds)
        except _Skip as skip:
            page.skipped.append(SkippedItem(_item_key(item), skip.reason, skip.detail))
            continue
        identity = _identity(record)
        if identity in seen:
            page.duplicates += 1
        else:
            seen.add(identity)
            page.records.append(record)
    return page


def _discard(task: asyncio.Task[Any] | None) -> None:
    if task is None:
        return
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()  # retrieved, so that asyncio does not log it as lost


class _LegacyTable:
    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self.name = name

    async def _call(self, action: str, payload: Item) -> Item:
        try:
            return await send(self._client, action, payload, self.name)
        except StorageError as exc:
            if isinstance(exc.__cause__, TableNotFound):
                raise MigrationError(f"source table {self.name} does not exist") from exc.__cause__
            raise

    async def check(self) -> None:
        """Fail early unless the table exists and is keyed like the reference's."""
        response = await self._call("DescribeTable", {"TableName": self.name})
        keys = {key["KeyType"]: key["AttributeName"] for key in response["Table"]["KeySchema"]}
        if keys != {"HASH": "Component", "RANGE": "Environment"}:
            raise MigrationError(
                f"table {self.name} is not the reference's: its keys are {keys}, "
                "not Component (hash) and Environment (range)"
            )

    async def scan(self, limit: int, start_key: Item | None) -> Item:
        payload: Item = {"TableName": self.name, "Limit": limit, "ConsistentRead": True}
        if start_key:
            payload["ExclusiveStartKey"] = start_key
        return await self._call("Scan", payload)


async def _check_target(store: Store) -> None:
    try:
        await store.check()
    except StorageError as exc:
        if isinstance(exc.__cause__, TableNotFound):
            raise MigrationError(
                f"target table {store.table} does not exist: create it with "
                "`deploystatus init-table`"
            ) from exc
        raise


async def migrate(
    source_client: Client,
    source_table: str,
    store: Store,
    *,
    dry_run: bool = False,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: Progress | None = None,
    start_key: Item | None = None,
    max_clock_skew_seconds: int = 300,
) -> MigrationReport:
    """Copy every valid record of the reference's table into ``store``.

    Scans ``source_table`` page by page (``page_size`` items a page, from ``start_key``,
    a previous report's ``last_evaluated_key``), writing each page's records before the
    page counts as done; the next page is read meanwhile. ``progress`` (a function or a
    coroutine function) gets the report after every page. With ``dry_run`` nothing is
    written and the target table is not needed; the counts are the same. Records more than
    ``max_clock_skew_seconds`` ahead of the clock are skipped, as ``POST /records`` refuses
    them.

    Raises `MigrationError` before anything is read if a table is missing or the source is
    not keyed like the reference's, and `MigrationInterrupted` (with the report so far) if
    DynamoDB fails mid-run.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    source = _LegacyTable(source_client, source_table)
    await source.check()
    if not dry_run:
        await _check_target(store)
    report = MigrationReport(dry_run=dry_run, last_evaluated_key=start_key)
    seen: set[int] = set()
    pending: asyncio.Task[Item] | None = asyncio.ensure_future(source.scan(page_size, start_key))
    try:
        while pending is not None:
            try:
                response = await pending
                last: Item | None = response.get("LastEvaluatedKey") or None
                pending = asyncio.ensure_future(source.scan(page_size, last)) if last else None
                page = _sort_page(
                    response.get("Items", []), seen, max_skew_seconds=max_clock_skew_seconds
                )
                if not dry_run:
                    for start in range(0, len(page.records), PUT_BATCH):
                        await store.put(page.records[start : start + PUT_BATCH])
            except DeployStatusError as exc:
                raise MigrationInterrupted(
                    f"{exc.message} (after {report.pages} complete pages)", report
                ) from exc
            report.read += page.read
            report.written += len(page.records)
            report.duplicates += page.duplicates
            report.skipped += len(page.skipped)
            for skipped in page.skipped:
                count = report.skipped_by_reason.get(skipped.reason, 0)
                report.skipped_by_reason[skipped.reason] = count + 1
                if count < EXAMPLES_PER_REASON:
                    report.examples.append(skipped)
            report.pages += 1
            report.last_evaluated_key = last
            report.complete = last is None
            if progress is not None:
                result = progress(report)
                if inspect.isawaitable(result):
                    await result
    finally:
        _discard(pending)
    return report


def start_key_from_json(text: str) -> Item:
    """A ``LastEvaluatedKey`` as printed by an interrupted run (DynamoDB JSON)."""
    try:
        key = json.loads(text)
    except ValueError:
        key = None
    if (
        not isinstance(key, dict)
        or set(key) != set(_KEY_ATTRIBUTES)
        or not all(isinstance(v, dict) and isinstance(v.get("S"), str) for v in key.values())
    ):
        raise ValueError(
            "must be the key an interrupted run printed, e.g. "
            '{"Component":{"S":"abc.def"},"Environment":{"S":"prod-all"}}'
        )
    return key
