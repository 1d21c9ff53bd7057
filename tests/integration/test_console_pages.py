"""The console's pages through the real app and a real Redis: names from drafts, published files and URLs that
carry markup show as text on every page (the templates escape them by construction)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from litestar.testing import AsyncTestClient

from connector.settings import load_settings
from leadrelay.api.app import create_app
from tests.html_text import assert_shown_as_text
from tests.integration.harness import PREFIX, config_dir
from tests.tokens import ADMIN_TOKEN, API_TOKENS, bearer

ADMIN, VIEWER = bearer(ADMIN_TOKEN), bearer()
# markup, quotes and the braces of a format string; no "/" so that it can be a file's name too
HOSTILE = '"><img src=x onerror=alert(1)>{lead}\''
SCRIPT = "<script>alert(document.cookie)</script>"


@pytest.fixture
async def client(redis_url: str, tmp_path: Path, signing_secrets: None) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = load_settings({}, redis_url=redis_url, key_prefix=PREFIX, config_dir=str(config_dir(tmp_path)),
                             api_tokens=API_TOKENS, config_poll_s=60.0)
    async with AsyncTestClient(create_app(settings, crm=False)) as c:
        yield c


async def page(client: AsyncTestClient, path: str, headers: dict[str, str] = ADMIN) -> str:  # type: ignore[type-arg]
    answer = await client.get(path, headers=headers)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    return answer.text


async def files(client: AsyncTestClient) -> dict[str, str]:  # type: ignore[type-arg]
    return dict((await client.get("/api/admin/config", headers=ADMIN)).json()["files"])


async def test_a_draft_file_named_with_markup_and_braces_shows_as_text(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """The mappings page (its tab and panel) and the backtest page (the draft's changed files)."""
    key = f"mappings/sources/{HOSTILE}.yaml"
    website = (await files(client))["mappings/sources/website.yaml"]
    saved = await client.put("/api/admin/config/draft", headers=ADMIN, json={"files": {key: website}})
    assert saved.status_code == 200, saved.text
    assert_shown_as_text(await page(client, "/admin/mappings"), HOSTILE)
    assert_shown_as_text(await page(client, "/admin/backtest"), key)


async def test_a_rep_named_with_markup_shows_as_text_on_the_team_page(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    team = yaml.safe_load((await files(client))["rules/team.yaml"])
    rep = team["reps"][0]
    rep.update(name=HOSTILE + SCRIPT, skills=[HOSTILE], out_of_office=[{"start": "2001-01-01", "end": "2001-01-02",
                                                                       "note": HOSTILE + SCRIPT}])
    published = await client.post("/api/admin/config/publish", headers=ADMIN,
                                  json={"files": {"rules/team.yaml": yaml.safe_dump(team)}, "message": SCRIPT})
    assert published.status_code == 201, published.text
    for who in (ADMIN, VIEWER):
        html = await page(client, "/admin/team", who)
        assert_shown_as_text(html, HOSTILE + SCRIPT)
        assert f'data-publish="{HOSTILE}' not in html  # the one-click "out today" names the rep: escaped too


async def test_a_source_named_with_markup_shows_as_text_on_the_preview_and_mapping_pages(
        client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    website = yaml.safe_load((await files(client))["mappings/sources/website.yaml"])
    website["name"] = HOSTILE
    website["description"] = SCRIPT
    published = await client.post("/api/admin/config/publish", headers=ADMIN,
                                  json={"files": {"mappings/sources/website.yaml": yaml.safe_dump(website)}})
    assert published.status_code == 201, published.text
    for who in (ADMIN, VIEWER):
        assert_shown_as_text(await page(client, "/admin/preview", who), HOSTILE)
        assert_shown_as_text(await page(client, "/admin/backtest", who), HOSTILE)
        mappings = await page(client, "/admin/mappings", who)
        assert_shown_as_text(mappings, f"Source: {HOSTILE}")
        assert SCRIPT not in mappings  # the description is only in the editor's data: JSON escaped for <script>


@pytest.mark.parametrize("path", ["/admin/decisions/{}", "/admin/login?next=/admin/{}"])
async def test_a_url_with_markup_shows_as_text(client: AsyncTestClient, path: str) -> None:  # type: ignore[type-arg]
    """The trace page's title and lead id, and the page a sign-in returns to."""
    lead_id = "ld_" + HOSTILE + "<b onclick=alert(2)>"  # no "/": a lead id is one path segment
    html = await page(client, path.format(quote(lead_id, safe="")), ADMIN if "login" not in path else {})
    assert_shown_as_text(html, lead_id)


@pytest.mark.parametrize("path", ["/admin", "/admin/decisions", "/admin/dead-letters", "/admin/versions"])
async def test_the_reading_pages_carry_no_data_of_their_own(client: AsyncTestClient, path: str) -> None:  # type: ignore[type-arg]
    """Leads, dead letters and versions reach these pages through the admin API and the page's script, which
    makes text nodes of them (console.js ``h``): the page itself holds the shell, our scripts and nothing else."""
    await client.post("/api/admin/config/publish", headers=ADMIN,
                      json={"files": {"rules/tags.yaml": (await files(client))["rules/tags.yaml"]}, "message": SCRIPT})
    html = await page(client, path)
    assert SCRIPT not in html and "alert(" not in html
