"""Records too far ahead of the server's clock are refused
(``DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS``), through the real app on both engines: a writer
with a bad clock cannot pin a deployable's current state. The server reads its clock after
the test reads its own, so a timestamp the test puts at ``now + limit`` is at most the limit
ahead when the server judges it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from deploystatus import timestamps
from deploystatus.config import Settings
from deploystatus.records import future_problem
from tests.support.factories import body, make_record, read_records
from tests.support.processes import Launcher

NS = 1_000_000_000
DEFAULT_LIMIT = 300
MARGIN = 30  # seconds past a limit: more than the test takes between its clock and the server's
PINNING = "9999-12-30T23:59:59Z"


def at(nanos: int) -> str:
    return timestamps.canonical(nanos)


def utc(canonical: str) -> str:
    """A stored instant as the API renders it with ``TZ`` unset."""
    return timestamps.Renderer(None).render(canonical)


def refused(response: httpx2.Response) -> list[dict[str, object]]:
    """The problems of a 400 invalid_records answer."""
    assert response.status_code == 400, response.text
    document = response.json()
    assert document["error"] == "invalid_records"
    assert document["message"] == "1 record is invalid; nothing was written"
    found: list[dict[str, object]] = document["problems"]
    return found


def test_the_far_future_record_of_a_bad_clock_is_refused_and_cannot_pin_current_state(
    client: TestClient,
) -> None:
    pinning = make_record(Component="pay", Environment="prod", State="deploy-success")
    response = client.post("/records", content=body({**pinning, "Timestamp": PINNING}))
    (problem,) = refused(response)
    assert (problem["record"], problem["field"]) == (0, "Timestamp")
    message = str(problem["message"])
    assert message.startswith("is ") and " s (about 7,9" in message and " years) ahead" in message
    assert "at most 300 s ahead is accepted (DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS)" in message
    assert read_records(client, "/historical/pay") == []

    # The real later record becomes current, as it should have.
    now = timestamps.canonical(time.time_ns())
    failed = make_record(Component="pay", Environment="prod", State="deploy-failed", Timestamp=now)
    assert client.post("/records", content=body(failed)).content == b"Ok"
    assert [r["State"] for r in read_records(client, "/current")] == ["deploy-failed"]


def test_a_batch_with_one_record_too_far_ahead_is_refused_whole(client: TestClient) -> None:
    now = time.time_ns()
    batch = [
        make_record(Component="a", Timestamp="2024-07-30T14:06:41Z"),
        make_record(Component="b", Timestamp=at(now + (DEFAULT_LIMIT + MARGIN) * NS)),
        make_record(Component="c", Timestamp=at(now)),
    ]
    (problem,) = refused(client.post("/records", content=body(*batch)))
    assert (problem["record"], problem["field"]) == (1, "Timestamp")
    assert "s (about 5 min) ahead of the server's clock" in str(problem["message"])
    assert read_records(client, "/current") == []


def test_a_record_at_the_limit_is_accepted_and_past_it_refused(client: TestClient) -> None:
    now = time.time_ns()
    limit = make_record(Component="edge", Timestamp=at(now + DEFAULT_LIMIT * NS))
    assert client.post("/records", content=body(limit)).content == b"Ok"
    past = make_record(Component="edge", Timestamp=at(now + (DEFAULT_LIMIT + MARGIN) * NS))
    (problem,) = refused(client.post("/records", content=body(past)))
    assert "at most 300 s ahead" in str(problem["message"])
    assert [r["Timestamp"] for r in read_records(client, "/historical/edge")] == [
        utc(limit["Timestamp"])
    ]


def test_the_instant_counts_not_the_wall_clock_of_its_offset(client: TestClient) -> None:
    # Now, written at +14:00: its wall clock reads 14 hours ahead, the instant is now.
    now = time.time_ns()
    local = timestamps.Renderer(timestamps.load_zone("Pacific/Kiritimati")).render(at(now))
    assert local.endswith("+14:00")
    assert client.post("/records", content=body(make_record(Timestamp=local))).content == b"Ok"
    # And 10 minutes ahead written at -11:00 reads as yesterday: refused all the same.
    ahead = timestamps.Renderer(timestamps.load_zone("Pacific/Pago_Pago")).render(
        at(now + 600 * NS)
    )
    assert ahead.endswith("-11:00")
    (problem,) = refused(client.post("/records", content=body(make_record(Timestamp=ahead))))
    assert problem["field"] == "Timestamp"


def test_the_setting_moves_the_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_clock_skew_seconds=3600)
    now = time.time_ns()
    half_hour = make_record(Component="late-clock", Timestamp=at(now + 1800 * NS))
    assert client.post("/records", content=body(half_hour)).content == b"Ok"
    over = make_record(Component="late-clock", Timestamp=at(now + (3600 + MARGIN) * NS))
    (problem,) = refused(client.post("/records", content=body(over)))
    assert "at most 3,600 s ahead is accepted" in str(problem["message"])

    strict = make_client(max_clock_skew_seconds=1)
    refused(strict.post("/records", content=body(make_record(Timestamp=at(now + 600 * NS)))))
    # Under the default limit, the half hour would have been refused too.
    refused(make_client().post("/records", content=body(half_hour)))


def test_the_refusal_is_counted_with_the_other_invalid_records(client: TestClient) -> None:
    refused(client.post("/records", content=body(make_record(Timestamp=PINNING))))
    metrics = client.get("/metrics").text
    assert "deploystatus_records_rejected_total 1.0" in metrics


# The rule itself, on a fixed clock


def test_the_rule_at_the_nanosecond() -> None:
    now = timestamps.parse("2024-07-30T14:06:41Z")
    assert future_problem(now + 300 * NS, now=now, max_skew_seconds=300) is None
    assert future_problem(now - 10**18, now=now, max_skew_seconds=300) is None
    over = future_problem(now + 300 * NS + 1, now=now, max_skew_seconds=300)
    assert over == (
        "is 300.001 s (about 5 min) ahead of the server's clock (2024-07-30T14:06:41Z); "
        "at most 300 s ahead is accepted (DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS): "
        "check the writer's clock"
    )
    assert future_problem(now + 2 * NS, now=now, max_skew_seconds=1) == (
        "is 2 s ahead of the server's clock (2024-07-30T14:06:41Z); at most 1 s ahead is "
        "accepted (DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS): check the writer's clock"
    )


def test_the_api_docs_example_is_what_the_service_answers_at_its_clock() -> None:
    api_docs = (Path(__file__).resolve().parents[2] / "docs/api.md").read_text(encoding="utf-8")
    section = api_docs.split("### Records from the future", 1)[1].split("\n#", 1)[0]
    (posted,) = re.findall(r"curl -s -d '(.*?)' localhost:8080/records", section)
    (answer,) = re.findall(r"```json\n(.*?)\n```", section, re.DOTALL)
    (record,) = json.loads(posted)["Records"]
    (problem,) = json.loads(answer)["problems"]
    clock = re.search(r"server's clock \((.*?)\)", problem["message"])
    assert clock is not None
    expected = future_problem(
        timestamps.parse(record["Timestamp"]),
        now=timestamps.parse(clock.group(1)),
        max_skew_seconds=DEFAULT_LIMIT,
    )
    assert problem == {"record": 0, "field": "Timestamp", "message": expected}


# The setting


def test_the_setting_defaults_to_five_minutes_and_must_be_positive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().max_clock_skew_seconds == 300
    monkeypatch.setenv("DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS", "3600")
    assert Settings().max_clock_skew_seconds == 3600
    for invalid in ("0", "-5", "soon", "1.5"):
        monkeypatch.setenv("DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS", invalid)
        with pytest.raises(ValidationError):
            Settings()


def test_serve_with_an_invalid_skew_setting_exits_2_naming_it(launcher: Launcher) -> None:
    env = launcher.env(DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS="0")
    result = launcher.run("serve", "--port", "1", env=env, timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "deploystatus: invalid setting: DEPLOYSTATUS_MAX_CLOCK_SKEW_SECONDS: "
    )
    assert result.stderr.count("\n") == 1, result.stderr
