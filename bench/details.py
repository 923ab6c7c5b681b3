"""``python -m bench.details [--previous REF]``: what record details cost, in one run.

Two figures the record-details work is held to, measured side by side on one dynalite:

- the service's CPU per ``POST /records`` of one record with every detail, against one
  without (target: at most 1.3x), repetitions of the two interleaved;
- ``GET /current`` without options on this release against the previous release ``REF``
  (default ``2ceb039``, the last commit before details), each serving a table of its own
  that holds the same 1,000 deployables (target: no slower), repetitions interleaved.

The previous release runs from a git worktree under ``build/`` with this virtualenv. Results
go to ``docs/performance/details.json``; docs/performance.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deploystatus.storage._http1 import Endpoint

from . import procs
from .data import ENVIRONMENTS, rfc3339

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "performance" / "details.json"
COMPONENTS = 100  # x 10 environments = 1,000 deployables
WRITES, READS = 1000, 200  # requests per measurement (each one's CPU is read from /proc)
DETAILS = {
    "Version": "2024.07.30-1432-9fceb02",
    "Revision": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "Actor": "github-actions[bot]",
    "Link": "https://github.com/acme/payments-api/actions/runs/10176543210",
    "Message": "Merge pull request #1234 from acme/fix-connection-pool-timeouts",
    "CommitTimestamp": "2024-07-30T13:58:02Z",
}


def record(component: int, environment: int, nanos: int, state: str, detailed: bool) -> Any:
    sent = {
        "Component": f"payments-api-{component:03d}",
        "Environment": ENVIRONMENTS[environment],
        "State": state,
        "Timestamp": rfc3339(nanos),
    }
    return {**sent, **DETAILS} if detailed else sent


class Client:
    def __init__(self, url: str, connections: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        self._endpoint = Endpoint(host, int(port), tls=False, max_idle=connections)
        self._headers = (("Host", f"{host}:{port}"), ("Content-Type", "application/json"))

    async def post(self, records: Sequence[Any]) -> None:
        body = json.dumps({"Records": list(records)}).encode()
        status, text = await self._endpoint.request(
            "POST", "/records", self._headers, body, timeout=60.0
        )
        if (status, text) != (200, b"Ok"):
            raise procs.BenchError(f"POST /records: {status} {text[:200]!r}")

    async def get(self, path: str) -> bytes:
        status, content = await self._endpoint.request(
            "GET", path, self._headers[:1], b"", timeout=60.0
        )
        if status != 200:
            raise procs.BenchError(f"GET {path}: {status} {content[:200]!r}")
        return content

    def close(self) -> None:
        self._endpoint.close()


async def _fill(client: Client) -> None:
    """The 1,000 deployables, each with a success then a failure, with every detail."""
    clock = 1_700_000_000 * 10**9
    for state in ("deploy-success", "deploy-failed"):
        clock += 10**9
        batch = [
            record(c, e, clock + c * 10 + e, state, True)
            for c in range(COMPONENTS)
            for e in range(len(ENVIRONMENTS))
        ]
        await asyncio.gather(*(client.post(batch[i : i + 25]) for i in range(0, len(batch), 25)))


async def _cpu_per_request(
    server: procs.Started, requests: int, clients: int, send: Any
) -> dict[str, float]:
    """Server CPU (µs) and median latency (ms) per request over ``requests`` calls of
    ``send(i)`` from ``clients`` concurrent loops."""
    latencies: list[float] = []
    counter = iter(range(requests))

    async def loop() -> None:
        for i in counter:
            started = time.perf_counter()
            await send(i)
            latencies.append(time.perf_counter() - started)

    before = procs.cpu_seconds(server.pid)
    await asyncio.gather(*(loop() for _ in range(clients)))
    used = procs.cpu_seconds(server.pid) - before
    return {
        "server_cpu_us": round(used / requests * 1e6, 1),
        "p50_ms": round(statistics.median(latencies) * 1e3, 2),
    }


async def measure(now: procs.Started, before: procs.Started, reps: int) -> dict[str, Any]:
    fresh, old = Client(now.url, 8), Client(before.url, 8)
    try:
        await asyncio.gather(_fill(fresh), _fill(old))
        clock = [1_760_000_000 * 10**9]

        def writer(client: Client, detailed: bool) -> Any:
            async def send(i: int) -> None:
                clock[0] += 1000
                state = ("deploy-started", "deploy-success")[i % 2]
                one = record(i % COMPONENTS, i // COMPONENTS % 10, clock[0], state, detailed)
                await client.post([one])

            return send

        def reader(client: Client, path: str = "/current") -> Any:
            async def send(_: int) -> None:
                await client.get(path)

            return send

        series: dict[str, list[dict[str, float]]] = {
            "write_plain": [],
            "write_detailed": [],
            "write_previous": [],
            "write_previous_detailed": [],
            "current_now": [],
            "current_previous": [],
            "current_detailed": [],
        }
        for rep in range(reps + 1):  # the first repetition warms up and is dropped
            runs = {
                "write_plain": await _cpu_per_request(now, WRITES, 4, writer(fresh, False)),
                "write_detailed": await _cpu_per_request(now, WRITES, 4, writer(fresh, True)),
                "write_previous": await _cpu_per_request(before, WRITES, 4, writer(old, False)),
                # The previous release ignores details; sent so that both take as many writes.
                "write_previous_detailed": await _cpu_per_request(
                    before, WRITES, 4, writer(old, True)
                ),
                "current_now": await _cpu_per_request(now, READS, 2, reader(fresh)),
                "current_previous": await _cpu_per_request(before, READS, 2, reader(old)),
            }
            if rep:
                for name, run in runs.items():
                    series[name].append(run)
        # Last: the facts' memo a details read keeps would weigh on the plain reads after.
        detailed = reader(fresh, "/current?details=true")
        for rep in range(reps + 1):
            run = await _cpu_per_request(now, READS, 2, detailed)
            if rep:
                series["current_detailed"].append(run)
        medians = {
            name: {
                key: statistics.median(run[key] for run in runs)
                for key in ("server_cpu_us", "p50_ms")
            }
            for name, runs in series.items()
        }
        detailed = (
            medians["write_detailed"]["server_cpu_us"] / medians["write_plain"]["server_cpu_us"]
        )
        current = (
            medians["current_now"]["server_cpu_us"] / medians["current_previous"]["server_cpu_us"]
        )
        return {
            "medians": medians,
            "runs": series,
            "ratios": {
                "detailed_write_cpu": round(detailed, 3),
                "current_cpu_now_over_previous": round(current, 3),
                "current_p50_now_over_previous": round(
                    medians["current_now"]["p50_ms"] / medians["current_previous"]["p50_ms"], 3
                ),
                "write_cpu_now_over_previous": round(
                    medians["write_plain"]["server_cpu_us"]
                    / medians["write_previous"]["server_cpu_us"],
                    3,
                ),
            },
        }
    finally:
        fresh.close()
        old.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.details", description=__doc__)
    parser.add_argument("--previous", default="2ceb039", help="the release to compare with")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (after a warm-up)")
    args = parser.parse_args(argv)
    procs.use_local_credentials()
    previous = procs.previous_release(args.previous)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-details-") as directory:
        where = Path(directory)
        with (
            procs.local_db(where / "engine") as engine,
            procs.serve_table(where, engine, table="now") as now,
            procs.serve_table(
                where,
                engine,
                table="previous",
                role="previous",
                extra_env={"PYTHONPATH": str(previous / "src")},
            ) as before,
        ):
            results = asyncio.run(measure(now, before, args.reps))
    results.update(
        previous=args.previous,
        seconds=round(time.monotonic() - started),
        command=f"python -m bench.details --previous {args.previous} --reps {args.reps}",
        machine=procs.machine(),
    )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    ratios = results["ratios"]
    print(json.dumps(results["medians"], indent=2))
    print(
        f"detailed write: {ratios['detailed_write_cpu']}x the server CPU of a plain one "
        f"(target <= 1.3); /current: {ratios['current_cpu_now_over_previous']}x the server "
        f"CPU of {args.previous} (target <= 1.0), p50 {ratios['current_p50_now_over_previous']}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
