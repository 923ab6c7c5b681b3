"""Soak: steady writes and reads against ``deploystatus dev`` for minutes (``make soak``).

Starts ``deploystatus dev`` (dynalite, a fresh data dir) on free loopback ports, then for
``--seconds`` runs writer threads (POST /records at a steady pace, batches over a fixed set
of deployables) and reader threads (GET /current and /historical/{component}). Every answer
but ``200`` is an error, and so is a connection failure. At the end the current state is
checked against what was written, and the report gives errors (must be 0), latency
percentiles, throughput, and the resident memory (RSS) of the API process and of the engine
at start, after warm-up, at the end and at peak. Exit status 0 only with no error.

Talks to 127.0.0.1 only; every loop is bounded by ``--seconds``; the server is stopped at
the end whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
COMPONENTS = [f"soak-{i:02d}.svc" for i in range(40)]
ENVIRONMENTS = ["dev", "staging", "prod-eu"]
STATES = ["deploy-started", "deploy-success", "deploy-failed"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rss_kib(pid: int) -> int | None:
    """Resident set size from /proc (None where there is no /proc or no such process)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc/self").exists() else []:
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def call(url: str, data: bytes | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data)
    try:
        with _http.open(request, timeout=timeout) as response:
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            if error is not None:
                self.errors[error] = self.errors.get(error, 0) + 1
                if len(self.examples) < 10:
                    self.examples.append(f"{kind}: {error}")

    def counts(self) -> tuple[int, int]:
        """Requests so far, and errors among them."""
        with self.lock:
            return sum(map(len, self.latencies.values())), sum(self.errors.values())


PROGRESS_SECONDS = 10.0  # a progress line this often


def progress_line(elapsed: float, total: float, requests: int, errors: int) -> str:
    return f"soak: {min(elapsed, total):.0f}s/{total:g}s, {requests} requests, {errors} errors"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


@dataclass
class Writer:
    """Posts batches at a steady pace; remembers the latest record of each deployable."""

    index: int
    url: str
    batch_size: int
    latest: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    sequence: int = 0

    def batch(self) -> list[dict[str, str]]:
        rng = random.Random(self.index * 1_000_003 + self.sequence)
        records = []
        for _ in range(self.batch_size):
            self.sequence += 1
            # Writers own disjoint instants (index in the nanoseconds), all moving forward.
            base = 1_700_000_000 + self.sequence
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base))
            record = {
                "Component": rng.choice(COMPONENTS),
                "Environment": rng.choice(ENVIRONMENTS),
                "State": rng.choice(STATES),
                "Timestamp": f"{stamp}.{self.index:09d}Z",
            }
            records.append(record)
        return records

    def run(self, tally: Tally, until: float, pace: float) -> None:
        next_at = time.monotonic()
        while time.monotonic() < until:
            records = self.batch()
            started = time.perf_counter()
            error = None
            try:
                status, body = call(
                    f"{self.url}/records", json.dumps({"Records": records}).encode()
                )
                if (status, body) != (200, b"Ok"):
                    error = f"{status} {body[:120]!r}"
            except OSError as exc:
                error = f"connection: {exc!r}"
            tally.add("write", time.perf_counter() - started, error)
            if error is None:
                for record in records:
                    key = (record["Component"], record["Environment"])
                    rank = (record["Timestamp"], record["State"])
                    if key not in self.latest or rank > self.latest[key]:
                        self.latest[key] = rank
            next_at += pace
            time.sleep(max(0.0, next_at - time.monotonic()))


def reader(url: str, tally: Tally, until: float, pace: float, seed: int) -> None:
    rng = random.Random(seed)
    next_at = time.monotonic()
    while time.monotonic() < until:
        if rng.random() < 0.5:
            kind, path = "read /current", "/current"
        else:
            kind, path = "read /historical", f"/historical/{rng.choice(COMPONENTS)}"
        started = time.perf_counter()
        error = None
        try:
            status, body = call(url + path)
            if status != 200 or not body.startswith(b'{"Records":['):
                error = f"{status} {body[:120]!r}"
        except OSError as exc:
            error = f"connection: {exc!r}"
        tally.add(kind, time.perf_counter() - started, error)
        next_at += pace
        time.sleep(max(0.0, next_at - time.monotonic()))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: {what} not within {timeout}s")
        time.sleep(0.2)


def ready(url: str) -> bool:
    try:
        return call(f"{url}/readyz", timeout=2)[0] == 200
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="default %(default)s")
    parser.add_argument("--warmup", type=float, default=10.0, help="default %(default)s")
    parser.add_argument("--writers", type=int, default=4, help="default %(default)s")
    parser.add_argument("--readers", type=int, default=4, help="default %(default)s")
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s per thread")
    parser.add_argument("--batch-size", type=int, default=10, help="default %(default)s")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    port, db_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DEPLOYSTATUS_", "AWS_ENDPOINT_URL")) and key != "TZ"
    }
    env.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_REGION="us-east-1")
    env["DEPLOYSTATUS_LOG_LEVEL"] = "warning"  # the access log would dominate the run
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as data_dir,
        open(Path(data_dir) / "server.log", "wb") as log,
    ):
        command = [
            sys.executable, "-m", "deploystatus", "dev",
            "--port", str(port), "--db-port", str(db_port), "--data-dir", data_dir,
        ]  # fmt: skip
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        try:
            wait_until(lambda: ready(url) or server.poll() is not None, 60, "/readyz 200")
            if server.poll() is not None:
                raise SystemExit(f"soak: the server exited: {Path(log.name).read_text()[-2000:]}")
            engines = children(server.pid)
            memory: dict[str, dict[str, int | None]] = {
                "api": {"start": rss_kib(server.pid)},
                "engine": {"start": sum(rss_kib(pid) or 0 for pid in engines) or None},
            }
            print(f"soak: {url} ready; {args.seconds:g}s, {args.writers} writers and "
                  f"{args.readers} readers at {args.rate:g}/s each", flush=True)  # fmt: skip

            tally = Tally()
            began = time.monotonic()
            until = began + args.seconds
            writers = [Writer(i, url, args.batch_size) for i in range(args.writers)]
            threads = [
                threading.Thread(target=w.run, args=(tally, until, 1 / args.rate)) for w in writers
            ] + [
                threading.Thread(target=reader, args=(url, tally, until, 1 / args.rate, i))
                for i in range(args.readers)
            ]
            for thread in threads:
                thread.start()
            peak = {"api": 0, "engine": 0}
            warm_taken = False
            next_progress = began + PROGRESS_SECONDS
            while any(thread.is_alive() for thread in threads):
                time.sleep(1.0)
                if time.monotonic() >= next_progress:
                    next_progress += PROGRESS_SECONDS
                    line = progress_line(time.monotonic() - began, args.seconds, *tally.counts())
                    print(line, flush=True)
                api, engine = rss_kib(server.pid), sum(rss_kib(p) or 0 for p in engines)
                peak["api"] = max(peak["api"], api or 0)
                peak["engine"] = max(peak["engine"], engine)
                if not warm_taken and time.monotonic() - began >= args.warmup:
                    memory["api"]["warm"], memory["engine"]["warm"] = api, engine
                    warm_taken = True
                if time.monotonic() > until + 120:
                    raise SystemExit("soak: workers did not stop in time")
            elapsed = time.monotonic() - began
            memory["api"]["end"] = rss_kib(server.pid)
            memory["engine"]["end"] = sum(rss_kib(pid) or 0 for pid in engines)
            memory["api"]["peak"], memory["engine"]["peak"] = peak["api"], peak["engine"]

            # What was acknowledged is what is current.
            expected: dict[tuple[str, str], tuple[str, str]] = {}
            for writer in writers:
                for key, rank in writer.latest.items():
                    if key not in expected or rank > expected[key]:
                        expected[key] = rank
            status, body = call(f"{url}/current")
            current = {
                (r["Component"], r["Environment"]): r["State"] for r in json.loads(body)["Records"]
            }
            consistent = status == 200 and current == {k: v[1] for k, v in expected.items()}
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    errors = sum(tally.errors.values())
    figures: dict[str, Any] = {
        "seconds": round(elapsed, 1),
        "writers": args.writers,
        "readers": args.readers,
        "rate_per_thread": args.rate,
        "batch_size": args.batch_size,
        "errors": errors,
        "error_examples": tally.examples,
        "current_matches_writes": consistent,
        "server_exit_status": server.returncode,
        "requests": {},
        "rss_kib": memory,
        "machine": f"{os.cpu_count()} cores",
        "command": "make soak SOAK_SECONDS=" + f"{args.seconds:g}",
    }
    print(f"\n{'requests':<18}{'count':>8}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for kind, values in sorted(tally.latencies.items()):
        row = {
            "count": len(values),
            "per_second": round(len(values) / elapsed, 1),
            "p50_ms": round(statistics.median(values) * 1000, 1),
            "p99_ms": round(percentile(values, 0.99) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
        }
        figures["requests"][kind] = row
        print(f"{kind:<18}{row['count']:>8}{row['per_second']:>8}{row['p50_ms']:>9}"
              f"{row['p99_ms']:>9}{row['max_ms']:>9}")  # fmt: skip
    records = figures["requests"].get("write", {}).get("count", 0) * args.batch_size
    figures["records_written"] = records
    for name, samples in memory.items():
        shown = ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in samples.items() if v)
        print(f"RSS {name}: {shown}")
    print(f"errors: {errors} {tally.examples[:3] if errors else ''}")
    print(f"current state matches what was acknowledged: {consistent}")
    print(f"server exit status: {server.returncode}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if errors == 0 and consistent and server.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
