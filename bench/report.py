"""docs/performance.md from the raw results: tables, ratios, targets met or not, a plot.

``python -m bench.report RESULTS.json [PAGE.md]`` regenerates the page without measuring.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHANGES = Path(__file__).resolve().parent / "changes.md"

# The reference Go service against dynalite, 8 clients, medians of 3 runs.
REF_WRITE_1 = 2025.0
REF_WRITE_25 = 3541.0
REF_CURRENT_1000_OVER_200_MS = 17.0
REF_CURRENT_10000_MS = 144.0
MB = 1_000_000


@dataclass(frozen=True)
class Target:
    name: str
    met: bool | None  # None: not measured in this run
    figure: str


def _num(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _times(value: float) -> str:
    """A ratio to 2 digits, or 3 where 2 would round it onto 1 from either side (a target
    missed by 0.2% does not read 1.00x)."""
    digits = 3 if value != 1 and f"{value:.2f}" == "1.00" else 2
    return f"{value:.{digits}f}x"


def _find(items: Sequence[dict[str, Any]], **keys: Any) -> dict[str, Any] | None:
    for item in items:
        if all(item.get(k) == v for k, v in keys.items()):
            return item
    return None


def targets(results: dict[str, Any]) -> list[Target]:
    found: list[Target] = []
    writes = results.get("writes", [])
    w25 = _find(writes, batch=25, clients=8)
    if w25 is None:
        found.append(Target("Writes, 25-record batches, 8 clients", None, "not measured"))
    else:
        rate, ceiling, r = (
            w25["service"]["records_per_s"],
            w25["engine"]["records_per_s"],
            w25["ratio"],
        )
        found.append(
            Target(
                "Writes, 25-record batches, 8 clients: >= 0.5x the engine's own limit",
                r >= 0.5,
                f"{_num(rate)} records/s = {r:.2f}x the engine's {_num(ceiling)}",
            )
        )
        found.append(
            Target(
                f"Writes, 25-record batches, 8 clients: >= the reference's {_num(REF_WRITE_25)}"
                " records/s",
                rate >= REF_WRITE_25,
                f"{_num(rate)} records/s ({_times(rate / REF_WRITE_25)} the reference)",
            )
        )
    w1 = _find(writes, batch=1, clients=8)
    if w1 is not None:
        rate = w1["service"]["records_per_s"]
        found.append(
            Target(
                f"Writes, 1-record batches, 8 clients: >= half the reference's "
                f"{_num(REF_WRITE_1)} records/s",
                rate >= REF_WRITE_1 / 2,
                f"{_num(rate)} records/s ({_times(rate / REF_WRITE_1)} the reference)",
            )
        )
    current = results.get("current", [])
    ref = _find(current, deployables=200, history=1000)
    if ref is not None:
        p50 = ref["service"]["p50_ms"]
        found.append(
            Target(
                f"/current, 1,000 history records over 200 deployables: >= 4x faster than the "
                f"reference's {REF_CURRENT_1000_OVER_200_MS:.0f} ms p50",
                p50 * 4 <= REF_CURRENT_1000_OVER_200_MS,
                f"p50 {p50:.2f} ms ({REF_CURRENT_1000_OVER_200_MS / p50:.1f}x faster)",
            )
        )
    if current:
        incomplete = [f"{p['deployables']}x{p['multiplier']}" for p in current if not p["complete"]]
        found.append(
            Target(
                "/current complete at every size",
                not incomplete,
                f"{len(current) - len(incomplete)} of {len(current)} sizes complete"
                + (f" (incomplete: {', '.join(incomplete)})" if incomplete else ""),
            )
        )
    for count, ratio_ in history_ratios(current):
        found.append(
            Target(
                f"/current, {count:,} deployables: p50 at 100x history within 1.2x of 1x",
                ratio_ <= 1.2,
                f"{ratio_:.2f}x",
            )
        )
    big = [p for p in current if p["deployables"] == 10000]
    if big:
        worst = max(big, key=lambda p: p["ratio_to_engine"])
        found.append(
            Target(
                "/current, 10,000 deployables: p50 under 4x the engine alone",
                all(p["ratio_to_engine"] < 4 for p in big),
                f"worst {worst['ratio_to_engine']:.2f}x ({worst['service']['p50_ms']:.0f} ms vs "
                f"{worst['engine']['p50_ms']:.0f} ms, history {worst['multiplier']}x)",
            )
        )
    else:
        found.append(
            Target("/current, 10,000 deployables: p50 under 4x the engine alone", None, "not run")
        )
    historical = results.get("historical", [])
    largest = next((h for h in historical if h["largest"]), None)
    if largest is not None:
        growth = largest["rss_growth_kib"] * 1024
        found.append(
            Target(
                f"/historical, {largest['records']:,} records: server peak RSS grows < 50 MB",
                growth < 50 * MB,
                f"+{growth / MB:.1f} MB over idle ({largest['rss_idle_kib'] * 1024 / MB:.0f} MB)",
            )
        )
    if historical:
        worst = max(historical, key=lambda h: h["engine_over_service"])
        found.append(
            Target(
                "/historical: records/s within 2x of the engine directly (every size)",
                all(h["engine_over_service"] <= 2 for h in historical),
                f"worst {worst['engine_over_service']:.2f}x at {worst['records']:,} records",
            )
        )
    mixed = results.get("mixed")
    if mixed is not None:
        found.append(Target("Mixed load: zero errors", mixed["errors"] == 0, f"{mixed['errors']}"))
        figure = _p99_over_idle(mixed)
        alone = mixed.get("engine")
        if alone is not None:
            figure += f" (the engine alone under the same load: {_p99_over_idle(alone)})"
        found.append(
            Target(
                "Mixed load: /current p99 under 10x its idle p50",
                mixed["current_p99_over_idle_p50"] < 10,
                figure,
            )
        )
    return found


def _p99_over_idle(mixed: dict[str, Any]) -> str:
    p99 = mixed["endpoints"]["GET /current"]["p99_ms"]
    return (
        f"p99 {p99:.1f} ms = {mixed['current_p99_over_idle_p50']:.1f}x the idle "
        f"{mixed['idle_current_p50_ms']:.1f} ms"
    )


def _mixed_rows(paths: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Per endpoint, a row for each path that ran the mixed load."""
    rows = []
    for name in next(iter(paths.values()))["endpoints"]:
        for path, mixed in paths.items():
            s = mixed["endpoints"][name]
            over_idle = mixed["current_p99_over_idle_p50"] if name == "GET /current" else None
            rows.append(
                [
                    name,
                    path,
                    str(s["count"]),
                    f"{s['p50_ms']:.1f}",
                    f"{s['p95_ms']:.1f}",
                    f"{s['p99_ms']:.1f}",
                    "" if over_idle is None else f"{over_idle:.1f}x",
                ]
            )
    return rows


def explanations(results: dict[str, Any]) -> list[str]:
    """Why a target is not met, from the same run's figures (the engine's own, mostly)."""
    lines: list[str] = []
    shards = current_shards(results["meta"])
    writes = results.get("writes", [])
    for batch, clients, needed, what in (
        (25, 8, REF_WRITE_25, "the reference's figure"),
        (1, 8, REF_WRITE_1 / 2, "half the reference's figure"),
    ):
        w = _find(writes, batch=batch, clients=clients)
        if w is not None and w["service"]["records_per_s"] < needed:
            engine = w["engine"]["records_per_s"]
            if engine < needed:
                lines.append(
                    f"- Writes, {batch}-record batches, {clients} clients: the engine alone, "
                    f"given the same calls in the same run, reached {_num(engine)} records/s, "
                    f"under {what} ({_num(needed)}): no service in front of this engine on this "
                    f"machine can meet it. The service reached {w['ratio']:.2f}x the engine."
                )
            else:
                lines.append(
                    f"- Writes, {batch}-record batches, {clients} clients: the engine alone "
                    f"reached {_num(engine)} records/s, {engine / needed:.2f}x {what}; the "
                    f"service reached {w['ratio']:.2f}x the engine. What is missing is the "
                    "service's own CPU, on the cores it shares with the engine and the load "
                    "generator."
                )
    ref = _find(results.get("current", []), deployables=200, history=1000)
    target_ms = REF_CURRENT_1000_OVER_200_MS / 4
    if ref is not None and ref["service"]["p50_ms"] > target_ms:
        lines.append(
            f"- `/current` over 200 deployables: the engine alone takes "
            f"{ref['engine']['p50_ms']:.1f} ms p50 for the {shards} `Query` calls "
            "(dynalite answers them one after the other), "
            + (
                f"over the {target_ms:.2f} ms target by itself."
                if ref["engine"]["p50_ms"] > target_ms
                else f"against a {target_ms:.2f} ms target: that leaves "
                f"{target_ms - ref['engine']['p50_ms']:.2f} ms for the service's own part "
                f"(the HTTP request and answer, {shards} answers parsed, the records sorted and "
                f"rendered), which took {ref['service']['p50_ms'] - ref['engine']['p50_ms']:.1f}"
                " ms."
            )
        )
    current = results.get("current", [])
    for count, one, hundred in _history_pairs(current):
        if _growth(one, hundred) <= 1.2:
            continue
        lines.append(
            f"- `/current` at {count:,} deployables, 100x history over 1x: the engine alone "
            f"went from {one['engine']['p50_ms']:.1f} to {hundred['engine']['p50_ms']:.1f} ms "
            f"(timed in turns with the service), the service's CPU per request from "
            f"{one['server_cpu_ms_per_request']:.1f} to {hundred['server_cpu_ms_per_request']:.1f}"
            " ms."
        )
    historical = results.get("historical", [])
    over = [h for h in historical if h["engine_over_service"] > 2]
    if over:
        sizes = ", ".join(f"{h['records']:,}" for h in over)
        lines.append(
            f"- `/historical` over 2x the engine at {sizes} records. A history of one page "
            "(1 MB of items) is read, then rendered, then sent, one after the other; "
            "from the second page on, rendering overlaps the next read, so longer histories "
            "come closer to the engine's rate."
        )
    mixed = results.get("mixed")
    if mixed is not None and mixed["current_p99_over_idle_p50"] >= 10:
        lines.append(
            "- Mixed load: writers and readers together saturate the engine "
            f"(single-threaded dynalite). `/current`'s {shards} `Query` calls go first in the "
            "service's queue of calls (change 3 below) and, beside reads, writes hold at most "
            "3/8 of the slots (change 8), but a read still shares the engine with the other "
            "readers' calls and the writes already there. The idle p50 that divides the "
            "ratio moves by half from run to run on this machine (change 8's table); where "
            "the time goes is measured below (*Where `/current`'s time goes under the mixed "
            "load*)."
        )
        alone = mixed.get("engine")
        if alone is not None and alone["current_p99_over_idle_p50"] >= 10:
            p99s = [m["endpoints"]["GET /current"]["p99_ms"] for m in (mixed, alone)]
            lines.append(
                "- The same load sent straight to the engine, no service in between, misses "
                f"the target too: its read of every current state took "
                f"{_p99_over_idle(alone)} (*Mixed load* below). Under this load the target "
                "is beyond the engine; the service, which shares one read between the "
                f"readers of a moment, came to {_times(p99s[0] / p99s[1])} the engine's p99."
            )
    return lines


Point = dict[str, Any]


def _history_pairs(current: Sequence[Point]) -> list[tuple[int, Point, Point]]:
    """Per deployable count with both: its points at 1x and at 100x history."""
    pairs = []
    for count in sorted({p["deployables"] for p in current}):
        one = _find(current, deployables=count, multiplier=1)
        hundred = _find(current, deployables=count, multiplier=100)
        if one and hundred:
            pairs.append((count, one, hundred))
    return pairs


def _growth(one: Point, hundred: Point) -> float:
    return float(hundred["service"]["p50_ms"] / one["service"]["p50_ms"])


def history_ratios(current: Sequence[Point]) -> list[tuple[int, float]]:
    """Per deployable count: p50 at 100x history over p50 at 1x."""
    return [(count, _growth(one, hundred)) for count, one, hundred in _history_pairs(current)]


def _after_load_section(after_load: Sequence[dict[str, Any]]) -> list[str]:
    if not after_load:
        return []
    out = [
        "### /current from the service that loaded the table",
        "",
        "The largest history of each deployable count read by the service that took its "
        "load through the API and by the one started after it (the one timed above), the "
        "two in turns, request by request. Not a target: it shows what a large write load "
        "leaves behind in a process (changes 9 and 11 below).",
        "",
    ]

    def over(loader: float, fresh: float) -> str:
        return _num(loader / fresh if fresh else math.nan, 2)

    rows = [
        [
            f"{a['deployables']:,}",
            f"{a['history']:,}",
            f"{a['records_loaded']:,}",
            f"{a['loader']['p50_ms']:.1f}",
            f"{a['fresh']['p50_ms']:.1f}",
            f"{a['loader']['server_cpu_ms_per_request']:.2f}",
            f"{a['fresh']['server_cpu_ms_per_request']:.2f}",
            over(a["loader"]["server_cpu_ms_per_request"], a["fresh"]["server_cpu_ms_per_request"]),
        ]
        for a in after_load
    ]
    out += _table(
        [
            "deployables",
            "history records",
            "records it loaded",
            "p50 ms, loader",
            "p50 ms, fresh",
            "CPU ms/request, loader",
            "CPU ms/request, fresh",
            "CPU loader / fresh",
        ],
        rows,
    )
    return [*out, ""]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def plot(results: dict[str, Any], path: Path) -> bool:
    """Latency against data size, log-log: /current per deployable count, /historical."""
    current = results.get("current", [])
    historical = results.get("historical", [])
    if not current and not historical:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for count in sorted({p["deployables"] for p in current}):
        points = sorted(
            (p for p in current if p["deployables"] == count), key=lambda p: p["history"]
        )
        xs = [p["history"] for p in points]
        (line,) = left.plot(
            xs, [p["service"]["p50_ms"] for p in points], "o-", label=f"{count:,} deployables"
        )
        left.plot(xs, [p["engine"]["p50_ms"] for p in points], "x--", color=line.get_color())
    left.set(
        xscale="log",
        yscale="log",
        xlabel="history records in the table",
        ylabel="p50 latency (ms)",
        title="GET /current (solid: service, dashed: engine alone)",
    )
    if current:
        left.legend(fontsize=8)
    if historical:
        xs = [h["records"] for h in historical]
        right.plot(xs, [h["service"]["p50_ms"] for h in historical], "o-", label="service")
        right.plot(xs, [h["engine"]["p50_ms"] for h in historical], "x--", label="engine alone")
        right.legend(fontsize=8)
    right.set(
        xscale="log",
        yscale="log",
        xlabel="records of the component",
        ylabel="p50 latency (ms)",
        title="GET /historical/{component}",
    )
    for axes in (left, right):
        axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _machine_lines(meta: dict[str, Any]) -> list[str]:
    machine, engine = meta["machine"], meta["engine"]
    loads = [meta["load_average_start"][0], (meta.get("load_average_end") or [0])[0]]
    busy = (
        [
            "- **The machine was busy with other work during this run** (the load averages "
            "above, against its cores): absolute figures are pessimistic; ratios to the "
            "engine, measured in the same run, hold better."
        ]
        if max(loads) > 0.5 * (machine["usable_cores"] or 1)
        else []
    )
    return [
        f"- Machine: {machine['cores']} cores ({machine['usable_cores']} usable), "
        f"{machine['memory_bytes'] / 2**30:.1f} GiB memory, {machine['cpu']}, {machine['os']}, "
        f"Python {machine['python']}; load average {meta['load_average_start']} at the start, "
        f"{meta.get('load_average_end')} at the end.",
        f"- Engine: {engine['name']} {engine['version']} on Node.js {engine['node']}, on the same "
        "machine, started by `deploystatus dev` on free loopback ports (a fresh data directory "
        "per scenario).",
        f"- Command: `{meta['make_target']}`, that is `{meta['command']}` "
        f"(profile `{meta['profile']['name']}`, scenarios {', '.join(meta['scenarios'])}); "
        f"started {meta['started']}, took {meta['seconds']:.0f} s.",
        *busy,
    ]


def _duration(results: dict[str, Any]) -> str:
    """How long the run behind the page took, as it recorded it."""
    seconds = results["meta"].get("seconds")
    if seconds is None:
        return "its duration was not recorded"
    return f"the run behind this page took {seconds:.0f} s, about {seconds / 60:.0f} minutes"


def current_shards(meta: dict[str, Any]) -> int:
    return int(meta.get("current_shards", 8))  # runs that did not record it had 8


def render(results: dict[str, Any], plot_link: str | None) -> str:
    meta = results["meta"]
    shards = current_shards(meta)
    # Runs that did not record it warmed up with 20 requests.
    warm_up = meta.get("warm_up", {"seconds": 0, "requests": 20})
    out: list[str] = [
        "# Performance",
        "",
        "<!-- Generated by `python -m bench` (make bench) from "
        "docs/performance/results.json: edit bench/report.py or bench/changes.md, "
        "not this page. -->",
        "",
        "Measured by the bench suite (`bench/`, `make bench`; `make bench-quick` for a short "
        "run). Every figure below comes from one run on one machine; the engine's own "
        "ceiling is measured in the same run, interleaved with the service, so ratios hold "
        "better than absolute figures when the machine is shared. *Server CPU* is the "
        "service process's own CPU time (from /proc), steadier than wall time under load. "
        "The engine runs on the same cores as the service and the load generator.",
        "",
        *_machine_lines(meta),
        "",
        "## Targets",
        "",
    ]
    rows = [
        [t.name, "met" if t.met else ("not measured" if t.met is None else "**not met**"), t.figure]
        for t in targets(results)
    ]
    out += _table(["target", "result", "figure"], rows)
    out += [""]
    why = explanations(results)
    if why:
        out += [
            "Why the targets marked not met are not met, from the same run's figures:",
            "",
            *why,
            "",
        ]

    writes = results.get("writes", [])
    if writes:
        out += [
            "## Writes",
            "",
            "`POST /records` throughput, records/s: median of "
            f"{meta['profile']['write_reps']} repetitions of {meta['profile']['write_seconds']} s "
            "(at least one request per client), with the range and the request latency. A "
            "batch of up to 25 records has one record per deployable; a 500-record batch is a "
            "backfill of 20 records for each of 25 deployables. *Engine* is the same DynamoDB "
            "calls (ceil(N/25) `BatchWriteItem` and a `BatchGetItem` of the current and facts "
            "items, then two conditional `PutItem` per deployable: current state and facts) with "
            "the same items, client library and concurrency, straight to the engine. On a busy "
            "machine the ratio can pass 1: the service's path runs in two "
            "Python processes (load generator and service), which get two shares of the CPU, "
            "the engine ceiling's client in one.",
            "",
        ]
        rows = []
        for w in writes:
            s, e = w["service"], w["engine"]
            rows.append(
                [
                    str(w["batch"]),
                    str(w["clients"]),
                    f"{_num(s['records_per_s'])} ({_num(s['records_per_s_min'])}-"
                    f"{_num(s['records_per_s_max'])})",
                    f"{s['request_latency']['p50_ms']:.1f} / {s['request_latency']['p95_ms']:.1f}",
                    f"{_num(e['records_per_s'])} ({_num(e['records_per_s_min'])}-"
                    f"{_num(e['records_per_s_max'])})",
                    f"{w['ratio']:.2f}",
                    _num(s.get("server_cpu_us_per_record", math.nan)),
                    str(s["errors"]),
                ]
            )
        out += _table(
            [
                "batch",
                "clients",
                "service records/s (range)",
                "request p50 / p95 ms",
                "engine records/s (range)",
                "service / engine",
                "server CPU us/record",
                "errors",
            ],
            rows,
        )
        out += [""]

    current = results.get("current", [])
    if current:
        out += [
            "## GET /current",
            "",
            "Latency of one client's sequential requests (after a warm-up of "
            f"{warm_up['seconds']:g} s, at least {warm_up['requests']} requests), against "
            f"the engine alone doing what the service does ({shards} `Query` calls in "
            "parallel, every "
            "page), the two timed in turns, request by request. Each history size (1x, 10x, "
            "100x the deployable count in history records) is a table of its own in one "
            "engine, read by a service of its own started once the data is loaded, and the "
            "sizes of a deployable count are timed in turns too (change 9). "
            "*Complete*: every deployable once, at its newest state.",
            "",
        ]
        rows = [
            [
                f"{p['deployables']:,}",
                f"{p['history']:,} ({p['multiplier']}x)",
                f"{p['service']['p50_ms']:.1f}",
                f"{p['service']['p95_ms']:.1f}",
                f"{p['engine']['p50_ms']:.1f}",
                f"{p['ratio_to_engine']:.2f}",
                _num(p.get("server_cpu_ms_per_request", math.nan), 1),
                "yes" if p["complete"] else "**no**",
                str(p["service"]["count"]),
            ]
            for p in current
        ]
        out += _table(
            [
                "deployables",
                "history records",
                "p50 ms",
                "p95 ms",
                "engine p50 ms",
                "service / engine",
                "server CPU ms/request",
                "complete",
                "samples",
            ],
            rows,
        )
        ratios = history_ratios(current)
        if ratios:
            out += [
                "",
                "The figure that matters, p50 at 100x history / p50 at 1x: "
                + ", ".join(f"{count:,} deployables **{r:.2f}x**" for count, r in ratios)
                + ".",
            ]
        ref10k = _find(current, deployables=200, history=10000)
        if ref10k is not None:
            out += [
                "",
                f"The reference answered 10,000 history records in {REF_CURRENT_10000_MS:.0f} ms "
                f"p50; here, with 10,000 history records over 200 deployables: "
                f"{ref10k['service']['p50_ms']:.1f} ms.",
            ]
        loads = results.get("loads", [])
        if loads:
            rate = sum(x["records"] for x in loads) / sum(x["seconds"] for x in loads)
            out += [
                "",
                f"Loading the data through the API (8 clients, 1,000-record batches grouped "
                f"by deployable): {sum(x['records'] for x in loads):,} records at "
                f"{_num(rate)} records/s overall.",
            ]
        out += [""]
    out += _after_load_section(results.get("after_load", []))

    if plot_link:
        out += [f"![latency against data size]({plot_link})", ""]

    historical = results.get("historical", [])
    if historical:
        out += [
            "## GET /historical/{component}",
            "",
            "One client's sequential requests for a component with that many records (4 "
            "environments), and the engine alone reading the same items (one `Query`, page "
            "after page), timed in turns, request by request. Records/s is records / p50. "
            "RSS is the server process's (`deploystatus dev` serves in-process): idle just "
            "before, peak while serving.",
            "",
        ]
        rows = [
            [
                f"{h['records']:,}",
                f"{h['service']['p50_ms']:.1f} / {h['service']['p95_ms']:.1f}",
                _num(h["service_records_per_s"]),
                f"{h['engine']['p50_ms']:.1f}",
                _num(h["engine_records_per_s"]),
                f"{h['engine_over_service']:.2f}",
                _num(h.get("server_cpu_ms_per_request", math.nan), 1),
                f"{h['rss_idle_kib'] / 1024:.0f} -> {h['rss_peak_kib'] / 1024:.0f} MiB"
                if h["largest"]
                else "",
                "yes" if h["complete"] else "**no**",
            ]
            for h in historical
        ]
        out += _table(
            [
                "records",
                "p50 / p95 ms",
                "records/s",
                "engine p50 ms",
                "engine records/s",
                "engine / service",
                "server CPU ms/request",
                "server RSS",
                "complete",
            ],
            rows,
        )
        out += [""]

    mixed = results.get("mixed")
    if mixed is not None:
        out += [
            "## Mixed load",
            "",
            f"{mixed['writers']} writers posting {mixed['batch']}-record batches and "
            f"{mixed['readers']} readers alternating `/current` and `/historical/{{component}}`, "
            f"for {mixed['seconds']:.0f} s, on {mixed['deployables']:,} deployables with "
            f"{mixed['history_records']:,} history records; {_num(mixed['records_written'])} "
            f"records written ({_num(mixed['records_per_s'])}/s), **{mixed['errors']} errors**.",
            "",
        ]
        paths = {"service": mixed}
        alone = mixed.get("engine")
        if alone is not None:
            out += [
                f"The same load was sent straight to the engine for {alone['seconds']:.0f} s "
                "more, in turns with the service (service, engine, engine, service), with "
                "the service's own client and the calls the store makes for each request: "
                "a batch's writes, a read of every current state (each reader its own; the "
                "service shares one between the readers of a moment), a component's history "
                f"page after page. The engine alone wrote {_num(alone['records_written'])} "
                f"records ({_num(alone['records_per_s'])}/s), **{alone['errors']} errors**; "
                f"its idle p50 for the read of every current state is "
                f"{alone['idle_current_p50_ms']:.1f} ms, the service's "
                f"{mixed['idle_current_p50_ms']:.1f} ms.",
                "",
            ]
            paths["engine alone"] = alone
        out += _table(
            ["endpoint", "path", "requests", "p50 ms", "p95 ms", "p99 ms", "p99 / idle p50"],
            _mixed_rows(paths),
        )
        examples = mixed["error_examples"] + (alone["error_examples"] if alone else [])
        if examples:
            out += ["", "Errors: " + "; ".join(f"`{x}`" for x in examples)]
        out += [""]

    workers = results.get("workers", [])
    if workers:
        out += [
            "## `deploystatus serve --workers N`",
            "",
            "`deploystatus local-db` + `serve --workers N` on the same machine (so the engine "
            "competes with the workers for the cores): writes with 25-record batches from 8 "
            "clients, and `/current` over 1,000 deployables from 8 concurrent readers.",
            "",
        ]
        rows = [
            [
                str(w["workers"]),
                _num(w["writes_25x8"]["records_per_s"]),
                _num(w["current_1000_8_readers"]["requests_per_s"]),
                f"{w['current_1000_8_readers']['p50_ms']:.1f}",
            ]
            for w in workers
        ]
        out += _table(
            ["workers", "writes records/s", "/current requests/s", "/current p50 ms"], rows
        )
        one, two = _find(workers, workers=1), _find(workers, workers=2)
        if one and two:
            writes_x = two["writes_25x8"]["records_per_s"] / one["writes_25x8"]["records_per_s"]
            reads_x = (
                two["current_1000_8_readers"]["requests_per_s"]
                / one["current_1000_8_readers"]["requests_per_s"]
            )
            out += ["", f"Scaling 1 -> 2 workers: writes {writes_x:.2f}x, /current {reads_x:.2f}x."]
        out += [""]

    if CHANGES.exists():
        out += [CHANGES.read_text().strip(), ""]
    out += [
        "## Reproducing",
        "",
        f"`make bench` ({_duration(results)}) regenerates this page and "
        "docs/performance/results.json (the raw figures, every repetition); `make bench-quick` "
        "(smaller sizes, about 2.5 minutes; informational) writes build/bench-quick/ instead. "
        "`python -m bench "
        "--only writes,current` runs a subset; `python -m bench.report RESULTS.json PAGE.md` "
        "regenerates a page from raw results. Two paired benches compare this release with a "
        "previous one, built from a git worktree under build/: `python -m bench.details` (record "
        "details, docs/performance/details.json) and `python -m bench.board` (the board in "
        "Chromium at 1,000 x 10, docs/performance/board.json; `make bench-board`). The "
        "regression guard that runs in `make test` is tests/api/test_call_counts.py: it counts "
        "DynamoDB requests per endpoint instead of timing.",
        "",
    ]
    return "\n".join(out)


def write(results: dict[str, Any], results_path: Path, page_path: Path) -> None:
    plot_path = results_path.parent / "latency.png"
    link = None
    if plot(results, plot_path):
        link = os.path.relpath(plot_path, page_path.parent)
    page_path.parent.mkdir(parents=True, exist_ok=True)
    page_path.write_text(render(results, link))


def summary(results: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [
        f"bench: {results['meta']['seconds']:.0f} s, load {results['meta']['load_average_end']}"
    ]
    for t in targets(results):
        mark = {True: "met    ", False: "NOT MET", None: "n/a    "}[t.met]
        lines.append(f"  {mark}  {t.name}: {t.figure}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(args) <= 2:
        raise SystemExit("usage: python -m bench.report RESULTS.json [PAGE.md]")
    results_path = Path(args[0])
    page_path = Path(args[1]) if len(args) > 1 else ROOT / "docs" / "performance.md"
    results: dict[str, Any] = json.loads(results_path.read_text())
    write(results, results_path, page_path)
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
