"""`leadrelay demo --once` with LEADRELAY_SLACK_WEBHOOK_URL pointing at a local receiver: one Slack message per
routed hot or warm lead, each naming the lead's email, score and owner; the hot leads no rep could take go to the
manager on call (rules/routing.yaml `fallback_owner`), and the managers' channel is alerted of each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.team import load_team
from tests.integration.receivers import HttpReceiver

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from leadrelay.cli.main import app; app()"]
FALLBACK_SQL = "paul.smith@jimenezvasquez.com"  # score 100, SQL, Toronto: in no territory — queue:unassigned before


def _held(row: dict[str, Any], at: datetime) -> bool:
    """Held for after hours (rules/routing.yaml `hold`): told when released, not now."""
    return bool(row["hold_until"]) and datetime.fromisoformat(row["hold_until"]) > at


def _field(message: dict[str, Any], label: str) -> str:
    [fields] = [b["fields"] for b in message["blocks"] if "fields" in b]
    return str(next(f["text"] for f in fields if f["text"].startswith(f"*{label}*\n")).split("\n", 1)[1])


@pytest.mark.timeout(300)
def test_demo_tells_each_routed_hot_or_warm_lead_once_and_alerts_the_managers_of_the_fallback() -> None:
    names = {r.id: r.name for r in load_team(ROOT / "rules" / "team.yaml").reps}
    with HttpReceiver() as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_") and k != "REDIS_URL"}
        env |= {"LEADRELAY_SLACK_WEBHOOK_URL": f"{slack.url}/sales",
                "LEADRELAY_SLACK_MANAGERS_WEBHOOK_URL": f"{slack.url}/managers"}
        started = datetime.now(UTC)
        proc = subprocess.run([*CLI, "demo", "--once", "--json", "--embedded-redis", "--rate", "0"], cwd=ROOT,
                              capture_output=True, text=True, timeout=280, env=env)
        sales, managers = slack.delivered("/sales"), slack.delivered("/managers")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    routed = [r for r in rows if r["grade"] in ("hot", "warm") and not r["owner"].startswith("queue:")]
    told = [r for r in routed if not _held(r, started)]
    assert len(told) > 100, len(told)
    assert len(sales) == len(told), (len(sales), len(told))
    bodies = [p.body.decode() for p in sales]
    for row in told:
        [body] = [b for b in bodies if f"*Email*\\n{row['email']}" in b]
        assert f"*Score*\\n{row['score']:g} ({row['grade']})" in body, (row, body)
        assert f"*Owner*\\n{names[row['owner']]}" in body, (row, body)
    assert not [r for r in rows if r["grade"] == "hot" and r["owner"].startswith("queue:")]
    [sql] = [r for r in rows if r["email"] == FALLBACK_SQL]
    assert (sql["owner"], sql["rule"], sql["score"], sql["stage"]) == ("dana_whitfield", "fallback_owner", 100, "sql")
    fallback = [r for r in rows if r["rule"] == "fallback_owner"]
    assert len(managers) == len(fallback) >= 1
    alerts = [p.json for p in managers]
    assert all(a["text"].startswith("No rep available — assigned to the fallback owner Dana Whitfield. ")
               for a in alerts)
    assert sorted(a["blocks"][1]["text"]["text"] for a in alerts) == [
        ":rotating_light: *No rep available — assigned to the fallback owner Dana Whitfield*"] * len(fallback)
    assert sorted(r["email"] for r in fallback) == sorted(_field(a, "Email") for a in alerts)
    assert f"managers_slack sent {len(fallback)}" in proc.stderr and f"sales_slack sent {len(told)}" in proc.stderr
