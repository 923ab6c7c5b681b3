"""``POST /admin/remove-record`` through the real app on both engines: one record leaves
history, current state is recomputed from what remains, a second removal is a 404 that
changes nothing, only an admin token may do it (never while authentication is off), and
each removal is audited on ``deploystatus.audit``."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from deploystatus import timestamps
from deploystatus.config import Settings
from deploystatus.records import Record
from deploystatus.tokens import new_token, parse_tokens
from tests.conftest import run_with_store
from tests.support.answers import error_body
from tests.support.factories import (
    body,
    deployment,
    make_record,
    post_ok,
    read_records,
    records_body,
    response_record,
)
from tests.support.tokens import CHALLENGE, Tokens, bearer

PATH = "/admin/remove-record"
JSON = "application/json"
PINNING = "9999-12-30T23:59:59Z"


@pytest.fixture
def secured(make_client: Callable[..., TestClient], tokens: Tokens) -> TestClient:
    """The app with authentication on. Requests carry the read-write token unless they say
    otherwise, so that the tests read and post as a pipeline and a dashboard would."""
    client = make_client(tokens=parse_tokens(tokens.setting))
    client.headers.update(bearer(tokens.both))
    return client


def remove(client: TestClient, token: str, record: dict[str, str]) -> httpx2.Response:
    return client.post(PATH, content=json.dumps(record), headers=bearer(token))


def rendered(record: dict[str, str]) -> str:
    """``record`` as the API renders it (UTC)."""
    stamp = timestamps.Renderer(None).render(
        timestamps.canonical(timestamps.parse(record["Timestamp"]))
    )
    return response_record(record["Component"], record["Environment"], stamp, record["State"])


def removal_body(
    removed: dict[str, str], was_current: bool, current: dict[str, str] | None
) -> bytes:
    now = "null" if current is None else rendered(current)
    return (
        f'{{"Removed":{rendered(removed)},"WasCurrent":{json.dumps(was_current)},"Current":{now}}}'
    ).encode()


def store_directly(settings: Settings, *records: dict[str, str]) -> None:
    """Write through the store, as a writer before the clock-skew bound could have."""
    batch = [
        Record(
            r["Component"],
            r["Environment"],
            r["State"],
            timestamps.canonical(timestamps.parse(r["Timestamp"])),
        )
        for r in records
    ]
    run_with_store(settings, lambda store: store.put(batch))


STARTED = deployment("pay", "prod", "deploy-started", "2024-07-30T14:00:00Z")
SUCCEEDED = deployment("pay", "prod", "deploy-success", "2024-07-30T14:05:00Z")
FAILED = deployment("pay", "prod", "deploy-failed", "2024-07-30T14:10:00Z")
ELSEWHERE = deployment("pay", "dev", "deploy-success", "2024-07-30T15:00:00Z")


# What a removal does


def test_removing_the_current_record_makes_the_newest_remaining_one_current(
    secured: TestClient, tokens: Tokens
) -> None:
    post_ok(secured, [STARTED, SUCCEEDED, FAILED, ELSEWHERE])

    response = remove(secured, tokens.admin, FAILED)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    assert response.content == removal_body(FAILED, True, SUCCEEDED)
    assert secured.get("/current").content == records_body(rendered(ELSEWHERE), rendered(SUCCEEDED))
    assert secured.get("/historical/pay").content == records_body(
        rendered(STARTED), rendered(SUCCEEDED), rendered(ELSEWHERE)
    )


def test_a_record_pinned_by_a_bad_clock_is_removed_and_the_real_latest_is_current(
    secured: TestClient, tokens: Tokens, settings: Settings
) -> None:
    # Written before the bound existed (or by a writer past it): it pins current state.
    pinning = deployment("pay", "prod", "deploy-success", PINNING)
    store_directly(settings, pinning)
    now = timestamps.Renderer(None).render(timestamps.canonical(time.time_ns()))
    real = deployment("pay", "prod", "deploy-failed", now)
    post_ok(secured, [real])
    assert read_records(secured, "/current") == [json.loads(rendered(pinning))]

    response = remove(secured, tokens.admin, pinning)

    assert response.content == removal_body(pinning, True, real), response.text
    assert read_records(secured, "/current") == [json.loads(rendered(real))]
    assert read_records(secured, "/historical/pay") == [json.loads(rendered(real))]


def test_removing_a_record_that_is_not_current_leaves_current_state_alone(
    secured: TestClient, tokens: Tokens
) -> None:
    post_ok(secured, [STARTED, SUCCEEDED, FAILED])
    current = secured.get("/current").content

    response = remove(secured, tokens.admin, SUCCEEDED)

    assert response.content == removal_body(SUCCEEDED, False, FAILED), response.text
    assert secured.get("/current").content == current
    assert secured.get("/historical/pay").content == records_body(
        rendered(STARTED), rendered(FAILED)
    )


def test_removing_the_last_record_takes_the_deployable_out_of_current(
    secured: TestClient, tokens: Tokens
) -> None:
    lonely = deployment("solo", "qa", "Ok", "2024-07-30T14:06:41Z")
    post_ok(secured, [lonely, ELSEWHERE])

    response = remove(secured, tokens.admin, lonely)

    assert response.content == removal_body(lonely, True, None), response.text
    assert secured.get("/current").content == records_body(rendered(ELSEWHERE))
    assert secured.get("/historical/solo").content == b'{"Records":[]}'
    assert secured.get("/environments").json() == {"Environments": ["dev"]}
    assert secured.get("/components").json() == {"Components": ["pay"]}


def test_a_second_removal_is_a_404_and_changes_nothing(secured: TestClient, tokens: Tokens) -> None:
    post_ok(secured, [STARTED, SUCCEEDED, FAILED])
    assert remove(secured, tokens.admin, FAILED).status_code == 200
    current, history = secured.get("/current").content, secured.get("/historical/pay").content

    again = remove(secured, tokens.admin, FAILED)

    document = error_body(again, 404, "record_not_found")
    assert set(document) == {"error", "message"}
    assert "nothing was removed" in document["message"]
    never = deployment("pay", "prod", "deploy-failed", "2024-07-30T14:10:00.000000001Z")
    error_body(remove(secured, tokens.admin, never), 404, "record_not_found")
    error_body(
        remove(secured, tokens.admin, {**SUCCEEDED, "State": "Deploy-success"}),
        404,
        "record_not_found",
    )
    assert secured.get("/current").content == current
    assert secured.get("/historical/pay").content == history


def test_any_spelling_of_the_instant_names_the_record(secured: TestClient, tokens: Tokens) -> None:
    post_ok(secured, [STARTED, SUCCEEDED])
    spelt = {**SUCCEEDED, "Timestamp": "2024-07-30T15:05:00.000+01:00"}
    # Field names match case-insensitively and unknown fields are ignored, as POST /records.
    body = {key.lower(): value for key, value in spelt.items()} | {"Reason": "wrong clock"}

    response = remove(secured, tokens.admin, body)

    assert response.content == removal_body(SUCCEEDED, True, STARTED), response.text


def test_at_one_instant_the_greater_state_stays_current_and_then_the_other(
    secured: TestClient, tokens: Tokens
) -> None:
    # Two records at the same instant: the greater state is current (README, /current).
    a = deployment("tie", "prod", "a-state", "2024-07-30T14:06:41Z")
    b = deployment("tie", "prod", "b-state", "2024-07-30T14:06:41Z")
    older = deployment("tie", "prod", "z-older", "2024-07-30T14:06:40.999999999Z")
    post_ok(secured, [older, b, a])
    assert [r["State"] for r in read_records(secured, "/current")] == ["b-state"]

    assert remove(secured, tokens.admin, a).content == removal_body(a, False, b)
    post_ok(secured, [a])
    assert remove(secured, tokens.admin, b).content == removal_body(b, True, a)
    assert remove(secured, tokens.admin, a).content == removal_body(a, True, older)
    assert [r["State"] for r in read_records(secured, "/current")] == ["z-older"]


def test_the_body_must_name_one_valid_record(secured: TestClient, tokens: Tokens) -> None:
    post_ok(secured, [SUCCEEDED])
    bad = remove(secured, tokens.admin, {**SUCCEEDED, "Environment": "dev-rev0"})
    document = error_body(bad, 400, "invalid_records")
    assert [(p["record"], p["field"]) for p in document["problems"]] == [(0, "Environment")]
    missing = remove(secured, tokens.admin, {"Component": "pay"})
    assert {p["field"] for p in error_body(missing, 400, "invalid_records")["problems"]} == {
        "Environment",
        "State",
        "Timestamp",
    }
    for content in (b"not json", json.dumps({"Records": [SUCCEEDED]}).replace("{", "[", 1), b"[]"):
        response = secured.post(PATH, content=content, headers=bearer(tokens.admin))
        error_body(response, 400, "invalid_request")
    assert read_records(secured, "/current") == [json.loads(rendered(SUCCEEDED))]


def test_the_api_docs_example_answers_as_shown(
    secured: TestClient, tokens: Tokens, settings: Settings
) -> None:
    api_docs = (Path(__file__).resolve().parents[2] / "docs/api.md").read_text(encoding="utf-8")
    section = api_docs.split("## `POST /admin/remove-record`", 1)[1].split("\n## ", 1)[0]
    (sent,) = re.findall(r"-d '(.*?)' localhost:8080/admin/remove-record", section)
    (shown,) = re.findall(r"```json\n(.*?)\n```", section, re.DOTALL)
    answer = json.loads(shown)
    store_directly(settings, json.loads(sent))
    post_ok(secured, [answer["Current"]])

    response = secured.post(PATH, content=sent, headers=bearer(tokens.admin))

    assert response.content == shown.encode()


# Who may


def test_only_an_admin_token_removes_and_it_grants_nothing_else(
    secured: TestClient, tokens: Tokens
) -> None:
    post_ok(secured, [SUCCEEDED])
    lacking = f'{CHALLENGE}, error="insufficient_scope", scope="admin"'
    for token in (tokens.read, tokens.write, tokens.both):
        response = remove(secured, token, SUCCEEDED)
        assert "'admin'" in error_body(response, 403, "forbidden")["message"]
        assert response.headers["www-authenticate"] == lacking
    anonymous = secured.post(PATH, content=json.dumps(SUCCEEDED), headers={"Authorization": ""})
    error_body(anonymous, 401, "unauthorized")
    assert anonymous.headers["www-authenticate"] == CHALLENGE
    error_body(remove(secured, new_token(), SUCCEEDED), 401, "unauthorized")
    assert read_records(secured, "/historical/pay") == [json.loads(rendered(SUCCEEDED))]

    # An admin token reads nothing and writes nothing.
    admin = bearer(tokens.admin)
    error_body(secured.get("/current", headers=admin), 403, "forbidden")
    error_body(secured.post("/records", content=b"{}", headers=admin), 403, "forbidden")
    # Every path under /admin/ needs the scope, whatever the method.
    for method in ("GET", "DELETE"):
        refused = secured.request(method, "/admin/anything", headers=bearer(tokens.both))
        assert refused.headers["www-authenticate"] == lacking
    assert secured.get("/admin/anything", headers=admin).status_code == 404
    assert secured.get(PATH, headers=admin).status_code == 405
    assert remove(secured, tokens.admin, SUCCEEDED).status_code == 200


def test_without_authentication_no_one_may_remove(client: TestClient) -> None:
    post_ok(client, [SUCCEEDED])

    response = client.post(PATH, content=json.dumps(SUCCEEDED))

    document = error_body(response, 403, "forbidden")
    assert set(document) == {"error", "message"}
    assert "admin token" in document["message"]
    assert "authentication is off" in document["message"]
    assert read_records(client, "/historical/pay") == [json.loads(rendered(SUCCEEDED))]
    assert read_records(client, "/current") == [json.loads(rendered(SUCCEEDED))]


# The audit line


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        {"message": r.getMessage(), "level": r.levelname, **getattr(r, "fields", {})}
        for r in caplog.records
        if r.name == "deploystatus.audit"
    ]


def test_each_removal_is_audited_with_the_token_name_and_what_became_current(
    secured: TestClient, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    post_ok(secured, [STARTED, FAILED])
    with caplog.at_level(logging.INFO, logger="deploystatus"):
        remove(secured, tokens.admin, FAILED)
        remove(secured, tokens.admin, FAILED)
        remove(secured, tokens.read, STARTED)  # refused before the route: not audited

    removed, not_found = audit_lines(caplog)
    assert removed == {
        "message": "record removed",
        "level": "WARNING",
        "action": "remove-record",
        "outcome": "removed",
        "token": "keeper",
        "component": "pay",
        "environment": "prod",
        "state": "deploy-failed",
        "timestamp": "2024-07-30T14:10:00.000000000Z",
        "was_current": True,
        "current_state": "deploy-started",
        "current_timestamp": "2024-07-30T14:00:00.000000000Z",
    }
    assert not_found["outcome"] == "not_found"
    assert not_found["token"] == "keeper"
    assert "was_current" not in not_found
    for line in (removed, not_found):
        assert tokens.admin not in json.dumps(line)


def test_a_refusal_while_authentication_is_off_is_audited(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="deploystatus"):
        client.post(PATH, content=json.dumps(SUCCEEDED))
    (line,) = audit_lines(caplog)
    assert (line["outcome"], line["token"], line["level"]) == ("refused", None, "WARNING")


def test_removal_takes_the_record_with_every_detail_and_derives_the_facts_again(
    secured: TestClient, tokens: Tokens
) -> None:
    good = make_record(State="deploy-success", Timestamp="2024-07-30T14:00:00Z")
    bad = make_record(State="deploy-failed", Timestamp="2024-07-30T14:06:41Z")
    variants = [bad, {**bad, "Version": "2.0"}, {**bad, "Version": "2.1", "Actor": "jdoe"}]
    response = secured.post("/records", content=body(good, *variants))
    assert response.status_code == 200
    before = secured.get("/current?details=true").json()["Records"][0]
    assert before["Class"] == "failed" and "Version" in before

    response = remove(secured, tokens.admin, bad)  # named without details
    assert response.content == removal_body(bad, True, good)
    assert secured.get("/historical/abc.def?details=true").json()["Records"] == [
        {**good, "Timestamp": "2024-07-30T14:00:00Z"}
    ]
    (after,) = secured.get("/current?details=true").json()["Records"]
    assert (after["State"], after["Class"], after["Since"]) == (
        "deploy-success",
        "success",
        "2024-07-30T14:00:00Z",
    )
    assert after["LastSuccess"] == {"Timestamp": "2024-07-30T14:00:00Z", "State": "deploy-success"}
