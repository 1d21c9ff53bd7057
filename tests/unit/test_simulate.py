"""`leadrelay simulate` over the bundled samples and rules."""

import json
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from leadrelay.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_samples_exercise_every_routing_rule() -> None:
    out = _json(runner.invoke(app, ["simulate", str(ROOT / "samples/leads.jsonl"), "--rules", str(ROOT / "rules"),
                                    "--records", str(ROOT / "samples/crm_records.jsonl"), "--json"]))
    summary = out["summary"]
    assert summary["leads"] >= 200
    assert summary["rules_never_hit"] == []
    assert summary["rules"]["fallback_owner"] >= 1  # a hot lead outside every territory: the manager on call
    assert "fallback" not in summary["rules"]  # no hot lead left silently in the fallback queue
    assert sum(summary["owners"].values()) == summary["leads"]
    assert {"hot", "warm", "cold"} <= set(summary["grades"])


def test_csv_and_jsonl_samples_decide_alike() -> None:
    args = ["--rules", str(ROOT / "rules"), "--records", str(ROOT / "samples/crm_records.jsonl"), "--json"]
    a = _json(runner.invoke(app, ["simulate", str(ROOT / "samples/leads.jsonl"), *args]))
    b = _json(runner.invoke(app, ["simulate", str(ROOT / "samples/leads.csv"), *args]))
    assert a["summary"]["owners"] == b["summary"]["owners"]


def test_baseline_lists_leads_that_change_owner(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    routing = tmp_path / "rules/routing.yaml"
    data = yaml.safe_load(routing.read_text())
    data["rules"] = [r for r in data["rules"] if r["name"] != "healthcare_specialist"]
    routing.write_text(yaml.safe_dump(data))
    out = _json(runner.invoke(app, ["simulate", str(ROOT / "samples/leads.jsonl"), "--rules", str(ROOT / "rules"),
                                    "--baseline", str(tmp_path), "--json"]))
    moved = out["changed_owner"]
    assert moved, "removing a rule must move some leads"
    assert any(m["after_rule"] == "healthcare_specialist" for m in moved)
    assert all(m["before"] != m["after"] for m in moved)
    assert out["baseline"]["rules"].get("healthcare_specialist", 0) == 0


def test_bad_leads_file_exits_1_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "leads.jsonl"
    bad.write_text('{"email": "a@b.example"}\n{not json\n')
    result = runner.invoke(app, ["simulate", str(bad), "--rules", str(ROOT / "rules")])
    assert result.exit_code == 1
    assert f"{bad}:2" in result.output
