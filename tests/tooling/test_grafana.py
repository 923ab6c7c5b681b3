"""The Grafana dashboard ``deploy/grafana/deploystatus.json`` is JSON, and every PromQL
expression in it parses and queries only metrics the service exposes.

promtool has no command to check a bare expression, so each one becomes a recording rule
of a generated rules file that ``promtool check rules`` parses with Prometheus' own parser
(Grafana's ``$__rate_interval`` and template variables replaced by what they stand for
first). Without promtool the parse test skips, saying why, except with ``CI=true``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.support.prometheus import METRIC, exposed_names, run_promtool

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "deploystatus.json"
# What Grafana puts in place of its variables before sending a query.
VARIABLES = {"$__rate_interval": "1m", "$job": "deploystatus", "$instance": ".*"}


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]


def _substituted(expression: str) -> str:
    for variable, value in sorted(VARIABLES.items(), key=lambda item: -len(item[0])):
        expression = expression.replace(variable, value)
    assert "$" not in expression, f"an unknown variable in {expression}"
    return expression


def _check(expressions: list[str], tmp_path: Path) -> tuple[int, str]:
    rules = [
        {"record": f"dashboard:expression_{i}", "expr": _substituted(e)}
        for i, e in enumerate(expressions)
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", path)
    return result.returncode, result.stdout + result.stderr


def test_the_dashboard_is_json_with_unique_panel_ids() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "deploystatus"
    ids = [panel["id"] for panel in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {name.removeprefix("$") for name in VARIABLES} - {"__rate_interval"} <= variables


def test_every_expression_parses(tmp_path: Path) -> None:
    expressions = _expressions(_dashboard())
    returncode, output = _check(expressions, tmp_path)
    assert returncode == 0, output
    assert f"SUCCESS: {len(expressions)} rules found" in output


def test_a_broken_expression_fails_the_parse(tmp_path: Path) -> None:
    returncode, output = _check(
        ["sum by (route (rate(deploystatus_http_requests_total[5m]))"], tmp_path
    )
    assert returncode != 0
    assert "parse error" in output


def test_the_dashboard_queries_only_metrics_the_service_exposes() -> None:
    text = " ".join(_expressions(_dashboard()))
    used = set(METRIC.findall(text))
    assert used <= exposed_names(), used - exposed_names()
    for needed in [
        "deploystatus_http_requests_total",
        "deploystatus_http_request_duration_seconds_bucket",
        "deploystatus_dynamodb_calls_total",
        "deploystatus_dynamodb_retries_total",
        "deploystatus_dynamodb_call_duration_seconds_bucket",
        "deploystatus_records_written_total",
    ]:
        assert needed in used, needed
    assert re.search(r"by \((?:method, )?route", text), "no panel by route"
