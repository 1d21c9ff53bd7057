"""docs/alerts.yml: Prometheus rules whose every metric is one leadrelay exports (a renamed metric would leave an
alert that never fires, silently)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from worker.metrics import METRICS

ALERTS = Path(__file__).resolve().parents[2] / "docs" / "alerts.yml"
_HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
# PromQL's words that look like names: functions (before "("), aggregation modifiers, set operators
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def _metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    expr = re.sub(r'"[^"]*"', "", expr)
    names = set()
    for m in re.finditer(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = m.group(0)
        if word not in _KEYWORDS and not expr[m.end():].lstrip().startswith("("):
            names.add(word)
    return names


def _exported(name: str) -> bool:
    if name in METRICS:
        return True
    base = next((name.removesuffix(s) for s in _HISTOGRAM_SERIES if name.endswith(s)), None)
    return base is not None and METRICS.get(base) is not None and METRICS[base].kind == "histogram"


def test_every_metric_an_alert_names_is_one_leadrelay_exports() -> None:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    assert rules
    for rule in rules:
        assert rule["alert"] and rule["labels"]["severity"] in {"warning", "critical"}, rule
        assert rule["annotations"]["summary"], rule
        names = _metric_names(rule["expr"])
        assert names, rule["expr"]
        unknown = sorted(n for n in names if not _exported(n))
        assert not unknown, f"{rule['alert']}: {unknown} not in worker.metrics.METRICS"


def test_the_alerts_cover_the_job_paths_bad_days() -> None:
    text = ALERTS.read_text()
    for metric in ("leadrelay_dead_letters", "leadrelay_crm_breaker_open", "leadrelay_oldest_queued_job_seconds",
                   "leadrelay_leads_parked", "leadrelay_redis_uptime_seconds"):
        assert metric in text, metric


def test_the_name_check_finds_metrics_and_skips_functions_labels_and_modifiers() -> None:
    assert _metric_names('sum by (crm) (rate(leadrelay_crm_calls_total{status=~"5.."}[5m])) > 0') == {
        "leadrelay_crm_calls_total"}
    assert _metric_names("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))") == {"x_bucket"}
    assert not _exported("leadrelay_no_such_metric") and _exported("leadrelay_speed_to_lead_seconds_bucket")
