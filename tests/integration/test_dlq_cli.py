"""`leadrelay dlq list` prints a reason as the CRM wrote it: "[" and "]" are text, never Rich markup."""

from __future__ import annotations

import os
import subprocess
import sys

import redis

from tests.integration.harness import PREFIX, ROOT
from worker.store import DeadLetter
from worker.store.keys import Keys

CLI = [sys.executable, "-c", "from leadrelay.cli.main import app; app()"]
REASON = "[/] INVALID_FIELD: [Company] [bold]x[/bold]"


def test_dlq_list_prints_brackets_in_a_reason_as_text(redis_url: str) -> None:
    import msgspec

    k = Keys(PREFIX)
    dl = DeadLetter(id="write:ld_1:1", kind="write", reason=REASON, at=1_700_000_000.0, lead_id="ld_1")
    r = redis.Redis.from_url(redis_url)
    r.set(k.dlq_entry(dl.id), msgspec.json.encode(dl))
    r.zadd(k.dlq, {dl.id: dl.at})
    r.close()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")},
           "REDIS_URL": redis_url, "LEADRELAY_KEY_PREFIX": PREFIX, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([*CLI, "dlq", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert REASON in out.stdout, out.stdout
