"""Webhooks end to end: subscriptions through the admin API, signed deliveries to a real
receiver on loopback (allowed by the allow-list setting), exactly once across replicas,
retries while the receiver fails, pausing after persistent failure, refused internal
targets, and no secret anywhere but the creating answer."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from deploystatus.commands.engines import LocalEngine
from deploystatus.config import Settings
from deploystatus.feed._signing import verify
from deploystatus.tokens import parse_tokens
from tests.support.factories import deployment
from tests.support.live import LiveServer, WriteStats, fresh_table, post_until_ok
from tests.support.receiver import Receiver
from tests.support.tokens import Tokens, bearer

pytestmark = pytest.mark.parametrize("engine", ["dynalite"], indirect=True)

TOKENS = Tokens()
FAST = {
    "tokens": parse_tokens(TOKENS.setting),
    "events_poll_seconds": 0.05,
    "events_hold_seconds": 0.2,
    "webhook_allow_private": "127.0.0.0/8",
    "webhook_timeout_seconds": 2.0,
    "webhook_backoff_max_seconds": 0.5,
    "webhook_lease_seconds": 2.0,
}


def at(second: int) -> str:
    return f"2024-07-30T14:{second // 60:02d}:{second % 60:02d}Z"


def admin(server: LiveServer) -> httpx2.Client:
    return httpx2.Client(
        base_url=server.url, timeout=30, trust_env=False, headers=bearer(TOKENS.admin)
    )


def writer(server: LiveServer) -> httpx2.Client:
    return httpx2.Client(
        base_url=server.url, timeout=30, trust_env=False, headers=bearer(TOKENS.both)
    )


def post(client: httpx2.Client, *records: dict[str, str]) -> None:
    post_until_ok(client, list(records), stats=WriteStats(), deadline=time.monotonic() + 30)


def subscribe(server: LiveServer, url: str, **fields: Any) -> dict[str, Any]:
    with admin(server) as client:
        response = client.post("/admin/webhooks", json={"Url": url, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def stored_events(client: httpx2.Client) -> list[dict[str, Any]]:
    """Every event of the log, once the newest are older than the hold."""
    time.sleep(FAST["events_hold_seconds"] + 0.1)  # type: ignore[operator]
    found: list[dict[str, Any]] = []
    after = ""
    while True:
        body = client.get("/events/log", params={"after": after, "limit": "1000"}).json()
        found.extend(body["Events"])
        if not body["Events"]:
            return found
        after = body["Next"]


@pytest.fixture
def table(engine: LocalEngine) -> Iterator[Settings]:
    with fresh_table(engine.url, **FAST) as settings:
        yield settings


def test_deliveries_are_signed_in_order_and_once_across_two_replicas(table: Settings) -> None:
    with Receiver() as receiver, LiveServer(table) as a, LiveServer(table) as b:
        hook = subscribe(a, receiver.url)
        with writer(a) as to_a, writer(b) as to_b:
            for n in range(30):
                post(
                    to_a if n % 2 else to_b,
                    deployment(f"svc-{n % 5}", "prod", "deploy-success", at(n)),
                )
            events = stored_events(to_a)
        got = receiver.wait_for(len(events))
        time.sleep(1.0)  # nothing more comes: no duplicate
        got = receiver.snapshot()
    assert len(events) == 30
    # Each once; each deployable's in log order (a window of distinct deployables goes out
    # concurrently).
    assert sorted(r.event_id for r in got) == sorted(e["Id"] for e in events)
    for n in range(5):
        mine = [e["Id"] for e in events if e["Component"] == f"svc-{n}"]
        assert [r.event_id for r in got if r.json()["Component"] == f"svc-{n}"] == mine
    for received in got:
        assert verify(hook["Secret"], received.headers, received.body)
        assert received.json() == next(e for e in events if e["Id"] == received.event_id)
        assert received.headers["user-agent"] == "deploystatus-webhooks"


def test_filters_and_the_slack_format(table: Settings) -> None:
    with Receiver() as receiver, LiveServer(table) as server:
        subscribe(server, receiver.url, Format="slack", Environments=["prod"], Classes=["failed"])
        with writer(server) as client:
            post(client, deployment("api", "prod", "deploy-started", at(1)))
            post(client, deployment("api", "dev", "deploy-failed", at(2)))
            post(client, {**deployment("api", "prod", "deploy-failed", at(3)), "Version": "1.4.3"})
        (message,) = receiver.wait_for(1)
        time.sleep(0.5)
        assert len(receiver.snapshot()) == 1
    text = message.json()["text"]
    assert "*api*" in text and "*prod*" in text and "deploy-failed" in text and "1.4.3" in text
    assert "deploy-started" in text  # the state it replaced


def test_a_failing_receiver_gets_retries_then_everything_in_order(table: Settings) -> None:
    with Receiver() as receiver, LiveServer(table) as server:
        receiver.failing_status = 503
        hook = subscribe(server, receiver.url)
        with writer(server) as client:
            for n in range(5):
                post(client, deployment(f"svc-{n}", "prod", "deploy-success", at(n)))
            deadline = time.monotonic() + 15
            with admin(server) as control:
                while True:
                    failing = control.get(f"/admin/webhooks/{hook['Id']}").json()["Failing"]
                    if failing is not None and failing["Attempts"] >= 3:
                        break
                    assert time.monotonic() < deadline, f"no retries: {failing}"
                    time.sleep(0.05)
                assert failing["Error"] == "HTTP 503"
            receiver.failing_status = None  # the receiver is back
            got = receiver.wait_for(5)
            events = stored_events(client)
            with admin(server) as control:
                log = control.get(f"/admin/webhooks/{hook['Id']}/deliveries").json()
                view = control.get(f"/admin/webhooks/{hook['Id']}").json()
                metrics = control.get("/metrics")
    assert sorted(r.event_id for r in got) == sorted(e["Id"] for e in events)
    statuses = Counter(d["Status"] for d in log["Deliveries"])
    assert statuses[204] == 5 and statuses[503] >= 3, statuses
    assert view["Failing"] is None and view["Delivered"] == events[-1]["Position"]
    assert metrics.status_code in (200, 401, 403)  # scraped below with its own token


def test_persistent_failure_pauses_the_subscription_with_the_reason(engine: LocalEngine) -> None:
    with (
        fresh_table(engine.url, **{**FAST, "webhook_retry_hours": 1.5 / 3600}) as settings,
        Receiver() as receiver,
        LiveServer(settings) as server,
    ):
        receiver.failing_status = 500
        hook = subscribe(server, receiver.url)
        with writer(server) as client:
            post(client, deployment("api", "prod", "deploy-failed", at(1)))
        deadline = time.monotonic() + 20
        with admin(server) as control:
            while not (view := control.get(f"/admin/webhooks/{hook['Id']}").json())["Paused"]:
                assert time.monotonic() < deadline, view
                time.sleep(0.1)
            refused = receiver.refused
            time.sleep(1.0)
            assert receiver.refused == refused  # paused: no more attempts
            assert view["Reason"].startswith("paused by the service: deliveries failed")
            assert "HTTP 500" in view["Reason"] or "500" in view["Reason"]
            # Resumed, it delivers what waited.
            receiver.failing_status = None
            control.post(f"/admin/webhooks/{hook['Id']}/resume").raise_for_status()
            assert [r.json()["Component"] for r in receiver.wait_for(1)] == ["api"]


def test_internal_targets_are_refused_without_the_allow_list(engine: LocalEngine) -> None:
    closed = {k: v for k, v in FAST.items() if k != "webhook_allow_private"}
    with (
        fresh_table(engine.url, **closed) as settings,
        Receiver() as receiver,
        LiveServer(settings) as server,
    ):
        hook = subscribe(server, receiver.url.replace("127.0.0.1", "localhost"))
        with writer(server) as client:
            post(client, deployment("api", "prod", "deploy-failed", at(1)))
        deadline = time.monotonic() + 10
        with admin(server) as control:
            while not (log := control.get(f"/admin/webhooks/{hook['Id']}/deliveries").json())[
                "Deliveries"
            ]:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            bad = control.post("/admin/webhooks", json={"Url": "ftp://example.com/x"})
    assert receiver.snapshot() == []
    first = log["Deliveries"][0]
    assert first["Status"] is None and "loopback" in first["Error"], first
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


def test_the_secret_is_shown_once_and_never_logged_or_measured(
    table: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with Receiver() as receiver, LiveServer(table) as server:
        hook = subscribe(server, receiver.url)
        secret = hook["Secret"]
        assert secret.startswith("whsec_")
        with writer(server) as client:
            post(client, deployment("api", "prod", "deploy-failed", at(1)))
        receiver.wait_for(1)
        with admin(server) as control:
            answers = [
                control.get("/admin/webhooks").text,
                control.get(f"/admin/webhooks/{hook['Id']}").text,
                control.get(f"/admin/webhooks/{hook['Id']}/deliveries").text,
                control.post(f"/admin/webhooks/{hook['Id']}/pause").text,
            ]
        with httpx2.Client(
            base_url=server.url, trust_env=False, headers=bearer(TOKENS.metrics)
        ) as scraper:
            answers.append(scraper.get("/metrics").text)
    for text in answers:
        assert secret not in text
    assert secret not in caplog.text
    assert json.loads(answers[1])["Paused"] is False  # the view read before the pause


def test_webhooks_need_an_admin_token(table: Settings) -> None:
    with LiveServer(table) as server:
        with writer(server) as client:
            response = client.get("/admin/webhooks")
            assert response.status_code == 403 and response.json()["error"] == "forbidden"
        with admin(server) as control:
            missing = control.get("/admin/webhooks/wh_0000000000000000")
            assert missing.status_code == 404
            assert missing.json()["error"] == "webhook_not_found"
