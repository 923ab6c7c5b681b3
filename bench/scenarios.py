"""What the bench measures. Each scenario starts its own service on fresh data, loads it
through the API, measures the service and the engine alone, and returns plain JSON data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deploystatus.storage._http1 import ConnectionFailed
from deploystatus.storage.dynamodb import DynamoDBError

from . import procs
from .data import Clock, Sent, WriteWorkload, deployables, history_batches
from .engine import Engine, engine_client
from .load import Http, Outcome, run_clients
from .stats import latency_summary, percentile, ratio

LOAD_TIMEOUT = 1800.0  # no load step of a sane profile comes near it
WARM_UP_RECORDS = 1000
# Before a read is timed, the service and the engine alone each serve it at least this many
# times, and for at least the profile's ``warm_up_seconds``: a fresh dynalite runs V8's
# first-tier code for its first few thousand calls (8 concurrent `Query` calls over 200
# deployables, on a new engine: 6.7 ms for the first 50, 2.5 ms after about 3 s of them).
# A polling dashboard meets a warm engine; the figures are the steady state.
WARM_UP_REQUESTS = 20
MARKER = "mark"  # every deployable's current state (/current)
LOAD_ATTEMPTS = 10


@dataclass(frozen=True)
class Profile:
    name: str
    write_batches: tuple[int, ...]
    write_clients: tuple[int, ...]
    write_reps: int
    write_seconds: float  # per repetition (at least one request per client)
    current_deployables: tuple[int, ...]
    current_multipliers: tuple[int, ...]
    current_samples: int
    current_seconds: float  # time bound of the samples of one point
    warm_up_seconds: float  # of each read point, before it is timed (WARM_UP_REQUESTS)
    reference_multipliers: tuple[int, ...]  # at 200 deployables, the reference's figures
    historical_sizes: tuple[int, ...]
    historical_samples: int
    historical_seconds: float
    mixed_seconds: float
    workers: tuple[int, ...]
    workers_seconds: float
    load_clients: int = 8
    load_batch: int = 1000  # DEPLOYSTATUS_MAX_RECORDS' default
    mixed_writers: int = 8
    mixed_readers: int = 8
    mixed_batch: int = 25


DEFAULT = Profile(
    name="default",
    write_batches=(1, 25, 500),
    write_clients=(1, 8, 32),
    write_reps=3,
    write_seconds=1.5,
    current_deployables=(100, 1000, 10000),
    current_multipliers=(1, 10, 100),
    current_samples=100,
    current_seconds=4.0,
    warm_up_seconds=3.0,
    reference_multipliers=(5, 50),
    historical_sizes=(1000, 10000, 100000),
    historical_samples=30,  # fewer for the longest histories: the time bound stops them
    historical_seconds=6.0,
    mixed_seconds=30.0,
    workers=(1, 2),
    workers_seconds=2.0,
)

QUICK = Profile(
    name="quick",
    write_batches=(1, 25, 500),
    write_clients=(1, 8, 32),
    write_reps=3,
    write_seconds=0.4,
    current_deployables=(100, 1000),
    current_multipliers=(1, 10, 100),
    current_samples=10,
    current_seconds=1.0,
    warm_up_seconds=1.0,
    reference_multipliers=(5,),
    historical_sizes=(1000, 10000),
    historical_samples=5,
    historical_seconds=1.5,
    mixed_seconds=6.0,
    workers=(),
    workers_seconds=0.0,
)

SCENARIOS = ("writes", "current", "historical", "mixed", "workers")


class Log:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


log = Log()


# Loading data through the API


async def load(url: str, batches: Iterable[list[Sent]], clients: int) -> dict[str, Any]:
    """POST every batch, ``clients`` at a time. A 503 is retried after a pause, as a real
    writer does (resending is safe); any other error stops the bench."""
    pending: Iterator[list[Sent]] = iter(batches)
    outcome = Outcome()
    deadline = time.monotonic() + LOAD_TIMEOUT
    started = time.perf_counter()
    async with Http(url, clients) as http:

        async def worker() -> None:
            for batch in pending:
                for attempt in range(LOAD_ATTEMPTS):
                    if time.monotonic() > deadline:
                        raise procs.BenchError(f"loading took over {LOAD_TIMEOUT}s")
                    status = await http.post(batch, outcome)
                    if status == 200:
                        break
                    if status != 503 or attempt == LOAD_ATTEMPTS - 1:
                        raise procs.BenchError(f"loading failed: {outcome.error_examples}")
                    await asyncio.sleep(min(0.1 * 2**attempt, 2.0))

        await asyncio.gather(*(worker() for _ in range(clients)))
    seconds = time.perf_counter() - started
    return {
        "records": outcome.records,
        "seconds": round(seconds, 3),
        "records_per_s": round(outcome.records / seconds, 1),
        "retried_503": outcome.errors,
    }


# Writes


async def _service_rep(
    http: Http, workload: WriteWorkload, clients: int, seconds: float
) -> tuple[float, Outcome]:
    outcome = Outcome()
    max_steps = max(1, math.ceil(50_000 / (clients * workload.size)))
    elapsed = await run_clients(
        clients,
        lambda _: http.post(workload.next_batch(), outcome),
        seconds=seconds,
        max_steps=max_steps,
    )
    return elapsed, outcome


async def _engine_rep(
    engine: Engine, workload: WriteWorkload, clients: int, seconds: float
) -> tuple[float, Outcome]:
    outcome = Outcome()

    async def step(_: int) -> None:
        batch = workload.next_batch()
        started = time.perf_counter()
        await engine.put(batch)
        outcome.seconds.append(time.perf_counter() - started)
        outcome.records += len(batch)

    max_steps = max(1, math.ceil(50_000 / (clients * workload.size)))
    elapsed = await run_clients(clients, step, seconds=seconds, max_steps=max_steps)
    return elapsed, outcome


def _throughput(reps: Sequence[tuple[float, Outcome]]) -> dict[str, Any]:
    rates = [outcome.records / elapsed for elapsed, outcome in reps]
    latencies = [s for _, outcome in reps for s in outcome.seconds]
    return {
        "records_per_s": round(percentile(rates, 50), 1),
        "records_per_s_min": round(min(rates), 1),
        "records_per_s_max": round(max(rates), 1),
        "reps": [
            {"records": o.records, "seconds": round(e, 3), "records_per_s": round(o.records / e, 1)}
            for e, o in reps
        ],
        "request_latency": latency_summary(latencies),
        "errors": sum(outcome.errors for _, outcome in reps),
        "error_examples": [x for _, outcome in reps for x in outcome.error_examples][:5],
    }


async def writes(profile: Profile, directory: Path) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with procs.dev_service(directory / "writes", "writes") as service:
        clock = Clock()
        async with engine_client(service.engine_url, procs.TABLE) as engine:
            for size in profile.write_batches:
                for clients in profile.write_clients:
                    name = f"{size}x{clients}"
                    svc_load = WriteWorkload(f"svc{size}x{clients}", size, clock)
                    eng_load = WriteWorkload(f"eng{size}x{clients}", size, clock)
                    service_reps: list[tuple[float, Outcome]] = []
                    engine_reps: list[tuple[float, Outcome]] = []
                    async with Http(service.url, clients) as http:
                        if size * clients <= WARM_UP_RECORDS:
                            # Warm both paths (connections, first writes of the deployables);
                            # a larger round is long enough not to need it.
                            await _service_rep(http, svc_load, clients, 0.2)
                            await _engine_rep(engine, eng_load, clients, 0.2)
                        # Interleaved, so that a noisy neighbour hits both alike.
                        server_cpu = 0.0
                        for _ in range(profile.write_reps):
                            cpu = procs.cpu_seconds(service.pid)
                            service_reps.append(
                                await _service_rep(http, svc_load, clients, profile.write_seconds)
                            )
                            server_cpu += procs.cpu_seconds(service.pid) - cpu
                            engine_reps.append(
                                await _engine_rep(engine, eng_load, clients, profile.write_seconds)
                            )
                    result: dict[str, Any] = {
                        "batch": size,
                        "clients": clients,
                        "deployables_per_batch": svc_load.per_batch,
                        "dynamodb_calls_per_batch": {
                            "BatchWriteItem": math.ceil(size / 25),
                            "PutItem": svc_load.per_batch,
                        },
                        "service": _throughput(service_reps),
                        "engine": _throughput(engine_reps),
                    }
                    written = sum(outcome.records for _, outcome in service_reps)
                    # CPU time is steadier than wall time on a shared machine.
                    result["service"]["server_cpu_us_per_record"] = round(
                        server_cpu / max(written, 1) * 1e6, 1
                    )
                    result["ratio"] = ratio(
                        result["service"]["records_per_s"], result["engine"]["records_per_s"]
                    )
                    log(
                        f"writes {name}: service {result['service']['records_per_s']:.0f}/s, "
                        f"engine {result['engine']['records_per_s']:.0f}/s, "
                        f"ratio {result['ratio']}"
                    )
                    results.append(result)
    return results


# GET /current


async def _warm_up(
    service: Callable[[], Awaitable[Any]],
    engine: Callable[[], Awaitable[Any]],
    seconds: float,
    requests: int = WARM_UP_REQUESTS,
) -> None:
    """Both paths in turns, ``requests`` times each and for ``seconds`` at least."""
    deadline = time.perf_counter() + seconds
    done = 0
    while done < requests or time.perf_counter() < deadline:
        await service()
        await engine()
        done += 1


Timed = tuple[list[float], list[Any], list[float], list[Any]]  # service, engine: latencies, results


async def _sample(
    pairs: Sequence[tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]],
    samples: int,
    seconds: float,
    minimum: int = 3,
) -> list[Timed]:
    """Up to ``samples`` sequential calls of each ``service()`` and ``engine()`` of every
    pair, at least ``minimum``, and no more once ``seconds`` have passed: interleaved, in
    turns (each pair's service then engine, then the other way round, pairs in turn), so
    that all meet the same machine (another process's burst, a drift over minutes).
    Returns, per pair, the latencies and results of its service and of its engine."""
    timed: list[Timed] = [([], [], [], []) for _ in pairs]
    indexed = list(enumerate(pairs))
    deadline = time.perf_counter() + seconds
    for done in range(samples):
        if done >= minimum and time.perf_counter() > deadline:
            break
        forward = done % 2 == 0
        for index, (service, engine) in indexed if forward else indexed[::-1]:
            latencies, values, engine_latencies, engine_values = timed[index]
            calls = ((service, latencies, values), (engine, engine_latencies, engine_values))
            for call, spent, results in calls if forward else calls[::-1]:
                started = time.perf_counter()
                results.append(await call())
                spent.append(time.perf_counter() - started)
    return timed


def _cpu_ms_per_request(seconds: float, requests: int) -> float:
    return round(seconds / requests * 1000, 2)


def _check_current(content: bytes | None, expected: int, marker: str) -> bool:
    """Complete: every deployable once, each at its newest state."""
    if content is None:
        return False
    records = json.loads(content)["Records"]
    deployables_seen = {(r["Component"], r["Environment"]) for r in records}
    return len(records) == expected == len(deployables_seen) and all(
        r["State"] == marker for r in records
    )


def _current_result(
    count: int,
    multiplier: int,
    outcome: Outcome,
    timed: Timed,
    server_cpu: float,
) -> dict[str, Any]:
    latencies, bodies, engine_latencies, counts = timed
    complete = outcome.errors == 0 and _check_current(bodies[0], count, MARKER)
    complete = complete and _check_current(bodies[-1], count, MARKER)
    result: dict[str, Any] = {
        "deployables": count,
        "multiplier": multiplier,
        "history": count * multiplier,
        "service": latency_summary(latencies),
        "engine": latency_summary(engine_latencies),
        "complete": complete and all(c == count for c in counts),
        "errors": outcome.errors,
        "body_bytes": len(bodies[0] or b""),
        # CPU time is steadier than wall time on a shared machine.
        "server_cpu_ms_per_request": _cpu_ms_per_request(server_cpu, len(latencies)),
    }
    result["ratio_to_engine"] = ratio(result["service"]["p50_ms"], result["engine"]["p50_ms"])
    log(
        f"/current {count} deployables x{multiplier}: p50 {result['service']['p50_ms']:.1f} ms "
        f"(engine {result['engine']['p50_ms']:.1f} ms), complete {result['complete']}"
    )
    return result


@dataclass
class _Series:
    points: list[dict[str, Any]]
    loads: list[dict[str, Any]]
    after_load: dict[str, Any]
    mixed: dict[str, Any] | None


async def _current_series(
    profile: Profile,
    directory: Path,
    count: int,
    multipliers: Sequence[int],
    with_mixed: bool,
) -> _Series:
    """One deployable count at every history size, timed side by side; the mixed load on
    the largest history if asked.

    Each history size is a table of its own in one engine, and the sizes are timed in
    turns, request by request: the machine drifts by a third over minutes, and a ratio of
    two points timed minutes apart measured the drift. In every table each deployable's
    records are posted together, the newest last, so its current item is written once:
    dynalite's LevelDB keeps every overwritten version of an item until it compacts them,
    and rewriting each current item 2 and 9 times made the engine alone 1.16x and 1.47x
    slower to query them with no history added (bench/changes.md, change 9), a cost of
    churn at the local engine, not of history size.

    A table is loaded through a service of its own and read through another, started once
    the data is in: a process that has just taken a million records reads more slowly
    whatever the table's size (change 9), and the figure that matters compares sizes, not
    processes' pasts. That slowdown is measured on its own (`_after_load`)."""
    name = f"current-{count}"
    pool = deployables("cur", count)
    clock = Clock()
    loads: list[dict[str, Any]] = []
    tables = {m: f"{procs.TABLE}-{count}-x{m}" for m in multipliers}
    largest = max(multipliers)
    with procs.local_db(directory / name) as db, contextlib.ExitStack() as services:
        loaders = {
            m: services.enter_context(
                procs.serve_table(directory / name, db, tables[m], role="load")
            )
            for m in multipliers
        }
        async with contextlib.AsyncExitStack() as engines:
            alone = {
                m: await engines.enter_async_context(engine_client(db.engine_url, tables[m]))
                for m in multipliers
            }
            for m in multipliers:
                batches = history_batches(pool, m, profile.load_batch, clock, MARKER)
                loaded = await load(loaders[m].url, batches, profile.load_clients)
                loads.append({"deployables": count, "multiplier": m, **loaded})
                log(
                    f"loaded {loaded['records']} records for {count} deployables "
                    f"({loaded['records_per_s']:.0f}/s)"
                )
            served = {
                m: services.enter_context(procs.serve_table(directory / name, db, tables[m]))
                for m in multipliers
            }
            async with contextlib.AsyncExitStack() as clients:
                http = {
                    m: await clients.enter_async_context(Http(served[m].url, 1))
                    for m in multipliers
                }
                outcomes = {m: Outcome() for m in multipliers}

                def read(m: int) -> Callable[[], Awaitable[bytes | None]]:
                    return lambda: http[m].get("/current", outcomes[m])

                for m in multipliers:
                    await _warm_up(read(m), alone[m].current_items, profile.warm_up_seconds)
                cpu = {m: procs.cpu_seconds(served[m].pid) for m in multipliers}
                # Every size in turns (service, engine alone), round after round.
                timed = await _sample(
                    [(read(m), alone[m].current_items) for m in multipliers],
                    profile.current_samples,
                    profile.current_seconds * len(multipliers),
                )
                points = [
                    _current_result(
                        count,
                        m,
                        outcomes[m],
                        timed[i],
                        procs.cpu_seconds(served[m].pid) - cpu[m],
                    )
                    for i, m in enumerate(multipliers)
                ]
            after_load = await _after_load(
                profile, points[-1], loads[-1]["records"], loaders[largest], served[largest]
            )
            mixed: dict[str, Any] | None = None
            if with_mixed:
                mixed = await _mixed(
                    profile, served[largest], alone[largest], pool, clock, points[-1]
                )
    return _Series(points, loads, after_load, mixed)


async def _after_load(
    profile: Profile,
    point: dict[str, Any],
    loaded: int,
    loader: procs.Started,
    fresh: procs.Started,
) -> dict[str, Any]:
    """``point``'s table read by the service that loaded it and by the one started after,
    in turns: what a process's past (``loaded`` records taken) costs its reads."""
    outcome = Outcome()
    async with Http(loader.url, 1) as by_loader, Http(fresh.url, 1) as by_fresh:

        def read(http: Http) -> Callable[[], Awaitable[bytes | None]]:
            return lambda: http.get("/current", outcome)

        await _warm_up(read(by_loader), read(by_fresh), profile.warm_up_seconds)
        loader_cpu, fresh_cpu = procs.cpu_seconds(loader.pid), procs.cpu_seconds(fresh.pid)
        [(loader_times, _, fresh_times, _)] = await _sample(
            [(read(by_loader), read(by_fresh))], profile.current_samples, profile.current_seconds
        )
        loader_cpu = procs.cpu_seconds(loader.pid) - loader_cpu
        fresh_cpu = procs.cpu_seconds(fresh.pid) - fresh_cpu

    def summary(times: list[float], seconds: float) -> dict[str, Any]:
        return {
            **latency_summary(times),
            "server_cpu_ms_per_request": _cpu_ms_per_request(seconds, len(times)),
        }

    result = {
        "deployables": point["deployables"],
        "history": point["history"],
        "records_loaded": loaded,
        "loader": summary(loader_times, loader_cpu),
        "fresh": summary(fresh_times, fresh_cpu),
        "errors": outcome.errors,
    }
    log(
        f"/current {point['deployables']} x{point['multiplier']}, read by the service that "
        f"loaded it: p50 {result['loader']['p50_ms']:.1f} ms, CPU "
        f"{result['loader']['server_cpu_ms_per_request']:.1f} ms; by a fresh one: "
        f"{result['fresh']['p50_ms']:.1f} ms, {result['fresh']['server_cpu_ms_per_request']:.1f}"
    )
    return result


MIXED_DEPLOYABLES = 1000


async def current(profile: Profile, directory: Path, with_mixed: bool) -> dict[str, Any]:
    """``/current`` at every deployable count and history size; the mixed load runs on the
    1,000-deployable data (or the largest there is) once its history is complete."""
    points: list[dict[str, Any]] = []
    loads: list[dict[str, Any]] = []
    after_load: list[dict[str, Any]] = []
    mixed: dict[str, Any] | None = None
    series = [(count, profile.current_multipliers) for count in profile.current_deployables]
    if profile.reference_multipliers:
        series.insert(1, (200, profile.reference_multipliers))
    counts = profile.current_deployables
    mixed_on = MIXED_DEPLOYABLES if MIXED_DEPLOYABLES in counts else max(counts, default=0)
    for count, multipliers in series:
        done = await _current_series(
            profile, directory, count, multipliers, with_mixed and count == mixed_on
        )
        points.extend(done.points)
        loads.extend(done.loads)
        after_load.append(done.after_load)
        mixed = done.mixed or mixed
    return {"points": points, "loads": loads, "after_load": after_load, "mixed": mixed}


# Mixed load


async def _mixed(
    profile: Profile,
    service: procs.Started,
    engine: Engine,
    pool: Sequence[tuple[str, str]],
    clock: Clock,
    idle: dict[str, Any],
) -> dict[str, Any]:
    """Writers posting 25-record batches to the deployables while readers read /current and
    /historical/{component}, for a fixed time, through the service and, as much time again,
    straight to the engine as a client of the table would (`_MixedPath`).

    The table grows and its current items are rewritten during the load, and a later
    phase would meet a slower table: each path runs half its time in two phases, in the
    order service, engine, engine, service."""
    workload = WriteWorkload("cur", profile.mixed_batch, clock)
    components = sorted({component for component, _ in pool})
    half = profile.mixed_seconds / 2
    async with (
        Http(service.url, profile.mixed_writers) as writers,
        Http(service.url, profile.mixed_readers) as readers,
    ):
        through = _MixedPath(
            write=lambda outcome: writers.post(workload.next_batch(), outcome),
            current=lambda outcome: readers.get("/current", outcome),
            history=lambda name, outcome: readers.get(f"/historical/{name}", outcome),
        )

        async def put(outcome: Outcome) -> None:
            batch = workload.next_batch()
            if await _timed(engine.put(batch), outcome):
                outcome.records += len(batch)

        alone = _MixedPath(
            write=put,
            current=lambda outcome: _timed(engine.current_items(), outcome),
            history=lambda name, outcome: _timed(engine.history_items(name), outcome),
        )
        for path in (through, alone, alone, through):
            await path.run(profile, components, half)
    result = through.summary(profile, idle["service"]["p50_ms"])
    result.update(deployables=len(pool), history_records=idle["history"])
    result["engine"] = alone.summary(profile, idle["engine"]["p50_ms"])
    log(
        f"mixed: {result['records_per_s']:.0f} records/s written, /current p99 "
        f"{result['endpoints']['GET /current']['p99_ms']:.1f} ms, errors {result['errors']}; "
        f"engine alone: {result['engine']['records_per_s']:.0f} records/s, p99 "
        f"{result['engine']['endpoints']['GET /current']['p99_ms']:.1f} ms"
    )
    return result


async def _timed(call: Awaitable[Any], outcome: Outcome) -> bool:
    """An engine-alone step, timed and counted as `Http` does the service's requests: True
    once it succeeded, an error of the engine or the connection counted, not raised."""
    started = time.perf_counter()
    try:
        await call
    except (DynamoDBError, ConnectionFailed, TimeoutError) as exc:
        outcome.fail(repr(exc))
        return False
    outcome.seconds.append(time.perf_counter() - started)
    return True


@dataclass
class _MixedPath:
    """One path of the mixed load, and what its writers and readers got over its phases.

    Readers take turns: a read of every current state, then a component's whole history,
    components in turn. Through the service these are the endpoints; straight to the engine
    they are the store's calls for them: each reader makes its own read, where the service
    shares one between the callers of a moment (shared_read.py)."""

    write: Callable[[Outcome], Awaitable[Any]]
    current: Callable[[Outcome], Awaitable[Any]]
    history: Callable[[str, Outcome], Awaitable[Any]]
    posts: Outcome = field(default_factory=Outcome)
    currents: Outcome = field(default_factory=Outcome)
    histories: Outcome = field(default_factory=Outcome)
    seconds: float = 0.0

    async def run(self, profile: Profile, components: Sequence[str], seconds: float) -> None:
        turn = 0

        async def read(_: int) -> None:
            nonlocal turn
            turn += 1
            if turn % 2:
                await self.current(self.currents)
            else:
                await self.history(components[turn // 2 % len(components)], self.histories)

        started = time.perf_counter()
        await asyncio.gather(
            run_clients(
                profile.mixed_writers,
                lambda _: self.write(self.posts),
                seconds=seconds,
                max_steps=100_000,
            ),
            run_clients(profile.mixed_readers, read, seconds=seconds, max_steps=100_000),
        )
        self.seconds += time.perf_counter() - started

    def summary(self, profile: Profile, idle_p50_ms: float) -> dict[str, Any]:
        outcomes = (self.posts, self.currents, self.histories)
        result: dict[str, Any] = {
            "seconds": round(self.seconds, 2),
            "writers": profile.mixed_writers,
            "readers": profile.mixed_readers,
            "batch": profile.mixed_batch,
            "records_written": self.posts.records,
            "records_per_s": round(self.posts.records / self.seconds, 1),
            "endpoints": {
                "POST /records": latency_summary(self.posts.seconds),
                "GET /current": latency_summary(self.currents.seconds),
                "GET /historical/{component}": latency_summary(self.histories.seconds),
            },
            "errors": sum(outcome.errors for outcome in outcomes),
            "error_examples": [x for outcome in outcomes for x in outcome.error_examples][:10],
            "idle_current_p50_ms": idle_p50_ms,
        }
        result["current_p99_over_idle_p50"] = ratio(
            result["endpoints"]["GET /current"]["p99_ms"], idle_p50_ms
        )
        return result


# GET /historical/{component}


class _RssSampler:
    """Samples a process's RSS from a thread while a request is served."""

    def __init__(self, pid: int | None) -> None:
        """``pid`` None: sample nothing (``peak_kib`` stays 0)."""
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        assert self.pid is not None
        for _ in range(10_000_000):
            rss = procs.memory_kib(self.pid).get("VmRSS", 0)
            self.peak_kib = max(self.peak_kib, rss)
            if self._stop.wait(0.005):
                return

    def __enter__(self) -> _RssSampler:
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.pid is not None:
            self._stop.set()
            self._thread.join(5)


async def historical(profile: Profile, directory: Path) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    clock = Clock()
    with procs.dev_service(directory / "historical", "historical") as service:
        async with engine_client(service.engine_url, procs.TABLE) as engine:
            for size in profile.historical_sizes:
                pool = deployables(f"hist{size}", 4, environments=4)
                component = pool[0][0]
                batches = history_batches(pool, size // 4, profile.load_batch, clock, "last")
                loaded = await load(service.url, batches, profile.load_clients)
                log(f"loaded {loaded['records']} records of {component}")
                largest = size == max(profile.historical_sizes)
                outcome = Outcome()
                async with Http(service.url, 1) as http:

                    async def read(
                        path: str = f"/historical/{component}", outcome: Outcome = outcome
                    ) -> bytes | None:
                        return await http.get(path, outcome)

                    async def read_engine(name: str = component) -> int:
                        return await engine.history_items(name)

                    await _warm_up(
                        read,
                        read_engine,
                        profile.warm_up_seconds,
                        WARM_UP_REQUESTS if size <= 10_000 else 1,
                    )
                    idle = procs.memory_kib(service.pid)
                    peak_reset = largest and procs.reset_peak_rss(service.pid)
                    cpu = procs.cpu_seconds(service.pid)
                    # RSS is a figure of the largest history only (the sampling thread
                    # costs the client some time, service and engine alike).
                    with _RssSampler(service.pid if largest else None) as sampler:
                        [(latencies, bodies, engine_latencies, engine_counts)] = await _sample(
                            [(read, read_engine)],
                            profile.historical_samples,
                            profile.historical_seconds,
                            minimum=2,
                        )
                    server_cpu = procs.cpu_seconds(service.pid) - cpu
                    after = procs.memory_kib(service.pid)
                counts = {len(json.loads(b)["Records"]) if b else -1 for b in bodies}
                service_summary = latency_summary(latencies)
                engine_summary = latency_summary(engine_latencies)
                peak = max(sampler.peak_kib, after.get("VmHWM", 0) if peak_reset else 0)
                result: dict[str, Any] = {
                    "records": size,
                    "service": service_summary,
                    "engine": engine_summary,
                    "service_records_per_s": round(size / service_summary["p50_ms"] * 1000),
                    "engine_records_per_s": round(size / engine_summary["p50_ms"] * 1000),
                    "complete": counts == {size} and set(engine_counts) == {size},
                    "errors": outcome.errors,
                    "rss_idle_kib": idle.get("VmRSS", 0),
                    "rss_peak_kib": peak if largest else None,
                    "rss_growth_kib": peak - idle.get("VmRSS", 0) if largest else None,
                    "rss_peak_from": (
                        ("VmHWM after reset + sampling" if peak_reset else "sampling")
                        if largest
                        else "not sampled"
                    ),
                    "largest": largest,
                    "server_cpu_ms_per_request": round(server_cpu / len(latencies) * 1000, 1),
                }
                result["engine_over_service"] = ratio(
                    result["engine_records_per_s"], result["service_records_per_s"]
                )
                log(
                    f"/historical {size}: p50 {service_summary['p50_ms']:.1f} ms "
                    f"({result['service_records_per_s']}/s; engine "
                    f"{result['engine_records_per_s']}/s)"
                    + (f", RSS +{result['rss_growth_kib']} KiB" if largest else "")
                )
                results.append(result)
    return results


# deploystatus serve --workers N


async def workers(profile: Profile, directory: Path) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for count in profile.workers:
        with procs.serve_with_workers(directory / f"workers-{count}", count) as service:
            pool = deployables("cur", 1000)
            clock = Clock()
            await load(
                service.url,
                history_batches(pool, 1, profile.load_batch, clock, "mark"),
                profile.load_clients,
            )
            workload = WriteWorkload("cur", 25, clock)
            async with Http(service.url, 8) as http:
                await _service_rep(http, workload, 8, 0.3)  # warm-up, every worker
                write_reps = [
                    await _service_rep(http, workload, 8, profile.workers_seconds) for _ in range(3)
                ]
                reads = Outcome()

                async def read(_: int, reads: Outcome = reads) -> None:
                    await http.get("/current", reads)

                elapsed = await run_clients(
                    8,
                    read,
                    seconds=profile.workers_seconds * 2,
                    max_steps=100_000,
                )
            result: dict[str, Any] = {
                "workers": count,
                "writes_25x8": _throughput(write_reps),
                "current_1000_8_readers": {
                    "requests_per_s": round(len(reads.seconds) / elapsed, 1),
                    **latency_summary(reads.seconds),
                    "errors": reads.errors,
                },
            }
            log(
                f"--workers {count}: writes {result['writes_25x8']['records_per_s']:.0f}/s, "
                f"/current {result['current_1000_8_readers']['requests_per_s']:.0f}/s"
            )
            results.append(result)
    return results


def profile_json(profile: Profile) -> dict[str, Any]:
    return asdict(profile)
