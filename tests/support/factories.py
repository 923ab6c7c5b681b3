"""Test data: records as writers send them, and request bodies."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi.testclient import TestClient

from deploystatus.records import HistoryRange, Record
from deploystatus.storage import Store

README_RECORD = {
    "Component": "abc.def",
    "Environment": "prod-all",
    "State": "Ok",
    "Timestamp": "2024-07-30T14:06:41+00:00",
}


def make_record(**overrides: Any) -> dict[str, Any]:
    """A valid record as a writer sends it; keyword arguments replace or add fields."""
    return {**README_RECORD, **overrides}


def body(*records: dict[str, Any]) -> bytes:
    return json.dumps({"Records": list(records)}).encode()


def response_record(component: str, environment: str, timestamp: str, state: str) -> str:
    """One record as the API renders it, for byte-for-byte comparisons."""
    return (
        f'{{"Component":"{component}","Environment":"{environment}",'
        f'"Timestamp":"{timestamp}","State":{json.dumps(state, ensure_ascii=False)}}}'
    )


def records_body(*rendered: str) -> bytes:
    return ('{"Records":[' + ",".join(rendered) + "]}").encode()


# Posting and reading through the app (storage tests).


def deployment(component: str, environment: str, state: str, timestamp: str) -> dict[str, str]:
    """A record as a writer sends it, every field given (fields in the reference's order)."""
    return {
        "Component": component,
        "Environment": environment,
        "State": state,
        "Timestamp": timestamp,
    }


def post_ok(client: TestClient, records: Iterable[dict[str, Any]]) -> None:
    """POST one batch and insist that it was accepted."""
    response = client.post("/records", content=body(*records))
    assert (response.status_code, response.content) == (200, b"Ok"), response.text


def read_records(client: TestClient, path: str) -> list[dict[str, str]]:
    """The records a GET answers with, in the order it gave them."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    records: list[dict[str, str]] = response.json()["Records"]
    return records


async def history_of(store: Store, component: str) -> list[Record]:
    """A component's whole history, oldest first, as the store reads it."""
    return [record async for page in store.history(HistoryRange(component)) for record in page]
