"""Gauges read at scrape time: one number, or one per value of the gauge's one label (the unassigned leads by queue)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from worker.metrics import METRICS, _families, _generate


def _page(gauges: dict[str, float | dict[str, float]]) -> str:
    families = _families({}, gauges)
    return _generate(lambda: families).decode()


def test_a_labelled_gauge_shows_one_line_per_label_value() -> None:
    page = _page({"leadrelay_leads_unassigned": {"unassigned": 3.0, "nurture": 0.0}, "leadrelay_sla_overdue": 2.0})
    assert 'leadrelay_leads_unassigned{queue="nurture"} 0.0' in page
    assert 'leadrelay_leads_unassigned{queue="unassigned"} 3.0' in page
    assert "leadrelay_sla_overdue 2.0" in page


def test_the_speed_to_lead_chain_is_measured_by_source_rep_and_hour() -> None:
    for name in ("leadrelay_assigned_seconds", "leadrelay_notified_seconds", "leadrelay_first_contact_seconds"):
        assert {"source", "rep", "hour"} <= set(METRICS[name].labels), name
    assert METRICS["leadrelay_leads_unassigned"].labels == ("queue",)


def test_an_unknown_gauge_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        _page({"leadrelay_nope": 1.0})


def test_every_metric_is_in_the_readme_table_with_its_type_and_labels() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[2:4] for line in readme.splitlines()
            if line.startswith("| `leadrelay_")}
    assert set(rows) == set(METRICS)
    for name, spec in METRICS.items():
        kind, labels = (cell.strip() for cell in rows[name])
        assert kind == spec.kind, name
        named = re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", labels))  # a label's values are in parentheses
        assert named == list(spec.labels), name
