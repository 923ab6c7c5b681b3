"""The bench's own logic, without running it: the data it sends, its statistics, and the
targets and page it derives from raw results (``make bench`` runs the real thing)."""

from __future__ import annotations

import json
from typing import Any

from bench import report
from bench.data import Clock, WriteWorkload, body, deployables, history_batches
from bench.stats import latency_summary, percentile
from deploystatus.records import component_problem, environment_problem
from deploystatus.web.bodies import decode_records


def test_percentiles_interpolate_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 95) == 10
    assert percentile(list(range(101)), 95) == 95
    assert latency_summary([0.001, 0.002, 0.003])["p50_ms"] == 2.0


def test_history_batches_grow_every_deployable_and_end_on_the_marker() -> None:
    pool = deployables("cur", 30)
    batches = list(history_batches(pool, 7, 50, Clock(), "mark-7"))
    sent = [record for batch in batches for record in batch]
    assert all(len(batch) <= 50 for batch in batches)
    assert len(sent) == 30 * 7
    newest: dict[tuple[str, str], Any] = {}
    for record in sent:
        key = (record.component, record.environment)
        if key not in newest or record.nanos > newest[key].nanos:
            newest[key] = record
    assert set(newest) == set(pool)
    assert {record.state for record in newest.values()} == {"mark-7"}
    assert len({(r.component, r.environment, r.nanos) for r in sent}) == len(sent)


def test_what_the_bench_sends_is_valid_and_shaped_as_documented() -> None:
    assert all(
        component_problem(c) is None and environment_problem(e) is None
        for c, e in deployables("hist100000", 10)
    )
    clock = Clock()
    for size, spread in ((1, 1), (25, 25), (500, 25)):
        batch = WriteWorkload("svc", size, clock).next_batch()
        assert len(batch) == size
        assert len({(r.component, r.environment) for r in batch}) == spread
        decoded = decode_records(body(batch), max_records=1000, max_skew_seconds=300)
        assert [record.timestamp for record in decoded] == [r.stored().timestamp for r in batch]


def _results() -> dict[str, Any]:
    def latency(p50: float) -> dict[str, float]:
        return {"count": 5, "p50_ms": p50, "p95_ms": p50, "p99_ms": p50, "max_ms": p50}

    def rate(value: float) -> dict[str, Any]:
        return {
            "records_per_s": value,
            "records_per_s_min": value,
            "records_per_s_max": value,
            "reps": [],
            "request_latency": latency(1.0),
            "errors": 0,
            "error_examples": [],
        }

    def current(count: int, multiplier: int, p50: float, engine: float) -> dict[str, Any]:
        return {
            "deployables": count,
            "multiplier": multiplier,
            "history": count * multiplier,
            "service": latency(p50),
            "engine": latency(engine),
            "ratio_to_engine": p50 / engine,
            "complete": True,
        }

    def mixed(p99: float, idle: float) -> dict[str, Any]:
        return {
            "seconds": 15.0,
            "writers": 8,
            "readers": 8,
            "batch": 25,
            "records_written": 15000,
            "records_per_s": 1000.0,
            "endpoints": {
                "POST /records": latency(200.0),
                "GET /current": {**latency(60.0), "p99_ms": p99},
                "GET /historical/{component}": latency(50.0),
            },
            "errors": 0,
            "error_examples": [],
            "idle_current_p50_ms": idle,
            "current_p99_over_idle_p50": p99 / idle,
        }

    return {
        "meta": {
            "command": "python -m bench",
            "make_target": "make bench",
            "profile": {"name": "default", "write_reps": 3, "write_seconds": 1.5},
            "scenarios": ["current", "writes"],
            "started": "2024-01-01T00:00:00+00:00",
            "seconds": 500.0,
            "machine": {
                "cores": 2,
                "usable_cores": 2,
                "cpu": "x",
                "memory_bytes": 2**32,
                "os": "Linux",
                "python": "3.11",
            },
            "engine": {"name": "dynalite", "version": "4.0.0", "node": "v20"},
            "load_average_start": [0.1, 0.1, 0.1],
            "load_average_end": [0.1, 0.1, 0.1],
        },
        "writes": [
            {"batch": 25, "clients": 8, "service": rate(4000), "engine": rate(6000), "ratio": 0.67},
            {"batch": 1, "clients": 8, "service": rate(900), "engine": rate(1500), "ratio": 0.6},
        ],
        "current": [
            current(200, 5, 4.0, 3.0),
            current(10000, 1, 100.0, 20.0),
            current(10000, 100, 110.0, 20.0),
        ],
        "mixed": {
            **mixed(120.0, 8.0),
            "deployables": 1000,
            "history_records": 100000,
            "engine": mixed(150.0, 6.0),
        },
        "after_load": [
            {
                "deployables": 10000,
                "history": 1000000,
                "records_loaded": 990000,
                "loader": {**latency(130.0), "server_cpu_ms_per_request": 60.0},
                "fresh": {**latency(110.0), "server_cpu_ms_per_request": 45.0},
                "errors": 0,
            }
        ],
    }


def test_targets_are_judged_from_the_raw_figures() -> None:
    judged = {target.name: target.met for target in report.targets(_results())}
    assert judged["Writes, 25-record batches, 8 clients: >= 0.5x the engine's own limit"]
    assert judged["Writes, 25-record batches, 8 clients: >= the reference's 3,541 records/s"]
    assert not judged[
        "Writes, 1-record batches, 8 clients: >= half the reference's 2,025 records/s"
    ]
    assert judged[
        "/current, 1,000 history records over 200 deployables: >= 4x faster than the "
        "reference's 17 ms p50"
    ]
    assert judged["/current, 10,000 deployables: p50 at 100x history within 1.2x of 1x"]
    assert not judged["/current, 10,000 deployables: p50 under 4x the engine alone"]
    assert judged["Mixed load: zero errors"]
    results = _results()
    results["writes"][0]["service"]["records_per_s"] = 3533.0
    [missed] = [t for t in report.targets(results) if t.name.endswith("3,541 records/s")]
    assert not missed.met
    assert missed.figure == "3,533 records/s (0.998x the reference)"
    assert not judged["Mixed load: /current p99 under 10x its idle p50"]


def test_the_mixed_load_is_judged_against_the_engine_alone_under_it() -> None:
    results = _results()
    [figure] = [t.figure for t in report.targets(results) if t.name.endswith("its idle p50")]
    assert figure == (
        "p99 120.0 ms = 15.0x the idle 8.0 ms "
        "(the engine alone under the same load: p99 150.0 ms = 25.0x the idle 6.0 ms)"
    )
    page = report.render(results, "performance/latency.png")
    assert "| GET /current | service | 5 | 60.0 | 60.0 | 120.0 | 15.0x |" in page
    assert "| GET /current | engine alone | 5 | 60.0 | 60.0 | 150.0 | 25.0x |" in page
    assert "came to 0.80x the engine's p99" in page
    del results["mixed"]["engine"]  # a run from before the engine alone took the load
    page = report.render(results, "performance/latency.png")
    assert "| GET /current | service | 5 | 60.0 | 60.0 | 120.0 | 15.0x |" in page
    assert "engine alone under the same load" not in page


def test_the_page_renders_from_results_alone() -> None:
    results = json.loads(json.dumps(_results()))  # as read back from the JSON file
    page = report.render(results, "performance/latency.png")
    assert page.startswith("# Performance")
    assert "| 25 | 8 | 4,000 (4,000-4,000)" in page
    assert "10,000 deployables **1.10x**" in page
    assert "| 10,000 | 1,000,000 | 990,000 | 130.0 | 110.0 | 60.00 | 45.00 | 1.33 |" in page
    assert "![latency against data size](performance/latency.png)" in page
