"""The alert rules in ``deploy/prometheus`` pass ``promtool check rules`` and their unit
tests (``promtool test rules``), and query only metrics the service exposes.

promtool is Prometheus' own parser and rule evaluator (Debian's ``prometheus`` package,
installed by ``make install`` as root). Without it these tests skip, saying why, except
with ``CI=true``, where they fail. A broken copy of the rules must fail promtool, so that a
check that passes everything fails here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.support.prometheus import METRIC, exposed_names, run_promtool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus"
ALERTS = RULES / "alerts.yaml"


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    result = run_promtool("check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    text = ALERTS.read_text(encoding="utf-8")
    good = "rate(deploystatus_dynamodb_throttles_total[5m])"
    assert good in text
    broken = tmp_path / "alerts.yaml"
    broken.write_text(text.replace(good, "rate(deploystatus_dynamodb_throttles_total[5m)"))
    result = run_promtool("check", "rules", broken)
    assert result.returncode != 0
    assert "unexpected" in result.stdout + result.stderr


def test_the_alert_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", "alerts.test.yaml", cwd=RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alert_unit_tests_bite(tmp_path: Path) -> None:
    """The same unit tests fail on rules whose threshold has moved."""
    shutil.copy(RULES / "alerts.test.yaml", tmp_path)
    text = ALERTS.read_text(encoding="utf-8")
    assert text.count("> 0.05") == 2
    (tmp_path / "alerts.yaml").write_text(text.replace("> 0.05", "> 0.5"), encoding="utf-8")
    result = run_promtool("test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "DeploystatusHighErrorRate" in result.stdout + result.stderr


def test_rules_query_only_metrics_the_service_exposes() -> None:
    used = {name for rule in _rules() for name in METRIC.findall(rule["expr"])}
    assert used, "no metric found in the rules"
    assert used <= exposed_names(), used - exposed_names()


def test_the_alerts_cover_errors_readiness_and_dynamodb() -> None:
    expressions = {rule["alert"]: rule["expr"] for rule in _rules() if "alert" in rule}
    needed = {
        'deploystatus_http_requests_total{route="/readyz"',  # readiness
        "deploystatus_dynamodb_throttles_total",
        "deploystatus_dynamodb_retries_total",
        "deploystatus_dynamodb_call_duration_seconds_bucket",
        "deploystatus_http_request_duration_seconds_bucket",
    }
    text = " ".join(expressions.values())
    assert all(fragment in text for fragment in needed), needed
    assert any('status=~"5.."' in expression for expression in expressions.values())
    assert any('status="503"' in expression for expression in expressions.values())
    for rule in _rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
