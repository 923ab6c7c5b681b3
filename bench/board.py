"""``python -m bench.board [--previous REF] [--reps N]``: the status board at 1,000 components x
10 environments, this release against a previous one, in one run.

Each release serves a table of its own on one dynalite, holding the same 10,000 deployables
with details (about 3% failed, 2% in progress, some of them stuck). Headless Chromium (the
browser tests' Debian Chromium, driven by Playwright) opens each board in a fresh context and
refreshes it, repetitions of the two interleaved, the first dropped; medians:

- **open**: from the navigation to the load event with the matrix's rows in the page (wall
  time, and the navigation timing's ``loadEventEnd``), the page's bytes as sent (gzip) and
  unpacked, and every byte the browser received until the page is idle (the Chrome DevTools
  Protocol's ``encodedDataLength``, summed);
- **refresh**: the bytes one refresh (``window.deploystatusBoard.refresh()``, both releases
  have it) receives and its time in the browser, with nothing changed and with 10 new
  records posted before it; and the service's CPU per refresh (from /proc).

The previous release (default ``a5bd197``, the board before it was made incident first)
runs from a git worktree under ``build/`` with this virtualenv. Results go to
``docs/performance/board.json``; docs/performance.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from . import procs
from .data import ENVIRONMENTS, rfc3339

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "performance" / "board.json"
COMPONENTS, ENVS = 1000, 10
CHANGED = 10  # records posted before each "changed" refresh
CHROMIUM = os.environ.get("DEPLOYSTATUS_CHROMIUM") or shutil.which("chromium") or ""
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def records(now_ns: int, seed: int = 20241205) -> list[dict[str, str]]:
    """Every deployable's last success, then for some a newer failure or start."""
    rng = random.Random(seed)
    out = []
    for c in range(COMPONENTS):
        for e in range(ENVS):
            component, environment = f"service-{c:04d}", ENVIRONMENTS[e]
            base = {"Component": component, "Environment": environment}
            details = {
                "Version": f"1.{c % 40}.{rng.randrange(100)}",
                "Actor": rng.choice(("ci-bot", "jdoe", "asmith")),
                "Link": f"https://ci.example.com/{component}/runs/{rng.randrange(10**6)}",
            }
            ago = rng.randrange(3600, 30 * 86_400) * 10**9
            out.append(
                base | details | {"State": "deploy-success", "Timestamp": rfc3339(now_ns - ago)}
            )
            roll = rng.random()
            later = now_ns - rng.randrange(60, 3 * 3600) * 10**9
            if roll < 0.03:
                out.append(base | details | {"State": "deploy-failed", "Timestamp": rfc3339(later)})
            elif roll < 0.05:
                out.append(
                    base | details | {"State": "deploy-started", "Timestamp": rfc3339(later)}
                )
    return out


def post(url: str, batch: Sequence[dict[str, str]]) -> None:
    for start in range(0, len(batch), 1000):
        body = json.dumps({"Records": list(batch[start : start + 1000])}).encode()
        request = urllib.request.Request(
            url + "/records", body, {"Content-Type": "application/json"}
        )
        with _http.open(request, timeout=120) as response:
            assert response.read() == b"Ok"


def changes(now_ns: int, rng: random.Random) -> list[dict[str, str]]:
    return [
        {
            "Component": f"service-{rng.randrange(COMPONENTS):04d}",
            "Environment": ENVIRONMENTS[rng.randrange(ENVS)],
            "State": rng.choice(("deploy-started", "deploy-failed", "deploy-success")),
            "Timestamp": rfc3339(now_ns - i * 1_000_000),
            "Version": "2.0.0",
        }
        for i in range(CHANGED)
    ]


_REFRESH = """async () => { const t = performance.now();
  await window.deploystatusBoard.refresh(); document.body.offsetHeight;
  return performance.now() - t; }"""


def measure_once(
    browser: Browser, service: procs.Started, rng: random.Random, refreshes: int = 3
) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    received: list[int] = []
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on("Network.loadingFinished", lambda event: received.append(event["encodedDataLength"]))
    try:
        started = time.perf_counter()
        page.goto(service.url + "/", wait_until="load")
        page.wait_for_selector("#matrix tbody tr", state="attached")
        opened = time.perf_counter() - started
        timing = page.evaluate(
            """() => { const n = performance.getEntriesByType("navigation")[0];
              return { load: n.loadEventEnd, first_byte: n.responseStart,
                       dom: n.domContentLoadedEventEnd, sent: n.encodedBodySize,
                       html: n.decodedBodySize }; }"""
        )
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        to_open = sum(received)

        def refresh(changed: bool) -> tuple[float, int]:
            if changed:
                post(service.url, changes(time.time_ns(), rng))
            received.clear()
            elapsed: float = page.evaluate(_REFRESH)
            page.wait_for_timeout(150)  # the last loadingFinished events
            return elapsed, sum(received)

        cpu_before = procs.cpu_seconds(service.pid)
        same = [refresh(False) for _ in range(refreshes)]
        cpu_same = (procs.cpu_seconds(service.pid) - cpu_before) / refreshes
        changed = [refresh(True) for _ in range(refreshes)]
        rows = page.locator("#matrix tbody tr").count()
    finally:
        context.close()
    return {
        "open_s": opened,
        "load_event_ms": timing["load"],
        "first_byte_ms": timing["first_byte"],
        "dom_ready_ms": timing["dom"],
        "page_bytes_sent": timing["sent"],
        "page_bytes_html": timing["html"],
        "bytes_to_open": to_open,
        "rows_in_page": rows,
        "refresh_same_ms": statistics.median(t for t, _ in same),
        "refresh_same_bytes": statistics.median(b for _, b in same),
        "refresh_same_server_cpu_ms": 1000 * cpu_same,
        "refresh_changed_ms": statistics.median(t for t, _ in changed),
        "refresh_changed_bytes": statistics.median(b for _, b in changed),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.board", description=__doc__)
    parser.add_argument("--previous", default="a5bd197", help="the release to compare with")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (after a warm-up)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        raise SystemExit("no Chromium: `make chromium`, or set DEPLOYSTATUS_CHROMIUM")
    procs.use_local_credentials()
    previous = procs.previous_release(args.previous)
    started = time.monotonic()
    rng = random.Random(7)
    samples: dict[str, list[dict[str, float]]] = {"now": [], "previous": []}
    with tempfile.TemporaryDirectory(prefix="bench-board-") as directory:
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
            sync_playwright() as playwright,
        ):
            data = records(time.time_ns())
            for service in (now, before):
                post(service.url, data)
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                for rep in range(args.reps + 1):
                    for name, service in (("now", now), ("previous", before)):
                        figures = measure_once(browser, service, rng)
                        if rep:  # the first of each is a warm-up
                            samples[name].append(figures)
                        print(name, rep, json.dumps({k: round(v, 1) for k, v in figures.items()}))
            finally:
                browser.close()
    medians = {
        name: {key: round(statistics.median(s[key] for s in runs), 2) for key in runs[0]}
        for name, runs in samples.items()
    }
    ratios = {
        "open_previous_over_now": round(
            medians["previous"]["open_s"] / medians["now"]["open_s"], 2
        ),
        "refresh_same_bytes_now_over_previous": round(
            medians["now"]["refresh_same_bytes"] / medians["previous"]["refresh_same_bytes"], 4
        ),
        "refresh_changed_bytes_now_over_previous": round(
            medians["now"]["refresh_changed_bytes"] / medians["previous"]["refresh_changed_bytes"],
            4,
        ),
    }
    results = {
        "medians": medians,
        "ratios": ratios,
        "previous": args.previous,
        "now": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
        "deployables": COMPONENTS * ENVS,
        "seconds": round(time.monotonic() - started),
        "command": f"python -m bench.board --previous {args.previous} --reps {args.reps}",
        "machine": procs.machine(),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(medians, indent=2))
    print(
        f"open: {ratios['open_previous_over_now']}x faster than {args.previous} (target >= 3); "
        f"refresh bytes: {ratios['refresh_same_bytes_now_over_previous']}x unchanged, "
        f"{ratios['refresh_changed_bytes_now_over_previous']}x with {CHANGED} changes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
