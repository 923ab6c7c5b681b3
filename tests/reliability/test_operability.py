"""Operability through the real app and real processes: request ids, structured logs,
Prometheus metrics, the bound on concurrent DynamoDB calls, shared reads of the current
state, graceful shutdown.

DynamoDB is made slow or throttling at the network boundary only, by a proxy between the
service and the engine (tests/support/proxies.py); nothing in the service is patched.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from deploystatus.commands.engines import LocalEngine, free_port
from deploystatus.config import Settings
from deploystatus.storage.store import CURRENT_SHARDS
from deploystatus.tokens import new_token, parse_tokens
from tests.conftest import run_with_store
from tests.support.factories import README_RECORD, body, history_of, make_record
from tests.support.processes import Cli, Launcher, http_request, listening, wait_ready, wait_until
from tests.support.proxies import Delay, FaultProxy, Rule, throttling
from tests.support.serving import serve_env, start_serve

NEW_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
SLOW_WAIT = 15.0  # bound on any wait for a slowed-down answer


@pytest.fixture
def proxy(engine: LocalEngine) -> Iterator[FaultProxy]:
    with FaultProxy(engine.url) as running:
        yield running


def hold_answers(proxy: FaultProxy, seconds: float) -> None:
    """From now on, each answer of the engine is held ``seconds`` before it goes back."""
    proxy.add(Rule(Delay(seconds, after_forwarding=True)))


# Request ids


def test_a_sane_x_request_id_is_echoed_back(client: TestClient) -> None:
    for sane in ("abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_c:d", "x" * 128):
        response = client.get("/current", headers={"X-Request-ID": sane})
        assert response.status_code == 200
        assert response.headers["x-request-id"] == sane


def test_an_absent_or_unsafe_x_request_id_is_replaced_by_a_new_one(client: TestClient) -> None:
    seen = set()
    for unsafe in (None, "", "x" * 129, "a b", "<script>", "a/b", "id;drop", "caf\xe9", "a\tb"):
        headers: dict[bytes, bytes] = (
            {} if unsafe is None else {b"x-request-id": unsafe.encode("latin-1")}
        )
        response = client.get("/current", headers=headers)
        assert response.status_code == 200
        made = response.headers["x-request-id"]
        assert NEW_REQUEST_ID.fullmatch(made), made
        assert made != unsafe
        seen.add(made)
    assert len(seen) == 9  # a new one each time


def test_every_response_carries_its_request_id_errors_included(
    make_client: Callable[..., TestClient],
) -> None:
    token = new_token()
    secured = make_client(
        tokens=parse_tokens(f"r:{hashlib.sha256(token.encode()).hexdigest()}:read"),
    )
    missing = make_client(table=f"missing-{uuid.uuid4().hex[:12]}", max_body_bytes=100)
    reader = {"Authorization": f"Bearer {token}"}
    answers: list[tuple[int, Callable[[dict[str, str]], httpx2.Response]]] = [
        (200, lambda h: secured.get("/healthz", headers=h)),
        (200, lambda h: secured.get("/current", headers={**h, **reader})),
        (400, lambda h: secured.get("/historical/Not_Valid", headers={**h, **reader})),
        (401, lambda h: secured.get("/current", headers=h)),
        (403, lambda h: secured.post("/records", content=b"{}", headers={**h, **reader})),
        (404, lambda h: secured.get("/no/such/path", headers={**h, **reader})),
        (405, lambda h: missing.put("/current", headers=h)),
        (413, lambda h: missing.post("/records", content=b"x" * 101, headers=h)),
        (500, lambda h: missing.get("/current", headers=h)),  # no such table
        (503, lambda h: missing.get("/readyz", headers=h)),
    ]
    for status, send in answers:
        request_id = f"req-{status}-{uuid.uuid4().hex[:8]}"
        response = send({"X-Request-ID": request_id})
        assert response.status_code == status, response.text
        assert response.headers["x-request-id"] == request_id
        anonymous = send({})
        assert NEW_REQUEST_ID.fullmatch(anonymous.headers["x-request-id"])


# Logs, from a real server's stderr


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON (any other line fails the test)."""
    lines = []
    for line in text.splitlines():
        document = json.loads(line)
        assert isinstance(document, dict), line
        lines.append(document)
    return lines


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "deploystatus.access"]


def wait_healthy(cli: Cli, port: int) -> None:
    def healthy() -> bool:
        if cli.process.poll() is not None:
            pytest.fail(f"exited\n{cli.describe()}")
        try:
            return http_request(f"http://127.0.0.1:{port}/healthz")[0] == 200
        except OSError:
            return False

    wait_until(healthy, 60, "GET /healthz answers 200")


@pytest.mark.parametrize("engine", ["dynalite"], indirect=True)
def test_serve_logs_one_json_line_per_request_and_none_from_uvicorns_access_log(
    launcher: Launcher, settings: Settings
) -> None:
    token = new_token()
    setting = f"ci:{hashlib.sha256(token.encode()).hexdigest()}:read,write"
    cli, port = start_serve(launcher, serve_env(launcher, settings, DEPLOYSTATUS_TOKENS=setting))
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}

    assert http_request(url + "/healthz", headers={"X-Request-ID": "probe-1"})[0] == 200
    assert http_request(url + "/records", data=body(README_RECORD), headers=auth) == (200, b"Ok")
    assert http_request(url + "/current", headers={"X-Request-ID": "bad id"})[0] == 401
    assert http_request(url + "/historical/abc.def", headers=auth)[0] == 200
    assert cli.stop(signal.SIGTERM) == 0, cli.describe()

    lines = json_lines(cli.stderr)  # every line, uvicorn's own included, is JSON
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert not [line for line in lines if "HTTP/1.1" in line["message"]]
    # From the test's first request on: the readiness checks of start-up come before it (their
    # access lines may reach stderr after the check has its answer, so no line count marks it).
    requests = access_lines(lines)
    probes = [i for i, r in enumerate(requests) if r.get("request_id") == "probe-1"]
    assert len(probes) == 1
    requests = requests[probes[0] :]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("GET", "/healthz", 200),
        ("POST", "/records", 200),
        ("GET", "/current", 401),
        ("GET", "/historical/abc.def", 200),
    ]
    for request in requests:
        assert request["level"] == "info"
        assert isinstance(request["duration_ms"], float)
        assert 0 < request["duration_ms"] < 10_000
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", request["time"])
        assert request["client"] == "127.0.0.1"
    assert requests[0]["request_id"] == "probe-1"
    assert NEW_REQUEST_ID.fullmatch(requests[2]["request_id"])
    assert [r.get("token") for r in requests] == [None, "ci", None, "ci"]
    assert not [line for line in lines if "authentication is off" in line["message"]]


@pytest.mark.parametrize("engine", ["dynalite"], indirect=True)
def test_serve_sends_no_server_banner_and_logs_line_breaks_escaped(
    launcher: Launcher, settings: Settings
) -> None:
    cli, port = start_serve(launcher, serve_env(launcher, settings))
    url = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
        assert response.status == 200
        assert response.headers.get("Server") is None
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    # A decoded path with U+0085, U+2028 and U+2029, which line-splitting readers split on.
    assert http_request(url + "/historical/a%C2%85b%E2%80%A8c%E2%80%A9d")[0] == 400
    assert cli.stop(signal.SIGTERM) == 0, cli.describe()
    assert not {"\x85", "\u2028", "\u2029"} & set(cli.stderr)
    paths = [line["path"] for line in access_lines(json_lines(cli.stderr))]
    assert "/historical/a\x85b\u2028c\u2029d" in paths


def test_an_unexpected_storage_error_is_logged_with_the_request_id_and_its_traceback(
    launcher: Launcher, settings: Settings
) -> None:
    env = serve_env(launcher, settings, DEPLOYSTATUS_TABLE=f"missing-{uuid.uuid4().hex[:12]}")
    cli, port = start_serve(launcher, env, ready=False)
    wait_healthy(cli, port)
    status, answer = http_request(
        f"http://127.0.0.1:{port}/current", headers={"X-Request-ID": "trace-500"}
    )
    assert status == 500
    assert json.loads(answer)["error"] == "storage_error"
    assert cli.stop(signal.SIGTERM) == 0, cli.describe()

    lines = json_lines(cli.stderr)
    (error,) = [line for line in lines if line["level"] == "error"]
    assert error["request_id"] == "trace-500"
    assert "ResourceNotFoundException" in error["message"] + error["exception"]
    assert "Traceback" in error["exception"]
    (request,) = [r for r in access_lines(lines) if r["path"] == "/current"]
    assert (request["status"], request["request_id"]) == (500, "trace-500")


@pytest.mark.parametrize("engine", ["dynalite"], indirect=True)
def test_log_format_text_writes_one_key_value_line_per_request(
    launcher: Launcher, settings: Settings
) -> None:
    cli, port = start_serve(launcher, serve_env(launcher, settings, DEPLOYSTATUS_LOG_FORMAT="text"))
    headers = {"X-Request-ID": "text-1"}
    assert http_request(f"http://127.0.0.1:{port}/current", headers=headers)[0] == 200
    assert cli.stop(signal.SIGTERM) == 0, cli.describe()

    lines = cli.stderr.splitlines()
    assert not [line for line in lines if line.startswith("{")]
    (request,) = [line for line in lines if "request_id=text-1" in line]
    assert re.fullmatch(
        r"\S+Z INFO +deploystatus\.access request method=GET path=/current status=200 "
        r"duration_ms=[\d.]+ request_id=text-1 client=127\.0\.0\.1",
        request,
    ), request


def test_dev_logs_text_by_default_and_warns_that_authentication_is_off(
    launcher: Launcher, tmp_path: Path
) -> None:
    port, db_port = free_port(), free_port()
    cli = launcher.start(
        "dev", "--port", str(port), "--db-port", str(db_port), "--data-dir", str(tmp_path / "d")
    )
    wait_ready(cli, port)
    assert (
        http_request(f"http://127.0.0.1:{port}/current", headers={"X-Request-ID": "dev-1"})[0]
        == 200
    )
    assert cli.stop(signal.SIGTERM) == 0, cli.describe()

    lines = cli.stderr.splitlines()
    assert not [line for line in lines if line.startswith("{")]
    (warning,) = [line for line in lines if "authentication is off" in line]
    assert " WARNING deploystatus authentication is off" in warning
    (request,) = [line for line in lines if "request_id=dev-1" in line]
    assert "deploystatus.access request method=GET path=/current status=200" in request


# Metrics


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Samples:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_and_their_latency_by_route_template_and_status(
    client: TestClient,
) -> None:
    for component in ("abc.def", "xyz", "abc.def"):
        assert client.get(f"/historical/{component}").status_code == 200
    assert client.get("/historical/Bad_Name").status_code == 400
    assert client.get("/no-such-path").status_code == 404
    assert client.delete("/current").status_code == 405
    assert client.post("/records", content=body(README_RECORD)).status_code == 200

    samples = scrape(client)
    requests = "deploystatus_http_requests_total"
    history = "/historical/{component}"
    assert value(samples, requests, method="GET", route=history, status="200") == 3
    assert value(samples, requests, method="GET", route=history, status="400") == 1
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    assert value(samples, requests, method="DELETE", route="/current", status="405") == 1
    assert value(samples, requests, method="POST", route="/records", status="200") == 1
    # Paths never become labels: one series per route template, whatever the component.
    assert not [key for key in samples if "abc.def" in str(key) or "xyz" in str(key)]
    latency = "deploystatus_http_request_duration_seconds"
    assert value(samples, f"{latency}_count", method="GET", route=history) == 4
    assert 0 < value(samples, f"{latency}_sum", method="GET", route=history) < 60
    buckets = [
        (float(dict(labels)["le"]), count)
        for (name, labels), count in samples.items()
        if name == f"{latency}_bucket" and dict(labels)["route"] == history
    ]
    assert max(buckets)[1] == 4  # le="+Inf" holds every observation
    assert value(samples, "deploystatus_http_requests_in_progress") == 1  # the scrape itself


def test_metrics_count_dynamodb_calls_records_written_and_records_rejected(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(webhooks=False)  # its reads of subscriptions are not counted here
    newer = make_record(Timestamp="2024-07-30T15:00:00Z")
    older = make_record(Timestamp="2024-07-30T14:00:00Z", State="Old")
    assert client.post("/records", content=body(newer, make_record(Component="b"))).text == "Ok"
    assert client.post("/records", content=body(older)).text == "Ok"  # late: a fact changes
    assert client.post("/records", content=body(newer)).text == "Ok"  # again: nothing changes
    invalid = body(make_record(Environment="dev-rev0"), newer, make_record(State=""))
    assert client.post("/records", content=invalid).status_code == 400

    samples = scrape(client)
    calls = "deploystatus_dynamodb_calls_total"
    # History three times; the first request's two events (later requests make none, and
    # this process wrote those).
    assert value(samples, calls, action="BatchWriteItem", outcome="ok") == 4
    assert value(samples, calls, action="BatchGetItem", outcome="ok") == 3
    # Current state and facts of two deployables, then the facts of the late record and of
    # the repeated one (written even unchanged: docs/design.md, "Writing a batch").
    assert value(samples, calls, action="PutItem", outcome="ok") == 6
    assert value(samples, "deploystatus_events_recorded_total") == 2
    assert (
        value(samples, "deploystatus_dynamodb_call_duration_seconds_count", action="PutItem") == 6
    )
    assert value(samples, "deploystatus_records_written_total") == 4
    assert value(samples, "deploystatus_records_rejected_total") == 2
    assert value(samples, "deploystatus_dynamodb_throttles_total", action="PutItem") == 0


def test_metrics_count_dynamodb_throttles_and_the_retries_that_follow(
    make_client: Callable[..., TestClient], proxy: FaultProxy
) -> None:
    client = make_client(endpoint_url=proxy.url, webhooks=False)
    # The next three calls are refused with ThrottlingException.
    throttled = proxy.add(Rule(throttling(), times=3))
    assert client.get("/historical/abc.def").json() == {"Records": []}  # one Query, retried
    assert (throttled.fired, throttled.remaining) == (3, 0)

    samples = scrape(client)
    assert value(samples, "deploystatus_dynamodb_throttles_total", action="Query") == 3
    assert value(samples, "deploystatus_dynamodb_retries_total", action="Query") == 3
    calls = "deploystatus_dynamodb_calls_total"
    assert value(samples, calls, action="Query", outcome="throttled") == 3
    assert value(samples, calls, action="Query", outcome="ok") == 1


def test_each_app_has_its_own_metrics(make_client: Callable[..., TestClient]) -> None:
    first, second = make_client(), make_client()
    for _ in range(3):
        first.get("/current")
    second.get("/current")
    series = {"method": "GET", "route": "/current", "status": "200"}
    assert value(scrape(first), "deploystatus_http_requests_total", **series) == 3
    assert value(scrape(second), "deploystatus_http_requests_total", **series) == 1


# The bound on concurrent DynamoDB calls


def burst(client: TestClient, count: int) -> list[httpx2.Response]:
    """``count`` GET /historical at once (one DynamoDB Query each), every one answered."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(client.get, f"/historical/c{i}") for i in range(count)]
        return [future.result(timeout=60) for future in futures]


def test_a_burst_beyond_max_concurrent_calls_queues_and_is_served(
    make_client: Callable[..., TestClient], proxy: FaultProxy
) -> None:
    client = make_client(endpoint_url=proxy.url, max_concurrent_calls=2, webhooks=False)
    hold_answers(proxy, 0.25)
    started = time.monotonic()
    responses = burst(client, 12)
    elapsed = time.monotonic() - started

    assert [r.status_code for r in responses] == [200] * 12
    assert proxy.max_in_flight == 2  # never more than the bound at DynamoDB...
    assert proxy.forwarded == 12
    assert elapsed >= 12 / 2 * 0.25  # ...so the rest waited their turn


def test_a_burst_while_dynamodb_is_slower_than_the_retry_limit_ends_in_503s_with_retry_after(
    make_client: Callable[..., TestClient], proxy: FaultProxy
) -> None:
    client = make_client(
        endpoint_url=proxy.url,
        max_concurrent_calls=2,
        dynamodb_timeout_seconds=0.5,
        dynamodb_retry_seconds=1.0,
        retry_after_seconds=7,
    )
    hold_answers(proxy, 60)  # far beyond every time limit
    started = time.monotonic()
    responses = burst(client, 20)
    elapsed = time.monotonic() - started

    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "7"
        assert response.json()["error"] == "storage_unavailable"
    # Queued requests gave up after the retry limit instead of waiting their turn behind
    # ever more of them: a burst of any size ends within the same bound.
    assert elapsed < 8, elapsed
    assert proxy.max_in_flight <= 2


# Shared reads of the current state (shared_read.py)


def get_in_background(client: TestClient, path: str) -> Any:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(client.get, path)
    pool.shutdown(wait=False)
    return future


def test_concurrent_current_reads_share_one_dynamodb_read_per_round(
    make_client: Callable[..., TestClient], proxy: FaultProxy
) -> None:
    client = make_client(endpoint_url=proxy.url, webhooks=False)
    assert client.post("/records", content=body(make_record())).text == "Ok"
    hold_answers(proxy, 0.5)
    proxy.forwarded = 0
    first = get_in_background(client, "/current")
    wait_until(lambda: proxy.in_flight == CURRENT_SHARDS, SLOW_WAIT, "the first read is out")
    with ThreadPoolExecutor(max_workers=10) as pool:
        later = [pool.submit(client.get, "/current") for _ in range(10)]
        responses = [first.result(timeout=SLOW_WAIT)] + [f.result(timeout=SLOW_WAIT) for f in later]

    assert [r.status_code for r in responses] == [200] * 11
    assert len({r.content for r in responses}) == 1
    # The first request's read, then one more for the ten that came while it was out.
    assert proxy.forwarded == 2 * CURRENT_SHARDS


def test_a_request_never_shares_a_read_that_started_before_it(
    make_client: Callable[..., TestClient], proxy: FaultProxy
) -> None:
    """Read-your-writes across instances: a record acknowledged by another instance before a
    request arrives is in its answer, though a read that predates the record is still out."""
    reader = make_client(endpoint_url=proxy.url, webhooks=False)
    other_instance = make_client()
    hold_answers(proxy, 1.0)
    before = get_in_background(reader, "/current")
    wait_until(lambda: proxy.in_flight == CURRENT_SHARDS, SLOW_WAIT, "the first read is out")
    record = make_record(Component=f"c{uuid.uuid4().hex[:8]}")
    assert other_instance.post("/records", content=body(record)).text == "Ok"
    after = get_in_background(reader, "/current")
    time.sleep(0.1)
    assert not before.done() and proxy.in_flight == CURRENT_SHARDS  # it came while out

    components = [
        [r["Component"] for r in future.result(timeout=SLOW_WAIT).json()["Records"]]
        for future in (before, after)
    ]
    assert record["Component"] not in components[0]  # that read was made before the write
    assert record["Component"] in components[1]


# Graceful shutdown, with a real server and a slow DynamoDB


Answer = tuple[int, str | None, bytes]  # status, Retry-After, body


def post_in_background(url: str, data: bytes) -> tuple[threading.Thread, list[Answer]]:
    answers: list[Answer] = []
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def post() -> None:
        try:
            with opener.open(urllib.request.Request(url, data=data), timeout=30) as response:
                answers.append((response.status, response.headers["Retry-After"], response.read()))
        except urllib.error.HTTPError as error:
            answers.append((error.code, error.headers["Retry-After"], error.read()))
        except OSError as error:
            answers.append((0, None, str(error).encode()))

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, answers


@pytest.mark.parametrize("engine", ["dynalite"], indirect=True)
def test_sigterm_stops_accepting_finishes_the_in_flight_write_then_exits_0(
    launcher: Launcher, settings: Settings, proxy: FaultProxy
) -> None:
    cli, port = start_serve(launcher, serve_env(launcher, settings, endpoint_url=proxy.url))
    hold_answers(proxy, 1.5)  # each DynamoDB answer: a write (two calls) takes about 3 s
    record = make_record(Component=f"c{uuid.uuid4().hex[:8]}")
    writer, answers = post_in_background(f"http://127.0.0.1:{port}/records", body(record))
    wait_until(lambda: proxy.in_flight > 0, SLOW_WAIT, "the write reaches DynamoDB")

    cli.process.send_signal(signal.SIGTERM)
    wait_until(lambda: not listening(port), 5, "the server stops accepting connections")
    assert writer.is_alive()  # the write is still in flight...
    writer.join(SLOW_WAIT)
    assert answers == [(200, None, b"Ok")]  # ...and finished before the exit
    assert cli.wait() == 0, cli.describe()

    async def history(store: Any) -> Any:
        return await history_of(store, record["Component"])

    assert len(run_with_store(settings, history)) == 1
    assert "Traceback" not in cli.stderr


@pytest.mark.parametrize("engine", ["dynalite"], indirect=True)
def test_sigterm_with_a_write_slower_than_the_shutdown_bound_exits_0_within_the_bound(
    launcher: Launcher, settings: Settings, proxy: FaultProxy
) -> None:
    env = serve_env(
        launcher, settings, endpoint_url=proxy.url, DEPLOYSTATUS_SHUTDOWN_TIMEOUT_SECONDS="1"
    )
    cli, port = start_serve(launcher, env)
    hold_answers(proxy, 60)
    writer, answers = post_in_background(f"http://127.0.0.1:{port}/records", body(README_RECORD))
    wait_until(lambda: proxy.in_flight > 0, SLOW_WAIT, "the write reaches DynamoDB")

    signalled = time.monotonic()
    cli.process.send_signal(signal.SIGTERM)
    assert cli.wait(SLOW_WAIT) == 0, cli.describe()
    assert time.monotonic() - signalled < 5  # the 1 s bound, plus start-up of the shutdown
    writer.join(SLOW_WAIT)
    # Not "Ok" (it is not stored) but a 503 that says to resend it, which is safe.
    ((status, retry_after, answer),) = answers
    assert (status, retry_after) == (503, "1")
    assert json.loads(answer)["error"] == "shutting_down"
