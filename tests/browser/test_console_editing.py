"""The editors' structural changes in the browser: routing rules reordered by the arrows and by drag and drop,
condition rows added, joined by any and removed, a mapping row added — each kept in the saved draft as YAML."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect

from tests.browser.helpers import Console, api, login, new_page, start_console
from tests.integration.harness import wait_for

pytestmark = pytest.mark.timeout(120)
ROUTING = "section[data-key='rules/routing.yaml']"


@pytest.fixture(scope="module")
def console(redis_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    yield from start_console(redis_server_url, tmp_path_factory.mktemp("console-editing"), workers=0)


def draft(console: Console, key: str) -> Any:
    with api(console) as h:
        r = h.get("/api/admin/config/draft")
        return yaml.safe_load(r.json()["files"].get(key, "")) if r.status_code == 200 else None


def draft_shows(console: Console, key: str, check: Any) -> None:
    """Wait until the saved draft's ``key`` passes ``check`` (the page saves its draft shortly after a change)."""
    def ok() -> bool:
        doc = draft(console, key)
        try:
            return doc is not None and bool(check(doc))
        except (KeyError, IndexError, TypeError):
            return False

    wait_for(ok, 10, f"the draft of {key} to show the change")


def names(page: Any) -> list[str]:
    return page.locator(f"{ROUTING} article.card > header > b").all_inner_texts()


def test_routing_rules_are_reordered_by_the_arrows_and_by_drag_and_drop(console: Console, browser: Any) -> None:
    page = new_page(browser)
    login(page, console.url)
    page.goto(f"{console.url}/admin/rules")
    before = names(page)
    assert before[-2:] == ["warm_to_sdr", "cold_to_nurture"]
    page.locator(f"{ROUTING} article.card").nth(len(before) - 1).locator("button[data-op=move]").first.click()
    expect(page.locator(f"{ROUTING} article.card > header > b").nth(len(before) - 2)).to_have_text("cold_to_nurture")
    draft_shows(console, "rules/routing.yaml",
                lambda d: [r["name"] for r in d["rules"]][-2:] == ["cold_to_nurture", "warm_to_sdr"])
    # drag the first rule (by its grip) onto the third: it moves to the third place
    page.set_viewport_size({"width": 1280, "height": 2400})  # both cards in view: a drag does not scroll
    cards = page.locator(f"{ROUTING} article.card")
    cards.nth(0).locator(".handle").drag_to(cards.nth(2))
    expect(page.locator(f"{ROUTING} article.card > header > b").nth(2)).to_have_text(before[0])
    draft_shows(console, "rules/routing.yaml",
                lambda d: [r["name"] for r in d["rules"]][:3] == [before[1], before[2], before[0]])
    assert page.js_errors == []
    page.context.close()


def test_condition_rows_are_added_joined_and_removed(console: Console, browser: Any) -> None:
    page = new_page(browser)
    login(page, console.url)
    page.goto(f"{console.url}/admin/rules")
    with page.expect_navigation():
        page.click("#discard-draft")  # the first test's reordering
    card = page.locator(f"{ROUTING} article.card").filter(has=page.locator("header b", has_text="warm_to_sdr"))
    path = card.locator("input[data-path$='.name']").get_attribute("data-path").removesuffix(".name")
    card.locator("button[data-op=add_condition]").click()
    card = page.locator(f"{ROUTING} article.card").filter(has=page.locator("header b", has_text="warm_to_sdr"))
    row = card.locator(f"input[data-path='{path}.when.all[1].field']")
    row.fill("company.country")
    card.locator(f"input[data-path='{path}.when.all[1].value']").fill("[US, CA]")
    card.locator(f"select[data-path='{path}.when.all[1].op']").select_option("in")
    card.locator("button[data-op=join][data-arg='\"any\"']").click()
    index = int(path.split("[")[1].rstrip("]"))
    draft_shows(console, "rules/routing.yaml", lambda d: d["rules"][index]["when"] == {
        "any": [{"field": "score.grade", "op": "eq", "value": "warm"},
                {"field": "company.country", "op": "in", "value": ["US", "CA"]}]})
    card = page.locator(f"{ROUTING} article.card").filter(has=page.locator("header b", has_text="warm_to_sdr"))
    card.locator("button[data-op=remove_condition]").nth(1).click()
    draft_shows(console, "rules/routing.yaml",
                lambda d: d["rules"][index]["when"] == {"field": "score.grade", "op": "eq", "value": "warm"})
    assert page.js_errors == []
    page.context.close()


def test_a_mapping_row_is_added_with_the_canonical_field_dropdown(console: Console, browser: Any) -> None:
    page = new_page(browser)
    login(page, console.url)
    page.goto(f"{console.url}/admin/mappings")
    page.click("[data-tabs=mappings] button:has-text('website')")
    section = page.locator("section[data-key='mappings/sources/website.yaml']")
    rows = section.locator("tbody tr").count()
    section.locator("button[data-op=add]").click()
    section = page.locator("section[data-key='mappings/sources/website.yaml']")
    expect(section.locator("tbody tr")).to_have_count(rows + 1)
    assert page.locator("#canonical-fields option[value='company.industry']").count() == 1
    last = section.locator("tbody tr").last
    assert last.locator("input[data-path$='.to']").get_attribute("list") == "canonical-fields"
    last.locator("input[data-path$='.from']").fill("industry_name")
    last.locator("input[data-path$='.to']").fill("company.industry")
    last.locator("input[data-path$='.transform']").fill("trim, lower")
    draft_shows(console, "mappings/sources/website.yaml", lambda d: d["fields"][-1] == {
        "to": "company.industry", "from": "industry_name", "transform": ["trim", "lower"]})
    assert page.js_errors == []
    page.context.close()
