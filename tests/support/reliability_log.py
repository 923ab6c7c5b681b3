"""A pytest plugin: what the reliability tests tried, how many cases, and how it came out.

Tests take the ``reliability`` fixture and call ``reliability.record(area, case, cases=N,
detail=...)`` for each fault or input class they exercised. The plugin adds each test's
outcome (passed, failed, skipped) and duration. When ``DEPLOYSTATUS_RELIABILITY_LOG``
names a file, the whole run is written there as JSON at the end of the session;
``tools/reliability_report.py`` renders it into docs/reliability.md
(``make reliability-report``). Without the variable nothing is written.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

ENVIRONMENT_VARIABLE = "DEPLOYSTATUS_RELIABILITY_LOG"


@dataclass
class Entry:
    area: str
    case: str
    cases: int
    detail: str
    test: str
    outcome: str = "unknown"
    seconds: float = 0.0


@dataclass
class Log:
    entries: list[Entry] = field(default_factory=list)
    outcomes: dict[str, tuple[str, float]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)


_LOG = Log()


@dataclass(frozen=True)
class Recorder:
    test: str

    def record(self, area: str, case: str, *, cases: int, detail: str = "") -> None:
        """``cases``: how many requests, examples or runs this class got in this test."""
        _LOG.entries.append(Entry(area, case, cases, detail, self.test))


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    yield Recorder(request.node.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    known = _LOG.outcomes.get(item.nodeid)
    if report.when == "call" or (report.outcome != "passed" and known is None):
        _LOG.outcomes[item.nodeid] = (report.outcome, report.duration)
    elif report.outcome == "failed":  # a teardown failure fails the test too
        _LOG.outcomes[item.nodeid] = ("failed", known[1] if known else report.duration)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(ENVIRONMENT_VARIABLE)
    if not target or not _LOG.entries:
        return
    for entry in _LOG.entries:
        entry.outcome, entry.seconds = _LOG.outcomes.get(entry.test, ("unknown", 0.0))
    document = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_LOG.started)),
        "seconds": round(time.time() - _LOG.started, 1),
        "command": " ".join(["pytest", *sys.argv[1:]]),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        # Every test of the run, so that one failing before it recorded anything shows too.
        "tests": {
            test: {"outcome": outcome, "seconds": round(seconds, 2)}
            for test, (outcome, seconds) in sorted(_LOG.outcomes.items())
        },
        "entries": [asdict(entry) for entry in _LOG.entries],
    }
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
