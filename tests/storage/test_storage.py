"""Storage semantics through the real app, on every local engine: which record is current,
that no history is lost or doubled, ordering, batches, and reads that span many pages."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deploystatus.config import Settings
from deploystatus.storage.dynamodb import open_client
from deploystatus.storage.store import current_shard
from tests.support.factories import deployment, post_ok, read_records

Rec = dict[str, str]


def current_of(client: TestClient) -> list[Rec]:
    return read_records(client, "/current")


def history_of(client: TestClient, component: str) -> list[Rec]:
    return read_records(client, f"/historical/{component}")


# Current state is by event time


def test_older_record_arriving_later_leaves_the_newer_current(client: TestClient) -> None:
    newer = deployment("api", "prod", "Ok", "2024-07-30T15:00:00Z")
    older = deployment("api", "prod", "Failed", "2024-07-30T14:00:00Z")
    post_ok(client, [newer])
    post_ok(client, [older])

    assert current_of(client) == [newer]
    assert history_of(client, "api") == [older, newer]


def test_newer_record_arriving_later_becomes_current(client: TestClient) -> None:
    older = deployment("api", "prod", "Failed", "2024-07-30T14:00:00Z")
    newer = deployment("api", "prod", "Ok", "2024-07-30T15:00:00Z")
    post_ok(client, [older])
    post_ok(client, [newer])

    assert current_of(client) == [newer]
    assert history_of(client, "api") == [older, newer]


def test_event_time_compares_instants_not_the_offsets_written(client: TestClient) -> None:
    # 16:00+02:00 is 14:00Z: earlier than 15:00Z although its digits are larger.
    newer = deployment("api", "prod", "Ok", "2024-07-30T15:00:00Z")
    post_ok(client, [newer])
    post_ok(client, [deployment("api", "prod", "Failed", "2024-07-30T16:00:00+02:00")])

    assert current_of(client) == [newer]


@pytest.mark.parametrize(
    ("lesser", "greater"),
    [("Failed", "Ok"), ("Ok", "ok"), ("z", "é")],  # é is U+00E9: above z in UTF-8 and code points
)
@pytest.mark.parametrize("greater_first", [True, False], ids=["greater-first", "lesser-first"])
@pytest.mark.parametrize("one_request", [True, False], ids=["one-request", "two-requests"])
def test_at_equal_timestamps_the_greater_state_is_current_in_either_arrival_order(
    client: TestClient, lesser: str, greater: str, greater_first: bool, one_request: bool
) -> None:
    timestamp = "2024-07-30T14:06:41Z"
    small = deployment("api", "prod", lesser, timestamp)
    large = deployment("api", "prod", greater, timestamp)
    arriving = [large, small] if greater_first else [small, large]
    if one_request:
        post_ok(client, arriving)
    else:
        for record in arriving:
            post_ok(client, [record])

    assert current_of(client) == [large]
    assert history_of(client, "api") == [small, large]


@pytest.mark.parametrize("one_request", [True, False], ids=["one-request", "two-requests"])
def test_one_instant_written_with_different_offsets_is_one_history_entry(
    client: TestClient, one_request: bool
) -> None:
    as_utc = deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z")
    as_london = deployment("api", "prod", "Ok", "2024-07-30T15:06:41+01:00")
    if one_request:
        post_ok(client, [as_utc, as_london])
    else:
        post_ok(client, [as_utc])
        post_ok(client, [as_london])

    assert history_of(client, "api") == [as_utc]
    assert current_of(client) == [as_utc]


def test_a_resent_record_leaves_exactly_one_history_entry(client: TestClient) -> None:
    record = deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z")
    post_ok(client, [record])
    post_ok(client, [record])

    assert history_of(client, "api") == [record]
    assert current_of(client) == [record]


def test_resending_a_whole_batch_changes_nothing(client: TestClient) -> None:
    batch = [
        deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z"),
        deployment("api", "prod", "Failed", "2024-07-30T14:00:00Z"),
        deployment("api", "dev", "Ok", "2024-07-30T14:06:41Z"),
        deployment("web", "prod", "Deploying", "2024-07-30T13:00:00.25Z"),
        deployment("web", "prod", "Ok", "2024-07-30T13:00:00.25Z"),
    ]

    def snapshot() -> list[bytes]:
        paths = ("/current", "/historical/api", "/historical/web")
        return [client.get(path).content for path in paths]

    post_ok(client, batch)
    first = snapshot()
    post_ok(client, batch)

    assert snapshot() == first
    assert len(history_of(client, "api")) + len(history_of(client, "web")) == len(batch)


# No history is lost


def test_components_with_the_same_timestamp_and_environment_keep_both_histories(
    client: TestClient,
) -> None:
    api = deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z")
    web = deployment("web", "prod", "Ok", "2024-07-30T14:06:41Z")
    post_ok(client, [api, web])

    assert history_of(client, "api") == [api]
    assert history_of(client, "web") == [web]
    assert current_of(client) == [api, web]


@pytest.mark.parametrize("one_request", [True, False], ids=["one-request", "two-requests"])
def test_two_states_of_one_deployable_at_the_same_instant_are_both_kept(
    client: TestClient, one_request: bool
) -> None:
    ok = deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z")
    failed = deployment("api", "prod", "Failed", "2024-07-30T15:06:41+01:00")
    if one_request:
        post_ok(client, [ok, failed])
    else:
        post_ok(client, [ok])
        post_ok(client, [failed])

    failed_read_back = {**failed, "Timestamp": "2024-07-30T14:06:41Z"}
    assert history_of(client, "api") == [failed_read_back, ok]


def test_states_holding_the_key_separator_or_any_other_character_read_back_exactly(
    client: TestClient,
) -> None:
    states = [
        "a#b",
        "#",
        "dev#x",
        "a # dev # b",
        " spaced ",
        "!",
        "\u00c9chec \u2717",
        "\U0001f600",
    ]
    records = [deployment("api", "dev", state, "2024-07-30T14:06:41Z") for state in states]
    post_ok(client, records)

    assert history_of(client, "api") == sorted(records, key=lambda r: r["State"])
    assert current_of(client) == [deployment("api", "dev", "\U0001f600", "2024-07-30T14:06:41Z")]


def test_history_is_oldest_first_across_environments(client: TestClient) -> None:
    # Expected order: by time; at one instant by environment, then by state.
    expected = [
        deployment("api", "prod", "Ok", "2024-07-29T23:59:59.999999999Z"),
        deployment("api", "dev", "Ok", "2024-07-30T00:00:00Z"),
        deployment("api", "dev", "Ok", "2024-07-30T00:00:00.000000001Z"),
        deployment("api", "dev", "Deploying", "2024-07-30T10:00:00Z"),
        deployment("api", "dev", "Failed", "2024-07-30T10:00:00Z"),
        deployment("api", "dev-a", "Ok", "2024-07-30T10:00:00Z"),
        deployment("api", "prod", "Deploying", "2024-07-30T10:00:00Z"),
        deployment("api", "dev-a", "Ok", "2024-07-30T11:00:00Z"),
        deployment("api", "prod", "Ok", "2025-01-01T00:00:00Z"),
    ]
    shuffled = expected[:]
    random.Random(7).shuffle(shuffled)
    post_ok(client, shuffled[:4])
    post_ok(client, shuffled[4:])

    assert history_of(client, "api") == expected


def test_current_is_sorted_by_component_then_environment(client: TestClient) -> None:
    components = ["a", "a.b", "a-b", "a0", "ab", "b", "a.b-c", "a-b.c", "0", "9z", "z.9"]
    environments = ["dev", "dev-a", "deva", "de", "prod"]
    records = [
        deployment(component, environment, "Ok", "2024-07-30T14:06:41Z")
        for component in components
        for environment in environments
    ]
    random.Random(3).shuffle(records)
    # Several shards are involved, so the order is not simply one Query's order.
    assert len({current_shard(component) for component in components}) > 1
    post_ok(client, records)

    current = current_of(client)
    assert [(r["Component"], r["Environment"]) for r in current] == sorted(
        (r["Component"], r["Environment"]) for r in records
    )


def test_history_is_per_component_even_for_names_that_share_a_prefix(client: TestClient) -> None:
    names = ["a", "a.b", "a-b", "a0", "ab"]
    for name in names:
        post_ok(client, [deployment(name, "dev", "Ok", "2024-07-30T14:06:41Z")])

    for name in names:
        assert history_of(client, name) == [deployment(name, "dev", "Ok", "2024-07-30T14:06:41Z")]


# Within one batch


def test_the_latest_record_of_a_batch_is_current_and_all_are_history(client: TestClient) -> None:
    history = [
        deployment("api", "prod", "Deploying", "2024-07-30T14:00:00Z"),
        deployment("api", "prod", "Ok", "2024-07-30T14:05:00Z"),
        deployment("api", "prod", "Deploying", "2024-07-30T15:00:00Z"),
        deployment("api", "prod", "Failed", "2024-07-30T15:00:00Z"),  # greatest state at latest
        deployment("api", "dev", "Ok", "2024-07-30T13:00:00Z"),
        deployment("api", "dev", "Failed", "2024-07-30T12:00:00Z"),
    ]
    batch = [history[3], history[0], history[4], history[2], history[5], history[1]]
    post_ok(client, batch)

    assert current_of(client) == [history[4], history[3]]  # dev, then prod
    assert history_of(client, "api") == sorted(
        history, key=lambda r: (r["Timestamp"], r["Environment"], r["State"])
    )


def test_a_batch_older_than_the_stored_state_leaves_it_current(client: TestClient) -> None:
    stored = deployment("api", "prod", "Ok", "2024-07-30T15:00:00Z")
    post_ok(client, [stored])
    older = [
        deployment("api", "prod", "Failed", "2024-07-30T14:59:59.999999999Z"),
        deployment("api", "prod", "Deploying", "2024-07-30T14:00:00Z"),
    ]
    post_ok(client, older)

    assert current_of(client) == [stored]
    assert history_of(client, "api") == [older[1], older[0], stored]


def test_duplicates_within_a_batch_are_stored_once(client: TestClient) -> None:
    record = deployment("api", "prod", "Ok", "2024-07-30T14:06:41Z")
    same_instant = deployment("api", "prod", "Ok", "2024-07-30T10:06:41.000-04:00")
    others = [
        deployment("api", "dev", "Ok", f"2024-07-30T14:{minute:02d}:00Z") for minute in range(40)
    ]
    # More than one BatchWriteItem's worth (25), duplicates far apart and side by side.
    batch = [record, *others[:20], record, same_instant, *others[20:], *others[:5], record]
    post_ok(client, batch)

    history = history_of(client, "api")
    assert len(history) == len(others) + 1
    assert history.count(record) == 1
    assert current_of(client) == [others[-1], record]


# Reads that span more than one DynamoDB page (1 MB each)


def first_query_page(settings: Settings, partition_key: str) -> dict[str, Any]:
    """One raw Query of a partition, as the engine answers it: proof of its paging."""

    async def query() -> dict[str, Any]:
        async with open_client(settings) as dynamodb:
            return await dynamodb.send_request(
                action="Query",
                payload={
                    "TableName": settings.table,
                    "KeyConditionExpression": "PK = :pk",
                    "ExpressionAttributeValues": {":pk": {"S": partition_key}},
                },
            )

    return asyncio.run(query())


def long_state(i: int) -> str:
    return f"state {i:06d} ".ljust(128, "~")


def post_in_batches(client: TestClient, records: list[Rec], size: int) -> None:
    for start in range(0, len(records), size):
        post_ok(client, records[start : start + size])


# Both engines page at about 1 MB (dynalite at 1 MiB by its own size estimate, moto 5 at
# 1,000,000 bytes), so the proof of paging is asserted on both. Each partition below holds
# about 1.2-1.4 MB by either estimate: two pages, and reads must follow LastEvaluatedKey.


def test_history_past_one_megabyte_streams_every_record_in_order(
    client: TestClient, settings: Settings
) -> None:
    component = "history." + "h" * 40
    start = datetime(2024, 1, 1, tzinfo=UTC)
    expected = [
        deployment(
            component,
            "prod" if i % 3 else "dev",
            long_state(i),
            f"{start + timedelta(seconds=i):%Y-%m-%dT%H:%M:%S}Z",
        )
        for i in range(6_500)
    ]
    shuffled = expected[:]
    random.Random(11).shuffle(shuffled)
    post_in_batches(client, shuffled, size=1_000)  # the default limit of a request

    assert "LastEvaluatedKey" in first_query_page(settings, "H#" + component)
    response = client.get(f"/historical/{component}")
    assert response.status_code == 200
    assert "content-length" not in response.headers  # streamed, page by page
    assert response.json()["Records"] == expected


def test_current_past_one_megabyte_returns_every_deployable(
    client: TestClient, settings: Settings
) -> None:
    # All in one shard, so in one partition, which one Query cannot read whole. Long
    # names keep the count down (every deployable costs two conditional writes, current
    # state and facts): about 560 bytes an item. Batches of 250 keep moto, one Python
    # thread, within the call slots' 5 s wait. dynalite counts characters, not UTF-8
    # bytes, so states stay ASCII.
    components: list[str] = []
    counter = 0
    while len(components) < 1_100:
        name = f"{counter:010d}".rjust(250, "c")
        if current_shard(name) == 0:
            components.append(name)
        counter += 1
    environments = ("dev-" + "e" * 116, "prod-" + "e" * 115)
    records = [
        deployment(component, environment, long_state(i), "2024-07-30T14:06:41Z")
        for i, component in enumerate(components)
        for environment in environments
    ]
    random.Random(5).shuffle(records)
    post_in_batches(client, records, size=250)

    assert "LastEvaluatedKey" in first_query_page(settings, "CURRENT#0")
    assert current_of(client) == sorted(records, key=lambda r: (r["Component"], r["Environment"]))
