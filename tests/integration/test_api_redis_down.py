"""Redis unreachable at the API (issue 11, point 11a): a webhook is answered 503 with Retry-After and a problem
body, never 2xx (the sender keeps it and tries again), and the other Redis-backed routes answer the same way."""

from __future__ import annotations

import time
from pathlib import Path

from litestar.testing import AsyncTestClient

from adapters.forms.standard_webhooks import sign
from connector.settings import load_settings
from leadrelay.api.app import create_app
from tests.integration.harness import FORM_SECRET
from tests.tokens import API_TOKENS, bearer
from worker.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


async def test_a_webhook_is_503_with_retry_after_when_redis_is_down(signing_secrets: None) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = load_settings({}, redis_url=nowhere, key_prefix="down-lr:", config_dir=str(ROOT),
                             api_tokens=API_TOKENS)
    body = (ROOT / "tests" / "fixtures" / "website_form.json").read_bytes()
    headers = {"content-type": "application/json", **sign(FORM_SECRET, "msg_down_1", int(time.time()), body)}
    async with AsyncTestClient(create_app(settings, crm=False)) as client:
        started = time.monotonic()
        r = await client.post("/webhooks/forms/website", content=body, headers=headers)
        took = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["status"] == 503 and problem["title"] and "redis" not in problem.get("detail", "").lower()
        assert took < 10  # answered, not hung
        for path in ("/api/leads/ld_0123", "/metrics"):
            other = await client.get(path, headers=bearer())
            assert other.status_code == 503 and "retry-after" in other.headers, (path, other.text)
            assert other.headers["content-type"].startswith("application/problem+json")
        ready = await client.get("/ready")
        assert ready.status_code == 503 and "retry-after" in ready.headers
