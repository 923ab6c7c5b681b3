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
from dataclasses import dataclass

import pytest

from deploystatus.commands.engines import free_port
from tests.support import raw_http
from tests.support.processes import Cli, Launcher, clean_environment, wait_until
from tests.support.raw_http import Replies, connect, exchange, get, read_replies, stream
from tests.support.reliability_log import Recorder

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


@dataclass
class Attack:
    """What an attack did: the answers it got, the server's RSS growth, and the latencies of
    a well-behaved client served meanwhile."""

    replies: Replies
    rss_growth_kib: int
    served: list[float]

    def summary(self) -> str:
        return (
            f"RSS +{max(self.rss_growth_kib, 0) / 1024:.1f} MiB; meanwhile {len(self.served)} "
            f"/healthz answered 200, the slowest in {max(self.served) * 1000:.0f} ms"
        )


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


def attack(server: Server, send: Callable[[], Replies]) -> Attack:
    """Run ``send`` while a well-behaved client is served; the server's RSS stays bounded."""
    before = server.rss_kib
    with meanwhile_served(server) as served:
        replies = send()
    grown = server.rss_kib - before
    assert grown < RSS_GROWTH_KIB, (before, server.rss_kib)
    return Attack(replies, grown, served)


AREA = "Hostile HTTP (the server)"


# Sizes and counts


def test_a_64_mib_header_is_refused_with_431_after_a_few_kib(
    server: Server, reliability: Recorder
) -> None:
    sent = 0

    def send() -> Replies:
        nonlocal sent
        with connect(server.port) as sock:
            sent = stream(sock, get("/healthz")[:-2] + b"X-Big: ", b"a", 64 << 20, b"\r\n\r\n")
            return read_replies(sock, 5)

    done = attack(server, send)
    refused(done.replies, 431, "header_fields_too_large")
    # The server stopped reading at its limit (16 KiB); the rest filled socket buffers.
    assert sent < 8 << 20, sent
    reliability.record(
        AREA,
        "one 64 MiB header on /healthz (no token needed)",
        cases=1,
        detail=f"431 header_fields_too_large after {sent / 1024:,.0f} KiB taken of 65,536 "
        f"(socket buffers included), connection closed; {done.summary()}",
    )


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
def test_oversized_heads_are_refused_with_431(
    server: Server, head: bytes, reliability: Recorder, request: pytest.FixtureRequest
) -> None:
    done = attack(server, lambda: exchange(server.port, head))
    refused(done.replies, 431, "header_fields_too_large")
    reliability.record(
        AREA,
        f"a request with {request.node.callspec.id}",
        cases=1,
        detail=f"431 in {done.replies.seconds * 1000:.0f} ms, connection closed; {done.summary()}",
    )


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


def test_pipelined_heads_are_never_refused_for_their_neighbours_bytes(server: Server) -> None:
    # Two heads of 10 KiB and the start of a third arrive together (over the 16 KiB limit in
    # all, each under it); the third's end comes later.
    padded = get("/healthz", b"X-Pad: " + b"p" * 10_000)
    with connect(server.port) as sock:
        sock.sendall(padded + padded + padded[:5_000])
        time.sleep(0.2)
        sock.sendall(padded[5_000:] + get("/healthz", b"Connection: close"))
        assert read_replies(sock, 5).statuses == [200, 200, 200, 200]


# Time


def test_slow_headers_are_cut_with_408_at_the_header_timeout(
    server: Server, reliability: Recorder
) -> None:
    answered: list[Replies] = []

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
            answered.extend(read_replies(sock, 3, started) for sock in socks)
        return answered[0]

    done = attack(server, drip)
    for replies in answered:
        refused(replies, 408, "header_timeout")
        assert replies.seconds < HEADER_TIMEOUT + 3, replies
    slowest = max(replies.seconds for replies in answered)
    reliability.record(
        AREA,
        "20 connections dripping one header line every 0.25 s",
        cases=len(answered),
        detail=f"each answered 408 header_timeout and closed (all read back within "
        f"{slowest:.1f} s of the first line; DEPLOYSTATUS_HTTP_HEADER_TIMEOUT_SECONDS="
        f"{HEADER_TIMEOUT:g}); "
        f"{done.summary()}",
    )


def test_connections_that_send_nothing_are_closed_at_the_header_timeout(
    server: Server, reliability: Recorder
) -> None:
    ended: list[Replies] = []

    def idle() -> Replies:
        with ExitStack() as stack:
            socks = [stack.enter_context(connect(server.port)) for _ in range(200)]
            started = time.monotonic()
            ended.extend(read_replies(sock, HEADER_TIMEOUT + 3, started) for sock in socks)
        return ended[0]

    done = attack(server, idle)
    for replies in ended:
        # Nothing was asked, so nothing is answered: the connection is just closed.
        assert replies.statuses == [] and replies.ended == "closed", replies
        assert replies.seconds < HEADER_TIMEOUT + 3
    reliability.record(
        AREA,
        "200 connections that never send a byte",
        cases=len(ended),
        detail=f"all closed (no answer: nothing was asked) within "
        f"{max(r.seconds for r in ended):.1f} s (header time-out {HEADER_TIMEOUT:g} s); "
        f"{done.summary()}",
    )


def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(
    server: Server, reliability: Recorder
) -> None:
    with connect(server.port) as sock:
        sock.sendall(get("/healthz"))
        started = time.monotonic()
        replies = read_replies(sock, IDLE_TIMEOUT + 3, started)
    assert replies.statuses == [200] and replies.ended == "closed", replies
    assert IDLE_TIMEOUT - 0.2 < replies.seconds < IDLE_TIMEOUT + 2, replies
    reliability.record(
        AREA,
        "a kept-alive connection left idle after its answer",
        cases=1,
        detail=f"closed {replies.seconds:.1f} s after the answer "
        f"(DEPLOYSTATUS_HTTP_IDLE_TIMEOUT_SECONDS={IDLE_TIMEOUT:g}); one asking again within "
        "the time-outs is kept",
    )


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
    server: Server,
    framing: tuple[bytes, int, str],
    reliability: Recorder,
    request: pytest.FixtureRequest,
) -> None:
    header, status, error = framing
    smuggled = get("/nothing-behind-a-refusal-is-run")
    sent = b"POST /records HTTP/1.1\r\nHost: t\r\n" + header + b"\r\n\r\n0\r\n\r\n" + smuggled
    refused(exchange(server.port, sent), status, error)
    assert "/nothing-behind-a-refusal-is-run" not in server.cli.stderr
    reliability.record(
        AREA,
        f"{request.node.callspec.id} framing, a request pipelined behind it",
        cases=1,
        detail=f"{status} {error}, connection closed; the pipelined request never ran",
    )


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
    tmp_path_factory: pytest.TempPathFactory, reliability: Recorder
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
        served = server.healthz_seconds()
        assert served < SERVED_WITHIN
        assert "Too many open files" not in server.cli.stderr
        assert "past the limit of 160 open connections" in server.cli.stderr
        reliability.record(
            AREA,
            "300 idle connections to a process limited to 256 open files",
            cases=len(flood) + 1,
            detail=f"cap 160 (the default under that limit): {statuses.count(503)} answered 503 "
            f"too_many_connections at once, the others closed at the header time-out; another "
            f"client got its 503 in {busy.seconds * 1000:.0f} ms, then 200 in "
            f"{served * 1000:.0f} ms once they were gone; no 'Too many open files'",
        )
    finally:
        launcher.close()


def test_a_connection_cap_above_the_file_limit_stops_serve_at_start(
    launcher: Launcher,
) -> None:
    env = launcher.env(DEPLOYSTATUS_HTTP_MAX_CONNECTIONS="5000")
    cli = launcher.start("serve", "--port", str(free_port()), env=env, open_files=1024)
    assert cli.wait() != 0
    assert "DEPLOYSTATUS_HTTP_MAX_CONNECTIONS=5000 is more than" in cli.stderr
