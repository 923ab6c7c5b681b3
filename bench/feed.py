"""``python -m bench.feed [--reps N] [--streams 1,100,1000] [--windows 32,128]``: the change
feed's performance figures, in one run.

One dynalite; every service a ``deploystatus serve`` process with one worker on loopback
(docs/design.md, "The change feed" and "Webhooks"):

- **writes, feed on and off**: two services, each on a table of its own, one with
  ``DEPLOYSTATUS_EVENTS=false``; the same writes (1-record and 25-record ``POST /records``
  from 8 clients, over 2,000 deployables, every record a transition), 2 s each, repetitions
  of the two interleaved, a first one dropped; medians of 7 of records/s, and per request
  the service's and the engine's CPU (from /proc) and the service's DynamoDB calls. Target:
  on >= 0.8x off.
- **stream clients**: N = 1, 100 then 1,000 ``GET /events`` clients (raw asyncio sockets in
  a process of their own) on one service while 20 one-record transitions a second are
  written to it for 20 s; for each event and client, the time from its write's ``Ok`` to the
  client's receipt (p50, p99, max; target p99 <= 1 s; a service that falls behind is waited
  for, up to 90 s, so that late events count), and the ``Query`` calls a second the service
  made in the window (its ``/metrics``; writes make none), which must not grow with N.
- **webhook deliveries**: 10,000 transitions over 1,000 deployables written with the
  dispatcher off, to a subscription created before them; then a service that delivers
  (``DEPLOYSTATUS_WEBHOOK_WINDOW`` 32, then 128, each to a subscription of its own, the
  other paused) to a local receiver answering 204: deliveries/s from the first to the last
  (target >= 500/s), duplicates, and the service's CPU and DynamoDB calls per delivery.

It takes about 4 minutes. ``--only writes,streams,webhooks`` runs some of the parts, and
smaller runs (``--reps 1 --streams 1,100 --stream-seconds 5 --events 2000``) suit trying a
change; ``--output`` puts their results elsewhere. Results go to
``docs/performance/feed.json``; docs/performance.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import hashlib
import json
import multiprocessing
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from deploystatus.storage._http1 import Endpoint
from deploystatus.tokens import new_token

from . import procs
from .data import ENVIRONMENTS, rfc3339
from .stats import latency_summary, percentile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "performance" / "feed.json"
STATES = ("deploy-started", "deploy-success", "deploy-failed")
_NS = 1_000_000_000
WRITE_CLIENTS = 8
WRITE_COMPONENTS = 200  # x 10 environments: 2,000 deployables
STREAM_COMPONENTS = 50  # 500 deployables
HOOK_COMPONENTS = 100  # 1,000 deployables
OPEN_AT_ONCE = 100  # stream clients connecting at a time
DRAIN_SECONDS = 3.0  # after the last write: the tail's hold, a poll, and a lookback read
LATE_SECONDS = 90.0  # then, at most, until the streams have been sent every event
HOOK_TIMEOUT = 150.0  # at most this long for one subscription's deliveries
STALL_SECONDS = 20.0  # or until nothing arrived for this long
_CALLS = re.compile(r'^deploystatus_dynamodb_calls_total\{action="(\w+)",outcome="(\w+)"\} (\S+)$')
_CALL_SECONDS = re.compile(
    r'^deploystatus_dynamodb_call_duration_seconds_sum\{action="(\w+)"\} (\S+)$'
)
_GAUGE = re.compile(r"^(deploystatus_event_stream\w+) (\S+)$")
_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")
# No proxy from the environment between the bench and loopback.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def instant_ns(text: str) -> int:
    """A canonical UTC timestamp (``...T14:02:10.5Z``) in nanoseconds since the epoch."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise procs.BenchError(f"not a canonical UTC timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return seconds * _NS + int((match.group(7) or "0").ljust(9, "0"))


class Transitions:
    """Records that each change their deployable's current state: the deployables in turn,
    each time at a later instant (1 ms after the record before) and in the next state."""

    def __init__(self, prefix: str, components: int) -> None:
        self.deployables = [
            (f"{prefix}-{c:03d}", environment)
            for c in range(components)
            for environment in ENVIRONMENTS
        ]
        self.sent = 0
        self.clock = (time.time_ns() // _NS - 86_400) * _NS  # a day ago: no clock skew

    def take(self, count: int) -> list[dict[str, str]]:
        records = []
        for _ in range(count):
            turn, index = divmod(self.sent, len(self.deployables))
            component, environment = self.deployables[index]
            self.clock += 1_000_000
            records.append(
                {
                    "Component": component,
                    "Environment": environment,
                    "State": STATES[turn % len(STATES)],
                    "Timestamp": rfc3339(self.clock),
                }
            )
            self.sent += 1
        return records


class Api:
    """Kept-alive connections to one service (the service's own HTTP/1.1 client, as the
    other benches), with a bearer token when the service has authentication on."""

    def __init__(self, url: str, connections: int, token: str | None = None) -> None:
        host, port = url.removeprefix("http://").split(":")
        self._endpoint = Endpoint(host, int(port), tls=False, max_idle=connections)
        self._headers: tuple[tuple[str, str], ...] = (("Host", f"{host}:{port}"),)
        if token is not None:
            self._headers += (("Authorization", f"Bearer {token}"),)

    async def post(self, records: Sequence[Mapping[str, str]]) -> bool:
        body = json.dumps({"Records": list(records)}).encode()
        headers = (*self._headers, ("Content-Type", "application/json"))
        status, text = await self._endpoint.request("POST", "/records", headers, body, timeout=60.0)
        return (status, text) == (200, b"Ok")

    async def get(self, path: str) -> bytes:
        status, content = await self._endpoint.request(
            "GET", path, self._headers, b"", timeout=60.0
        )
        if status != 200:
            raise procs.BenchError(f"GET {path}: {status} {content[:200]!r}")
        return content

    def close(self) -> None:
        self._endpoint.close()


def call(
    url: str, method: str, path: str, token: str | None = None, document: Any = None
) -> tuple[int, Any]:
    """One request (blocking): the status and the JSON answer (None if there is none)."""
    request = urllib.request.Request(url + path, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    data = None
    if document is not None:
        data = json.dumps(document).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with _http.open(request, data=data, timeout=30) as response:
            status: int = response.status
            content: bytes = response.read()
    except urllib.error.HTTPError as error:
        status, content = error.code, error.read()
    return status, json.loads(content) if content.strip().startswith((b"{", b"[")) else None


@dataclass
class Sample:
    """What a service's ``/metrics`` counted since it started."""

    calls: dict[str, float]  # DynamoDB calls by action
    call_seconds: dict[str, float]  # their time, summed, by action
    streams_open: float
    stream_messages: float  # events sent to streams, one per stream


def metrics(url: str, token: str | None = None) -> Sample:
    request = urllib.request.Request(url + "/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with _http.open(request, timeout=30) as response:
        text = response.read().decode()
    sample = Sample(defaultdict(float), {}, 0.0, 0.0)
    for line in text.splitlines():
        if match := _CALLS.match(line):
            sample.calls[match.group(1)] += float(match.group(3))
        elif match := _CALL_SECONDS.match(line):
            sample.call_seconds[match.group(1)] = float(match.group(2))
        elif match := _GAUGE.match(line):
            if match.group(1) == "deploystatus_event_streams_open":
                sample.streams_open = float(match.group(2))
            elif match.group(1) == "deploystatus_event_stream_messages_total":
                sample.stream_messages = float(match.group(2))
    return sample


def _median(runs: Sequence[Mapping[str, float]], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 3)


def _raise_open_files(needed: int) -> None:
    """Lift this process's open-file limit (the services inherit it) to ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise procs.BenchError(
                f"{needed} open files are needed and the hard limit is {hard} (ulimit -Hn)"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


# 1. Writes with the feed on and off


def _engine_cpu(engine: procs.Started) -> float:
    """CPU seconds of the engine: ``local-db`` and its dynalite."""
    return sum(map(procs.cpu_seconds, [engine.pid, *procs.descendants(engine.pid)]))


async def _write_for(
    engine: procs.Started,
    server: procs.Started,
    api: Api,
    workload: Transitions,
    batch: int,
    seconds: float,
) -> dict[str, float]:
    """``WRITE_CLIENTS`` loops posting ``batch`` records for ``seconds``; the service's and
    the engine's CPU, and the service's DynamoDB calls, per request."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            records = workload.take(batch)
            started = time.perf_counter()
            if await api.post(records):
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    calls = metrics(server.url).calls
    engine_cpu = _engine_cpu(engine)
    cpu, started = procs.cpu_seconds(server.pid), time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(WRITE_CLIENTS)))
    elapsed = time.perf_counter() - started
    used = procs.cpu_seconds(server.pid) - cpu
    engine_used = _engine_cpu(engine) - engine_cpu
    requests = len(latencies)
    calls_after = metrics(server.url).calls
    return {
        "records_per_s": round(requests * batch / elapsed, 1),
        "requests": requests,
        "server_cpu_us_per_request": round(used / max(requests, 1) * 1e6, 1),
        "server_cpu_us_per_record": round(used / max(requests * batch, 1) * 1e6, 1),
        "p50_ms": round(percentile(latencies, 50) * 1e3, 2),
        "p95_ms": round(percentile(latencies, 95) * 1e3, 2),
        "errors": errors,
        "engine_cpu_us_per_request": round(engine_used / max(requests, 1) * 1e6, 1),
        "calls_per_request": round(
            (sum(calls_after.values()) - sum(calls.values())) / max(requests, 1), 2
        ),
    }


async def _writes(
    engine: procs.Started, on: procs.Started, off: procs.Started, reps: int, seconds: float
) -> dict[str, Any]:
    apis = {"on": Api(on.url, WRITE_CLIENTS), "off": Api(off.url, WRITE_CLIENTS)}
    servers = {"on": on, "off": off}
    workloads = {name: Transitions("feed-write", WRITE_COMPONENTS) for name in servers}
    try:
        for name, api in apis.items():  # every deployable once: later records replace one
            workload = workloads[name]
            while workload.sent < len(workload.deployables):
                await asyncio.gather(*(api.post(workload.take(25)) for _ in range(8)))
        runs: dict[str, list[dict[str, float]]] = defaultdict(list)
        for rep in range(reps + 1):  # the first repetition warms up and is dropped
            for batch in (1, 25):
                order = ("on", "off") if rep % 2 == 0 else ("off", "on")
                for name in order:
                    run = await _write_for(
                        engine, servers[name], apis[name], workloads[name], batch, seconds
                    )
                    if rep:
                        runs[f"{name}_{batch}"].append(run)
    finally:
        for api in apis.values():
            api.close()
    medians = {
        name: {key: _median(series, key) for key in series[0]} for name, series in runs.items()
    }
    ratios = {
        f"batch_{batch}": {
            "records_per_s_on_over_off": round(
                medians[f"on_{batch}"]["records_per_s"] / medians[f"off_{batch}"]["records_per_s"],
                3,
            ),
            "server_cpu_on_over_off": round(
                medians[f"on_{batch}"]["server_cpu_us_per_request"]
                / medians[f"off_{batch}"]["server_cpu_us_per_request"],
                3,
            ),
            "engine_cpu_on_over_off": round(
                medians[f"on_{batch}"]["engine_cpu_us_per_request"]
                / medians[f"off_{batch}"]["engine_cpu_us_per_request"],
                3,
            ),
        }
        for batch in (1, 25)
    }
    return {
        "clients": WRITE_CLIENTS,
        "deployables": WRITE_COMPONENTS * len(ENVIRONMENTS),
        "seconds_per_run": seconds,
        "repetitions": reps,
        "medians": medians,
        "ratios": ratios,
        "runs": runs,
    }


# 2. Stream clients


class _Stream(asyncio.Protocol):
    """One ``GET /events`` client: notes when each event's message arrived (its ``id``
    line, the event's position), and little else, so that a process holds a thousand."""

    def __init__(self, loop: asyncio.AbstractEventLoop, received: dict[str, list[int]]) -> None:
        self.opened: asyncio.Future[None] = loop.create_future()
        self.ended = False
        self.transport: asyncio.Transport | None = None
        self._received = received
        self._raw = b""  # not yet taken out of the HTTP framing
        self._text = b""  # the stream's text, not yet cut into messages
        self._head = True
        self._chunked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        raw = self._raw + data
        if self._head:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                self._raw = raw
                return
            head = raw[:end].decode("latin-1").lower()
            if not head.startswith("http/1.1 200"):
                self._fail(f"GET /events: {head.splitlines()[0]}")
                return
            self._head = False
            self._chunked = "transfer-encoding: chunked" in head
            raw = raw[end + 4 :]
        if self._chunked:
            at = 0
            while (line_end := raw.find(b"\r\n", at)) >= 0:
                size = int(raw[at:line_end].split(b";")[0], 16)
                if len(raw) < line_end + 4 + size:
                    break
                self._text += raw[line_end + 2 : line_end + 2 + size]
                at = line_end + 4 + size
            raw = raw[at:]
        else:
            self._text, raw = self._text + raw, b""
        self._raw = raw
        while (end := self._text.find(b"\n\n")) >= 0:
            message, self._text = self._text[:end], self._text[end + 2 :]
            if message.startswith(b"id: "):
                self._received[message[4 : message.index(b"\n")].decode()].append(now)
            elif not self.opened.done():
                self.opened.set_result(None)  # the stream's opening comment

    def _fail(self, why: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(procs.BenchError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        if not self.opened.done():
            self.opened.set_exception(procs.BenchError("closed before the stream began"))


async def _open_stream(host: str, port: int, received: dict[str, list[int]]) -> _Stream:
    loop = asyncio.get_running_loop()
    transport, stream = await loop.create_connection(lambda: _Stream(loop, received), host, port)
    request = f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
    transport.write(request.encode())
    await asyncio.wait_for(stream.opened, 30)
    return stream


async def _hold_streams(connection: Connection, host: str, port: int, count: int) -> None:
    received: dict[str, list[int]] = defaultdict(list)
    streams: list[_Stream] = []
    refused: list[str] = []
    started = time.monotonic()
    for first in range(0, count, OPEN_AT_ONCE):
        opening = [
            _open_stream(host, port, received) for _ in range(min(OPEN_AT_ONCE, count - first))
        ]
        for outcome in await asyncio.gather(*opening, return_exceptions=True):
            if isinstance(outcome, _Stream):
                streams.append(outcome)
            else:
                refused.append(repr(outcome))
    connection.send(("ready", len(streams), refused[:5], time.monotonic() - started))
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, connection.recv)  # "stop"
    share = (time.process_time() - cpu) / (time.monotonic() - wall)
    ended = sum(stream.ended for stream in streams)
    for stream in streams:
        if stream.transport is not None:
            stream.transport.close()
    connection.send(("done", dict(received), ended, share))


def _stream_clients(connection: Connection, host: str, port: int, count: int) -> None:
    """A process of ``count`` stream clients: says when they are open, then, told to stop,
    sends every event position it received with the receipt times (ns since the epoch)."""
    try:
        import uvloop
    except ImportError:  # not on every platform; asyncio's loop measures the same
        asyncio.run(_hold_streams(connection, host, port, count))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_hold_streams(connection, host, port, count))


@dataclass
class _Window:
    oks: dict[tuple[str, str, int], int] = field(default_factory=dict)  # record: Ok at (ns)
    errors: int = 0
    write_seconds: list[float] = field(default_factory=list)  # each write's, to its Ok
    seconds: float = 0.0
    calls: dict[str, float] = field(default_factory=dict)  # by action, during the window
    stream_messages: float = 0.0  # sent to the streams during the window
    server_cpu_s: float = 0.0


async def _steady_writes(
    server: procs.Started, workload: Transitions, rate: float, seconds: float
) -> _Window:
    """One-record transitions at ``rate`` a second for ``seconds``, each sent at its time
    whatever the answers before it; then the drain. Calls and CPU: over the whole window."""
    api = Api(server.url, 16)
    window = _Window()
    before = metrics(server.url)
    cpu, started = procs.cpu_seconds(server.pid), time.monotonic()

    async def write(records: list[dict[str, str]]) -> None:
        sent = time.time_ns()
        ok = await api.post(records)
        at = time.time_ns()
        if not ok:
            window.errors += 1
            return
        window.write_seconds.append((at - sent) / _NS)
        for r in records:
            window.oks[(r["Component"], r["Environment"], instant_ns(r["Timestamp"]))] = at

    try:
        sending: list[asyncio.Task[None]] = []
        for i in range(round(rate * seconds)):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            sending.append(asyncio.create_task(write(workload.take(1))))
        await asyncio.gather(*sending)
        await asyncio.sleep(DRAIN_SECONDS)
    finally:
        api.close()
    window.seconds = time.monotonic() - started
    window.server_cpu_s = procs.cpu_seconds(server.pid) - cpu
    after = metrics(server.url)
    window.calls = {
        action: round(count - before.calls.get(action, 0.0))
        for action, count in sorted(after.calls.items())
        if count != before.calls.get(action, 0.0)
    }
    window.stream_messages = after.stream_messages - before.stream_messages
    return window


def _logged(url: str, after_ns: int, token: str | None = None) -> list[dict[str, Any]]:
    """Every event of the log accepted after ``after_ns``, through ``GET /events/log``."""
    events: list[dict[str, Any]] = []
    after = f"{after_ns:019d}-{'0' * 32}"
    while True:
        status, page = call(url, "GET", f"/events/log?after={after}&limit=1000", token)
        if status != 200:
            raise procs.BenchError(f"GET /events/log: {status} {page}")
        events.extend(page["Events"])
        if len(page["Events"]) < 1000:
            return events
        after = page["Next"]


def _stream_run(
    server: procs.Started, count: int, rate: float, seconds: float, workload: Transitions
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    host, port = server.url.removeprefix("http://").split(":")
    clients = context.Process(
        target=_stream_clients, args=(theirs, host, int(port), count), daemon=True
    )
    clients.start()
    try:
        if not ours.poll(120):
            raise procs.BenchError(f"{count} stream clients did not open within 120 s")
        _, opened, refused, connect_seconds = ours.recv()
        if not opened:
            raise procs.BenchError(f"no stream client could open GET /events: {refused}")
        time.sleep(1.0)  # the tail's first read
        began = time.time_ns()
        window = asyncio.run(_steady_writes(server, workload, rate, seconds))
        # A service behind sends on: wait until it has sent every event (or gives up).
        deadline, sent = time.monotonic() + LATE_SECONDS, -1.0
        while time.monotonic() < deadline:
            now_sent = metrics(server.url).stream_messages
            if now_sent == sent:
                break
            sent = now_sent
            time.sleep(1.0)
        late = time.monotonic() - deadline + LATE_SECONDS
        ours.send("stop")
        if not ours.poll(120):
            raise procs.BenchError("the stream clients did not report within 120 s")
        _, received, ended, clients_cpu_share = ours.recv()
    finally:
        clients.join(30)
        if clients.is_alive():
            clients.kill()
    logged = _logged(server.url, began)
    from_ok: list[float] = []
    from_accepted: list[float] = []
    written = 0
    receipts = 0
    for event in logged:
        key = (event["Component"], event["Environment"], instant_ns(event["Record"]["Timestamp"]))
        ok = window.oks.get(key)
        if ok is None:
            continue
        written += 1
        accepted = instant_ns(event["Accepted"])
        for at in received.get(event["Position"], ()):
            receipts += 1
            from_ok.append((at - ok) / _NS)
            from_accepted.append((at - accepted) / _NS)
    expected = written * opened
    # Back to no listener before the next count: the service notices the closed streams.
    deadline = time.monotonic() + 30
    while metrics(server.url).streams_open and time.monotonic() < deadline:
        time.sleep(0.2)
    return {
        "clients": count,
        "opened": opened,
        "refused": refused,
        "connect_seconds": round(connect_seconds, 2),
        "writes_ok": len(window.oks),
        "write_errors": window.errors,
        "events_written": written,
        "receipts": receipts,
        "missing": expected - receipts,
        "streams_ended_early": ended,
        "latency_from_ok": latency_summary(from_ok),
        "latency_from_accepted": latency_summary(from_accepted),
        "window_seconds": round(window.seconds, 2),
        "calls": window.calls,
        "query_per_s": round(window.calls.get("Query", 0) / window.seconds, 2),
        "messages_sent_in_window": round(window.stream_messages),
        "write_latency": latency_summary(window.write_seconds),
        "messages_needed_per_s": round(opened * rate),
        "messages_sent_per_s": round(window.stream_messages / window.seconds),
        "seconds_after_window_until_sent": round(late, 1),
        "server_cpu_share": round(window.server_cpu_s / window.seconds, 3),
        "clients_cpu_share": round(clients_cpu_share, 3),
    }


def _streams(
    engine: procs.Started, where: Path, counts: Sequence[int], rate: float, seconds: float
) -> dict[str, Any]:
    most = max(counts) + 100  # the clients, the writer's connections, /metrics
    _raise_open_files(most + 64 + 32 + 100)
    settings = {
        "DEPLOYSTATUS_HTTP_MAX_CONNECTIONS": str(most),
        "DEPLOYSTATUS_WEBHOOKS": "false",  # no subscription reads among the stream's calls
    }
    workload = Transitions("feed-stream", STREAM_COMPONENTS)
    with procs.serve_table(where, engine, table="streams", extra_env=settings) as server:
        runs = [_stream_run(server, count, rate, seconds, workload) for count in counts]
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "deployables": STREAM_COMPONENTS * len(ENVIRONMENTS),
        "runs": runs,
    }


# 3. Webhook deliveries


class _Hook(asyncio.Protocol):
    """A webhook receiver's connection: every request answered 204 at once, noted."""

    def __init__(self, got: list[tuple[int, str, str]]) -> None:
        self._got = got
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            lines = buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length :]
            path = lines[0].split(" ")[1]
            self._got.append((time.time_ns(), path, headers.get("deploystatus-event-id", "")))
            assert self._transport is not None
            self._transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        self._buffer = buffer


class Receiver:
    """A local webhook target on a free loopback port, served by a thread of its own."""

    def __init__(self) -> None:
        self.got: list[tuple[int, str, str]] = []  # (received at, ns; path; event id)
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="receiver", daemon=True)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()

        async def start() -> asyncio.Server:
            server = await loop.create_server(lambda: _Hook(self.got), procs.HOST, 0)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            return server

        server = loop.run_until_complete(start())
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.close()

    def url(self, path: str) -> str:
        return f"http://{procs.HOST}:{self.port}{path}"

    def on(self, path: str) -> list[tuple[int, str]]:
        return [(at, event) for at, where, event in list(self.got) if where == path]

    def __enter__(self) -> Receiver:
        self._thread.start()
        if not self._ready.wait(10):
            raise procs.BenchError("the webhook receiver did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _prewrite(url: str, token: str, events: int) -> float:
    """``events`` transitions over 1,000 deployables in 25-record batches from 8 clients,
    a turn of the deployables at a time (so that each record is newer than the last)."""
    api = Api(url, WRITE_CLIENTS, token)
    workload = Transitions("feed-hook", HOOK_COMPONENTS)
    turn = len(workload.deployables)
    started = time.perf_counter()
    try:
        while workload.sent < events:
            batches = [
                workload.take(min(25, events - workload.sent, turn - workload.sent % turn))
                for _ in range(-(-min(turn, events - workload.sent) // 25))
            ]
            for first in range(0, len(batches), WRITE_CLIENTS):
                outcomes = await asyncio.gather(
                    *(api.post(b) for b in batches[first : first + WRITE_CLIENTS])
                )
                if not all(outcomes):
                    raise procs.BenchError("a write of the webhook data failed")
    finally:
        api.close()
    return time.perf_counter() - started


def _deliver(
    engine: procs.Started,
    where: Path,
    receiver: Receiver,
    settings: Mapping[str, str],
    subscription: str,
    path: str,
    window: int,
    expected: int,
    token: str,
    writer: procs.Started,
) -> dict[str, Any]:
    env = {**settings, "DEPLOYSTATUS_WEBHOOK_WINDOW": str(window)}
    with procs.serve_table(
        where, engine, table="hooks", role=f"deliver{window}", extra_env=env
    ) as server:
        ready = time.time_ns()
        cpu = procs.cpu_seconds(server.pid)
        deadline = time.monotonic() + HOOK_TIMEOUT
        seen, moved = 0, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - moved < STALL_SECONDS:
            if len(receiver.got) > seen:
                seen, moved = len(receiver.got), time.monotonic()
                if len({event for _, event in receiver.on(path)}) >= expected:
                    break
            time.sleep(0.1)
        else:
            print(f"webhook window {window}: not all delivered; its log:\n{server.tail()}")
        used = procs.cpu_seconds(server.pid) - cpu
        calls = metrics(server.url, token)
        _, view = call(writer.url, "GET", f"/admin/webhooks/{subscription}", token)
    got = receiver.on(path)
    first_seen: dict[str, int] = {}
    for at, event in got:
        first_seen.setdefault(event, at)
    times = sorted(first_seen.values())
    spread = (times[-1] - times[0]) / _NS if len(times) > 1 else float("nan")
    delivered = len(first_seen)
    return {
        "window": window,
        "expected": expected,
        "delivered": delivered,
        "duplicates": len(got) - delivered,
        "seconds_first_to_last": round(spread, 2),
        "deliveries_per_s": round((delivered - 1) / spread, 1) if delivered > 1 else 0.0,
        "seconds_from_ready": round((times[-1] - ready) / _NS, 2) if times else None,
        "server_cpu_us_per_delivery": round(used / max(delivered, 1) * 1e6, 1),
        "calls_per_1000_deliveries": {
            action: round(count * 1000 / max(delivered, 1), 1)
            for action, count in sorted(calls.calls.items())
        },
        "call_ms_mean": {
            action: round(calls.call_seconds.get(action, 0.0) * 1000 / count, 2)
            for action, count in sorted(calls.calls.items())
        },
        "subscription_after": {key: view.get(key) for key in ("Delivered", "Failing", "Paused")},
    }


def _webhooks(
    engine: procs.Started, where: Path, events: int, windows: Sequence[int]
) -> dict[str, Any]:
    token = new_token()
    digest = hashlib.sha256(token.encode()).hexdigest()
    settings = {
        "DEPLOYSTATUS_TOKENS": f"bench:{digest}:read,write,metrics,admin",
        "DEPLOYSTATUS_WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8",
    }
    quiet = {**settings, "DEPLOYSTATUS_WEBHOOKS": "false"}  # writes, delivers nothing
    with (
        Receiver() as receiver,
        procs.serve_table(where, engine, table="hooks", role="writer", extra_env=quiet) as writer,
    ):
        subscriptions: dict[int, str] = {}
        for window in windows:
            target = {"Url": receiver.url(f"/window-{window}"), "Format": "json"}
            status, made = call(writer.url, "POST", "/admin/webhooks", token, target)
            if status != 201:
                raise procs.BenchError(f"POST /admin/webhooks: {status} {made}")
            subscriptions[window] = made["Id"]
        began = time.time_ns()
        seconds = asyncio.run(_prewrite(writer.url, token, events))
        time.sleep(1.0)  # past the hold: every event is one a delivery may read
        logged = len(_logged(writer.url, began, token))
        runs = []
        for window in windows:
            for other, identifier in subscriptions.items():
                action = "resume" if other == window else "pause"
                status, _ = call(
                    writer.url, "POST", f"/admin/webhooks/{identifier}/{action}", token
                )
                if status != 200:
                    raise procs.BenchError(f"{action} webhook {identifier}: {status}")
            runs.append(
                _deliver(
                    engine,
                    where,
                    receiver,
                    settings,
                    subscriptions[window],
                    f"/window-{window}",
                    window,
                    logged,
                    token,
                    writer,
                )
            )
    return {
        "events": events,
        "events_logged": logged,
        "deployables": HOOK_COMPONENTS * len(ENVIRONMENTS),
        "prewrite_seconds": round(seconds, 2),
        "prewrite_records_per_s": round(events / seconds, 1),
        "runs": runs,
    }


# The run


def targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    writes = results.get("writes")
    if writes:
        for batch in (1, 25):
            ratio = writes["ratios"][f"batch_{batch}"]["records_per_s_on_over_off"]
            on, off = writes["medians"][f"on_{batch}"], writes["medians"][f"off_{batch}"]
            found.append(
                {
                    "name": f"writes, {batch}-record batches: feed on >= 0.8x off",
                    "met": ratio >= 0.8,
                    "figure": f"{on['records_per_s']:,.0f} against {off['records_per_s']:,.0f} "
                    f"records/s = {ratio:.2f}x",
                }
            )
    streams = results.get("streams")
    if streams:
        for run in streams["runs"]:
            p99 = run["latency_from_ok"]["p99_ms"]
            found.append(
                {
                    "name": f"{run['clients']:,} stream clients: p99 from the write's Ok <= 1 s",
                    "met": p99 <= 1000 and run["missing"] == 0 and run["opened"] == run["clients"],
                    "figure": f"p99 {p99:,.0f} ms, {run['missing']} missing",
                }
            )
        rates = [run["query_per_s"] for run in streams["runs"]]
        found.append(
            {
                "name": "the stream's Query calls do not grow with the clients",
                "met": max(rates) <= 1.2 * rates[0],
                "figure": ", ".join(
                    f"{run['clients']:,}: {run['query_per_s']}/s" for run in streams["runs"]
                ),
            }
        )
    hooks = results.get("webhooks")
    if hooks:
        for run in hooks["runs"]:
            found.append(
                {
                    "name": f"webhook deliveries, window {run['window']}: >= 500/s",
                    "met": run["deliveries_per_s"] >= 500 and run["delivered"] == run["expected"],
                    "figure": f"{run['deliveries_per_s']:,.0f}/s, {run['delivered']:,} of "
                    f"{run['expected']:,}, {run['duplicates']} duplicates",
                }
            )
    return found


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feed", description=__doc__)
    parser.add_argument("--reps", type=int, default=7, help="write repetitions (after a warm-up)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per write run")
    parser.add_argument("--streams", type=_counts, default=[1, 100, 1000], help="stream clients")
    parser.add_argument("--rate", type=float, default=20.0, help="transitions/s under streams")
    parser.add_argument("--stream-seconds", type=float, default=20.0, help="seconds per count")
    parser.add_argument("--events", type=int, default=10_000, help="events to deliver")
    parser.add_argument("--windows", type=_counts, default=[32, 128], help="webhook windows")
    parser.add_argument("--only", default="writes,streams,webhooks", help="parts to run")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the results go")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    procs.use_local_credentials()
    results: dict[str, Any] = {"load_average_start": procs.load_average()}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-feed-") as directory, ExitStack() as stack:
        where = Path(directory)
        engine = stack.enter_context(procs.local_db(where / "engine"))
        if "writes" in parts:
            print("writes, feed on and off ...", flush=True)
            with _two_services(where, engine) as (on, off):
                results["writes"] = asyncio.run(_writes(engine, on, off, args.reps, args.seconds))
        if "streams" in parts:
            print(f"stream clients {args.streams} ...", flush=True)
            results["streams"] = _streams(
                engine, where, args.streams, args.rate, args.stream_seconds
            )
        if "webhooks" in parts:
            print(f"webhook deliveries, windows {args.windows} ...", flush=True)
            results["webhooks"] = _webhooks(engine, where, args.events, args.windows)
    results["targets"] = targets(results)
    results.update(
        seconds=round(time.monotonic() - started),
        load_average_end=procs.load_average(),
        command=" ".join(["python -m bench.feed", *(sys.argv[1:] if argv is None else argv)]),
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        machine=procs.machine(),
        engine=procs.engine_version(),
    )
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for target in results["targets"]:
        mark = "met    " if target["met"] else "NOT MET"
        print(f"  {mark}  {target['name']}: {target['figure']}")
    print(f"bench.feed: {results['seconds']} s, results in {args.output}")
    return 0


@contextmanager
def _two_services(where: Path, engine: procs.Started) -> Iterator[tuple[procs.Started, ...]]:
    with (
        procs.serve_table(where, engine, table="feed-on", role="on") as on,
        procs.serve_table(
            where, engine, table="feed-off", role="off", extra_env={"DEPLOYSTATUS_EVENTS": "false"}
        ) as off,
    ):
        yield on, off


if __name__ == "__main__":
    sys.exit(main())
