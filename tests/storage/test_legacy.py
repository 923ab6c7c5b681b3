"""Migration from the reference's table: a table laid out exactly like the reference's,
filled with raw PutItem calls in its item format, migrated into a fresh table on the same
real engine (dynalite and moto)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from deploystatus import timestamps
from deploystatus.commands.main import main
from deploystatus.commands.migrate import _key_argument
from deploystatus.config import Settings
from deploystatus.errors import StorageError
from deploystatus.records import Record
from deploystatus.storage.dynamodb import Client, TableNotFound, open_client
from deploystatus.storage.migrate import (
    MigrationError,
    MigrationInterrupted,
    MigrationReport,
    migrate,
)
from deploystatus.storage.store import Store
from tests.support.factories import history_of, records_body, response_record

T = TypeVar("T")
Item = dict[str, Any]

# The reference's table: its keys, and a GSI on attributes its items never carry.
REFERENCE_TABLE: Item = {
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("Component", "Environment", "State", "Timestamp")
    ],
    "KeySchema": [
        {"AttributeName": "Component", "KeyType": "HASH"},
        {"AttributeName": "Environment", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "GSI1",
            "KeySchema": [
                {"AttributeName": "State", "KeyType": "HASH"},
                {"AttributeName": "Timestamp", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def seconds(text: str) -> int:
    return timestamps.parse(text) // 1_000_000_000


def at(text: str) -> str:
    return timestamps.canonical(timestamps.parse(text))


def go_time(unix: int, zone: str = "UTC") -> str:
    """Go's ``Time.String()`` of a time in ``zone``: the reference's history key."""
    return datetime.fromtimestamp(unix, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %z %Z")


def current(component: str, environment: str, when: str, state: str) -> Item:
    """A reference "current" item, as its PutItem wrote it."""
    return {
        "Component": {"S": component},
        "Environment": {"S": environment},
        "Ts": {"N": str(seconds(when))},
        "State": {"S": state},
        "Type": {"S": "current"},
    }


def historical(component: str, environment: str, when: str, state: str, zone: str = "UTC") -> Item:
    """A reference "historical" item: keyed by the time string, component in ``Cmp``."""
    return {
        "Component": {"S": go_time(seconds(when), zone)},
        "Environment": {"S": environment},
        "Cmp": {"S": component},
        "Ts": {"N": str(seconds(when))},
        "State": {"S": state},
        "Type": {"S": "historical"},
    }


def without(item: Item, name: str) -> Item:
    return {key: value for key, value in item.items() if key != name}


def replaced(item: Item, **attributes: Item) -> Item:
    return {**item, **attributes}


README_WHEN = "2024-07-30T14:06:41Z"

VALID_ITEMS = [
    # The README's record: its current item and its historical twin are one record.
    current("abc.def", "prod-all", README_WHEN, "Ok"),
    historical("abc.def", "prod-all", README_WHEN, "Ok"),
    historical("abc.def", "dev", "2024-07-29T09:00:00Z", "deploy-started"),
    # Keyed "2024-07-29 10:01:00 +0100 BST": Ts says the instant.
    historical("abc.def", "dev", "2024-07-29T09:01:00Z", "Ok", zone="Europe/London"),
    current("abc.def", "dev", "2024-07-29T09:01:00Z", "Ok"),
    # A late record overwrote the reference's current item with an older state.
    historical("ab-123", "prod", "2024-07-28T12:00:00Z", "Ok"),
    historical("ab-123", "prod", "2024-07-28T11:55:00Z", "deploy-failed"),
    current("ab-123", "prod", "2024-07-28T11:55:00Z", "deploy-failed"),
    # Two components in one environment in one second: the reference kept one history
    # item (the last written); both current items survive, so both records come back.
    current("123-def.xyz", "staging", "2024-07-27T08:00:00Z", "Ok"),
    current("ab-123", "staging", "2024-07-27T08:00:00Z", "deploy-started"),
    historical("123-def.xyz", "staging", "2024-07-27T08:00:00Z", "Ok"),
    # History alone, its current item gone.
    historical("eu.svc", "eu-west-two", "2024-07-26T07:00:00Z", "Ok"),
]

INVALID_ITEMS = [
    current("abc.def", "dev-rev0", README_WHEN, "Ok"),
    historical("abc.def", "dev-rev0", README_WHEN, "Ok"),
    current("ABC.def", "prod-all", README_WHEN, "Ok"),
    historical("ABC.def", "prod", README_WHEN, "Ok"),
    replaced(current("old.svc", "dev", README_WHEN, "Ok"), Ts={"N": "-62167219200"}),
    replaced(
        historical("new.svc", "dev", README_WHEN, "Ok"),
        Component={"S": "9999-12-31 23:59:59 +0000 UTC"},
        Ts={"N": "253402300799"},
    ),
    replaced(current("far.svc", "dev", README_WHEN, "Ok"), Ts={"N": "1000000000000000"}),
    # A bad clock's record, which pinned the reference's current state (and would pin ours).
    historical("pay.svc", "prod", "9999-12-30T23:59:59Z", "deploy-success"),
    without(current("abc.def", "qa", README_WHEN, "Ok"), "Type"),
    replaced(current("abc.def", "uat", README_WHEN, "Ok"), Type={"S": "archived"}),
    # An empty state: DynamoDB refuses "" for the GSI's key, so it was left out.
    without(current("abc.def", "test", README_WHEN, "Ok"), "State"),
    without(historical("abc.def", "dev", "2024-07-25T10:00:00Z", "Ok"), "Cmp"),
    replaced(current("abc.def", "perf", README_WHEN, "Ok"), Ts={"S": "1722348401"}),
    replaced(current("abc.def", "load", README_WHEN, "Ok"), Ts={"N": "1722348401.5"}),
    current("xyz", "dev", README_WHEN, "deploy\nfailed"),
    historical("abc.def", "dev", "2024-07-24T10:00:00Z", "x" * 129),
]

ITEMS = VALID_ITEMS + INVALID_ITEMS

SKIPPED_BY_REASON = {
    "invalid-environment": 2,
    "invalid-component": 2,
    "timestamp-out-of-range": 3,
    "timestamp-in-the-future": 1,
    "missing-type": 1,
    "unknown-type": 1,
    "missing-field": 2,
    "malformed-field": 2,
    "invalid-state": 2,
}

# (reason, Component key, Environment key) of every skipped item.
SKIPPED_EXAMPLES = {
    ("invalid-environment", "abc.def", "dev-rev0"),
    ("invalid-environment", "2024-07-30 14:06:41 +0000 UTC", "dev-rev0"),
    ("invalid-component", "ABC.def", "prod-all"),
    ("invalid-component", "2024-07-30 14:06:41 +0000 UTC", "prod"),
    ("timestamp-out-of-range", "old.svc", "dev"),
    ("timestamp-out-of-range", "9999-12-31 23:59:59 +0000 UTC", "dev"),
    ("timestamp-out-of-range", "far.svc", "dev"),
    ("timestamp-in-the-future", "9999-12-30 23:59:59 +0000 UTC", "prod"),
    ("missing-type", "abc.def", "qa"),
    ("unknown-type", "abc.def", "uat"),
    ("missing-field", "abc.def", "test"),
    ("missing-field", "2024-07-25 10:00:00 +0000 UTC", "dev"),
    ("malformed-field", "abc.def", "perf"),
    ("malformed-field", "abc.def", "load"),
    ("invalid-state", "xyz", "dev"),
    ("invalid-state", "2024-07-24 10:00:00 +0000 UTC", "dev"),
}

EXPECTED_HISTORY = {
    "abc.def": [
        Record("abc.def", "dev", "deploy-started", at("2024-07-29T09:00:00Z")),
        Record("abc.def", "dev", "Ok", at("2024-07-29T09:01:00Z")),
        Record("abc.def", "prod-all", "Ok", at(README_WHEN)),
    ],
    "ab-123": [
        Record("ab-123", "staging", "deploy-started", at("2024-07-27T08:00:00Z")),
        Record("ab-123", "prod", "deploy-failed", at("2024-07-28T11:55:00Z")),
        Record("ab-123", "prod", "Ok", at("2024-07-28T12:00:00Z")),
    ],
    "123-def.xyz": [Record("123-def.xyz", "staging", "Ok", at("2024-07-27T08:00:00Z"))],
    "eu.svc": [Record("eu.svc", "eu-west-two", "Ok", at("2024-07-26T07:00:00Z"))],
    # Only invalid items: nothing.
    "old.svc": [],
    "xyz": [],
    "ABC.def": [],
}

EXPECTED_CURRENT = [
    Record("123-def.xyz", "staging", "Ok", at("2024-07-27T08:00:00Z")),
    Record("ab-123", "prod", "Ok", at("2024-07-28T12:00:00Z")),  # not the late record
    Record("ab-123", "staging", "deploy-started", at("2024-07-27T08:00:00Z")),
    Record("abc.def", "dev", "Ok", at("2024-07-29T09:01:00Z")),
    Record("abc.def", "prod-all", "Ok", at(README_WHEN)),
    Record("eu.svc", "eu-west-two", "Ok", at("2024-07-26T07:00:00Z")),
]


def run(settings: Settings, use: Callable[[Client, Store], Awaitable[T]]) -> T:
    """Run ``use`` with a raw client and the target store, in a fresh event loop."""

    async def main() -> T:
        async with open_client(settings) as client:
            # Without events, as `deploystatus migrate-legacy` writes (commands/migrate.py).
            store = Store(
                client,
                settings.table,
                retry_seconds=settings.dynamodb_retry_seconds,
                events=False,
            )
            return await use(client, store)

    return asyncio.run(main())


async def create_reference_table(client: Client, name: str, items: list[Item]) -> None:
    await client.send_request(action="CreateTable", payload={"TableName": name, **REFERENCE_TABLE})
    for _ in range(200):
        described = await client.send_request(action="DescribeTable", payload={"TableName": name})
        if described["Table"]["TableStatus"] == "ACTIVE":
            break
        await asyncio.sleep(0.05)
    for item in items:
        await client.send_request(action="PutItem", payload={"TableName": name, "Item": item})


async def delete_table(client: Client, name: str) -> None:
    with contextlib.suppress(TableNotFound):
        await client.send_request(action="DeleteTable", payload={"TableName": name})


async def dump(client: Client, table: str) -> list[str]:
    """Every item of a table, whatever its format, in a comparable form."""
    items: list[Item] = []
    payload: Item = {"TableName": table, "ConsistentRead": True}
    while True:
        page = await client.send_request(action="Scan", payload=payload)
        items.extend(page["Items"])
        if not page.get("LastEvaluatedKey"):
            return sorted(json.dumps(item, sort_keys=True) for item in items)
        payload["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def legacy_table(settings: Settings) -> Iterator[str]:
    """A table laid out like the reference's, on the target's engine, holding ``ITEMS``."""
    name = f"legacy-{uuid.uuid4().hex[:12]}"
    run(settings, lambda client, _: create_reference_table(client, name, ITEMS))
    yield name
    run(settings, lambda client, _: delete_table(client, name))


def migrate_with(settings: Settings, source: str, **options: Any) -> MigrationReport:
    return run(settings, lambda client, store: migrate(client, source, store, **options))


def assert_expected_report(report: MigrationReport) -> None:
    assert report.read == len(ITEMS) == 28
    assert report.written == 8
    assert report.duplicates == 4
    assert report.skipped == 16
    assert report.skipped_by_reason == SKIPPED_BY_REASON
    examples = {(e.reason, e.key["Component"], e.key["Environment"]) for e in report.examples}
    assert examples == SKIPPED_EXAMPLES
    assert len(report.examples) == 16
    assert report.complete
    assert report.last_evaluated_key is None


def assert_expected_state(settings: Settings) -> None:
    async def read(_: Client, store: Store) -> tuple[list[Record], dict[str, list[Record]]]:
        histories = {
            component: await history_of(store, component) for component in EXPECTED_HISTORY
        }
        return list(await store.current()), histories

    current_records, histories = run(settings, read)
    assert current_records == EXPECTED_CURRENT
    assert histories == EXPECTED_HISTORY


def target_items(settings: Settings) -> list[str]:
    return run(settings, lambda client, _: dump(client, settings.table))


def without_revisions(items: list[str]) -> list[str]:
    return [re.sub(r'"Rev": \{"N": "\d+"\}', '"Rev"', item) for item in items]


# The library


@pytest.mark.parametrize("page_size", [2, 500])
def test_migrates_the_reference_table(
    settings: Settings,
    legacy_table: str,
    make_client: Callable[..., TestClient],
    page_size: int,
) -> None:
    report = migrate_with(settings, legacy_table, page_size=page_size)

    assert_expected_report(report)
    assert not report.dry_run
    if page_size == 2:
        assert report.pages >= 14  # the scan spanned pages
    assert_expected_state(settings)

    # And as the API serves it.
    client = make_client()
    assert client.get("/current").content == records_body(
        response_record("123-def.xyz", "staging", "2024-07-27T08:00:00Z", "Ok"),
        response_record("ab-123", "prod", "2024-07-28T12:00:00Z", "Ok"),
        response_record("ab-123", "staging", "2024-07-27T08:00:00Z", "deploy-started"),
        response_record("abc.def", "dev", "2024-07-29T09:01:00Z", "Ok"),
        response_record("abc.def", "prod-all", "2024-07-30T14:06:41Z", "Ok"),
        response_record("eu.svc", "eu-west-two", "2024-07-26T07:00:00Z", "Ok"),
    )
    assert client.get("/historical/abc.def").content == records_body(
        response_record("abc.def", "dev", "2024-07-29T09:00:00Z", "deploy-started"),
        response_record("abc.def", "dev", "2024-07-29T09:01:00Z", "Ok"),
        response_record("abc.def", "prod-all", "2024-07-30T14:06:41Z", "Ok"),
    )


def test_the_clock_skew_setting_decides_what_is_too_far_ahead(
    settings: Settings, legacy_table: str
) -> None:
    # With a bound wider than the years ahead, the bad clock's record is migrated, and pins
    # its deployable as it pinned the reference's (POST /admin/remove-record takes it out).
    report = migrate_with(settings, legacy_table, max_clock_skew_seconds=10**12)

    assert (report.written, report.skipped) == (9, 15)
    assert "timestamp-in-the-future" not in report.skipped_by_reason
    pinned = Record("pay.svc", "prod", "deploy-success", at("9999-12-30T23:59:59Z"))
    assert pinned in run(settings, lambda _, store: store.current())


def test_running_again_changes_nothing(settings: Settings, legacy_table: str) -> None:
    first = migrate_with(settings, legacy_table, page_size=5)
    after_first = target_items(settings)
    second = migrate_with(settings, legacy_table, page_size=7)

    # The same items; only the facts items' revisions count the second run's writes.
    assert without_revisions(target_items(settings)) == without_revisions(after_first)
    # A history item per record; per deployable, a current item and a facts item.
    assert len(after_first) == 8 + 6 + 6
    assert_expected_report(first)
    assert_expected_report(second)
    assert_expected_state(settings)


def test_dry_run_writes_nothing_and_counts_the_same(settings: Settings, legacy_table: str) -> None:
    dry = migrate_with(settings, legacy_table, dry_run=True, page_size=3)

    assert dry.dry_run
    assert_expected_report(dry)
    assert target_items(settings) == []

    # The target table is not needed for a dry run.
    missing = settings.model_copy(update={"table": f"missing-{uuid.uuid4().hex[:12]}"})
    assert_expected_report(migrate_with(missing, legacy_table, dry_run=True))

    assert_expected_report(migrate_with(settings, legacy_table))
    assert_expected_state(settings)


class Stop(Exception):
    """Stands for a run stopped from outside (Ctrl-C, a deploy, a crash)."""


def interrupted_report(settings: Settings, legacy_table: str, *, pages: int) -> MigrationReport:
    """The report a run had when it was stopped after ``pages`` pages of 4 items."""
    reports: list[MigrationReport] = []

    def stop(report: MigrationReport) -> None:
        if report.pages == pages:
            reports.append(report)
            raise Stop

    with pytest.raises(Stop):
        migrate_with(settings, legacy_table, page_size=4, progress=stop)
    return reports[0]


def test_an_interrupted_run_resumes_from_its_last_evaluated_key(
    settings: Settings, legacy_table: str
) -> None:
    stopped = interrupted_report(settings, legacy_table, pages=2)
    assert stopped.read == 8
    assert not stopped.complete
    assert stopped.last_evaluated_key is not None

    resumed = migrate_with(
        settings, legacy_table, page_size=4, start_key=stopped.last_evaluated_key
    )

    assert resumed.complete
    assert stopped.read + resumed.read == len(ITEMS)
    assert stopped.skipped + resumed.skipped == 16
    assert_expected_state(settings)


def test_a_storage_failure_mid_run_reports_where_to_resume(
    settings: Settings, legacy_table: str
) -> None:
    async def use(client: Client, store: Store) -> MigrationReport:
        async def drop_target(report: MigrationReport) -> None:
            if report.pages == 1:
                await store.delete_table()

        return await migrate(client, legacy_table, store, page_size=3, progress=drop_target)

    with pytest.raises(MigrationInterrupted) as interrupted:
        run(settings, use)

    report = interrupted.value.report
    assert isinstance(interrupted.value.__cause__, StorageError)
    assert report.pages >= 1
    assert report.read == 3 * report.pages
    assert not report.complete
    assert report.last_evaluated_key is not None


def test_a_missing_source_table_fails_before_anything_is_written(settings: Settings) -> None:
    with pytest.raises(MigrationError, match=r"^source table no-such-table does not exist$"):
        migrate_with(settings, "no-such-table")
    assert target_items(settings) == []


def test_a_table_not_keyed_like_the_references_is_refused(settings: Settings) -> None:
    # This service's own table is the likeliest mistake.
    with pytest.raises(MigrationError, match="is not the reference's"):
        migrate_with(settings, settings.table)


def test_a_missing_target_table_fails_before_anything_is_read(
    settings: Settings, legacy_table: str
) -> None:
    missing = settings.model_copy(update={"table": f"missing-{uuid.uuid4().hex[:12]}"})
    with pytest.raises(MigrationError, match="deploystatus init-table"):
        migrate_with(missing, legacy_table)


# The command


def test_command_migrates_and_prints_the_counts(
    environment: Settings, legacy_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dry_run = ["migrate-legacy", "--from-table", legacy_table, "--dry-run", "--page-size", "4"]
    assert main(dry_run) == 0
    dry = capsys.readouterr()
    assert target_items(environment) == []
    assert "(dry run)" in dry.out

    assert main(["migrate-legacy", "--from-table", legacy_table]) == 0
    output = capsys.readouterr()
    assert output.err == ""
    lines = output.out.splitlines()
    assert lines[0] == (f"deploystatus: migration from {legacy_table} to {environment.table}")
    assert lines[1:5] == [
        "read     28",
        "written  8",
        "repeated 4  (records already seen in this run)",
        "skipped  16",
    ]
    assert lines[5:14] == [
        f"  {reason}: {count}" for reason, count in sorted(SKIPPED_BY_REASON.items())
    ]
    assert lines[14] == "examples of skipped items:"
    assert len(lines) == 15 + 16
    assert (
        "  invalid-environment: Component='abc.def' Environment='dev-rev0': "
        "Environment 'dev-rev0' must match ^[a-z]+(-[a-z]+){0,2}$ (at most 128 characters)"
    ) in lines
    assert (
        "  timestamp-in-the-future: Component='9999-12-30 23:59:59 +0000 UTC' Environment='prod': "
        "Ts 253402214399 (9999-12-30T23:59:59Z) is more than 300 s ahead of the clock "
        "(DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS)"
    ) in lines
    assert dry.out.splitlines()[1:] == [
        line.replace("written  8", "written  8 (dry run: nothing written)") for line in lines[1:]
    ]
    assert_expected_state(environment)


def test_command_resumes_from_a_start_key(
    environment: Settings, legacy_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped = interrupted_report(environment, legacy_table, pages=1)
    assert stopped.last_evaluated_key is not None
    # The key as an interrupted run prints it, quoted for the shell.
    printed = _key_argument(stopped.last_evaluated_key)

    resumed = ["migrate-legacy", "--from-table", legacy_table, "--start-key", *shlex.split(printed)]
    assert main(resumed) == 0

    assert f"read     {len(ITEMS) - 4}" in capsys.readouterr().out.splitlines()
    assert_expected_state(environment)


def test_command_fails_in_one_line_without_the_source_table(
    environment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate-legacy", "--from-table", "no-such-table"]) == 1
    output = capsys.readouterr()
    assert output.out == ""
    assert output.err == "deploystatus: source table no-such-table does not exist\n"


def test_command_defaults_to_the_references_table_name(
    environment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate-legacy", "--dry-run"]) == 1
    assert capsys.readouterr().err == "deploystatus: source table cicd-audit does not exist\n"


@pytest.mark.parametrize(
    "option",
    [
        ("--page-size", "0"),
        ("--page-size", "many"),
        ("--start-key", "{}"),
        ("--start-key", "not json"),
        ("--start-key", '{"Component":"abc.def","Environment":"dev"}'),
    ],
)
def test_command_refuses_bad_options(
    option: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate-legacy", *option]) == 2
    assert option[0] in capsys.readouterr().err
