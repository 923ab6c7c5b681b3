"""Test data: records as writers send them, and request bodies."""

from __future__ import annotations

import json
from typing import Any

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
