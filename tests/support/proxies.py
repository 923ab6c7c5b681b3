"""Proxies for tests, each an asyncio server in a thread of its own on a free loopback port.

`FaultProxy` is an HTTP/1.1 reverse proxy in front of one loopback upstream: a real
DynamoDB engine (between the service and the engine) or the service itself (between a
client command and the service). It forwards every call, except when a rule says
otherwise. A rule picks calls by action (``X-Amz-Target``), by payload (``when``, e.g.
conditional puts only), by number among the calls it matches ("the 3rd BatchWriteItem")
and by a seeded fraction, and applies a fault:

- `AwsError`: answer as DynamoDB does when it refuses a call (HTTP 400 with a
  ``{"__type": "com.amazonaws.dynamodb.v20120810#...", "message": ...}`` body, 500, 503),
  without forwarding, so nothing is applied;
- `GatewayError`: answer as an HTTP intermediary in front of DynamoDB does when it lost its
  upstream (a 502 or 504 with an HTML body), without forwarding;
- `ServiceError`: answer as the service does when its storage is unavailable (a 503 with
  ``Retry-After`` and its JSON error body), without forwarding, or after forwarding (the
  service handled the call, its answer is lost);
- `Reset`: reset the connection (RST), before forwarding (nothing applied) or after (the
  upstream applied the call, the answer is lost);
- `Delay`: add latency before forwarding or before answering (longer than the client's time
  limit, it is a time-out);
- `Unprocessed`: forward only some items of a ``BatchWriteItem`` and answer the others as
  ``UnprocessedItems``, as DynamoDB does under load (a partial batch).

The engines do not check request signatures, so a rewritten body is accepted. Every call
is logged (`calls`), so tests can prove that the faults they asked for really happened, and
the calls out to the upstream are counted as they go (`forwarded`, `in_flight`,
`max_in_flight`), so tests can see what waits at the upstream while it waits.

`ConnectProxy` is a forward proxy that only makes tunnels (``CONNECT``), as egress proxies
do for HTTPS: every tunnel, whatever host it names, leads to one loopback upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

_AWS_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
START_TIMEOUT = 10.0  # bound on starting and stopping a proxy


# Faults

Headers = list[tuple[str, str]]
Answer = tuple[int, Headers, bytes]  # status, headers, body


@dataclass(frozen=True)
class AwsError:
    """Answer with a DynamoDB error, as AWS does; the call is not forwarded."""

    status: int
    type: str
    message: str
    after_forwarding = False

    @property
    def name(self) -> str:
        return f"{self.status} {self.type}"

    def body(self) -> bytes:
        return json.dumps({"__type": _AWS_PREFIX + self.type, "message": self.message}).encode()

    def answer(self, number: int) -> Answer:
        return self.status, [("Content-Type", "application/x-amz-json-1.0")], self.body()


def throughput_exceeded() -> AwsError:
    return AwsError(
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    )


def throttling() -> AwsError:
    return AwsError(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")


def request_limit_exceeded() -> AwsError:
    return AwsError(
        400,
        "RequestLimitExceeded",
        "Throughput exceeds the current throughput limit for your account.",
    )


def internal_error() -> AwsError:
    return AwsError(500, "InternalServerError", "Internal server error")


def unavailable() -> AwsError:
    return AwsError(503, "ServiceUnavailableException", "Service unavailable")


def validation_error() -> AwsError:
    return AwsError(400, "ValidationException", "One or more parameter values were invalid")


@dataclass(frozen=True)
class GatewayError:
    """Answer as a load balancer or proxy in front of DynamoDB does when its upstream
    failed: not DynamoDB's JSON, an HTML page; the call is not forwarded."""

    status: int = 502
    after_forwarding = False

    @property
    def name(self) -> str:
        return f"{self.status} from an intermediary"

    def body(self) -> bytes:
        return f"<html><body><h1>{self.status} {_reason(self.status)}</h1></body></html>".encode()

    def answer(self, number: int) -> Answer:
        return self.status, [("Content-Type", "text/html")], self.body()


@dataclass(frozen=True)
class ServiceError:
    """Answer as the service does when its storage is unavailable: ``status`` with
    ``Retry-After`` and its JSON error body, whose message names the call's number (1-based,
    among every call the proxy received). ``after_forwarding``: the service handled the call
    and only its answer is lost; else the call is not forwarded."""

    status: int = 503
    error: str = "storage_unavailable"
    message: str = "unavailable"
    retry_after: str = "0"
    after_forwarding: bool = False

    @property
    def name(self) -> str:
        lost = ", the service's answer lost" if self.after_forwarding else ""
        return f"{self.status} {self.error}{lost}"

    def answer(self, number: int) -> Answer:
        body = {"error": self.error, "message": f"{self.message} (request {number})"}
        headers = [("Content-Type", "application/json"), ("Retry-After", self.retry_after)]
        return self.status, headers, json.dumps(body).encode()


@dataclass(frozen=True)
class Reset:
    """Reset the client's connection; ``after_forwarding``: once the upstream has applied it."""

    after_forwarding: bool = False

    @property
    def name(self) -> str:
        return "reset after forwarding" if self.after_forwarding else "reset before forwarding"


@dataclass(frozen=True)
class Delay:
    """Hold the call for ``seconds`` before forwarding it (or, ``after_forwarding``, hold the
    upstream's answer before answering)."""

    seconds: float
    after_forwarding: bool = False

    @property
    def name(self) -> str:
        return f"delay {self.seconds}s {'after' if self.after_forwarding else 'before'}"


@dataclass(frozen=True)
class Unprocessed:
    """Forward only the first ``keep`` items of a BatchWriteItem; the rest come back as
    ``UnprocessedItems`` (all of them when ``keep`` is 0)."""

    keep: int = 0

    @property
    def name(self) -> str:
        return f"unprocessed (kept {self.keep})"


Fault = AwsError | GatewayError | ServiceError | Reset | Delay | Unprocessed
Answering = AwsError | GatewayError | ServiceError  # faults that answer in the upstream's place


def is_conditional_put(payload: Mapping[str, Any]) -> bool:
    return "ConditionExpression" in payload


@dataclass
class Rule:
    """Which calls get ``fault``. All the criteria given must hold:

    - ``action``: the DynamoDB action (``BatchWriteItem``, ``PutItem``, ``Query``, ...);
    - ``when``: a predicate of the JSON payload;
    - ``calls``: numbers (1-based) among the calls that match ``action`` and ``when``;
    - ``fraction``: of those, this share, drawn from the proxy's seeded generator;
    - ``times``: at most this many faults in all;
    - ``burst``: once it fires, every matching call gets the fault for this many seconds
      (an outage or a throttling episode, longer than the service's retry window).
    """

    fault: Fault
    action: str | None = None
    when: Callable[[Mapping[str, Any]], bool] | None = None
    calls: Collection[int] | None = None
    fraction: float = 1.0
    times: int | None = None
    burst: float = 0.0
    matched: int = 0
    fired: int = 0
    _burst_until: float = 0.0

    @property
    def remaining(self) -> int | None:
        """How many more faults ``times`` allows (None: no bound)."""
        return None if self.times is None else self.times - self.fired

    def decide(
        self, action: str, payload: Mapping[str, Any], draw: Callable[[], float], *, taken: bool
    ) -> bool:
        """Whether this call gets the fault; ``taken``: an earlier rule already gave it one
        (the call still counts here, so ``calls`` numbers every matching call)."""
        if self.action is not None and action != self.action:
            return False
        if self.when is not None and not self.when(payload):
            return False
        self.matched += 1
        if taken:
            return False
        now = time.monotonic()
        if now < self._burst_until:
            self.fired += 1
            return True
        if self.calls is not None and self.matched not in self.calls:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.fraction < 1.0 and draw() >= self.fraction:
            return False
        self.fired += 1
        if self.burst:
            self._burst_until = now + self.burst
        return True


@dataclass(frozen=True)
class Call:
    """One call the proxy saw: its action (empty in front of the service), the fault applied
    (or None), what the client got (None: no answer), when it arrived (time.monotonic()),
    its method and path, and what the upstream answered (None: not forwarded, or no answer)."""

    action: str
    fault: str | None
    status: int | None
    at: float
    method: str = ""
    path: str = ""
    upstream: int | None = None


# HTTP plumbing


@dataclass
class _Message:
    start_line: str
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


async def _read_message(reader: asyncio.StreamReader, *, response: bool) -> _Message | None:
    """One HTTP/1.1 message (Content-Length, chunked, or, for a response, until EOF)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    message = _Message(lines[0], headers, b"")
    length = message.header("content-length")
    if length is not None:
        message.body = await reader.readexactly(int(length))
    elif (message.header("transfer-encoding") or "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        message.body = b"".join(chunks)
    elif response:
        message.body = await reader.read()
    return message


def _encode(start_line: str, headers: Headers, body: bytes, connection: str) -> bytes:
    lines = [start_line]
    lines += [f"{name}: {value}" for name, value in headers if name.lower() not in _HOP_BY_HOP]
    lines += [f"Content-Length: {len(body)}", f"Connection: {connection}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, as a crashed peer or a middlebox does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _loopback(host: str | None) -> str:
    assert host in ("127.0.0.1", "localhost", "::1"), "loopback upstreams only"
    return host


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class _Listener:
    """An asyncio server on a free port of ``host`` (TLS with ``tls``), in a thread of its
    own; ``serve`` handles each connection; `stop` cancels those still open."""

    def __init__(
        self, name: str, serve: Serve, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> None:
        self.name, self.host, self.tls = name, host, tls
        self.port = 0
        self._serve = serve
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout=START_TIMEOUT)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=START_TIMEOUT)
        loop.close()
        self._loop = self._thread = None


# The fault proxy


@dataclass
class _Flight:
    """One call out to the upstream, from forwarding until its answer goes to the client
    (or the client is gone)."""

    landed: bool = False


@dataclass
class FaultProxy:
    """Forwards to ``upstream`` (an engine's or the service's loopback URL), applying the
    rules; see the module doc."""

    upstream: str
    seed: int = 0
    host: str = "127.0.0.1"
    rules: list[Rule] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    # When set, every Query is sent with this Limit: DynamoDB pages of that many items.
    page_limit: int | None = None
    # When set, the proxy is an https endpoint presenting this context's certificate.
    tls: ssl.SSLContext | None = None
    # Calls sent to the upstream; of those, not yet answered to a client still waiting;
    # the most at once. Tests may reset them.
    forwarded: int = field(default=0, init=False)
    in_flight: int = field(default=0, init=False)
    max_in_flight: int = field(default=0, init=False)
    received: int = field(default=0, init=False)  # every call, numbered from 1 as it arrives
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _listener: _Listener = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        parts = urlsplit(self.upstream)
        self._upstream = (_loopback(parts.hostname), parts.port or 80)
        self._listener = _Listener("fault-proxy", self._serve, self.host, self.tls)

    @property
    def port(self) -> int:
        return self._listener.port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # Rules and the log, from the test's thread

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._random = random.Random(seed)

    def log(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def count(self, action: str | None = None, *, faulted: bool | None = None) -> int:
        return sum(
            1
            for call in self.log()
            if (action is None or call.action == action)
            and (faulted is None or (call.fault is not None) == faulted)
        )

    # Life cycle

    def start(self) -> FaultProxy:
        self._listener.start()
        return self

    def stop(self) -> None:
        self._listener.stop()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Serving, in the proxy's thread

    def _arrive(self) -> int:
        with self._lock:
            self.received += 1
            return self.received

    def _decide(self, action: str, payload: Mapping[str, Any]) -> Fault | None:
        """The fault of the first rule that fires (rules are tried in order)."""
        chosen: Fault | None = None
        with self._lock:
            for rule in self.rules:
                if rule.decide(action, payload, self._random.random, taken=chosen is not None):
                    chosen = rule.fault
        return chosen

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _take_off(self, upcoming: asyncio.Future[_Message | None]) -> _Flight:
        """A call goes out to the upstream; it lands when its answer goes to the client, or
        when the client goes away (``upcoming``, its next request, ends without one)."""
        flight = _Flight()
        with self._lock:
            self.forwarded += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

        def client_gone(read: asyncio.Future[_Message | None]) -> None:
            if read.cancelled() or read.exception() is not None or read.result() is None:
                self._land(flight)

        upcoming.add_done_callback(client_gone)
        return flight

    def _land(self, flight: _Flight) -> None:
        with self._lock:
            if not flight.landed:
                flight.landed = True
                self.in_flight -= 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The next request is read while this one is served, so that a client that gives up
        # is seen at once.
        upcoming = asyncio.ensure_future(_read_message(reader, response=False))
        try:
            while (request := await upcoming) is not None:
                upcoming = asyncio.ensure_future(_read_message(reader, response=False))
                if not await self._one(request, upcoming, writer):
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            _reset(writer)  # the proxy is stopping: drop the client as a dead peer would
        finally:
            upcoming.cancel()
            with contextlib.suppress(BaseException):
                await upcoming

    async def _one(
        self,
        request: _Message,
        upcoming: asyncio.Future[_Message | None],
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Serve one request; False once the connection is done."""
        arrived = time.monotonic()
        number = self._arrive()
        method, _, target = request.start_line.partition(" ")
        path = target.partition(" ")[0]
        action = (request.header("x-amz-target") or "").rpartition(".")[2]
        try:
            payload: dict[str, Any] = json.loads(request.body) if request.body else {}
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        fault = self._decide(action, payload)
        name = None if fault is None else fault.name

        def call(status: int | None, upstream: int | None = None) -> Call:
            return Call(action, name, status, arrived, method, path, upstream)

        if action == "Query" and self.page_limit is not None:
            # Small pages, so that a few records make a long, streamed read.
            payload = {**payload, "Limit": self.page_limit}
            request.body = json.dumps(payload).encode()

        if isinstance(fault, Answering) and not fault.after_forwarding:
            status, headers, body = fault.answer(number)
            self._record(call(status))
            writer.write(
                _encode(f"HTTP/1.1 {status} {_reason(status)}", headers, body, "keep-alive")
            )
            await writer.drain()
            return True
        if isinstance(fault, Reset) and not fault.after_forwarding:
            self._record(call(None))
            _reset(writer)
            return False
        if isinstance(fault, Delay) and not fault.after_forwarding:
            await asyncio.sleep(fault.seconds)

        withheld: list[Any] = []
        table = ""
        if isinstance(fault, Unprocessed) and action == "BatchWriteItem":
            table, requests = next(iter(payload["RequestItems"].items()))
            kept, withheld = requests[: fault.keep], requests[fault.keep :]
            payload = {**payload, "RequestItems": {table: kept} if kept else {}}
            request.body = json.dumps(payload).encode()
        flight: _Flight | None = None
        upstream: int | None = None
        if withheld and not payload["RequestItems"]:
            # Nothing left to forward: DynamoDB processed none of them.
            status, headers, body = 200, [("Content-Type", "application/x-amz-json-1.0")], b"{}"
        else:
            flight = self._take_off(upcoming)
            try:
                status, headers, body = await self._forward(request)
            except OSError:
                # The upstream is gone: the client sees what it would see without us.
                self._land(flight)
                self._record(call(None))
                _reset(writer)
                return False
            upstream = status
        if withheld and status == 200:
            answer = json.loads(body) if body else {}
            answer.setdefault("UnprocessedItems", {}).setdefault(table, []).extend(withheld)
            body = json.dumps(answer).encode()

        if isinstance(fault, Reset):  # after forwarding: applied, the answer is lost
            if flight is not None:
                self._land(flight)
            self._record(call(None, upstream))
            _reset(writer)
            return False
        if isinstance(fault, Delay):
            await asyncio.sleep(fault.seconds)
        if isinstance(fault, Answering):  # after forwarding: handled, the answer is lost
            status, headers, body = fault.answer(number)
        if flight is not None:
            self._land(flight)
        self._record(call(status, upstream))
        writer.write(_encode(f"HTTP/1.1 {status} {_reason(status)}", headers, body, "keep-alive"))
        await writer.drain()
        return True

    async def _forward(self, request: _Message) -> tuple[int, Headers, bytes]:
        reader, writer = await asyncio.open_connection(*self._upstream)
        try:
            writer.write(_encode(request.start_line, request.headers, request.body, "close"))
            await writer.drain()
            response = await _read_message(reader, response=True)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if response is None:
            raise ConnectionResetError("the upstream closed the connection without answering")
        status = int(response.start_line.split(" ", 2)[1])
        return status, response.headers, response.body


# The egress proxy


@dataclass
class ConnectProxy:
    """An HTTP proxy that only makes tunnels (``CONNECT``): every tunnel, whatever host it
    names, leads to ``upstream`` (as if the proxy's DNS resolved the name there), so that a
    client can use a real endpoint name without leaving the machine. It logs the tunnels it
    made (`tunnels`) and refused (`refused`)."""

    upstream: tuple[str, int]
    # When set, a tunnel needs this Proxy-Authorization value; else 407.
    authorization: str | None = None
    tunnels: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _listener: _Listener = field(init=False)

    def __post_init__(self) -> None:
        self._listener = _Listener("connect-proxy", self._serve)

    @property
    def port(self) -> int:
        return self._listener.port

    def __enter__(self) -> ConnectProxy:
        self._listener.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._listener.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in head[1:] if line)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                self.refused.append(head[0])
                return
            if self.authorization and headers.get("Proxy-Authorization") != self.authorization:
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="tests"\r\nContent-Length: 0\r\n\r\n'
                )
                self.refused.append(target)
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            self.tunnels.append(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass  # a client that went away, or spoke nonsense: its tunnel ends


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65_536):
            sink.write(data)
            await sink.drain()
    finally:
        with contextlib.suppress(OSError):
            sink.close()
