"""The HTTP contract of refusals, through the real app on both engines: validation problems
(400 invalid_records, all or nothing), unreadable bodies (400 invalid_request), limits (413),
routing (404, 405, 400) and health (200, 503). Every error is JSON and leaks no internals."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator

import httpx2
from fastapi.testclient import TestClient

from tests.support.answers import error_body
from tests.support.factories import body, make_record

EMPTY = b'{"Records":[]}'
JSON = "application/json"


# What a body must never show: tracebacks, source paths, Python exception names, reprs.
def post(client: TestClient, content: bytes | str) -> httpx2.Response:
    return client.post("/records", content=content)


def assert_invalid_request(response: httpx2.Response) -> None:
    assert set(error_body(response, 400, "invalid_request")) == {"error", "message"}


def problems(response: httpx2.Response) -> list[tuple[int, str]]:
    """(record, field) of each problem of a 400 invalid_records answer, in its order."""
    document = error_body(response, 400, "invalid_records")
    assert set(document) == {"error", "message", "problems"}
    found = []
    for problem in document["problems"]:
        assert set(problem) == {"record", "field", "message"}
        assert isinstance(problem["message"], str)
        assert problem["message"]
        found.append((problem["record"], problem["field"]))
    return found


def assert_rule(client: TestClient, field: str, valid: list[str], invalid: list[str]) -> None:
    """Each valid value is stored; each invalid one is refused, naming record 0 and ``field``."""
    for index, value in enumerate(valid):
        record = make_record(**{field: value})
        if field != "Component":
            record["Component"] = f"valid{index}"  # one deployable each, all in /current
        response = post(client, body(record))
        assert (response.status_code, response.content) == (200, b"Ok"), (value, response.text)
    stored = client.get("/current").json()["Records"]
    assert len(stored) == len(valid)
    if field != "Timestamp":  # (timestamps come back rendered; their own test reads them)
        assert sorted(record[field] for record in stored) == sorted(valid)

    for value in invalid:
        assert problems(post(client, body(make_record(**{field: value})))) == [(0, field)], value
    assert len(client.get("/current").json()["Records"]) == len(valid)


# Validation: one rule at a time


def test_component_rule(client: TestClient) -> None:
    valid = ["abc.def", "ab-123", "123-def.xyz", "a", "0", "a..b", "a-.-b", "a" * 255]
    invalid = [
        "Abc",
        "-abc",
        "abc-",
        ".abc",
        "abc.",
        "a_b",
        "a/b",
        "a b",
        "a#b",
        "abc\n",
        "",
        "a" * 256,
        "\uff41\uff42\uff43",  # full-width abc
        "abc\u0661\u0662\u0663",  # Arabic-Indic digits
        "abc\uff11",  # a full-width digit
        "déf",
    ]
    assert_rule(client, "Component", valid, invalid)


def test_environment_rule(client: TestClient) -> None:
    valid = ["dev", "prod-all", "eu-west-two", "a", "a" * 128, "x" * 40 + "-" + "y" * 40]
    invalid = [
        "dev-rev0",
        "a-b-c-d",
        "Dev",
        "dev-",
        "-dev",
        "dev--all",
        "dev_all",
        "dev.all",
        "dev\n",
        "",
        "a" * 129,
        "\uff44\uff45\uff56",  # full-width dev
        "dév",
    ]
    assert_rule(client, "Environment", valid, invalid)


def test_state_rule(client: TestClient) -> None:
    valid = [
        "Ok",
        "x",
        " ",
        "déployé ✓",
        "a" * 128,
        "é" * 128,  # 128 characters, 256 bytes
        "🚀" * 128,  # 128 characters, 512 bytes
        '<"quoted">&\\',
    ]
    invalid = [
        "",
        "a" * 129,
        "é" * 129,
        "line\nbreak",
        "tab\there",
        "\x00",
        "nul\x00",
        "\x7f",
        "next\x85line",
        "\x9f",
        "\ud800",  # a lone surrogate (sent as the escape \ud800)
    ]
    assert_rule(client, "State", valid, invalid)


# A bound on the clock skew no timestamp of the accepted range exceeds (31,700 years): for the
# range rule alone (the bound itself: tests/api/test_clock_skew.py).
NO_SKEW_BOUND = 10**12


def test_timestamp_rule(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_clock_skew_seconds=NO_SKEW_BOUND)
    valid = [
        "2024-07-30T14:06:41Z",
        "2024-07-30t14:06:42z",
        "2024-07-30T14:06:43+00:00",
        "2024-07-30T14:06:44-00:00",
        "2024-07-30T14:06:45.1+23:59",
        "2024-02-29T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "0000-01-02T00:00:00Z",
        "9999-12-30T23:59:59.999999999Z",
        "9999-12-31T00:59:59.999999999+01:00",
    ]
    invalid = [
        "2024-07-30T14:06:41",  # no offset
        "2024-07-30",
        "2024-07-30 14:06:41Z",
        "2024-07-30T14:06Z",
        "2024-7-30T14:06:41Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-07-00T00:00:00Z",
        "2024-07-30T24:00:00Z",
        "2024-07-30T14:60:00Z",
        "2024-07-30T14:06:60Z",
        "2024-07-30T14:06:41.Z",
        "2024-07-30T14:06:41.1234567890Z",  # ten fractional digits
        "2024-07-30T14:06:41+24:00",
        "2024-07-30T14:06:41+01:60",
        "2024-07-30T14:06:41+0100",
        "2024-07-30T14:06:41+01",
        "\uff12\uff10\uff12\uff14-07-30T14:06:41Z",  # full-width digits
        "9999-12-31T23:59:59-01:00",  # the reference took it, then every read broke
        "9999-12-31T12:00:00Z",
        "9999-12-31T00:00:00Z",
        "0000-01-01T23:59:59.999999999Z",
        "-0001-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "",
    ]
    assert_rule(client, "Timestamp", valid, invalid)

    # The extremes read back: in UTC, and in the zones that push them furthest.
    rendered = sorted(record["Timestamp"] for record in client.get("/current").json()["Records"])
    assert rendered[:3] == [
        "0000-01-02T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "2024-02-29T00:00:00Z",
    ]
    assert rendered[-2:] == ["9999-12-30T23:59:59.999999999Z"] * 2
    assert "2024-07-30T14:06:42Z" in rendered  # lower-case t and z, rendered upper-case
    assert "2024-07-29T14:07:45.1Z" in rendered  # +23:59
    for zone, extreme in [
        ("Pacific/Kiritimati", "9999-12-31T13:59:59.999999999+14:00"),
        ("Etc/GMT+12", "0000-01-01T12:00:00-12:00"),
    ]:
        response = make_client(timezone=zone, max_clock_skew_seconds=NO_SKEW_BOUND).get("/current")
        assert response.status_code == 200, response.text
        zoned = [record["Timestamp"] for record in response.json()["Records"]]
        assert extreme in zoned
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)", ts) for ts in zoned)


def test_missing_and_non_string_fields_name_the_field(client: TestClient) -> None:
    for field in ("Component", "Environment", "State", "Timestamp"):
        missing = make_record()
        del missing[field]
        assert problems(post(client, body(missing))) == [(0, field)]
        for value in (None, 1, 1.5, True, {}, {"S": "abc"}, [], ["abc"]):
            response = post(client, body(make_record(**{field: value})))
            assert problems(response) == [(0, field)], (field, value)
        huge = json.dumps(make_record()).replace(f'"{field}": ', f'"{field}": 1{"0" * 5000}, "x": ')
        assert problems(post(client, '{"Records":[' + huge + "]}")) == [(0, field)]
    assert client.get("/current").content == EMPTY


def test_a_record_that_is_not_an_object_is_a_problem_of_that_record(client: TestClient) -> None:
    content = json.dumps({"Records": [make_record(), "abc", 1, [make_record()], True]})
    assert problems(post(client, content)) == [(1, ""), (2, ""), (3, ""), (4, "")]
    assert client.get("/current").content == EMPTY


def test_every_problem_of_every_record_is_reported(client: TestClient) -> None:
    content = body(
        make_record(),
        make_record(Component="Bad"),
        make_record(Component="fine"),
        {"Component": "also-fine", "Environment": "dev-rev0", "Timestamp": "yesterday"},
        make_record(State="", Timestamp="2024-02-30T00:00:00Z"),
    )
    response = post(client, content)
    found = problems(response)
    assert [record for record, _ in found] == sorted(record for record, _ in found)
    assert sorted(found) == [
        (1, "Component"),
        (3, "Environment"),
        (3, "State"),
        (3, "Timestamp"),
        (4, "State"),
        (4, "Timestamp"),
    ]
    assert response.json()["message"] == "3 records are invalid; nothing was written"


def test_a_batch_with_one_bad_record_writes_nothing(client: TestClient) -> None:
    # 30 good records (more than one BatchWriteItem) around a bad one.
    good = [make_record(Component=f"good{i}") for i in range(30)]
    bad = make_record(Environment="Prod")
    for batch in ([bad, *good], [*good[:15], bad, *good[15:]], [*good, bad]):
        assert problems(post(client, body(*batch))) == [(batch.index(bad), "Environment")]
    assert client.get("/current").content == EMPTY
    for i in range(30):
        assert client.get(f"/historical/good{i}").content == EMPTY


# Bodies that are not a batch


def test_unparseable_bodies_are_invalid_requests(client: TestClient) -> None:
    bodies = [
        b"",
        b"   \n",
        b"{",
        b'{"Records":[',
        b'{"Records":[}',
        b"{Records:[]}",
        b"{'Records':[]}",
        b'{"Records":[],}',
        b'{"Records":[]} x',
        b'{"Records":[]}{"Records":[]}',
        b'\xef\xbb\xbf{"Records":[]}',  # a byte order mark
        b'{"Records":[{"State":"raw\ncontrol"}]}',
        b'{"Records":[{"Component":"abc\xff"}]}',  # invalid UTF-8
        b'{"Records":[],"x":"\xc3\x28"}',
        b'{"Records":[],"x":"\xc0\xaf"}',  # overlong
        b'{"Records":[],"x":"\xed\xa0\x80"}',  # an encoded surrogate
        b"\xff\xfe{\x00}\x00",  # UTF-16
    ]
    for content in bodies:
        response = post(client, content)
        assert response.status_code == 400, content
        assert_invalid_request(response)
    assert client.get("/current").content == EMPTY


def test_bodies_not_shaped_like_a_batch_are_invalid_requests(client: TestClient) -> None:
    record = json.dumps(make_record())
    bodies = [
        "[]",
        f"[{record}]",
        '"Records"',
        "42",
        "1e999",
        "true",
        "false",
        '{"Records":{}}',
        f'{{"Records":{record}}}',
        '{"Records":"abc"}',
        '{"Records":1}',
        '{"Records":true}',
    ]
    for content in bodies:
        response = post(client, content)
        assert response.status_code == 400, content
        assert_invalid_request(response)
    assert client.get("/current").content == EMPTY


def test_nan_and_infinity_are_not_json(client: TestClient) -> None:
    record = json.dumps(make_record())
    for constant in ("NaN", "Infinity", "-Infinity"):
        as_state = record.replace('"Ok"', constant)
        for content in (
            constant,
            f'{{"Records":[{record}],"x":{constant}}}',
            f'{{"Records":[{as_state}]}}',
        ):
            response = post(client, content)
            assert response.status_code == 400, content
            assert_invalid_request(response)
    assert client.get("/current").content == EMPTY


def test_deeply_nested_json_is_an_invalid_request(client: TestClient) -> None:
    record = json.dumps(make_record())
    bodies = [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"Records":' + "[" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        f'{{"Records":[{record[:-1]},"x":' + "[" * 100_000 + "]" * 100_000 + "}]}",
    ]
    for content in bodies:
        response = post(client, content)
        assert response.status_code == 400, content[:20]
        assert_invalid_request(response)
    assert client.get("/current").content == EMPTY


# Limits


def test_a_body_over_max_body_bytes_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=1000)
    content = body(make_record())
    at_limit = b" " * (1000 - len(content)) + content
    assert len(at_limit) == 1000
    response = post(client, at_limit)
    assert (response.status_code, response.content) == (200, b"Ok")

    over_limit = b" " + at_limit
    document = error_body(post(client, over_limit), 413, "request_too_large")
    assert set(document) == {"error", "message"}

    # Without a Content-Length (chunked), the limit still holds.
    def chunks() -> Iterator[bytes]:
        yield b'{"Records":['
        yield body(make_record(Component="chunked"))[len(b'{"Records":[') : -2]
        yield b" " * 1000
        yield b"]}"

    chunked = client.post("/records", content=chunks())
    assert "content-length" not in chunked.request.headers
    assert set(error_body(chunked, 413, "request_too_large")) == {"error", "message"}
    assert client.get("/historical/chunked").content == EMPTY


def test_more_records_than_max_records_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_records=3)
    three = [make_record(Component=f"c{i}") for i in range(3)]
    response = post(client, body(*three))
    assert (response.status_code, response.content) == (200, b"Ok")

    four = [make_record(Component=f"d{i}") for i in range(4)]
    document = error_body(post(client, body(*four)), 413, "request_too_large")
    assert set(document) == {"error", "message"}
    stored = client.get("/current").json()["Records"]
    assert [record["Component"] for record in stored] == ["c0", "c1", "c2"]


# Routing


def test_unknown_paths_are_404_json(client: TestClient) -> None:
    for method, path in [
        ("GET", "/ui"),  # "/" is the status board
        ("GET", "/nope"),
        ("POST", "/record"),
        ("GET", "/current/extra"),
        ("GET", "/historical"),
        ("GET", "/historical/"),
        ("GET", "/historical/abc/def"),
    ]:
        response = client.request(method, path)
        document = error_body(response, 404, "not_found")
        assert set(document) == {"error", "message"}


def test_wrong_methods_are_405_json_with_an_allow_header(client: TestClient) -> None:
    for method, path, allowed in [
        ("DELETE", "/current", "GET"),
        ("POST", "/current", "GET"),
        ("GET", "/records", "POST"),
        ("PUT", "/records", "POST"),
        ("DELETE", "/records", "POST"),
        ("PUT", "/historical/x", "GET"),
        ("POST", "/historical/abc.def", "GET"),
        ("PATCH", "/healthz", "GET"),
    ]:
        response = client.request(method, path)
        document = error_body(response, 405, "method_not_allowed")
        assert set(document) == {"error", "message"}
        allow = [name.strip() for name in response.headers["allow"].split(",")]
        assert allowed in allow, (method, path, allow)
        assert method not in allow, (method, path, allow)
    assert client.get("/current").content == EMPTY


def test_an_invalid_component_in_the_history_path_is_400_json(client: TestClient) -> None:
    for path in [
        "/historical/ABC",
        "/historical/a_b",
        "/historical/-abc",
        "/historical/abc.",
        "/historical/%20abc",
        "/historical/abc%0A",
        "/historical/%EF%BD%81%EF%BD%82%EF%BD%83",  # full-width abc
        "/historical/" + "a" * 256,
    ]:
        assert_invalid_request(client.get(path))


def test_encoded_path_tricks_never_leak_data_or_fail(client: TestClient) -> None:
    records = [make_record(Component=name) for name in ("etc", "current", "abc.def", "x")]
    response = post(client, body(*records))
    assert (response.status_code, response.content) == (200, b"Ok")

    for path in [
        "/historical/..%2F..%2Fetc",
        "/historical/..%2fetc",
        "/historical/%2e%2e",
        "/historical/%2E%2E",
        "/historical/.%2e",
        "/historical/%2e%2e%2fcurrent",
        "/historical/%2e%2e/current",
        "/historical/abc.def%2F..",
        "/historical/abc.def%2f..%2fx",
        "/historical/etc%00",
        "/historical/%00",
        "/historical/etc%23x",
        "/historical/etc%3Fx",
        "/historical/%252e%252e",
        "/historical/..%2F",  # redirected (trailing slash) to /historical/.., then refused
        "/historical/%2e%2e%2F",
    ]:
        response = client.get(path)
        assert response.status_code in (400, 404), (path, response.status_code)
        assert response.headers["content-type"] == JSON
        assert b"Component" not in response.content, path
        error_body(response, response.status_code, response.json()["error"])


def test_healthz_is_200_even_without_a_table(make_client: Callable[..., TestClient]) -> None:
    for client in (make_client(), make_client(table=f"missing-{uuid.uuid4().hex[:12]}")):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.headers["content-type"] == JSON
        assert response.content == b'{"status":"ok"}'


def test_readyz_is_200_while_the_table_exists(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.content == b'{"status":"ready"}'


def test_readyz_is_503_json_when_the_table_does_not_exist(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(table=f"missing-{uuid.uuid4().hex[:12]}")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == JSON
    document = json.loads(response.content)
    assert set(document) == {"error", "message"}
    assert document["error"] == "not_ready"
    assert isinstance(document["message"], str)
    assert document["message"]
