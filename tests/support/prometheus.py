"""promtool, for the tests of the alert rules and the dashboard, and the metric names the
service really exposes.

promtool comes with Debian's ``prometheus`` package (``make install`` apt-gets it as root).
Where it is missing the tests that need it skip, saying why, except in CI (``CI=true``),
where they fail: a check that silently never runs checks nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploystatus.web.metrics import Metrics

# Series Prometheus itself adds to every scrape.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
# A metric name in a PromQL expression (recording rules' names have colons: not matched).
METRIC = re.compile(r"\b(?:deploystatus|process)_[a-z_]+\b|\bup(?=\{)")


def promtool() -> str:
    """The path of promtool; skips the test where there is none (fails it in CI)."""
    found = os.environ.get("DEPLOYSTATUS_PROMTOOL") or shutil.which("promtool")
    if found:
        return found
    reason = (
        "promtool is not installed (looked for $DEPLOYSTATUS_PROMTOOL, then promtool on PATH): "
        "`make install` installs it with `apt-get install prometheus` when run as root on "
        "Debian; elsewhere install Prometheus' promtool"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the alert rules must be checked)")
    pytest.skip(reason)


def run_promtool(
    *arguments: str | Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def exposed_names() -> set[str]:
    """Every sample name of ``GET /metrics``, from the service's own Metrics, once each
    labelled series has been observed, plus the series Prometheus adds to a scrape."""
    metrics = Metrics()
    metrics.observe_request("GET", "/current", 200, 0.01)
    metrics.observe_dynamodb("Query", 400, "ThrottlingException", 0.01)
    metrics.observe_dynamodb("Query", 200, None, 0.01)  # a retry of the throttled attempt
    text = metrics.exposition().decode("utf-8")
    names = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    assert "deploystatus_dynamodb_retries_total" in names, "the retry was not counted"
    return names | SCRAPE_SERIES
