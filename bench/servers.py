"""``python -m bench.servers``: the HTTP servers the service could run in, side by side on one
local engine: write and read throughput with the server's CPU per request, and what each does
with the hostile list of docs/reliability.md ("The HTTP layer").

The candidates other than ``deploystatus serve`` are not dependencies of the service: install
them first (``.venv/bin/pip install granian hypercorn``); a missing one is skipped. Every
candidate runs the same app (``deploystatus.app:app_from_environment``) with the same settings,
logging at ``warning`` (no access lines), under an open-file limit of 256.
Loopback only, bounded in time (about 6 minutes for five candidates).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import raw_http

from deploystatus.commands.engines import free_port

from . import procs
from .data import Clock, WriteWorkload
from .load import Http, Outcome, run_clients

ROOT = Path(__file__).resolve().parents[1]
APP = "deploystatus.app:app_from_environment"
OPEN_FILES = 256


@dataclass(frozen=True)
class Candidate:
    name: str
    module: str  # run as ``python -m module``; skipped when it is not installed
    args: tuple[str, ...]  # {port} is replaced


CANDIDATES = (
    Candidate(
        "uvicorn, httptools (before)",
        "uvicorn",
        ("--factory", APP, "--port", "{port}", "--http", "httptools", "--loop", "uvloop",
         "--no-access-log", "--no-server-header"),
    ),
    Candidate(
        "uvicorn, h11 with its limits",
        "uvicorn",
        ("--factory", APP, "--port", "{port}", "--http", "h11", "--loop", "uvloop",
         "--no-access-log", "--no-server-header", "--h11-max-incomplete-event-size", "16384",
         "--limit-concurrency", "160", "--timeout-keep-alive", "65"),
    ),
    Candidate(
        "Hypercorn",
        "hypercorn",
        (f"{APP}()", "--bind", "127.0.0.1:{port}", "--worker-class", "uvloop",
         "--keep-alive", "65", "--log-level", "warning"),
    ),
    Candidate(
        "Granian",
        "granian",
        ("--interface", "asgi", "--factory", APP, "--port", "{port}", "--http", "1",
         "--loop", "uvloop", "--no-ws", "--http1-header-read-timeout", "10000",
         "--log-level", "warning"),
    ),
    Candidate("deploystatus serve (chosen)", "deploystatus", ("serve", "--port", "{port}")),
)  # fmt: skip


def _limit_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


class Running:
    def __init__(self, candidate: Candidate, engine_url: str, log: Path) -> None:
        self.port = free_port()
        args = [arg.replace("{port}", str(self.port)) for arg in candidate.args]
        env = procs.child_environment(
            AWS_ENDPOINT_URL_DYNAMODB=engine_url, DEPLOYSTATUS_LOG_LEVEL="warning"
        )
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", candidate.module, *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_limit_open_files,
            )
        deadline = time.monotonic() + procs.START_TIMEOUT
        while raw_http.healthz_seconds(self.port, 1) > 1:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise procs.BenchError(f"{candidate.name} did not start:\n{log.read_text()}")
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return [self.process.pid, *procs.descendants(self.process.pid)]

    def cpu_seconds(self) -> float:
        return sum(procs.cpu_seconds(pid) for pid in self.pids())

    def rss_kib(self) -> int:
        return sum(procs.memory_kib(pid).get("VmRSS", 0) for pid in self.pids())

    def stop(self) -> None:
        pids = self.pids()
        self.process.terminate()
        try:
            self.process.wait(procs.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in pids[1:]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# Load


async def _load(running: Running, name: str, seconds: float, clock: Clock) -> dict[str, Any]:
    kind, size, clients = name.split()
    outcome = Outcome()
    async with Http(running.url, int(clients)) as http:
        if kind == "write":
            # The same 1,000 deployables every time: /current reads a table of a fixed size.
            workload = WriteWorkload(f"w{size}", int(size), clock)

            def step(_: int) -> Any:
                return http.post(workload.next_batch(), outcome)
        else:
            path = f"/{size}"

            def step(_: int) -> Any:
                return http.get(path, outcome)

        await run_clients(int(clients), step, seconds=0.3, max_steps=10_000)  # warm up
        outcome = Outcome()
        cpu = running.cpu_seconds()
        elapsed = await run_clients(int(clients), step, seconds=seconds, max_steps=1_000_000)
        used = running.cpu_seconds() - cpu
    requests = len(outcome.seconds)
    return {
        "requests_per_s": round(requests / elapsed, 1),
        "records_per_s": round(outcome.records / elapsed, 1) if kind == "write" else None,
        "server_cpu_us_per_request": round(used / max(requests, 1) * 1e6),
        "errors": outcome.errors,
    }


# Reads are the server's own cost (/healthz); what a read of the table costs is the app's,
# the same under every server, and make bench measures it.
LOADS = ("write 1 1", "write 1 8", "write 25 8", "read healthz 8")


# Hostile list


def _huge_header(running: Running) -> str:
    before = running.rss_kib()
    with raw_http.connect(running.port) as sock:
        head = raw_http.get("/healthz")[:-2] + b"X-Big: "
        sent = raw_http.stream(sock, head, b"a", 64 << 20, b"\r\n\r\n")
        replies = raw_http.read_replies(sock, 30)
    grown = (running.rss_kib() - before) // 1024
    return f"{replies.first or 'no answer'} after {sent >> 20} MiB sent, RSS +{grown} MiB"


def _exchange(head: bytes) -> Callable[[Running], str]:
    def attempt(running: Running) -> str:
        replies = raw_http.exchange(running.port, head, 10)
        return f"{replies.first or 'no answer'} in {replies.seconds:.1f} s"

    return attempt


def _framing(header: bytes) -> Callable[[Running], str]:
    request = (
        b"POST /records HTTP/1.1\r\nHost: t\r\n" + header + b"\r\n\r\n0\r\n\r\n"
        + raw_http.get("/healthz")
    )  # fmt: skip

    def attempt(running: Running) -> str:
        replies = raw_http.exchange(running.port, request, 3)
        behind = "the request behind it ran" if len(replies.statuses) > 1 else "nothing behind"
        return f"{replies.first or 'no answer'}, {behind}, then {replies.ended}"

    return attempt


def _silent(running: Running) -> str:
    with ExitStack() as stack:
        socks = [stack.enter_context(raw_http.connect(running.port)) for _ in range(50)]
        started = time.monotonic()
        ended = [raw_http.read_replies(sock, 20, started) for sock in socks]
    closed = [replies.seconds for replies in ended if replies.ended != "open"]
    return f"{len(closed)}/50 closed within 20 s" + (
        f" (after {max(closed):.0f} s)" if closed else ""
    )


def _slow(running: Running) -> str:
    with ExitStack() as stack:
        socks = [stack.enter_context(raw_http.connect(running.port)) for _ in range(10)]
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        started, cut = time.monotonic(), set[int]()
        while time.monotonic() - started < 20 and len(cut) < len(socks):
            for number, sock in enumerate(socks):
                try:
                    sock.sendall(b"X-Drip: v\r\n")
                except OSError:
                    cut.add(number)
            time.sleep(1)
    return f"{len(cut)}/10 cut within 20 s"


def _flood(running: Running) -> str:
    with ExitStack() as stack:
        for _ in range(300):
            with suppress(OSError):
                stack.enter_context(raw_http.connect(running.port, timeout=2))
        started = time.monotonic()
        replies = raw_http.exchange(running.port, raw_http.get("/healthz"), 15)
    if replies.first:
        return f"another client: {replies.first} in {time.monotonic() - started:.1f} s"
    return f"another client: no answer ({replies.ended}) in {time.monotonic() - started:.1f} s"


HOSTILE: dict[str, Callable[[Running], str]] = {
    "64 MiB header": _huge_header,
    "1 MiB header name": _exchange(raw_http.get("/healthz", b"n" * (1 << 20) + b": v")),
    "100,000 headers": _exchange(raw_http.get("/healthz", *(b"X-%d: v" % n for n in range(10**5)))),
    "TE: identity, chunked + pipelined": _framing(b"Transfer-Encoding: identity, chunked"),
    "CL + TE + pipelined": _framing(b"Content-Length: 4\r\nTransfer-Encoding: chunked"),
    "50 silent connections": _silent,
    "10 connections dripping headers": _slow,
    "300 idle connections, 256 files": _flood,
}


# The run


async def _measure(
    candidates: Sequence[Candidate], engine_url: str, directory: Path, seconds: float
) -> dict[str, Any]:
    results: dict[str, Any] = {
        candidate.name: {"load": {}, "hostile": {}} for candidate in candidates
    }
    clock = Clock()
    # Two rounds in opposite orders, so that a table that grows or a neighbour that wakes up
    # weighs on every candidate alike; the figures are the means of both.
    for round_number, order in enumerate((candidates, tuple(reversed(candidates)))):
        for candidate in order:
            running = Running(candidate, engine_url, directory / f"{candidate.module}.log")
            try:
                for load in LOADS:
                    figures = await _load(running, load, seconds, clock)
                    results[candidate.name]["load"].setdefault(load, []).append(figures)
                    print(f"{candidate.name}: {load}: {figures}", flush=True)
                if round_number == 0:
                    for attempt, run in HOSTILE.items():
                        outcome = run(running)
                        results[candidate.name]["hostile"][attempt] = outcome
                        print(f"{candidate.name}: {attempt}: {outcome}", flush=True)
                    # After the flood, is it serving again?
                    time.sleep(1)
                    results[candidate.name]["hostile"]["afterwards, /healthz"] = (
                        f"{raw_http.healthz_seconds(running.port) * 1000:.0f} ms"
                    )
            finally:
                running.stop()
    return results


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    values = [run[key] for run in runs if run[key] is not None]
    return sum(values) / len(values) if values else float("nan")


def markdown(results: dict[str, Any]) -> str:
    names = list(results)
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for load in LOADS:
        per_s = [_mean(results[name]["load"][load], "requests_per_s") for name in names]
        cpu = [_mean(results[name]["load"][load], "server_cpu_us_per_request") for name in names]
        cells = [f"{rate:.0f}/s, {us:.0f} us" for rate, us in zip(per_s, cpu, strict=True)]
        lines.append(f"| {load} | " + " | ".join(cells) + " |")
    for attempt in [*HOSTILE, "afterwards, /healthz"]:
        cells = [results[name]["hostile"].get(attempt, "") for name in names]
        lines.append(f"| {attempt} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per load and round")
    parser.add_argument("--results", type=Path, default=ROOT / "build" / "servers" / "results.json")
    args = parser.parse_args(argv)
    candidates = [c for c in CANDIDATES if importlib.util.find_spec(c.module) is not None]
    skipped = sorted({c.module for c in CANDIDATES} - {c.module for c in candidates})
    if skipped:
        print(f"not installed, skipped: {', '.join(skipped)}", flush=True)
    directory = args.results.parent
    directory.mkdir(parents=True, exist_ok=True)
    procs.use_local_credentials()
    with procs.local_db(directory / "engine") as engine:
        subprocess.run(
            [sys.executable, "-m", "deploystatus", "init-table"],
            env=procs.child_environment(AWS_ENDPOINT_URL_DYNAMODB=engine.engine_url),
            check=True,
            capture_output=True,
            timeout=procs.START_TIMEOUT,
        )
        results = asyncio.run(_measure(candidates, engine.engine_url, directory, args.seconds))
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
