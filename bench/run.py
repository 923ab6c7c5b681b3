"""``python -m bench [--quick] [--only SCENARIOS] [--results FILE] [--page FILE]``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import uvloop

from deploystatus.storage.store import CURRENT_SHARDS

from . import procs, report, scenarios

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "docs" / "performance" / "results.json"
DEFAULT_PAGE = ROOT / "docs" / "performance.md"
QUICK_RESULTS = ROOT / "build" / "bench-quick" / "results.json"
QUICK_PAGE = ROOT / "build" / "bench-quick" / "performance.md"
# The closing line of a quick run, whose sizes are too small to judge the targets by.
QUICK_IS_INFORMATIONAL = (
    "bench --quick is informational: smaller sizes and shorter runs than the targets are set "
    "for, so a NOT MET above does not fail it (exit status 0); `make bench` measures the "
    "targets (docs/performance.md)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes and shorter runs (about 2.5 minutes); writes under build/bench-quick/",
    )
    parser.add_argument(
        "--only",
        default=",".join(scenarios.SCENARIOS),
        help=f"comma-separated subset of {','.join(scenarios.SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a profile field, e.g. --set current_deployables=10000 "
        "--set current_multipliers=1,100 (tuples comma-separated)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the services started, e.g. --env DEPLOYSTATUS_MAX_CONCURRENT_CALLS=16",
    )
    parser.add_argument("--results", type=Path, help="raw results JSON to write")
    parser.add_argument("--page", type=Path, help="the Markdown page to regenerate")
    return parser


async def measure(profile: scenarios.Profile, only: set[str], directory: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if "writes" in only:
        results["writes"] = await scenarios.writes(profile, directory)
    if "current" in only or "mixed" in only:
        current = await scenarios.current(profile, directory, with_mixed="mixed" in only)
        results["current"] = current["points"]
        results["loads"] = current["loads"]
        results["after_load"] = current["after_load"]
        if current["mixed"] is not None:
            results["mixed"] = current["mixed"]
    if "historical" in only:
        results["historical"] = await scenarios.historical(profile, directory)
    if "workers" in only and profile.workers:
        results["workers"] = await scenarios.workers(profile, directory)
    return results


def override(profile: scenarios.Profile, settings: Sequence[str]) -> scenarios.Profile:
    fields = {f.name: f for f in dataclasses.fields(profile)}
    changes: dict[str, Any] = {}
    for setting in settings:
        name, _, text = setting.partition("=")
        if name not in fields or name == "name":
            raise SystemExit(f"bench: no profile field {name!r}: {', '.join(fields)}")
        current = getattr(profile, name)
        if isinstance(current, tuple):
            kind = type(current[0]) if current else int
            changes[name] = tuple(kind(part) for part in text.split(",") if part)
        else:
            changes[name] = type(current)(text)
    return dataclasses.replace(profile, **changes) if changes else profile


def _exit_on_signal(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(scenarios.SCENARIOS)
    if unknown:
        raise SystemExit(f"bench: unknown scenarios {sorted(unknown)}")
    profile = override(scenarios.QUICK if args.quick else scenarios.DEFAULT, args.set)
    results_path: Path = args.results or (QUICK_RESULTS if args.quick else DEFAULT_RESULTS)
    page_path: Path = args.page or (QUICK_PAGE if args.quick else DEFAULT_PAGE)
    procs.use_local_credentials()
    for setting in args.env:
        name, _, value = setting.partition("=")
        procs.SERVICE_ENV[name] = value

    command = "python -m bench " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    meta: dict[str, Any] = {
        "command": command.strip(),
        "make_target": "make bench-quick" if args.quick else "make bench",
        "profile": scenarios.profile_json(profile),
        "scenarios": sorted(only),
        "service_env": dict(procs.SERVICE_ENV),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": procs.machine(),
        "engine": procs.engine_version(),
        "current_shards": CURRENT_SHARDS,
        "warm_up": {"seconds": profile.warm_up_seconds, "requests": scenarios.WARM_UP_REQUESTS},
        "load_average_start": procs.load_average(),
    }
    scenarios.log(f"bench ({profile.name}): {', '.join(sorted(only))}")
    # SIGTERM unwinds like Ctrl-C, so that every process started is stopped on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    directory = Path(tempfile.mkdtemp(prefix="deploystatus-bench-"))
    started = time.monotonic()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results = runner.run(measure(profile, only, directory))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["load_average_end"] = procs.load_average()
    document = {"meta": meta, **results}
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(document, indent=1) + "\n")
    report.write(document, results_path, page_path)
    scenarios.log(f"done in {meta['seconds']} s: {results_path}, {page_path}")
    print(report.summary(document))
    if args.quick:
        print(QUICK_IS_INFORMATIONAL)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
