"""Acceptance: change a Typeform mapping row in the console, watch the live preview change, publish, post a signed
Typeform webhook, and find the new value in the sandbox CRM record — API, worker process and sandbox all real."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from adapters.forms.typeform import sign as typeform_sign
from tests.browser.helpers import VIEWER_TOKEN, Console, api, login, new_page, screenshot, start_console
from tests.integration.harness import ROOT, TYPEFORM_SECRET, hubspot_contacts, wait_for

pytestmark = pytest.mark.timeout(180)
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "typeform_form_response.json").read_text())
TYPEFORM = "mappings/sources/typeform_demo.yaml"


@pytest.fixture(scope="module")
def console(redis_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    yield from start_console(redis_server_url, tmp_path_factory.mktemp("console-mapping"), workers=1)


def typeform_response(n: int, email: str) -> dict[str, Any]:
    """The fixture's form_response as a new submission (its own event id and token) from ``email``."""
    body = copy.deepcopy(FIXTURE)
    body["event_id"] = f"01J7Z3K9QW4T6M8R2V5X0B1C{n:02d}"
    body["form_response"]["token"] = f"0b4e2c9f1d7a4e8b9c3f6a2d5e8b1c{n:02d}"
    for answer in body["form_response"]["answers"]:
        if answer["field"]["ref"] == "work_email":
            answer["email"] = email
    return body


def post_typeform(console: Console, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    r = httpx.post(f"{console.url}/webhooks/typeform/typeform_demo", content=raw,
                   headers={"content-type": "application/json", "Typeform-Signature": typeform_sign(TYPEFORM_SECRET,
                                                                                                    raw)})
    assert r.status_code == 200, r.text


def contact(console: Console, email: str) -> dict[str, Any] | None:
    return next((c["properties"] for c in hubspot_contacts(console.sandbox) if c["properties"].get("email") == email),
                None)


def worker_follows(console: Console, number: int) -> bool:
    """The worker process logged that it decides with config version ``number`` now (no restart)."""
    assert console.workers is not None
    for log in console.workers.logs:
        for line in log.read_text(errors="replace").splitlines():
            if '"config_followed"' in line and json.loads(line).get("number") == number:
                return True
    return False


def test_a_mapping_row_changed_in_the_console_reaches_the_crm_record(console: Console, browser: Any) -> None:
    # a first Typeform lead under the shipped mapping: written as Typeform sent the title, and kept as a recent payload
    post_typeform(console, typeform_response(1, "lukas.brandt@kessler-logistik.de"))
    wait_for(lambda: (contact(console, "lukas.brandt@kessler-logistik.de") or {}).get("jobtitle"), 60, "first contact")
    assert contact(console, "lukas.brandt@kessler-logistik.de")["jobtitle"] == "Head of Revenue Operations"

    page = new_page(browser)
    login(page, console.url)
    page.goto(f"{console.url}/admin/mappings")
    page.click("[data-tabs=mappings] button:has-text('typeform_demo')")
    section = page.locator(f"section[data-key='{TYPEFORM}']")
    assert section.is_visible()
    # the recent payload is picked and previewed under the published mapping
    expect(page.locator("#pv-source")).to_have_value("typeform_demo")
    expect(page.locator("#pv-lead")).to_contain_text("Head of Revenue Operations")
    crm = page.locator("#pv-crm")
    assert '"jobtitle": "Head of Revenue Operations"' in crm.inner_text()

    # the row that writes role.title: add `upper` to its transforms
    to = section.locator("input[data-k=text][data-path$='.to'][value='role.title']")
    row = to.get_attribute("data-path").removesuffix(".to")
    transform = section.locator(f"input[data-path='{row}.transform']")
    assert transform.input_value() == "trim"
    transform.fill("trim, upper")
    expect(page.locator("#pv-lead")).to_contain_text("HEAD OF REVENUE OPERATIONS")
    assert '"jobtitle": "HEAD OF REVENUE OPERATIONS"' in crm.inner_text()
    changed = page.locator("#pv-lead span.chg").all_inner_texts()
    assert any("HEAD OF REVENUE OPERATIONS" in line for line in changed), changed  # the changed line is marked
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    screenshot(page, "02-mappings-preview")

    page.fill("#publish-message", "Typeform job titles in capitals")
    page.click("#publish")
    expect(page.locator("body")).to_have_attribute("data-published", "2")
    assert "Published version 2" in page.locator("#messages").inner_text()
    wait_for(lambda: worker_follows(console, 2), 10, "the worker to follow version 2")

    # the next Typeform lead: its CRM record carries the new value
    post_typeform(console, typeform_response(2, "mia.schulz@kessler-logistik.de"))
    wait_for(lambda: (contact(console, "mia.schulz@kessler-logistik.de") or {}).get("jobtitle"), 60, "second contact")
    assert contact(console, "mia.schulz@kessler-logistik.de")["jobtitle"] == "HEAD OF REVENUE OPERATIONS"
    with api(console, VIEWER_TOKEN) as h:
        text = h.get("/api/admin/config").json()["files"][TYPEFORM]
    assert "transform: [trim, upper]" in text
    assert text.startswith("# Typeform \"Book a demo\" form")  # the file's header comment is kept
    assert page.js_errors == []
    page.context.close()
