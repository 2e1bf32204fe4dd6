"""deploy/prometheus/alerts.yml, checked without promtool (not installed here).

Checks the rule file's shape, that the plan's alerts are all there with their
thresholds, and that every metric an expression reads is one vecfleet/obs/metrics.py
exports, or is listed below as not exported yet. When one of those lands, the test
says so, so the list (and the file's header) stays true.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
METRICS_SOURCE = ROOT / "vecfleet" / "obs" / "metrics.py"

# Metrics the rules use that vecfleet does not export yet.
NOT_EXPORTED_YET = {
    "vecfleet_jobs_dead_letters",
}

# The plan's alerts and the threshold each must carry.
EXPECTED = {
    "VecfleetSearchLatencyP99High": "> 0.5",
    "VecfleetCacheHitRateLow": "< 0.6",
    "VecfleetCacheBreakerOpen": "== 1",
    "VecfleetReplicaBreakerOpen": "== 2",
    "VecfleetErrorRateHigh": "> 0.05",
    "VecfleetReplicaLagHigh": "> 5",
    "VecfleetDeadLettersPresent": "> 0",
}

RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    out = []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["rules"], group.get("name")
        out.extend(group["rules"])
    return out


RULES = rules()


def exported_metrics() -> set[str]:
    """Metric family names in obs/metrics.py (samples add ``_total``, ``_bucket`` …)."""
    return set(re.findall(r'"(vecfleet_[a-z0-9_]+)"', METRICS_SOURCE.read_text()))


def metrics_in(expr: str) -> set[str]:
    # Label values are quoted; drop them so a route or tier name is never a metric.
    return set(re.findall(r"\bvecfleet_[a-z0-9_]+", re.sub(r'"[^"]*"', '""', expr)))


def family(metric: str) -> str:
    for suffix in SUFFIXES:
        if metric.endswith(suffix):
            return metric.removesuffix(suffix)
    return metric


@pytest.mark.parametrize("rule", RULES, ids=[r.get("alert", "?") for r in RULES])
def test_every_rule_has_expr_for_severity_and_summary(rule: dict[str, Any]) -> None:
    assert set(rule) <= RULE_KEYS, set(rule) - RULE_KEYS
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
    assert isinstance(rule["expr"], str) and rule["expr"].strip()
    assert DURATION.fullmatch(str(rule["for"])), rule["for"]
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert rule["annotations"]["summary"].strip()
    expr = rule["expr"]
    assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
    for text in rule["annotations"].values():
        assert text.count("{{") == text.count("}}")


def test_the_plans_alerts_are_all_there_with_their_thresholds() -> None:
    by_name = {rule["alert"]: rule for rule in RULES}
    assert len(by_name) == len(RULES), "alert names must be unique"
    assert set(EXPECTED) <= set(by_name)
    for name, threshold in EXPECTED.items():
        assert threshold in by_name[name]["expr"], name


def test_every_metric_is_exported_or_known_to_be_missing() -> None:
    exported = exported_metrics()
    assert "vecfleet_http_request_seconds" in exported  # the regex still reads the file
    for rule in RULES:
        for metric in metrics_in(rule["expr"]):
            assert family(metric) in exported or metric in NOT_EXPORTED_YET, (
                f"{rule['alert']}: {metric} is neither exported by {METRICS_SOURCE.name} "
                f"nor listed in NOT_EXPORTED_YET"
            )


def test_missing_metrics_are_still_missing_and_documented() -> None:
    landed = {m for m in NOT_EXPORTED_YET if family(m) in exported_metrics()}
    assert not landed, f"now exported, drop from NOT_EXPORTED_YET and the file header: {landed}"
    header = ALERTS.read_text().split("groups:", 1)[0]
    for metric in NOT_EXPORTED_YET:
        assert metric in header, f"list {metric} in the header of {ALERTS.name}"


def test_breaker_alerts_compare_with_the_open_state_code() -> None:
    # The breaker gauges encode states differently; each help text says how.
    source = METRICS_SOURCE.read_text()
    checked = 0
    for rule in RULES:
        for metric, code in re.findall(
            r"(vecfleet_\w+_breaker_state)\)?\s*==\s*(\d)", rule["expr"]
        ):
            help_text = re.search(rf'"{metric}",\s*"([^"]*)"', source)
            assert help_text, f"no help text for {metric} in {METRICS_SOURCE.name}"
            open_code = re.search(r"(\d) open", help_text[1])
            assert open_code, help_text[1]
            assert code == open_code[1], f"{rule['alert']}: {metric} is open at {open_code[1]}"
            checked += 1
    assert checked == 2
