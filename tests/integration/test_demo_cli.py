"""`leadrelay demo --once --json` and `leadrelay dlq`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from leadrelay.cli.main import app; app()"]


@pytest.mark.timeout(300)
def test_demo_once_json_prints_one_written_lead_per_sample_with_its_own_redis() -> None:
    samples = sum(1 for line in (ROOT / "samples" / "leads.jsonl").read_text().splitlines() if line.strip())
    proc = subprocess.run([*CLI, "demo", "--once", "--json", "--embedded-redis", "--rate", "0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(rows) == samples
    assert all(r["crm_record_id"] and r["owner"] and r["rule"] for r in rows), rows[:3]
    assert len({r["email"] for r in rows}) == samples
    assert len({r["crm_record_id"] for r in rows}) == samples
    assert all(isinstance(r["ms_webhook_to_crm"], float) for r in rows)
    assert {"email", "owner", "rule", "score", "stage", "tags", "crm_record_id", "ms_webhook_to_crm"} <= set(rows[0])


def test_dlq_without_redis_says_what_to_do() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    proc = subprocess.run([*CLI, "dlq", "list"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "REDIS_URL" in proc.stderr + proc.stdout
