"""``leadrelay demo`` makes an API token for its run and prints it, so the routes it points to (/api/leads/<id>,
/metrics) answer the user (issue 11, point 1)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from leadrelay.cli.main import app; app()"]


@pytest.mark.timeout(240)
def test_the_demo_prints_a_token_its_api_answers_to(tmp_path: Path) -> None:
    out = tmp_path / "stdout.jsonl"
    with out.open("w") as stdout:
        proc = subprocess.Popen([*CLI, "demo", "--json", "--embedded-redis", "--leads", "3", "--rate", "0"], cwd=ROOT,
                                stdout=stdout, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 180
        assert proc.stderr is not None
        while not any(line.startswith("serving:") for line in lines):
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "".join(lines)[-3000:]
            lines.append(line)
        text = "".join(lines)
        token = re.search(r"API token \(admin\) for this run: (\S+)", text)
        api = re.search(r"serving: API (http://127\.0\.0\.1:\d+)", text)
        assert token and api, text[-3000:]
        rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        assert len(rows) == 3
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        lead = httpx.get(f"{api.group(1)}/api/leads/{rows[0]['lead_id']}", headers=auth, timeout=10)
        assert lead.status_code == 200 and lead.json()["id"] == rows[0]["lead_id"], lead.text
        assert httpx.get(f"{api.group(1)}/metrics", headers=auth, timeout=10).status_code == 200
        assert httpx.get(f"{api.group(1)}/metrics", timeout=10).status_code == 401  # the token is what opens it
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
