"""Hostile admin input (issue 17, build 1): a viewer's draft, a console fragment or an admin's publish cannot stall
the API or cripple the workers. YAML anchors and aliases are refused before anything is built from them, deep
YAML and JSON are a 4xx naming the field, and the work a preview does runs off the event loop within a time and
size budget (over it: 422 naming the budget)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from bench.hostile import ALIAS_BOMB_FILE, alias_bomb, bomb_const, first_anchor_line
from connector.settings import Settings, load_settings
from leadrelay.api.admin import backtest
from leadrelay.api.app import create_app
from tests.tokens import ADMIN_TOKEN, API_TOKENS, bearer

ROOT = Path(__file__).resolve().parents[2]
P = "admin-hostile-lr:"
ADMIN, VIEWER = bearer(ADMIN_TOKEN), bearer()
LEAD = {"email": "jane@acme.com", "first_name": "Jane", "last_name": "Doe", "company": "Acme"}


def settings_for(redis_url: str, **extra: Any) -> Settings:
    return load_settings({}, redis_url=redis_url, key_prefix=P, config_dir=str(ROOT), api_tokens=API_TOKENS,
                         **extra)


@pytest.fixture
async def client(redis_url: str, signing_secrets: None) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(create_app(settings_for(redis_url), crm=False)) as c:
        yield c


def _config_problem(r: Any, file: str) -> dict[str, Any]:
    assert r.status_code == 422, r.text[:500]
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = r.json()["errors"][0]
    assert problem["file"] == file
    return problem


# ---- the alias bomb -------------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_a_viewers_alias_bomb_preview_is_422_naming_file_and_line(client) -> None:  # type: ignore[no-untyped-def]
    bomb = alias_bomb()
    r = await client.post("/api/admin/preview/mapping", headers=VIEWER,
                          json={"source": "website", "payload": LEAD, "files": {ALIAS_BOMB_FILE: bomb}})
    problem = _config_problem(r, ALIAS_BOMB_FILE)
    assert problem["line"] == first_anchor_line(bomb)
    assert "anchor" in problem["message"]


@pytest.mark.timeout(30)
async def test_a_viewers_alias_bomb_lead_preview_and_validate_are_422(client) -> None:  # type: ignore[no-untyped-def]
    files = {ALIAS_BOMB_FILE: alias_bomb()}
    r = await client.post("/api/admin/preview/lead", headers=VIEWER,
                          json={"source": "website", "payload": LEAD, "files": files})
    _config_problem(r, ALIAS_BOMB_FILE)
    r = await client.post("/api/admin/config/validate", headers=VIEWER, json={"files": files})
    _config_problem(r, ALIAS_BOMB_FILE)


@pytest.mark.timeout(30)
async def test_a_viewers_alias_bomb_fragment_is_422_naming_the_value(client) -> None:  # type: ignore[no-untyped-def]
    doc = {"name": "website", "source": "form",
           "fields": [{"to": "extra.bomb", "const": {"__yaml__": bomb_const()}}]}
    r = await client.post("/admin/fragment", headers=VIEWER,
                          json={"view": "source_mapping", "key": ALIAS_BOMB_FILE, "doc": doc})
    assert r.status_code == 422, r.text[:500]
    error = r.json()["errors"][0]
    assert error["field"] == "fields[0].const" and "anchor" in error["message"]
    r = await client.post("/admin/yaml", headers=VIEWER, json={"files": {ALIAS_BOMB_FILE: doc}})
    assert r.status_code == 422, r.text[:500]


@pytest.mark.timeout(30)
async def test_the_alias_bomb_cannot_be_published(client) -> None:  # type: ignore[no-untyped-def]
    before = (await client.get("/api/admin/config", headers=VIEWER)).json()
    r = await client.post("/api/admin/config/publish", headers=ADMIN, json={"files": {ALIAS_BOMB_FILE: alias_bomb()}})
    _config_problem(r, ALIAS_BOMB_FILE)
    after = (await client.get("/api/admin/config", headers=VIEWER)).json()
    assert (after["number"], after["hash"]) == (before["number"], before["hash"])
    versions = (await client.get("/api/admin/config/versions", headers=VIEWER)).json()
    assert [v["number"] for v in versions] == [before["number"]]


async def test_a_draft_with_the_bomb_is_not_saved(client) -> None:  # type: ignore[no-untyped-def]
    """A draft is saved unchecked (it may be half typed), but not with an anchor: the console reads drafts back."""
    bomb = alias_bomb()
    r = await client.put("/api/admin/config/draft", headers=ADMIN, json={"files": {ALIAS_BOMB_FILE: bomb}})
    assert _config_problem(r, ALIAS_BOMB_FILE)["line"] == first_anchor_line(bomb)
    assert (await client.get("/api/admin/config/draft", headers=ADMIN)).status_code == 404


async def test_one_anchor_is_refused_too(client) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / ALIAS_BOMB_FILE).read_text() + "  - {to: extra.a, const: &a x}\n  - {to: extra.b, const: *a}\n"
    r = await client.post("/api/admin/config/validate", headers=VIEWER, json={"files": {ALIAS_BOMB_FILE: text}})
    problem = _config_problem(r, ALIAS_BOMB_FILE)
    assert problem["line"] == len((ROOT / ALIAS_BOMB_FILE).read_text().splitlines()) + 1


# ---- deep YAML and JSON ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [40, 5_000])
async def test_deep_yaml_in_a_draft_is_422_naming_file_and_line(client, depth: int) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / ALIAS_BOMB_FILE).read_text() + "  - {to: extra.deep, const: " + "[" * depth + "]" * depth + "}\n"
    r = await client.post("/api/admin/config/validate", headers=VIEWER, json={"files": {ALIAS_BOMB_FILE: text}})
    problem = _config_problem(r, ALIAS_BOMB_FILE)
    assert problem["line"] == len((ROOT / ALIAS_BOMB_FILE).read_text().splitlines()) + 1
    assert "nested deeper" in problem["message"]


@pytest.mark.parametrize("depth", [40, 5_000])
async def test_a_deep_preview_payload_is_400_naming_the_field(client, depth: int) -> None:  # type: ignore[no-untyped-def]
    body = ('{"source": "website", "payload": {"email": "jane@acme.com", "x": ' + "[" * depth + "]" * depth + "}}")
    r = await client.post("/api/admin/preview/mapping", headers={**VIEWER, "content-type": "application/json"},
                          content=body.encode())
    assert r.status_code == 400, r.text[:500]
    # a body too deep to decode at all (~1,000 levels) is named as a whole
    assert r.json()["field"].startswith("payload.x[0][0]") if depth == 40 else r.json()["field"] == "body"
    assert "nested" in r.json()["detail"]


@pytest.mark.parametrize("depth", [40, 5_000])
async def test_a_deep_fragment_document_is_4xx_naming_the_field(client, depth: int) -> None:  # type: ignore[no-untyped-def]
    body = ('{"view": "source_mapping", "key": "mappings/sources/website.yaml", "doc": {"name": "website", '
            '"fields": ' + "[" * depth + "]" * depth + "}}")
    r = await client.post("/admin/fragment", headers={**VIEWER, "content-type": "application/json"},
                          content=body.encode())
    assert r.status_code == 400, r.text[:500]
    assert r.json()["field"].startswith("doc.fields" if depth == 40 else "body")
    assert "nested" in r.json()["detail"]


async def test_a_deep_yaml_value_in_a_fragment_is_422_naming_it(client) -> None:  # type: ignore[no-untyped-def]
    doc = {"name": "website", "fields": [{"to": "extra.x", "const": {"__yaml__": "[" * 5_000 + "]" * 5_000}}]}
    r = await client.post("/admin/fragment", headers=VIEWER,
                          json={"view": "source_mapping", "key": ALIAS_BOMB_FILE, "doc": doc})
    assert r.status_code == 422, r.text[:500]
    assert r.json()["errors"][0]["field"] == "fields[0].const"


# ---- the budget ------------------------------------------------------------------------------------------------------


async def test_a_preview_over_the_time_budget_is_422_naming_it(redis_url: str, signing_secrets: None) -> None:
    draft = {ALIAS_BOMB_FILE: (ROOT / ALIAS_BOMB_FILE).read_text() + "  - {to: extra.note, const: hi}\n"}
    async with AsyncTestClient(create_app(settings_for(redis_url, admin_work_s=0.0001), crm=False)) as c:
        r = await c.post("/api/admin/preview/mapping", headers=VIEWER,
                         json={"source": "website", "payload": LEAD, "files": draft})
        assert r.status_code == 422, r.text[:500]
        assert "LEADRELAY_ADMIN_WORK_S" in r.json()["detail"]
        assert (await c.get("/health")).status_code == 200


async def test_a_preview_over_the_size_budget_is_422_naming_it(redis_url: str, signing_secrets: None) -> None:
    async with AsyncTestClient(create_app(settings_for(redis_url, admin_answer_bytes=1_000), crm=False)) as c:
        r = await c.post("/api/admin/preview/mapping", headers=VIEWER, json={"source": "website", "payload": LEAD})
        assert r.status_code == 422, r.text[:500]
        assert "LEADRELAY_ADMIN_ANSWER_BYTES" in r.json()["detail"]
        doc = {"name": "website", "source": "form", "fields": [{"to": "extra.note", "const": "x" * 2_000}]}
        r = await c.post("/admin/fragment", headers=VIEWER,
                         json={"view": "source_mapping", "key": ALIAS_BOMB_FILE, "doc": doc})
        assert r.status_code == 422, r.text[:500]
        assert "LEADRELAY_ADMIN_ANSWER_BYTES" in r.text


async def test_a_preview_within_budget_still_answers(client) -> None:  # type: ignore[no-untyped-def]
    r = await client.post("/api/admin/preview/mapping", headers=VIEWER, json={"source": "website", "payload": LEAD})
    assert r.status_code == 200, r.text[:500]
    assert r.json()["lead"]["identity"]["email"] == "jane@acme.com"
    r = await client.get("/api/admin/decisions", headers=VIEWER, params={"q": "acme"})
    assert r.status_code == 200 and r.json() == []


async def test_a_backtest_and_a_decision_search_are_bounded_too(
    redis_url: str, signing_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = "email,first_name,last_name,company\n" + "".join(f"p{i}@acme{i}.com,P,Q,Acme {i}\n" for i in range(200))
    # the backtest cannot end before the answer: on a busy machine a fast one could win the race with the timer
    answered = threading.Event()
    real = backtest._csv_backtest
    monkeypatch.setattr(backtest, "_csv_backtest", lambda *a: (answered.wait(30), real(*a))[1])
    async with AsyncTestClient(create_app(settings_for(redis_url, admin_work_s=0.05), crm=False)) as c:
        r = await c.post("/api/admin/backtest", headers=VIEWER, json={"csv": csv, "source": "website"})
        answered.set()
        assert r.status_code == 422, r.text[:500]
        assert "backtest" in r.json()["detail"] and "LEADRELAY_ADMIN_WORK_S" in r.json()["detail"]
    async with AsyncTestClient(create_app(settings_for(redis_url, admin_answer_bytes=1), crm=False)) as c:
        r = await c.get("/api/admin/decisions", headers=VIEWER, params={"q": "acme"})
        assert r.status_code == 422, r.text[:500]
        assert "LEADRELAY_ADMIN_ANSWER_BYTES" in r.json()["detail"]
