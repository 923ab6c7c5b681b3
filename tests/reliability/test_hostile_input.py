"""Hostile input over real HTTP: raw sockets against the app served as ``deploystatus serve``
serves it (uvicorn, httptools, bounded: web/server.py), so that no client library tidies the
request first.

Extends tests/api/test_api_errors.py (which goes through the test client): nesting,
numbers, UTF-8, NUL and control characters, duplicate keys at sizes that would hurt, 10 MB
bodies refused before they are read, bodies dripped byte by byte, and request targets no
HTTP library would send. Every answer is a documented status with a JSON error body (the
server's own ``bad_request`` for bytes that are not HTTP at all), never a 500, never data
of another component, and the server stays up.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from tests.support.factories import body, make_record
from tests.support.live import LiveServer, fresh_table, own_dynalite
from tests.support.reliability_log import Recorder

BODY_TIMEOUT = 1.0
MAX_BODY = 1024 * 1024
TS = "2024-07-30T14:06:41Z"


def record(component: str = "abc.def", **fields: object) -> dict[str, Any]:
    """The README's record in prod at ``TS``, of ``component``; ``fields`` replace or add."""
    return make_record(Component=component, Environment="prod", Timestamp=TS, **fields)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with (
        own_dynalite(tmp_path_factory.mktemp("hostile")) as engine,
        fresh_table(engine.url, body_timeout_seconds=BODY_TIMEOUT) as settings,
        LiveServer(settings) as live,
    ):
        with live.client() as client:
            seed = [record(name) for name in ("etc", "current", "abc.def", "x", "passwd")]
            assert client.post("/records", content=body(*seed)).content == b"Ok"
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx2.Client]:
    with server.client(timeout=10) as client:
        yield client
    # Whatever a test sent, the server still serves.
    with server.client(timeout=5) as after:
        assert after.get("/healthz").status_code == 200


# Raw HTTP


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after answering
    seconds: float  # from the first byte sent to the answer's end

    def json(self) -> Any:
        return json.loads(self.body)


def _parse(raw: bytes, closed: bool, seconds: float) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(body)))
    return Answer(int(lines[0].split(" ")[1]), headers, body[:length], closed, seconds)


def exchange(
    port: int,
    data: bytes,
    *,
    then: Callable[[socket.socket], None] | None = None,
    timeout: float = 10.0,
    wait_for_close: bool = False,
) -> Answer:
    """Send ``data`` (then call ``then``), read one answer; every wait bounded. With
    ``wait_for_close``, wait a little after the answer to see if the server closes."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if then is not None:
            then(sock)
        raw = b""
        closed = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            raw += chunk
            head, _, body = raw.partition(b"\r\n\r\n")
            if head and b"content-length:" in head.lower():
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(body) >= length and not wait_for_close:
                    break
                if len(body) >= length:
                    # The whole answer is in: does the server close the connection?
                    sock.settimeout(0.5)
                    try:
                        closed = sock.recv(1) == b""
                    except TimeoutError:
                        closed = False
                    except ConnectionResetError:
                        closed = True
                    break
        assert raw, "no answer"
        return _parse(raw, closed, time.monotonic() - started)


def request(method: str, target: bytes, body: bytes = b"", **headers: str) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [f"{name.replace('_', '-')}: {value}".encode() for name, value in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join([*lines, b"", b""]) + body


def assert_error(answer: Answer, status: int, error: str) -> None:
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == error
    for internal in ("Traceback", 'File "', ".py", "object at 0x"):
        assert internal.encode() not in answer.body


def stored(client: httpx2.Client, component: str) -> list[dict[str, str]]:
    response = client.get(f"/historical/{component}")
    assert response.status_code == 200
    records: list[dict[str, str]] = response.json()["Records"]
    return records


# Nesting and numbers


def test_deep_nesting_is_refused_or_ignored_never_a_crash(
    server: LiveServer, client: httpx2.Client, reliability: Recorder
) -> None:
    inner = json.dumps(record("nested"))[1:-1]
    accepted = {  # nesting in an unknown field is ignored, within what the parser takes
        depth: f'{{"Records":[{{{inner},"x":{"[" * depth}{"]" * depth}}}]}}'.encode()
        for depth in (10, 200)
    }
    refused = {
        "1 MB of [": b"[" * (MAX_BODY - 10),
        "Records nested 100k deep": b'{"Records":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "unknown field nested 100k deep": (
            f'{{"Records":[{{{inner},"x":'.encode() + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
        ),
        "objects nested 50k deep": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    }
    for depth, content in accepted.items():
        answer = exchange(server.port, request("POST", b"/records", content))
        assert (answer.status, answer.body) == (200, b"Ok"), depth
    for name, content in refused.items():
        answer = exchange(server.port, request("POST", b"/records", content))
        assert_error(answer, 400, "invalid_request")
        assert answer.seconds < 3.0, name
    assert stored(client, "nested") == [
        {"Component": "nested", "Environment": "prod", "Timestamp": TS, "State": "Ok"}
    ]
    reliability.record(
        "Hostile input",
        "deeply nested JSON (10 to 1M levels, arrays and objects)",
        cases=len(accepted) + len(refused),
        detail="nesting in an ignored field: 200 and stored; beyond the parser's depth: "
        "400 invalid_request in < 3 s; no crash",
    )


def test_huge_numbers_cost_nothing_and_are_never_a_field(
    server: LiveServer, client: httpx2.Client, reliability: Recorder
) -> None:
    digits = "9" * 900_000  # a 900,000-digit number: converting it would take seconds
    ignored = [f"1{digits}", f"-{digits}.{digits[:1000]}e-999999", "1e999999", "-1e-999999"]
    cases = 0
    for number in ignored:
        content = '{"Records":[' + json.dumps(record("numbers"))[:-1] + f',"n":{number}}}]}}'
        answer = exchange(server.port, request("POST", b"/records", content.encode()))
        assert (answer.status, answer.body) == (200, b"Ok")
        assert answer.seconds < 2.0
        cases += 1
    for field in ("Component", "Environment", "State", "Timestamp"):
        for number in (f"1{digits[:100_000]}", "1e999999", "-0"):
            content = json.dumps(record("numbers")).replace(
                f'"{field}": ', f'"{field}": {number}, "_": ', 1
            )
            answer = exchange(server.port, request("POST", b"/records", batch_raw(content)))
            assert_error(answer, 400, "invalid_records")
            assert answer.json()["problems"] == [
                {"record": 0, "field": field, "message": "must be a string"}
            ]
            cases += 1
    answer = exchange(
        server.port, request("POST", b"/records", f'{{"Records":1{digits}}}'.encode())
    )
    assert_error(answer, 400, "invalid_request")
    assert len(stored(client, "numbers")) == 1
    reliability.record(
        "Hostile input",
        "huge numbers (900,000 digits, 1e999999, -0) in ignored fields, fields and Records",
        cases=cases + 1,
        detail="never converted: ignored where unknown (200 in < 2 s), 400 where a string "
        "or an array is required",
    )


def batch_raw(record_json: str) -> bytes:
    return ('{"Records":[' + record_json + "]}").encode()


# Bytes that are not UTF-8, NUL and control characters


def test_invalid_utf8_anywhere_is_a_400(
    server: LiveServer, client: httpx2.Client, reliability: Recorder
) -> None:
    good = json.dumps(record("utf")).encode()
    bodies = {
        "truncated sequence at the end": b'{"Records":[],"x":"\xe2\x82',
        "invalid byte in a key": b'{"Rec\xffords":[]}',
        "bytes F5-FF": b'{"Records":[],"x":"\xf5\xf8\xfc\xfe"}',
        "beyond U+10FFFF": b'{"Records":[],"x":"\xf4\x90\x80\x80"}',
        "lone continuation byte": b'{"Records":[],"x":"\x80"}',
        "overlong 3-byte": b'{"Records":[],"x":"\xe0\x80\xaf"}',
        "overlong NUL": b'{"Records":[],"x":"\xc0\x80"}',
        "Latin-1 state": good.replace(b'"Ok"', b'"d\xe9ploy\xe9"'),
        "CESU-8 emoji": good.replace(b'"Ok"', b'"\xed\xa0\xbd\xed\xb8\x80"'),
        "UTF-16 LE, no BOM": '{"Records":[]}'.encode("utf-16-le"),
        "UTF-32 with BOM": '{"Records":[]}'.encode("utf-32"),
    }
    for name, content in bodies.items():
        answer = exchange(server.port, request("POST", b"/records", content))
        assert_error(answer, 400, "invalid_request")
        assert "UTF-8" in str(answer.json()["message"]) or "JSON" in str(
            answer.json()["message"]
        ), name
    # In the request line and headers: the server refuses what is not HTTP (400 bad_request);
    # what it lets through reaches the app as Latin-1 and is refused or ignored there.
    targets = {
        b"/historical/abc\xff": (400,),
        b"/historical/abc%FF": (400,),
        b"/historical/%C0%AE%C0%AE": (400,),
        b"/historical/%ED%A0%80": (400,),
    }
    for target, statuses in targets.items():
        answer = exchange(server.port, request("GET", target))
        assert answer.status in statuses, target
    header = exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: \xff\xfe\r\n\r\n")
    assert header.status == 200
    assert stored(client, "utf") == []
    reliability.record(
        "Hostile input",
        "invalid UTF-8 (truncated, overlong, surrogates, > U+10FFFF, Latin-1, UTF-16/32) "
        "in bodies, paths and headers",
        cases=len(bodies) + len(targets) + 1,
        detail="400 (from the app, or the server's bad_request for a raw byte in the "
        "request line); header bytes ignored; nothing stored",
    )


def test_nul_and_control_characters_are_refused_where_they_matter(
    server: LiveServer, client: httpx2.Client, reliability: Recorder
) -> None:
    cases = 0
    # Raw, unescaped: JSON forbids them inside strings, and they are not whitespace.
    for char in [bytes([c]) for c in (0, 1, 8, 0x0B, 0x0C, 0x1B, 0x1F)]:
        for content in (
            b'{"Records":[' + char + b"]}",
            body(record("ctl")).replace(b'"Ok"', b'"O' + char + b'k"'),
        ):
            answer = exchange(server.port, request("POST", b"/records", content))
            assert_error(answer, 400, "invalid_request")
            cases += 1
    # Escaped: valid JSON, refused by the field rules, naming the field.
    for code in (0x00, 0x01, 0x0A, 0x1F, 0x7F, 0x85, 0x9F):
        escaped = f"\\u{code:04x}"
        for field in ("Component", "Environment", "State"):
            spoilt = json.dumps(record("ctl")).replace(
                f'"{field}": "', f'"{field}": "a{escaped}', 1
            )
            answer = exchange(server.port, request("POST", b"/records", batch_raw(spoilt)))
            assert_error(answer, 400, "invalid_records")
            assert [(p["record"], p["field"]) for p in answer.json()["problems"]] == [(0, field)], (
                field,
                code,
            )
            cases += 1
        timestamp = json.dumps(record("ctl")).replace(TS, TS[:-1] + escaped + "Z")
        answer = exchange(server.port, request("POST", b"/records", batch_raw(timestamp)))
        assert_error(answer, 400, "invalid_records")
        cases += 1
    # In a key: a different key, so the field is missing.
    nul_key = json.dumps(record("ctl")).replace('"State"', '"Sta\\u0000te"')
    answer = exchange(server.port, request("POST", b"/records", batch_raw(nul_key)))
    assert_error(answer, 400, "invalid_records")
    assert answer.json()["problems"] == [{"record": 0, "field": "State", "message": "is required"}]
    # In the request line or a header: not HTTP.
    for raw in (
        b"GET /historical/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    ):
        answer = exchange(server.port, raw, wait_for_close=True)
        assert answer.status == 400
        assert answer.closed
        cases += 1
    # Characters that are not controls are kept exactly (U+2028, noncharacters, BOM).
    kept = ["\u2028\u2029", "\ufeff", "\uffff\ufffe", "\U0010ffff", "<&>"]
    for state in kept:
        answer = exchange(
            server.port, request("POST", b"/records", body(record("kept", State=state)))
        )
        assert (answer.status, answer.body) == (200, b"Ok"), state
    assert sorted(r["State"] for r in stored(client, "kept")) == sorted(kept)
    assert stored(client, "ctl") == []
    reliability.record(
        "Hostile input",
        "NUL and C0/C1 control characters: raw and escaped, in every field, in keys, in "
        "the request line and headers",
        cases=cases + 1 + len(kept),
        detail="raw: 400 invalid_request; escaped: 400 invalid_records naming the field; "
        "request line/header: the server's 400 and close; U+2028, BOM, noncharacters stored "
        "exactly",
    )


# Duplicate keys


def test_duplicate_keys_at_scale_last_one_wins_in_linear_time(
    server: LiveServer, client: httpx2.Client, reliability: Recorder
) -> None:
    # The last Records is the batch: an invalid one after a valid one refuses the request.
    valid = json.dumps([record("dup.valid")])
    invalid = json.dumps([record("Dup.Invalid")])
    answer = exchange(
        server.port,
        request("POST", b"/records", f'{{"Records":{valid},"records":{invalid}}}'.encode()),
    )
    assert_error(answer, 400, "invalid_records")
    assert stored(client, "dup.valid") == []

    # 40,000 duplicate State keys in one record, and 5,000 Records keys: fast, last wins.
    states = ",".join(f'"State":"s{i}"' for i in range(40_000))
    many_states = json.dumps(record("dup.states"))[:-1] + "," + states + "}"
    answer = exchange(server.port, request("POST", b"/records", batch_raw(many_states)))
    assert (answer.status, answer.body) == (200, b"Ok")
    assert answer.seconds < 2.0
    assert [r["State"] for r in stored(client, "dup.states")] == ["s39999"]

    keys = ",".join(
        '"Records":' + json.dumps([record(f"dup.r{i}")]) for i in (*range(4_999), 4_999)
    )
    answer = exchange(server.port, request("POST", b"/records", ("{" + keys + "}").encode()))
    assert (answer.status, answer.body) == (200, b"Ok")
    assert answer.seconds < 2.0
    assert stored(client, "dup.r0") == []
    assert len(stored(client, "dup.r4999")) == 1
    reliability.record(
        "Hostile input",
        "duplicate JSON keys (valid then invalid Records; 40,000 State keys; 5,000 Records keys)",
        cases=3,
        detail="last one wins as Go's decoder does (invalid last: 400, nothing written); "
        "linear time (< 2 s)",
    )


# Size: refused before it is read


def test_a_10_mb_body_is_refused_before_it_is_sent(
    server: LiveServer, reliability: Recorder
) -> None:
    ten_mb = 10 * 1024 * 1024
    head = (
        b"POST /records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {ten_mb}\r\n\r\n".encode()
    )
    sent = 0

    def send_some(sock: socket.socket) -> None:
        nonlocal sent
        sock.sendall(b'{"Records":[' + b" " * 65_536)
        sent = 65_536 + 12

    answer = exchange(server.port, head, then=send_some, wait_for_close=True)
    assert_error(answer, 413, "request_too_large")
    assert answer.closed  # the rest is not read: the connection is closed
    assert sent < ten_mb // 100

    # Chunked, no Content-Length: the limit is counted as the body streams in. Send in
    # 64 KB chunks and look for the answer between chunks.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /records HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * 65_536
        sent = 0
        answered = b""
        sock.settimeout(0.05)
        while sent < ten_mb:
            try:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            try:
                answered = sock.recv(65_536)
            except TimeoutError:
                continue
            if answered:
                break
        assert answered.startswith(b"HTTP/1.1 413 "), answered[:100]
        assert MAX_BODY <= sent < 2 * MAX_BODY, sent  # answered once the limit was passed
    reliability.record(
        "Hostile input",
        "10 MB bodies (declared Content-Length; chunked without one)",
        cases=2,
        detail=(
            f"413 request_too_large after {65_548:,} bytes sent with Content-Length and "
            f"{sent:,} bytes chunked (limit {MAX_BODY:,}); connection closed, the rest never read"
        ),
    )


# Time: a body dripped byte by byte


def test_a_dripped_body_gets_a_408_and_the_connection_closed(
    server: LiveServer, client: httpx2.Client, reliability: Recorder
) -> None:
    content = body(record("dripped"))
    dripping = True

    def drip(sock: socket.socket) -> None:
        # One byte every 50 ms (the body needs ~5 s), while the server lets us.
        for byte in content:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                return
            time.sleep(0.05)
            if not dripping:
                return

    # The drip runs in the sending phase; the answer must come while it still drips.
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            request("POST", b"/records", b"")[:-2]
            + f"Content-Length: {len(content)}\r\n\r\n".encode()
        )
        sender = threading.Thread(target=drip, args=(sock,))
        sender.start()
        raw = b""
        while b"\r\n\r\n" not in raw or not raw.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
        elapsed = time.monotonic() - started
        sock.settimeout(3)
        try:
            closed = sock.recv(1) == b""  # the server hangs up although bytes keep coming
        except ConnectionResetError:
            closed = True
        dripping = False
        sender.join(10)
    answer = _parse(raw, closed, elapsed)
    assert_error(answer, 408, "request_timeout")
    assert answer.closed
    assert BODY_TIMEOUT <= elapsed < BODY_TIMEOUT + 1.5
    assert stored(client, "dripped") == []

    # Slow but within the limit: accepted.
    def slow(sock: socket.socket) -> None:
        for start in range(0, len(content), 40):
            sock.sendall(content[start : start + 40])
            time.sleep(0.1)

    head = (
        request("POST", b"/records", b"")[:-2] + f"Content-Length: {len(content)}\r\n\r\n".encode()
    )
    answer = exchange(server.port, head, then=slow)
    assert (answer.status, answer.body) == (200, b"Ok")
    reliability.record(
        "Hostile input",
        "slow-drip body (1 byte / 50 ms) and a slow body within the limit",
        cases=2,
        detail=(
            f"408 request_timeout after {elapsed:.2f}s (DEPLOYSTATUS_BODY_TIMEOUT_SECONDS="
            f"{BODY_TIMEOUT:g}) and the connection closed while the client still dripped; "
            "before the fix nothing bounded it; slow but in time: 200"
        ),
    )


def test_a_client_hanging_up_mid_body_is_no_server_error(
    server: LiveServer,
    client: httpx2.Client,
    caplog: pytest.LogCaptureFixture,
    reliability: Recorder,
) -> None:
    head = b"POST /records HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    for sent in (b"", b'{"Records":[', b" " * 999):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(head + sent)
            time.sleep(0.05)
    time.sleep(0.3)
    assert client.get("/healthz").status_code == 200
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []  # was: "Exception in ASGI application" (ClientDisconnect) and a 500
    reliability.record(
        "Hostile input",
        "client hangs up in the middle of a body (after 0, 12 and 999 of 1000 bytes)",
        cases=3,
        detail="no server error and no traceback in the log (before the fix: an unhandled "
        "ClientDisconnect, logged as an ASGI exception, answered 500)",
    )


# Request targets


def test_path_traversal_and_encoded_targets_never_leak_or_fail(
    server: LiveServer, client: httpx2.Client, reliability: Recorder
) -> None:
    mine = client.get("/historical/abc.def").content
    targets = [
        b"/historical/../current",
        b"/historical/../../etc/passwd",
        b"/historical/..%2F..%2Fetc%2Fpasswd",
        b"/historical/%2e%2e/current",
        b"/historical/..%5C..%5Cetc",
        b"/historical/..\\..\\etc",
        b"/historical/abc.def/..",
        b"/historical/abc.def%2F..%2Fx",
        b"/historical/abc.def;jsessionid=1",
        b"/historical/abc.def%00.json",
        b"/historical/abc.def%0d%0aSet-Cookie:x",
        b"/historical/%252e%252e%252fetc",
        b"/historical/%u002e%u002e",
        b"/historical/%C0%AE%C0%AE%C0%AFetc",
        b"/historical/\xc0\xae\xc0\xae",
        b"//historical/abc.def",
        b"/historical//abc.def",
        b"/historical/abc.def/",
        b"/HISTORICAL/abc.def",
        b"/historical/" + b"a" * 300,
        b"/historical/" + b"a/" * 2000,
        b"*",
    ]
    for target in targets:
        answer = exchange(server.port, request("GET", target))
        assert answer.status in (400, 404), (target, answer.status, answer.body[:200])
        assert b"Component" not in answer.body, target
        if answer.headers.get("content-type") == "application/json":
            assert answer.json()["error"] in ("invalid_request", "not_found", "bad_request")
    # What decodes to a valid component is that component, and only it.
    same = [
        b"/historical/%61bc.def",
        b"/historical/abc%2Edef",
        b"/historical/abc.def?../../x",
        b"/historical/abc.def#../etc",
        b"http://evil.example/historical/abc.def",  # absolute form: its path is what counts
    ]
    for target in same:
        answer = exchange(server.port, request("GET", target))
        assert (answer.status, answer.body) == (200, mine), target
    reliability.record(
        "Hostile input",
        "path traversal and URL-encoding tricks in /historical/{component} (raw targets)",
        cases=len(targets) + len(same),
        detail="400 or 404, JSON (the server's bad_request for raw bytes); no "
        "other component's records; percent-encoded valid names read that component only",
    )


def test_uvicorn_alone_bounds_neither_a_dripped_body_nor_slow_headers(
    server: LiveServer, reliability: Recorder
) -> None:
    """What uvicorn's httptools protocol does by itself: why DEPLOYSTATUS_BODY_TIMEOUT_SECONDS
    and web/_bounded_http.py exist. A tripwire: if uvicorn starts bounding these, update
    docs/reliability.md (tests/reliability/test_hostile_http.py tests the bounds)."""
    patient = LiveServer(
        server.settings.model_copy(update={"body_timeout_seconds": 3600.0}), bounded=False
    )
    with patient:
        head = b"POST /records HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
        for name, first in (("body", head), ("headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n")):
            with socket.create_connection(("127.0.0.1", patient.port), timeout=5) as sock:
                sock.sendall(first)
                sock.settimeout(0.25)
                for _ in range(4):  # 1 s of one byte every 0.25 s: no answer, no close
                    sock.sendall(b" " if name == "body" else b"X")
                    with pytest.raises(TimeoutError):
                        sock.recv(1)
    reliability.record(
        "Hostile input",
        "uvicorn alone: a dripped body, and headers dripped before the body",
        cases=2,
        detail="neither is bounded by uvicorn's httptools protocol (no answer, connection "
        "kept): the body is bounded by DEPLOYSTATUS_BODY_TIMEOUT_SECONDS (408), the headers by "
        "the service's bounded protocol (DEPLOYSTATUS_HTTP_HEADER_TIMEOUT_SECONDS, 408)",
    )
