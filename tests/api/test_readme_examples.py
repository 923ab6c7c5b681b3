"""The seed README's examples, byte for byte."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import README_RECORD, body

README_POST = (
    '{"Records":[{"Component":"abc.def","Environment":"prod-all","State":"Ok",'
    '"Timestamp":"2024-07-30T14:06:41+00:00"}]}'
)


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        (
            "Europe/London",
            b'{"Records":[{"Component":"abc.def","Environment":"prod-all",'
            b'"Timestamp":"2024-07-30T15:06:41+01:00","State":"Ok"}]}',
        ),
        (
            None,
            b'{"Records":[{"Component":"abc.def","Environment":"prod-all",'
            b'"Timestamp":"2024-07-30T14:06:41Z","State":"Ok"}]}',
        ),
    ],
)
def test_readme_example_reads_back_byte_for_byte(
    make_client: Callable[..., TestClient], timezone: str | None, expected: bytes
) -> None:
    client = make_client(timezone=timezone)
    # curl -d sends a form content type; the body is JSON all the same.
    posted = client.post(
        "/records",
        content=README_POST,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert posted.status_code == 200
    assert posted.content == b"Ok"
    assert posted.headers["content-type"] == "text/plain; charset=utf-8"

    for path in ("/historical/abc.def", "/current"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == expected


def test_empty_views_are_empty_lists(client: TestClient) -> None:
    assert client.get("/current").content == b'{"Records":[]}'
    assert client.get("/historical/abc.def").content == b'{"Records":[]}'


def test_factories_match_readme(client: TestClient) -> None:
    assert client.post("/records", content=body(README_RECORD)).content == b"Ok"
