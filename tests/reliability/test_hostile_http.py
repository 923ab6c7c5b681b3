"""The HTTP layer under hostile clients, at the socket: ``deploystatus serve`` refuses early what
it must not read (huge or numerous headers, ambiguous framing), cuts slow and idle
connections, caps its connections below its open-file limit, and keeps serving a well-behaved
client meanwhile (web/_bounded_http.py).

The server runs without a reachable engine: nothing here needs one (/healthz is served by
the process alone), and the table's engine is not what is under test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress

import pytest

from deploystatus.commands.engines import free_port
from tests.support import raw_http
from tests.support.processes import Cli, Launcher, clean_environment, wait_until
from tests.support.raw_http import Replies, connect, exchange, get, read_replies, stream

HEADER_TIMEOUT = 1.5
IDLE_TIMEOUT = 1.5
# A well-behaved client's /healthz is answered within this, whatever else arrives.
SERVED_WITHIN = 1.0
# The server's RSS grows by less than this under any one attack (it was 64 MiB more per
# 64 MiB header before the bounds).
RSS_GROWTH_KIB = 8 * 1024


class Server:
    def __init__(self, cli: Cli, port: int) -> None:
        self.cli, self.port = cli, port

    @property
    def rss_kib(self) -> int:
        return raw_http.rss_kib(self.cli.process.pid)

    def healthz_seconds(self) -> float:
        return raw_http.healthz_seconds(self.port)


def _start(launcher: Launcher, open_files: int | None = None, **settings: str) -> Server:
    port = free_port()
    env = launcher.env(
        # Nothing listens there: the bounds are the server's, not the engine's.
        AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{free_port()}",
        AWS_REGION="us-east-1",
        DEPLOYSTATUS_HTTP_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        DEPLOYSTATUS_HTTP_IDLE_TIMEOUT_SECONDS=str(IDLE_TIMEOUT),
        **settings,
    )
    cli = launcher.start("serve", "--port", str(port), env=env, open_files=open_files)
    server = Server(cli, port)
    wait_until(
        lambda: cli.process.poll() is not None or server.healthz_seconds() < 10,
        30,
        "serve answers /healthz",
    )
    assert cli.process.poll() is None, cli.describe()
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    launcher = Launcher(tmp_path_factory.mktemp("hostile-http"), clean_environment())
    try:
        yield _start(launcher)
    finally:
        launcher.close()


@contextmanager
def meanwhile_served(server: Server) -> Iterator[list[float]]:
    """A well-behaved client asking /healthz in a loop while the block runs; its latencies."""
    latencies: list[float] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            latencies.append(server.healthz_seconds())
            time.sleep(0.05)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        yield latencies
    finally:
        stop.set()
        asker.join()
    assert latencies, "the well-behaved client asked nothing"
    assert max(latencies) < SERVED_WITHIN, sorted(latencies)[-5:]


def refused(replies: Replies, status: int, error: str) -> None:
    """One JSON answer with ``status`` and ``error``, then the connection closed."""
    assert replies.statuses == [status], replies
    assert json.loads(replies.bodies[0])["error"] == error, replies
    assert replies.ended in ("closed", "reset"), replies


def attack(server: Server, send: Callable[[], Replies]) -> Replies:
    """Run ``send`` while a well-behaved client is served; the server's RSS stays bounded."""
    before = server.rss_kib
    with meanwhile_served(server):
        replies = send()
    assert server.rss_kib - before < RSS_GROWTH_KIB, (before, server.rss_kib)
    return replies


# Sizes and counts


def test_a_64_mib_header_is_refused_with_431_after_a_few_kib(server: Server) -> None:
    def send() -> Replies:
        with connect(server.port) as sock:
            sent = stream(sock, get("/healthz")[:-2] + b"X-Big: ", b"a", 64 << 20, b"\r\n\r\n")
            replies = read_replies(sock, 5)
        # The server stopped reading at its limit (16 KiB) plus socket buffers.
        assert sent < 8 << 20, sent
        return replies

    refused(attack(server, send), 431, "header_fields_too_large")


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(get("/healthz", b"a" * (1 << 20) + b": v"), id="1 MiB header name"),
        pytest.param(get("/healthz", b"X-Request-ID: " + b"r" * (1 << 20)), id="1 MiB request id"),
        pytest.param(get("/healthz?" + "q" * (1 << 20)), id="1 MiB request line"),
        pytest.param(
            get("/healthz", *(b"X-H%d: v" % n for n in range(100_000))), id="100,000 headers"
        ),
    ],
)
def test_oversized_heads_are_refused_with_431(server: Server, head: bytes) -> None:
    refused(attack(server, lambda: exchange(server.port, head)), 431, "header_fields_too_large")


def test_header_count_limit_is_exact(server: Server) -> None:
    # 100 fields are accepted (Host is one of them); the 101st is refused.
    fields = [b"X-H%d: v" % n for n in range(98)]
    assert exchange(server.port, get("/healthz", *fields, b"Connection: close")).statuses == [200]
    replies = exchange(server.port, get("/healthz", *fields, b"X-One-More: v", b"X: v"))
    refused(replies, 431, "header_fields_too_large")


def test_a_head_just_under_the_size_limit_is_served(server: Server) -> None:
    head = get("/healthz", b"X-Pad: " + b"p" * 15_000, b"Connection: close")
    assert len(head) < 16 * 1024
    assert exchange(server.port, head).statuses == [200]


# Time


def test_slow_headers_are_cut_with_408_at_the_header_timeout(server: Server) -> None:
    def drip() -> Replies:
        with ExitStack() as stack:
            socks = [stack.enter_context(connect(server.port)) for _ in range(20)]
            started = time.monotonic()
            for sock in socks:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            for line in range(int(HEADER_TIMEOUT / 0.25) + 8):
                for sock in socks:
                    with suppress(OSError):  # cut already
                        sock.sendall(b"X-Drip-%d: v\r\n" % line)
                time.sleep(0.25)
                if time.monotonic() - started > HEADER_TIMEOUT + 1:
                    break
            answered = [read_replies(sock, 3, started) for sock in socks]
        for replies in answered:
            refused(replies, 408, "header_timeout")
            assert replies.seconds < HEADER_TIMEOUT + 3, replies
        return answered[0]

    attack(server, drip)


def test_connections_that_send_nothing_are_closed_at_the_header_timeout(server: Server) -> None:
    def idle() -> Replies:
        with ExitStack() as stack:
            socks = [stack.enter_context(connect(server.port)) for _ in range(200)]
            started = time.monotonic()
            ended = [read_replies(sock, HEADER_TIMEOUT + 3, started) for sock in socks]
        for replies in ended:
            # Nothing was asked, so nothing is answered: the connection is just closed.
            assert replies.statuses == [] and replies.ended == "closed", replies
            assert replies.seconds < HEADER_TIMEOUT + 3
        return ended[0]

    attack(server, idle)


def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(server: Server) -> None:
    with connect(server.port) as sock:
        sock.sendall(get("/healthz"))
        started = time.monotonic()
        replies = read_replies(sock, IDLE_TIMEOUT + 3, started)
    assert replies.statuses == [200] and replies.ended == "closed", replies
    assert IDLE_TIMEOUT - 0.2 < replies.seconds < IDLE_TIMEOUT + 2, replies


def test_a_connection_that_keeps_asking_is_kept(server: Server) -> None:
    with connect(server.port) as sock:
        for _ in range(4):  # longer in all than both time-outs, each gap shorter
            sock.sendall(get("/healthz"))
            assert read_replies(sock, 0.8).statuses == [200]
        sock.sendall(get("/healthz", b"Connection: close"))
        assert read_replies(sock, 3).statuses == [200]


# Framing: a request whose end is ambiguous is refused, and nothing behind it is run


TE, CL = b"Transfer-Encoding: ", b"Content-Length: "
UNSUPPORTED, AMBIGUOUS_FRAMING = (501, "unsupported_transfer_encoding"), (400, "bad_request")
AMBIGUOUS = {
    "identity, chunked": (TE + b"identity, chunked", *UNSUPPORTED),
    "gzip": (TE + b"gzip", *UNSUPPORTED),
    "chunked twice": (TE + b"chunked\r\n" + TE + b"chunked", *AMBIGUOUS_FRAMING),
    "length and chunked": (CL + b"5\r\n" + TE + b"chunked", *AMBIGUOUS_FRAMING),
    "chunked and length": (TE + b"chunked\r\n" + CL + b"5", *AMBIGUOUS_FRAMING),
    "two lengths": (CL + b"5\r\n" + CL + b"6", *AMBIGUOUS_FRAMING),
}


@pytest.mark.parametrize("framing", AMBIGUOUS.values(), ids=AMBIGUOUS.keys())
def test_ambiguous_framing_is_refused_and_the_request_behind_it_never_runs(
    server: Server, framing: tuple[bytes, int, str]
) -> None:
    header, status, error = framing
    smuggled = get("/nothing-behind-a-refusal-is-run")
    request = b"POST /records HTTP/1.1\r\nHost: t\r\n" + header + b"\r\n\r\n0\r\n\r\n" + smuggled
    refused(exchange(server.port, request), status, error)
    assert "/nothing-behind-a-refusal-is-run" not in server.cli.stderr


def test_a_malformed_request_gets_a_json_400_and_the_one_behind_it_never_runs(
    server: Server,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n" + get("/smuggled")
    refused(exchange(server.port, request), 400, "bad_request")
    assert "/smuggled" not in server.cli.stderr


def test_plain_chunked_and_pipelined_requests_still_work(server: Server) -> None:
    chunked = b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    replies = exchange(
        server.port, chunked + get("/healthz") + get("/healthz", b"Connection: close")
    )
    # POST /healthz is not allowed (405); what matters is that all three were read apart.
    assert replies.statuses == [405, 200, 200], replies


# Connections


def test_a_connection_flood_under_a_low_file_limit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    launcher = Launcher(tmp_path_factory.mktemp("flood"), clean_environment())
    try:
        # 256 open files: 64 for DynamoDB calls, 32 spare, so at most 160 client connections.
        server = _start(launcher, open_files=256)
        with ExitStack() as stack:
            flood = [stack.enter_context(connect(server.port)) for _ in range(300)]
            started = time.monotonic()
            # Past the cap: an immediate 503 with its JSON body, then the connection closed.
            busy = exchange(server.port, get("/healthz"))
            refused(busy, 503, "too_many_connections")
            assert busy.seconds < SERVED_WITHIN
            ended = [read_replies(sock, HEADER_TIMEOUT + 5, started) for sock in flood]
        statuses = sorted(replies.statuses[0] if replies.statuses else 0 for replies in ended)
        # The first 160 (minus the probes') are cut at the header timeout, the rest refused.
        assert statuses.count(503) >= 300 - 160, statuses
        assert all(replies.ended != "open" for replies in ended)
        # Once the idle ones are cut, everyone is served again, and nothing broke.
        assert server.healthz_seconds() < SERVED_WITHIN
        assert "Too many open files" not in server.cli.stderr
        assert "past the limit of 160 open connections" in server.cli.stderr
    finally:
        launcher.close()


def test_a_connection_cap_above_the_file_limit_stops_serve_at_start(
    launcher: Launcher,
) -> None:
    env = launcher.env(DEPLOYSTATUS_HTTP_MAX_CONNECTIONS="5000")
    cli = launcher.start("serve", "--port", str(free_port()), env=env, open_files=1024)
    assert cli.wait() != 0
    assert "DEPLOYSTATUS_HTTP_MAX_CONNECTIONS=5000 is more than" in cli.stderr
