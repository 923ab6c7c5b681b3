"""Tables written before details and facts were kept: read as before, brought up to date
by the next write or by ``deploystatus derive-facts`` (resumable, idempotent); and history
retention: expired records never come back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deploystatus import timestamps
from deploystatus.commands.main import main
from deploystatus.config import Settings
from deploystatus.storage.dynamodb import open_client
from deploystatus.storage.store import EXPIRES, current_shard
from tests.support.factories import deployment, post_ok

EMOJI = "\U0001f600-deployed"


def call(settings: Settings, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    async def send() -> dict[str, Any]:
        async with open_client(settings) as client:
            return await client.send_request(
                action=action, payload={"TableName": settings.table, **payload}
            )

    return asyncio.run(send())


def write_old_format(settings: Settings, component: str, records: list[tuple[str, str]]) -> None:
    """History and current state of ``component`` in prod, as the previous release wrote
    them: keys only, and ``Latest`` with the state as is."""
    for state, stamp in records:
        call(settings, "PutItem", {"Item": {
            "PK": {"S": "H#" + component}, "SK": {"S": f"{stamp}#prod#{state}"}}})  # fmt: skip
    state, stamp = max(records, key=lambda r: (r[1], r[0]))
    call(settings, "PutItem", {"Item": {
        "PK": {"S": f"CURRENT#{current_shard(component)}"}, "SK": {"S": f"{component}#prod"},
        "Latest": {"S": f"{stamp}#{state}"}}})  # fmt: skip


def current_item(settings: Settings, component: str, partition: str = "CURRENT") -> dict[str, Any]:
    key = {"PK": {"S": f"{partition}#{current_shard(component)}"}, "SK": {"S": f"{component}#prod"}}
    item: dict[str, Any] = call(settings, "GetItem", {"Key": key, "ConsistentRead": True})["Item"]
    return item


T1 = "2024-07-30T14:00:00.000000000Z"
T2 = "2024-07-30T14:05:00.000000000Z"
T3 = "2024-07-30T14:10:00.000000000Z"


def test_old_items_read_as_before_and_derive_facts_brings_them_up_to_date(
    environment: Settings, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    write_old_format(
        environment, "api", [("deploy-success", T1), ("deploy-failed", T2), (EMOJI, T3)]
    )
    write_old_format(environment, "web", [("deploy-success", T1)])
    (api, web) = client.get("/current?details=true").json()["Records"]
    assert (api["State"], api["Since"], api["LastSuccess"]) == (EMOJI, None, None)
    assert web["Since"] is None

    assert main(["derive-facts"]) == 0
    assert "derived the facts of 2 of 2 deployables" in capsys.readouterr().out
    (api, web) = client.get("/current?details=true").json()["Records"]
    assert (api["State"], api["Class"], api["Since"]) == (EMOJI, "success", "2024-07-30T14:10:00Z")
    assert api["LastSuccess"]["Timestamp"] == "2024-07-30T14:10:00Z"
    assert web["Since"] == "2024-07-30T14:00:00Z"
    item = current_item(environment, "api")
    assert item == {  # the state in the order of every engine; nothing else added
        "PK": item["PK"], "SK": item["SK"], "Latest": {"S": T3 + "#\ud7ff01F600-deployed"}
    }  # fmt: skip
    assert current_item(environment, "api", "FACTS")["Rev"]["N"] == "1"

    assert main(["derive-facts"]) == 0  # again: nothing left to do
    assert "derived the facts of 0 of 2 deployables" in capsys.readouterr().out
    assert current_item(environment, "api", "FACTS")["Rev"]["N"] == "1"


def test_a_write_brings_an_old_item_up_to_date(settings: Settings, client: TestClient) -> None:
    write_old_format(settings, "api", [("deploy-success", T1), ("deploy-failed", T2)])
    post_ok(client, [deployment("api", "prod", "deploy-failed", "2024-07-30T14:20:00Z")])
    (api,) = client.get("/current?details=true").json()["Records"]
    assert (api["Class"], api["Since"]) == ("failed", "2024-07-30T14:05:00Z")
    assert api["LastSuccess"] == {"Timestamp": "2024-07-30T14:00:00Z", "State": "deploy-success"}


def test_facts_of_other_rules_are_not_shown_and_are_derived_again(
    environment: Settings,
    make_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = make_client()
    post_ok(client, [deployment("api", "prod", "shipped", "2024-07-30T14:00:00Z")])
    assert client.get("/current?details=true").json()["Records"][0]["Class"] == "other"
    rules = "failed=fail;success=shipped"
    renamed = make_client(state_classes=rules)
    (api,) = renamed.get("/current?details=true").json()["Records"]
    assert (api["Class"], api["Since"], api["LastSuccess"]) == ("success", None, None)
    monkeypatch.setenv("DEPLOYSTATUS_STATE_CLASSES", rules)
    assert main(["derive-facts"]) == 0
    assert "derived the facts of 1 of 1 deployables" in capsys.readouterr().out
    (api,) = renamed.get("/current?details=true").json()["Records"]
    assert api["LastSuccess"] == {"Timestamp": "2024-07-30T14:00:00Z", "State": "shipped"}


def test_expired_history_never_comes_back(settings: Settings, make_client: Any) -> None:
    client = make_client(history_retention_days=30)
    now = time.time_ns()
    old = timestamps.canonical(now - 40 * 86_400 * 10**9)
    recent = timestamps.canonical(now - 3600 * 10**9)
    post_ok(client, [deployment("api", "prod", "Ok", old), deployment("api", "dev", "Ok", old)])
    post_ok(client, [deployment("api", "prod", "deploy-failed", recent)])

    paths = ("/historical/api", "/historical/api?details=true", "/historical/api?limit=5",
             "/historical/api?environment=dev", "/historical/api?order=desc&limit=1")  # fmt: skip
    for path in paths:
        states = [r["State"] for r in client.get(path).json()["Records"]]
        assert states == ([] if "dev" in path else ["deploy-failed"]), path
    # Current state never expires: dev's only record is current, and stays.
    assert [r["Environment"] for r in client.get("/current").json()["Records"]] == ["dev", "prod"]
    # The TTL is on history items only, the record's time plus the retention.
    history = call(settings, "Query", {
        "KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "H#api"}},
    })["Items"]  # fmt: skip
    expected = {
        (item["SK"]["S"][:30]): timestamps.from_canonical(item["SK"]["S"][:30]) // 10**9
        + 30 * 86_400
        for item in history
    }
    assert {item["SK"]["S"][:30]: int(item[EXPIRES]["N"]) for item in history} == expected
    assert EXPIRES not in current_item(settings, "api")
