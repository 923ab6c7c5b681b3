"""Checks on the service's answers that many tests share."""

from __future__ import annotations

import json
from typing import Any

import httpx2

JSON = "application/json"
# What would betray internals in an error body: none may appear in one.
INTERNALS = ("Traceback", 'File "', ".py", "Error", "Exception", "object at 0x", "self.")


def error_body(response: httpx2.Response, status: int, error: str) -> dict[str, Any]:
    """The JSON error body of ``response``, checked for its status, code and message, and
    for the absence of internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    document: dict[str, Any] = json.loads(response.content)
    assert document["error"] == error
    assert isinstance(document["message"], str)
    assert document["message"]
    for internal in INTERNALS:
        assert internal not in response.text
    return document
