"""The change feed's events: one per transition, none for a retry, a duplicate or a late
record, complete when the connection to DynamoDB is cut after any call of a write, and the
log readable in acceptance order from a position; the live stream on top of it.

Through real `serve`-like servers (uvicorn in a thread) on real engines; faults through the
proxy at the network boundary."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from deploystatus.commands.engines import LocalEngine
from deploystatus.config import Settings
from deploystatus.storage import Store
from tests.conftest import run_with_store
from tests.support.factories import deployment
from tests.support.live import LiveServer, WriteStats, fresh_table, post_until_ok
from tests.support.proxies import FaultProxy, Reset, Rule
from tests.support.reliability_log import Recorder

FAST = {"events_poll_seconds": 0.05, "events_hold_seconds": 0.2}


def at(second: int) -> str:
    return f"2024-07-30T14:{second // 60:02d}:{second % 60:02d}Z"


def canonical(second: int) -> str:
    return f"2024-07-30T14:{second // 60:02d}:{second % 60:02d}.000000000Z"


def post(client: httpx2.Client, *records: dict[str, str]) -> None:
    post_until_ok(client, list(records), stats=WriteStats(), deadline=time.monotonic() + 30)


def log(client: httpx2.Client, **params: str) -> list[dict[str, Any]]:
    """Every event of the log (after waiting out the hold), following ``Next``."""
    time.sleep(FAST["events_hold_seconds"] + 0.05)
    found: list[dict[str, Any]] = []
    after = params.pop("after", "")
    while True:
        response = client.get("/events/log", params={**params, "after": after, "limit": "2"})
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["Events"])
        if not body["Events"]:
            return found
        after = body["Next"]


# What does not depend on the engine's storage runs on dynalite only (keeps make test short).
ONE_ENGINE = pytest.mark.parametrize("engine", ["dynalite"], indirect=True)


@pytest.fixture
def served(engine: LocalEngine) -> Iterator[tuple[Settings, LiveServer]]:
    with fresh_table(engine.url, **FAST) as settings, LiveServer(settings) as server:
        yield settings, server


def test_a_transition_makes_one_event_with_both_records_and_their_details(
    served: tuple[Settings, LiveServer],
) -> None:
    _, server = served
    with server.client() as client:
        first = {**deployment("api", "prod", "deploy-started", at(1)), "Version": "1.4.3"}
        post(client, first)
        second = {
            **deployment("api", "prod", "deploy-failed", at(2)),
            "Version": "1.4.3",
            "Actor": "jdoe",
            "Link": "https://ci.example/run/7",
        }
        post(client, second)
        events = log(client)
    assert [(e["Component"], e["Environment"]) for e in events] == [("api", "prod")] * 2
    opening, failing = events
    assert opening["Previous"] is None
    assert opening["Record"] == {
        "Timestamp": canonical(1),
        "State": "deploy-started",
        "Class": "in-progress",
        "Version": "1.4.3",
    }
    assert failing["Previous"] == opening["Record"]
    assert failing["Record"] == {
        "Timestamp": canonical(2),
        "State": "deploy-failed",
        "Class": "failed",
        "Version": "1.4.3",
        "Actor": "jdoe",
        "Link": "https://ci.example/run/7",
    }
    assert list(failing) == [
        "Id",
        "Position",
        "Accepted",
        "Component",
        "Environment",
        "Record",
        "Previous",
    ]
    assert failing["Position"] == f"{failing['Position'][:19]}-{failing['Id']}"
    assert opening["Position"] < failing["Position"]


def test_retried_repeated_and_late_records_make_no_event(
    served: tuple[Settings, LiveServer],
) -> None:
    _, server = served
    with server.client() as client:
        post(client, deployment("api", "prod", "deploy-success", at(10)))
        post(client, deployment("api", "prod", "deploy-success", at(10)))  # sent again
        post(
            client,
            deployment("api", "prod", "deploy-success", at(10)),  # twice in one batch
            deployment("api", "prod", "deploy-success", at(10)),
        )
        post(client, deployment("api", "prod", "deploy-failed", at(5)))  # late: older
        post(client, deployment("api", "prod", "deploy-started", at(8)))  # late, in a batch
        events = log(client)
        assert len(events) == 1
        # A batch of three records of one deployable: one event, from the first state
        # to the batch's latest.
        post(
            client,
            deployment("api", "prod", "deploy-started", at(20)),
            deployment("api", "prod", "deploy-failed", at(22)),
            deployment("api", "prod", "deploy-started", at(21)),
        )
        events = log(client)
    assert len(events) == 2
    assert events[1]["Previous"]["Timestamp"] == canonical(10)
    assert events[1]["Record"]["Timestamp"] == canonical(22)


def test_the_log_is_in_acceptance_order_across_deployables_and_resumes_after_a_position(
    served: tuple[Settings, LiveServer],
) -> None:
    _, server = served
    with server.client() as client:
        sent = []
        for n in range(12):
            component = ("api", "web", "db-migrate")[n % 3]
            record = deployment(component, ("dev", "prod")[n % 2], "deploy-success", at(100 + n))
            post(client, record)
            sent.append((component, record["Environment"], canonical(100 + n)))
        events = log(client)
        assert [
            (e["Component"], e["Environment"], e["Record"]["Timestamp"]) for e in events
        ] == sent
        positions = [e["Position"] for e in events]
        assert positions == sorted(positions)
        # From a position: what follows it, nothing before.
        assert log(client, after=positions[4]) == events[5:]
        # Filters: a component prefix, environments, classes.
        assert [e["Component"] for e in log(client, component="we")] == ["web"] * 4
        assert {e["Environment"] for e in log(client, environment="dev")} == {"dev"}
        assert log(client, **{"class": "failed"}) == []


def test_events_of_one_deployable_follow_record_time_in_the_log(
    served: tuple[Settings, LiveServer],
) -> None:
    _, server = served
    with server.client() as client:
        for second in (30, 10, 40, 20, 50):  # out of order: 10 and 20 arrive late
            post(client, deployment("api", "prod", "deploy-success", at(second)))
        stamps = [e["Record"]["Timestamp"] for e in log(client)]
    assert stamps == [canonical(30), canonical(40), canonical(50)]


@ONE_ENGINE
@pytest.mark.parametrize(
    "query, message",
    [
        ({"after": "12"}, "a position is"),
        ({"limit": "0"}, "limit is a whole number"),
        ({"limit": "5000"}, "limit is a whole number"),
        ({"class": "broken"}, "class 'broken' is not one of"),
        ({"colour": "red"}, "unknown option 'colour'"),
    ],
)
def test_bad_options_are_a_400_with_a_json_body(
    served: tuple[Settings, LiveServer], query: dict[str, str], message: str
) -> None:
    _, server = served
    # The stream takes no limit: it is an unknown option there.
    paths = ("/events/log",) if "limit" in query else ("/events/log", "/events")
    with server.client() as client:
        for path in paths:
            response = client.get(path, params=query)
            assert response.status_code == 400, (path, response.text)
            assert response.json()["error"] == "invalid_request"
            assert message in response.json()["message"]


@ONE_ENGINE
def test_with_the_feed_off_writes_make_no_events(engine: LocalEngine) -> None:
    with (
        fresh_table(engine.url, events=False, **FAST) as settings,
        LiveServer(settings) as server,
        server.client() as client,
    ):
        post(client, deployment("api", "prod", "deploy-success", at(1)))
        assert log(client) == []
        assert client.get("/current").json()["Records"][0]["Component"] == "api"


# Cut after each call of a write


@ONE_ENGINE
def test_an_ok_write_has_its_event_whichever_call_the_connection_was_cut_after(
    engine: LocalEngine, reliability: Recorder
) -> None:
    """A one-record transition makes five calls (history, the read of current state and
    facts, the current item, the facts item, the event). The connection is reset after
    the engine applied call N, and stays down for a second, longer than the service's
    retries: the write answers 503 and the writer sends again until Ok. The log then
    holds the event, once."""
    with fresh_table(engine.url) as table:
        proxy = FaultProxy(engine.url).start()
        try:
            settings = table.model_copy(
                update={
                    "endpoint_url": proxy.url,
                    "dynamodb_retry_seconds": 0.2,
                    "dynamodb_timeout_seconds": 0.5,
                    "retry_after_seconds": 0,
                    # No dispatcher: its reads of subscriptions would take call numbers.
                    "webhooks": False,
                    **FAST,
                }
            )
            with LiveServer(settings) as server, server.client() as client:
                cut = []
                for call in range(1, 6):
                    component = f"cut-{call}"
                    post(client, deployment(component, "prod", "deploy-started", at(1)))
                    proxy.calls.clear()
                    rule = proxy.add(Rule(Reset(after_forwarding=True), calls=[call], burst=1.0))
                    stats = WriteStats()
                    record = deployment(component, "prod", "deploy-failed", at(2))
                    post_until_ok(client, [record], stats=stats, deadline=time.monotonic() + 30)
                    proxy.clear()
                    assert rule.fired >= 1, f"call {call} was never cut"
                    cut.append((call, proxy.calls[call - 1].action, stats.unavailable))
                    post(client, record)  # and once more: still one event
                events = log(client)
        finally:
            proxy.stop()
    for call, action, _ in cut:
        mine = [e for e in events if e["Component"] == f"cut-{call}"]
        assert [e["Record"]["State"] for e in mine] == ["deploy-started", "deploy-failed"], (
            call,
            action,
        )
        assert mine[1]["Previous"]["State"] == "deploy-started"
    # Every call of the write was cut once (the read starts first, beside history).
    assert sorted(action for _, action, _ in cut) == sorted(
        ["BatchWriteItem", "BatchGetItem", "PutItem", "PutItem", "BatchWriteItem"]
    )
    assert all(unavailable >= 1 for _, _, unavailable in cut), cut
    reliability.record(
        "The change feed",
        "the connection cut after each call of a transition's write in turn",
        cases=len(cut),
        detail=(
            "calls cut: "
            + ", ".join(f"{n} ({action})" for n, action, _ in cut)
            + f"; {sum(u for _, _, u in cut)} POSTs answered 503 and resent; "
            "each transition's event in the log once"
        ),
    )


# The stream


class Stream:
    """A ``GET /events`` client in a thread: the messages it got, each with when."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, **params: str):
        self.messages: list[tuple[float, dict[str, str]]] = []
        self.comments: list[str] = []
        self.status: int | None = None
        self._client = httpx2.Client(base_url=url, timeout=30, trust_env=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(headers or {}, params), daemon=True
        )
        self._thread.start()

    def _read(self, headers: dict[str, str], params: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", "/events", headers=headers, params=params) as r:
                self.status = r.status_code
                fields: dict[str, str] = {}
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith(":"):
                        self.comments.append(line)
                    elif line == "":
                        if "data" in fields:
                            self.messages.append((time.monotonic(), fields))
                        fields = {}
                    else:
                        name, _, value = line.partition(": ")
                        fields[name] = value
        except httpx2.HTTPError:
            pass

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(fields["data"]) for _, fields in self.messages]

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} events"
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        self._client.close()


def opened(url: str, **kwargs: Any) -> Stream:
    stream = Stream(url, **kwargs)
    deadline = time.monotonic() + 10
    while not stream.comments:  # the opening comment: the stream is served
        assert time.monotonic() < deadline, "the stream did not open"
        time.sleep(0.02)
    return stream


@ONE_ENGINE
def test_a_stream_gets_each_transition_filtered_with_heartbeats(engine: LocalEngine) -> None:
    with (
        fresh_table(engine.url, events_heartbeat_seconds=0.2, **FAST) as settings,
        LiveServer(settings) as server,
        server.client() as client,
    ):
        everything = opened(server.url)
        failures_in_prod = opened(server.url, environment="prod", **{"class": "failed"})
        web_only = opened(server.url, component="web")
        try:
            post(client, deployment("api", "prod", "deploy-started", at(1)))
            post(client, deployment("api", "prod", "deploy-failed", at(2)))
            post(client, deployment("api", "dev", "deploy-failed", at(2)))
            post(client, deployment("web", "prod", "deploy-success", at(3)))
            post(client, deployment("api", "prod", "deploy-failed", at(1)))  # late: none
            everything.wait_for(4)
            failures_in_prod.wait_for(1)
            web_only.wait_for(1)
            time.sleep(0.5)  # nothing more comes, but heartbeats
        finally:
            for stream in (everything, failures_in_prod, web_only):
                stream.close()
    assert everything.status == 200
    assert [
        (e["Component"], e["Environment"], e["Record"]["State"]) for e in everything.events()
    ] == [
        ("api", "prod", "deploy-started"),
        ("api", "prod", "deploy-failed"),
        ("api", "dev", "deploy-failed"),
        ("web", "prod", "deploy-success"),
    ]
    assert [e["Record"]["State"] for e in failures_in_prod.events()] == ["deploy-failed"]
    assert [e["Component"] for e in web_only.events()] == ["web"]
    assert [fields["id"] for _, fields in everything.messages] == [
        e["Position"] for e in everything.events()
    ]
    assert ": heartbeat" in everything.comments


@ONE_ENGINE
def test_a_stream_resumes_after_its_last_event_id_without_gaps(engine: LocalEngine) -> None:
    with (
        fresh_table(engine.url, **FAST) as settings,
        LiveServer(settings) as server,
        server.client() as client,
    ):
        first = opened(server.url)
        for second in range(1, 4):
            post(client, deployment(f"svc-{second}", "prod", "deploy-success", at(second)))
        first.wait_for(3)
        first.close()
        last_id = first.messages[-1][1]["id"]
        # Missed while away: three more, then the client comes back with its last id.
        for second in range(4, 7):
            post(client, deployment(f"svc-{second}", "prod", "deploy-success", at(second)))
        again = opened(server.url, headers={"Last-Event-ID": last_id})
        try:
            post(client, deployment("svc-7", "prod", "deploy-success", at(7)))
            again.wait_for(4)
            time.sleep(0.3)  # no duplicates follow
        finally:
            again.close()
    assert [e["Component"] for e in first.events()] == ["svc-1", "svc-2", "svc-3"]
    assert [e["Component"] for e in again.events()] == ["svc-4", "svc-5", "svc-6", "svc-7"]


@ONE_ENGINE
def test_an_event_accepted_by_one_replica_reaches_the_streams_of_another_within_2_s(
    engine: LocalEngine,
) -> None:
    """Two servers on one table, default timings: a stream on B gets what A accepted."""
    with fresh_table(engine.url) as settings, LiveServer(settings) as a, LiveServer(settings) as b:
        stream = opened(b.url)
        delays = []
        try:
            with a.client() as client:
                for n in range(5):
                    sent = time.monotonic()
                    post(client, deployment(f"replica-{n}", "prod", "deploy-success", at(n)))
                    stream.wait_for(n + 1, timeout=5)
                    delays.append(stream.messages[n][0] - sent)
        finally:
            stream.close()
    assert [e["Component"] for e in stream.events()] == [f"replica-{n}" for n in range(5)]
    assert max(delays) < 2.0, delays


def test_events_expire_after_the_retention(engine: LocalEngine) -> None:
    """Each event item carries its TTL (acceptance + DEPLOYSTATUS_EVENT_RETENTION_DAYS), and
    reads skip an expired one at once (dynalite never deletes it)."""
    with (
        fresh_table(engine.url, event_retention_days=2, **FAST) as settings,
        LiveServer(settings) as server,
        server.client() as client,
    ):
        post(client, deployment("api", "prod", "deploy-success", at(1)))
        post(client, deployment("web", "prod", "deploy-success", at(1)))
        kept, gone = log(client)

        async def expire(store: Store) -> int:
            accepted = int(gone["Position"][:19])
            hour = gone["Accepted"][:13]
            items = []
            for shard in range(4):
                found = await store.call(
                    "Query",
                    {
                        "TableName": store.table,
                        "KeyConditionExpression": "PK = :pk",
                        "ExpressionAttributeValues": {":pk": {"S": f"EVENTS#{hour}#{shard}"}},
                    },
                )
                items.extend(found["Items"])
            item = next(i for i in items if i["SK"]["S"] == gone["Position"])
            expires = int(item["Expires"]["N"])
            item["Expires"] = {"N": str(time.time_ns() // 1_000_000_000 - 1)}
            await store.call("PutItem", {"TableName": store.table, "Item": item})
            return expires - accepted // 1_000_000_000

        ttl = run_with_store(settings, expire)
        assert ttl == 2 * 86_400
        assert log(client) == [kept]
