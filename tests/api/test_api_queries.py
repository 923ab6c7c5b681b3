"""Query options of GET /current and GET /historical/{component}, and GET /environments and
GET /components, through the real app on both engines. Without an option every body is
exactly what it was; a given option is either applied or refused with a 400 that says why."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from deploystatus.config import Settings
from deploystatus.records import HistoryRange, Record
from deploystatus.storage.store import Store
from deploystatus.timestamps import canonical, parse
from tests.conftest import run_with_store
from tests.support.factories import deployment, post_ok, records_body, response_record

EMPTY = b'{"Records":[]}'
MINUTE = 60 * 1_000_000_000
T0 = parse("2024-07-30T14:00:00Z")


def at(minutes: int, nanos: int = 0) -> str:
    """RFC 3339 in UTC, ``minutes`` after T0 (how the API renders it with TZ unset)."""
    text = canonical(T0 + minutes * MINUTE + nanos)
    fraction = text[20:29].rstrip("0")
    return text[:19] + ("." + fraction if fraction else "") + "Z"


def get(client: TestClient, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, (path, response.text)
    assert response.headers["content-type"] == "application/json"
    return response.content


def refused(client: TestClient, path: str, *words: str) -> str:
    """A 400 invalid_request whose message names what is wrong."""
    response = client.get(path)
    assert response.status_code == 400, (path, response.status_code, response.text)
    document = response.json()
    assert set(document) == {"error", "message"}
    assert document["error"] == "invalid_request", document
    message: str = document["message"]
    for word in words:
        assert word in message, (path, message)
    return message


def page(client: TestClient, path: str) -> tuple[list[dict[str, str]], str | None]:
    document = json.loads(get(client, path))
    assert set(document) <= {"Records", "NextCursor"}
    assert next(iter(document)) == "Records"
    return document["Records"], document.get("NextCursor")


def all_pages(client: TestClient, path: str, limit: int) -> list[list[dict[str, str]]]:
    """Every page of ``path`` at ``limit`` records a page, following NextCursor."""
    pages: list[list[dict[str, str]]] = []
    separator = "&" if "?" in path else "?"
    cursor: str | None = None
    while True:
        suffix = f"{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        records, cursor = page(client, path + suffix)
        pages.append(records)
        assert len(records) <= limit
        if cursor is None:
            return pages
        assert len(records) == limit, "only the last page may be short without a filter"
        assert len(pages) < 100


# GET /current


CURRENT = [
    deployment("abc", "dev", "Ok", at(0)),
    deployment("abc", "prod", "deploy-failed", at(1)),
    deployment("abc.def", "dev", "deploy-started", at(2)),
    deployment("abc.def", "prod", "Ok", at(3)),
    deployment("abd", "prod", "deploy-failed", at(4)),
    deployment("xyz", "dev", "Ok", at(5)),
]


def rendered(record: dict[str, str]) -> str:
    return response_record(
        record["Component"], record["Environment"], record["Timestamp"], record["State"]
    )


def current_body(*records: dict[str, str]) -> bytes:
    return records_body(*map(rendered, records))


def test_current_without_options_is_unchanged(client: TestClient) -> None:
    post_ok(client, CURRENT)
    expected = current_body(*CURRENT)
    assert get(client, "/current") == expected
    # Other parameters were always ignored, and still are (names are case-sensitive).
    for query in ("?x=1", "?Environment=dev", "?_=1722348401", "?environment_=dev"):
        assert get(client, "/current" + query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("environment=dev", [0, 2, 5]),
        ("environment=prod", [1, 3, 4]),
        ("environment=qa", []),
        ("component=abc", [0, 1, 2, 3]),
        ("component=abc.", [2, 3]),
        ("component=abc.def", [2, 3]),
        ("component=ab", [0, 1, 2, 3, 4]),
        ("component=q", []),
        ("state=deploy-failed", [1, 4]),
        ("state=ok", []),  # exact, case and all
        ("state=Ok&environment=dev", [0, 5]),
        ("component=ab&environment=prod&state=deploy-failed", [1, 4]),
        ("component=abc&state=deploy-started", [2]),
    ],
)
def test_current_filters(client: TestClient, query: str, expected: list[int]) -> None:
    post_ok(client, CURRENT)
    assert get(client, f"/current?{query}") == current_body(*(CURRENT[i] for i in expected))


def test_current_state_filter_takes_any_state_text(client: TestClient) -> None:
    odd = deployment("abc", "dev", "rollback <b> & 100% \u00e9", at(9))
    post_ok(client, [*CURRENT, odd])
    assert (
        get(client, f"/current?state={quote(odd['State'])}")
        == (
            '{"Records":[{"Component":"abc","Environment":"dev","Timestamp":"2024-07-30T14:09:00Z",'
            '"State":"rollback \\u003cb\\u003e \\u0026 100% \u00e9"}]}'
        ).encode()
    )


def test_current_filter_errors(client: TestClient) -> None:
    refused(client, "/current?environment=Dev", "environment", "must match")
    refused(client, "/current?environment=", "environment")
    refused(client, "/current?environment=dev-rev0", "environment")
    refused(client, "/current?component=ABC", "component", "start of a component name")
    refused(client, "/current?component=", "component")
    refused(client, "/current?component=-abc", "component")
    refused(client, "/current?component=a%23b", "component")
    refused(client, "/current?component=" + "a" * 256, "component", "1-255")
    refused(client, "/current?state=", "state", "1-128")
    refused(client, "/current?state=a%01b", "state", "control characters")
    refused(client, "/current?environment=dev&environment=prod", "environment", "2 times")
    refused(client, "/current?component=a&component=a", "component", "at most once")


# GET /historical/{component}


def history_records() -> list[dict[str, str]]:
    """abc.def, oldest first: 23 records over dev and prod, two at one instant."""
    records = [
        deployment("abc.def", "dev" if i % 3 else "prod", f"state-{i:02d}", at(i))
        for i in range(22)
    ]
    records.append(deployment("abc.def", "dev", "state-05b", at(5)))
    records.append(deployment("other", "dev", "Ok", at(3)))  # another component
    return records


def history_of(records: list[dict[str, str]], **match: str) -> list[dict[str, str]]:
    """What /historical/abc.def answers: its records oldest first (same instant: by
    environment, then state, as the sort key orders them)."""
    mine = [r for r in records if r["Component"] == "abc.def"]
    mine = [r for r in mine if all(r[key] == value for key, value in match.items())]
    return sorted(mine, key=lambda r: (parse(r["Timestamp"]), r["Environment"], r["State"]))


def as_response(records: list[dict[str, str]]) -> list[dict[str, str]]:
    """Records in the API's key order, to compare with parsed bodies."""
    return [
        {
            "Component": r["Component"],
            "Environment": r["Environment"],
            "Timestamp": r["Timestamp"],
            "State": r["State"],
        }
        for r in records
    ]


def test_history_without_options_is_unchanged(client: TestClient) -> None:
    records = history_records()
    post_ok(client, records)
    expected = records_body(*map(rendered, history_of(records)))
    assert get(client, "/historical/abc.def") == expected
    for query in ("?x=1", "?Limit=2", "?ORDER=desc"):
        assert get(client, "/historical/abc.def" + query) == expected


def test_history_environment_and_order(client: TestClient) -> None:
    records = history_records()
    post_ok(client, records)
    dev = history_of(records, Environment="dev")
    assert get(client, "/historical/abc.def?environment=dev") == records_body(*map(rendered, dev))
    assert get(client, "/historical/abc.def?environment=qa") == EMPTY
    assert get(client, "/historical/nothing?environment=dev") == EMPTY
    everything = history_of(records)
    assert get(client, "/historical/abc.def?order=asc") == records_body(*map(rendered, everything))
    assert get(client, "/historical/abc.def?order=desc") == records_body(
        *map(rendered, everything[::-1])
    )
    assert get(client, "/historical/abc.def?order=desc&environment=prod") == records_body(
        *map(rendered, history_of(records, Environment="prod")[::-1])
    )


def test_history_time_range_is_inclusive_to_the_nanosecond(client: TestClient) -> None:
    records = history_records()
    records.append(deployment("abc.def", "prod", "late", at(7, nanos=1)))
    post_ok(client, records)
    everything = history_of(records)

    def between(low: int, high: int) -> list[dict[str, str]]:
        return [r for r in everything if parse(at(low)) <= parse(r["Timestamp"]) <= parse(at(high))]

    def body_of(chosen: list[dict[str, str]]) -> bytes:
        return records_body(*map(rendered, chosen))

    path = "/historical/abc.def"
    assert get(client, f"{path}?since={at(5)}&until={at(7)}") == body_of(between(5, 7))
    assert [r["State"] for r in between(5, 7)] == ["state-05", "state-05b", "state-06", "state-07"]
    assert get(client, f"{path}?since={at(5)}&until={at(5)}") == body_of(between(5, 5))
    assert get(client, f"{path}?since={at(20)}") == body_of(between(20, 99))
    assert get(client, f"{path}?until={at(1)}") == body_of(between(-1, 1))
    # One nanosecond either side of an instant leaves its records out, or in.
    late = at(7, nanos=1)
    assert json.loads(get(client, f"{path}?since={late}"))["Records"][0]["State"] == "late"
    assert b'"late"' not in get(client, f"{path}?until={at(7)}")
    assert b'"late"' in get(client, f"{path}?until={late}")
    # Any offset names the same instant: 15:05+01:00 is 14:05Z ('+' encoded in a URL).
    assert get(client, f"{path}?since=2024-07-30T15:05:00%2B01:00&until={at(7)}") == body_of(
        between(5, 7)
    )
    assert get(client, f"{path}?since={at(30)}") == EMPTY
    # With the other options.
    assert get(client, f"{path}?since={at(5)}&until={at(9)}&order=desc&environment=prod") == (
        body_of([r for r in between(5, 9) if r["Environment"] == "prod"][::-1])
    )


PAGED_QUERIES = [
    "",
    "order=desc",
    "environment=dev",
    "environment=prod&order=desc",
    f"since={at(3)}&until={at(17)}",
    f"since={at(3)}&until={at(17)}&order=desc&environment=dev",
]


def test_history_pages_cover_every_record_once(client: TestClient) -> None:
    records = history_records()
    post_ok(client, records)
    for query in PAGED_QUERIES:
        path = "/historical/abc.def" + (f"?{query}" if query else "")
        whole = json.loads(get(client, path))["Records"]
        assert whole
        for limit in (1, 2, 7, len(whole), len(whole) + 1, 1000):
            pages = all_pages(client, path, limit)
            assert [r for p in pages for r in p] == whole, (query, limit)
            # As many pages as needed and no more: NextCursor is absent on the last page,
            # even when that page is full.
            count = max(1, -(-len(whole) // limit))
            assert len(pages) == count, (query, limit, [len(p) for p in pages])


def test_history_page_bodies(client: TestClient) -> None:
    records = history_records()
    post_ok(client, records)
    everything = history_of(records)
    response = client.get("/historical/abc.def?limit=2")
    body = response.content
    cursor = response.json()["NextCursor"]
    expected = records_body(*map(rendered, everything[:2]))[:-1] + (
        f',"NextCursor":"{cursor}"}}'.encode()
    )
    assert body == expected
    assert all(c.isalnum() or c in "-_." for c in cursor)
    # The last page: the records alone, as an unpaged body.
    last = client.get(f"/historical/abc.def?limit=100&since={at(21)}")
    assert last.content == records_body(*map(rendered, everything[-1:]))
    assert get(client, "/historical/nothing?limit=5") == EMPTY


def test_history_page_size_may_change_between_pages(client: TestClient) -> None:
    records = history_records()
    post_ok(client, records)
    whole = as_response(history_of(records))
    first, cursor = page(client, "/historical/abc.def?limit=3")
    second, cursor = page(client, f"/historical/abc.def?limit=10&cursor={cursor}")
    rest, cursor = page(client, f"/historical/abc.def?cursor={cursor}")  # no limit: the rest
    assert cursor is None
    assert first + second + rest == whole


def test_history_cursor_survives_a_new_record(client: TestClient) -> None:
    records = history_records()
    post_ok(client, records)
    first, cursor = page(client, "/historical/abc.def?order=desc&limit=5")
    newest = deployment("abc.def", "dev", "newest", at(60))
    post_ok(client, [newest])
    second, _ = page(client, f"/historical/abc.def?order=desc&limit=5&cursor={cursor}")
    whole = as_response(history_of(records))[::-1]
    assert first + second == whole[:10]


def _tampered(cursor: str) -> list[str]:
    payload, signature = cursor.split(".")
    flip = {"A": "B"}
    variants = [
        payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature,
        payload + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B"),
        payload + "." + signature[:-2],
        payload,
        "." + signature,
        cursor + "x",
        cursor[5:],
        "".join(flip.get(c, c) for c in cursor),
    ]
    # The same position, re-signed by someone without the secret.
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    document["k"]["SK"]["S"] = "2000-01-01T00:00:00.000000000Z#dev#x"
    forged = base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()
    variants.append(forged + "." + signature)
    return [v for v in variants if v != cursor]


def test_a_tampered_or_foreign_cursor_is_400(
    client: TestClient, make_client: Callable[..., TestClient]
) -> None:
    records = history_records()
    post_ok(client, records)
    _, cursor = page(client, "/historical/abc.def?environment=dev&limit=3")
    assert cursor is not None
    path = "/historical/abc.def?environment=dev&limit=3&cursor="
    for bad in _tampered(cursor):
        refused(client, path + quote(bad), "cursor")
    for bad in ("", "x", "a.b", "....", "%00", "\u00e9.\u00e9", "a" * 3000):
        refused(client, path + quote(bad), "cursor")
    # Another query's cursor: a different component, environment, order or time range.
    for other in (
        "/historical/other?environment=dev&limit=3&cursor=",
        "/historical/abc.def?environment=prod&limit=3&cursor=",
        "/historical/abc.def?limit=3&cursor=",
        "/historical/abc.def?environment=dev&order=desc&limit=3&cursor=",
        f"/historical/abc.def?environment=dev&since={at(1)}&limit=3&cursor=",
        f"/historical/abc.def?environment=dev&until={at(20)}&limit=3&cursor=",
    ):
        refused(client, other + cursor, "different query")
    # order=asc is the default: the same query either way.
    assert page(client, f"/historical/abc.def?environment=dev&order=asc&limit=3&cursor={cursor}")
    # Another service's cursor (another secret, or the same after a restart without one).
    stranger = make_client(cursor_secret=SecretStr("another secret, 32 bytes or longer.."))
    refused(stranger, path + cursor, "cursor", "DEPLOYSTATUS_CURSOR_SECRET")


def test_replicas_sharing_a_secret_accept_each_others_cursors(
    make_client: Callable[..., TestClient],
) -> None:
    one = make_client(cursor_secret=SecretStr("a secret shared by both replicas.."))
    two = make_client(cursor_secret=SecretStr("a secret shared by both replicas.."))
    records = history_records()
    post_ok(one, records)
    first, cursor = page(one, "/historical/abc.def?limit=10&order=desc")
    second, _ = page(two, f"/historical/abc.def?limit=10&order=desc&cursor={cursor}")
    assert first + second == as_response(history_of(records))[::-1][:20]


def test_history_option_errors(client: TestClient) -> None:
    path = "/historical/abc.def"
    for limit in ("0", "-1", "1001", "x", "1.5", "", " 5", "\u0665"):
        refused(client, f"{path}?limit={quote(limit)}", "limit", "1 to 1000")
    for order in ("up", "DESC", "", "newest"):
        refused(client, f"{path}?order={order}", "order", "asc", "desc")
    refused(client, f"{path}?since=yesterday", "since", "RFC 3339")
    refused(client, f"{path}?until=2024-07-30", "until", "RFC 3339")
    refused(client, f"{path}?since=2024-02-30T00:00:00Z", "since", "calendar date")
    # An unencoded '+' arrives as a space: the message says how to write it.
    refused(client, f"{path}?since=2024-07-30T15:05:00+01:00", "since", "%2B")
    refused(client, f"{path}?since={at(5)}&until={at(4)}", "since is after until")
    refused(client, f"{path}?environment=Prod", "environment")
    refused(client, f"{path}?limit=1&limit=2", "limit", "2 times")
    refused(client, "/historical/ABC?limit=2", "component")  # the path is checked first


def test_history_pages_with_a_sparse_environment(settings: Settings) -> None:
    """One environment among many: pages still fill, and a read cap ends one early."""

    async def use(store: Store) -> None:
        noise = [Record("abc", "dev", f"s{i:03d}", canonical(T0 + i * MINUTE)) for i in range(40)]
        rare = [
            Record("abc", "prod", f"p{i}", canonical(T0 + (10 * i + 5) * MINUTE + 1))
            for i in range(3)
        ]
        await store.put(noise + rare)
        prod = HistoryRange("abc", "prod")
        records, key = await store.history_page(prod, 2)
        assert [r.state for r in records] == ["p0", "p1"] and key is not None
        records, key = await store.history_page(replace(prod, after=key), 2)
        assert [r.state for r in records] == ["p2"] and key is None
        # At most max_read items read per page: short (even empty) pages, never a lost one.
        found: list[str] = []
        key = None
        for _ in range(100):
            records, key = await store.history_page(replace(prod, after=key), 2, max_read=4)
            assert len(records) <= 2
            found += [r.state for r in records]
            if key is None:
                break
        assert found == ["p0", "p1", "p2"]

    run_with_store(settings, use)


# GET /environments, GET /components


def test_environments_and_components(client: TestClient) -> None:
    assert get(client, "/environments") == b'{"Environments":[]}'
    assert get(client, "/components") == b'{"Components":[]}'
    post_ok(client, CURRENT)
    post_ok(client, [deployment("abc", "dev", "again", at(30))])  # no duplicates
    assert get(client, "/environments") == b'{"Environments":["dev","prod"]}'
    assert get(client, "/components") == b'{"Components":["abc","abc.def","abd","xyz"]}'
    assert client.head("/environments").status_code == 200
    response = client.post("/components")
    assert response.status_code == 405


def test_a_cursor_secret_shorter_than_32_bytes_is_refused_without_being_echoed() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(cursor_secret=SecretStr("hunter2-but-short"))
    message = str(refused.value.errors(include_input=False)[0]["msg"])
    assert "DEPLOYSTATUS_CURSOR_SECRET: at least 32 bytes" in message
    assert "hunter2" not in message
    assert Settings(cursor_secret=SecretStr("")).cursor_secret is None  # empty is unset
    assert Settings(cursor_secret=SecretStr("x" * 32)).cursor_secret is not None
