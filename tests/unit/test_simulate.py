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
    assert f"{bad}:2" in result.output.replace("\n", "")  # the console wraps a long path (xdist's tmp dirs are)


def test_the_backtest_engine_decides_stored_leads_and_names_stage_and_tag_changes() -> None:
    # the console's backtest: canonical (stored) leads through run_leads, the same decisions as run() over payloads
    import msgspec

    from connector.config import config_from_texts, read_files
    from connector.pipeline import ingest
    from connector.simulate import run, run_leads, stage_changes, tag_changes

    files = read_files(ROOT)
    before = config_from_texts(files)
    lines = (ROOT / "samples/leads.jsonl").read_text().splitlines()[:80]
    rows = [(n, json.loads(line)) for n, line in enumerate(lines)]
    leads = [msgspec.structs.replace(ingest(p, before, mapping="website"), id=f"L{i + 1:05d}")
             for i, (_, p) in enumerate(rows)]
    by_payload = run(before, rows, [], mapping="website", now=None)
    by_lead = run_leads(before, leads, [], now=None)
    assert [by_payload.owner(d) for d in by_payload.decisions] == [by_lead.owner(d) for d in by_lead.decisions]
    changed = dict(files)
    changed["rules/scoring.yaml"] = files["rules/scoring.yaml"].replace("{stage: mql, min_score: 45}",
                                                                        "{stage: mql, min_score: 70}")
    changed["rules/tags.yaml"] = files["rules/tags.yaml"].replace('tags: ["size:enterprise"]',
                                                                  'tags: ["size:mid_market"]')
    assert changed != files
    after = run_leads(config_from_texts(changed), leads, [], now=None)
    stages = stage_changes(by_lead, after)
    assert stages and all(s["before"] == "mql" and s["after"] != "mql" for s in stages)
    tags = tag_changes(by_lead, after)
    assert tags and all("size:enterprise" in t["removed"] for t in tags)
    assert stage_changes(by_lead, by_lead) == [] and tag_changes(by_lead, by_lead) == []
