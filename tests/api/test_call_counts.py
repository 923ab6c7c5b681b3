"""A cheap performance guard: the DynamoDB requests each endpoint makes, counted.

Counted through the client's observer hook (every HTTP attempt, by action name), on the
real engines, not timed. The reads must not scale with the rest of the table: ``/current``
costs one ``Query`` per shard for a small table however much history other components have, and
``/historical/{c}`` one ``Query`` per page of that component's own items. Every "rest of
the table" here is over 1 MB, so any read that touched it (a ``Scan``, a query of every
history) would need more pages and change the counts. The bench (``make bench``) measures
the time; this only pins the shape.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deploystatus.app import create_app
from deploystatus.config import Settings
from deploystatus.storage.dynamodb import open_client
from deploystatus.storage.store import BATCH_SIZE, CURRENT_SHARDS
from tests.support.factories import body, deployment

PAGE_BYTES = 1024 * 1024
# Names and states near their limits, so that few records fill a page.
LONG_STATE = "deploy-" + "x" * 121
LONG_ENVIRONMENTS = ("a" * 63 + "-" + "b" * 64, "c" * 63 + "-" + "d" * 64)
CHUNK = 1000  # DEPLOYSTATUS_MAX_RECORDS' default


class CallCounter:
    """A `deploystatus.storage.dynamodb.CallObserver` that counts attempts by action."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, action: str, status: int | None, error: str | None, seconds: float) -> None:
        self.calls[action] += 1

    def take(self) -> dict[str, int]:
        calls = dict(self.calls)
        self.calls.clear()
        return calls


@pytest.fixture
def counted(settings: Settings) -> Iterator[tuple[TestClient, CallCounter]]:
    counter = CallCounter()
    # No webhook dispatcher: its reads of subscriptions are not the requests' calls.
    quiet = settings.model_copy(update={"webhooks": False})
    with TestClient(create_app(quiet, dynamodb_observers=[counter])) as client:
        counter.take()
        yield client, counter


def timestamp(i: int) -> str:
    """Distinct, increasing instants."""
    return f"2024-07-30T14:06:41.{i:09d}Z"


def records(component: str, environments: int, count: int) -> list[Any]:
    return [
        deployment(component, f"env-{'abcdefghij'[i % environments]}", "Ok", timestamp(i))
        for i in range(count)
    ]


def post(client: TestClient, batch: list[Any]) -> None:
    for start in range(0, len(batch), CHUNK):
        response = client.post("/records", content=body(*batch[start : start + CHUNK]))
        assert (response.status_code, response.text) == (200, "Ok")


def history_item_bytes(record: dict[str, str]) -> int:
    """DynamoDB's size of a history item: attribute names plus values (PK, SK)."""
    sort_key = f"{record['Timestamp']}#{record['Environment']}#{record['State']}"
    return len("PK") + len("H#" + record["Component"]) + len("SK") + len(sort_key)


def over_a_page(prefix: str) -> tuple[str, list[Any]]:
    """A component (named ``prefix``...) with more history than one page of a Query holds."""
    component = prefix + "-" + "x" * (254 - len(prefix))
    sample = deployment(component, LONG_ENVIRONMENTS[0], LONG_STATE, timestamp(0))
    count = math.ceil(1.3 * PAGE_BYTES / history_item_bytes(sample))
    return component, [
        deployment(component, LONG_ENVIRONMENTS[i % 2], LONG_STATE, timestamp(i))
        for i in range(count)
    ]


def engine_pages(settings: Settings, component: str) -> int:
    """How many pages the engine itself answers a Query of the component's history in."""

    async def count() -> int:
        query: dict[str, Any] = {
            "TableName": settings.table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "H#" + component}},
            "ProjectionExpression": "SK",
            "ConsistentRead": True,
        }
        pages = 0
        async with open_client(settings) as client:
            while True:
                page = await client.send_request(action="Query", payload=query)
                pages += 1
                if "LastEvaluatedKey" not in page:
                    return pages
                query = {**query, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    return asyncio.run(count())


def get_calls(client: TestClient, counter: CallCounter, path: str) -> tuple[int, dict[str, int]]:
    """GET ``path``: how many records it answered, and the DynamoDB calls it made."""
    counter.take()
    response = client.get(path)
    assert response.status_code == 200, response.text
    return len(response.json()["Records"]), counter.take()


@pytest.mark.parametrize(
    ("count", "deployables"), [(1, 1), (25, 25), (26, 3), (60, 7), (501, 10), (1000, 1)]
)
def test_post_makes_a_batch_write_per_25_records_and_a_read_and_a_put_per_deployable(
    counted: tuple[TestClient, CallCounter], count: int, deployables: int
) -> None:
    client, counter = counted
    batch = [deployment(f"svc-{i % deployables}", "prod", "Ok", timestamp(i)) for i in range(count)]
    post(client, batch)
    # Per deployable its current item and its facts item are read (two keys of a
    # BatchGetItem of 100), then both written; then each deployable's event, 25 a call.
    events = math.ceil(deployables / BATCH_SIZE)
    assert counter.take() == {
        "BatchWriteItem": math.ceil(count / BATCH_SIZE) + events,
        "BatchGetItem": math.ceil(deployables / 50),
        "PutItem": 2 * deployables,
    }
    # Sent again, the batch changes nothing: read, and no current item written. The facts
    # items are written again all the same (docs/design.md, "Writing a batch"); the events
    # not: this process wrote them.
    post(client, batch)
    assert counter.take() == {
        "BatchWriteItem": math.ceil(count / BATCH_SIZE),
        "BatchGetItem": math.ceil(deployables / 50),
        "PutItem": deployables,
    }


def test_current_costs_one_query_per_shard_however_much_history_the_table_holds(
    counted: tuple[TestClient, CallCounter],
) -> None:
    client, counter = counted
    post(client, records("small", 5, 10))
    detailed = {"Query": 2 * CURRENT_SHARDS}
    assert get_calls(client, counter, "/current") == (5, {"Query": CURRENT_SHARDS})
    assert get_calls(client, counter, "/current?details=true") == (5, detailed)

    post(client, over_a_page("bulky")[1])  # two more deployables, over 1 MB of history
    assert get_calls(client, counter, "/current") == (7, {"Query": CURRENT_SHARDS})
    assert get_calls(client, counter, "/current?details=true") == (7, detailed)


def test_the_facts_of_every_deployable_cost_as_much_as_current_state_however_long_history(
    counted: tuple[TestClient, CallCounter],
) -> None:
    """The board's matrix: every deployable's details and derived facts (since when, last
    success) in one Query per shard, not one read per deployable or per record."""
    client, counter = counted
    states = ("deploy-started", "deploy-success", "deploy-failed")
    streaks = [
        deployment(f"svc-{i % 20}", f"env-{'abc'[i % 3]}", states[i // 60 % 3], timestamp(i))
        for i in range(3000)
    ]
    post(client, streaks)
    facts = client.get("/current?details=true").json()["Records"]
    assert len(facts) == 60 and all(f["Since"] is not None for f in facts)
    # One Query per shard of current items, one of facts items.
    calls = {"Query": 2 * CURRENT_SHARDS}
    assert get_calls(client, counter, "/current?details=true") == (60, calls)
    counter.take()
    assert client.get("/deployables/svc-1/env-b").status_code == 200
    assert counter.take() == {"BatchGetItem": 1}


def test_historical_costs_one_query_per_page_of_its_own_component(
    settings: Settings, counted: tuple[TestClient, CallCounter]
) -> None:
    client, counter = counted
    post(client, records("small", 3, 5))
    long, long_records = over_a_page("long")
    post(client, long_records)
    pages = engine_pages(settings, long)
    assert pages >= 2  # or this test would not exercise paging
    expected = {
        "/historical/small": (5, {"Query": 1}),
        f"/historical/{long}": (len(long_records), {"Query": pages}),
    }
    assert {path: get_calls(client, counter, path) for path in expected} == expected

    post(client, over_a_page("neighbour")[1])  # the rest of the table grows by over 1 MB
    assert {path: get_calls(client, counter, path) for path in expected} == expected
    assert get_calls(client, counter, "/historical/absent") == (0, {"Query": 1})


def test_readyz_asks_dynamodb_at_most_once_a_second_however_often_it_is_polled(
    counted: tuple[TestClient, CallCounter],
) -> None:
    client, counter = counted
    started = time.monotonic()
    for _ in range(50):
        assert client.get("/readyz").json() == {"status": "ready"}
    elapsed = time.monotonic() - started
    calls = counter.take()
    assert calls.keys() <= {"DescribeTable"}
    assert 1 <= calls["DescribeTable"] <= math.floor(elapsed) + 1, (calls, elapsed)


def test_the_board_reads_every_deployable_in_brief_and_details_once(
    counted: tuple[TestClient, CallCounter],
) -> None:
    """The board's first view reads every deployable in brief (current items and facts
    items' since, one Query per shard of each) and the details of its page's cells
    (BatchGetItem, 50 deployables each); a refresh with nothing changed reads the current
    state only; a change reads the facts of the deployable that changed, no more."""
    client, counter = counted
    post(
        client, [*records("svc", 10, 30), deployment("pay", "prod", "deploy-failed", timestamp(99))]
    )
    counter.take()
    first = client.get("/ui/board.json")
    assert first.status_code == 200
    assert [c for c, _ in first.json()["rows"]] == ["pay", "svc"]
    assert counter.take() == {"Query": 2 * CURRENT_SHARDS, "BatchGetItem": 1}  # 11 cells
    version = first.json()["v"]
    assert client.get(f"/ui/board.json?known={version}").json() == {"v": version, "same": True}
    assert counter.take() == {"Query": CURRENT_SHARDS}
    post(client, [deployment("pay", "prod", "deploy-success", timestamp(100))])
    counter.take()
    changed = client.get(f"/ui/board.json?known={version}").json()
    assert [c for c, html in changed["rows"] if html] == ["pay"]
    assert counter.take() == {"Query": CURRENT_SHARDS, "BatchGetItem": 1}  # 1 deployable
