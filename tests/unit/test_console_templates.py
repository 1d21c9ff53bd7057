"""The console's templates: autoescape on for every one of them, and no way around it in their text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leadrelay.console.templating import environment
from tests.html_text import assert_shown_as_text

TEMPLATES = Path(__file__).parents[2] / "leadrelay" / "console" / "templates"
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def page_context(role: str = "admin") -> dict[str, Any]:
    """One context that every page template can render from, with the hostile value wherever a page shows data."""
    doc = {"name": HOSTILE, "source": HOSTILE, "fields": [{"from": HOSTILE, "to": HOSTILE, HOSTILE: HOSTILE}]}
    return {
        "title": HOSTILE, "active": "/admin", "role": role, "session": None, "scripts": ("console",),
        "data": {"editor": {"docs": {HOSTILE: HOSTILE}}}, "lead_id": HOSTILE, "sources": [HOSTILE],
        "bundle": {"number": 1, "base": 1, "draft": {HOSTILE: ""}, "files": {}},
        "views": {"k": "source_mapping"}, "docs": {"k": doc}, "ctx": {"crm_targets": {HOSTILE: [HOSTILE]}},
        "readonly": role != "admin", "datalists": [("canonical-fields", [HOSTILE])],
        "tabs": [("tab-0", HOSTILE)], "panels": [("tab-0", "k", HOSTILE)],
        "form_token": HOSTILE, "next": HOSTILE, "error": HOSTILE,
    }


def test_there_is_a_template_per_page_and_all_escape() -> None:
    env = environment()
    names = env.list_templates()
    assert {"base.html", "login.html", "widgets.html", "editors.html"} <= set(names)
    assert len([n for n in names if n.startswith("pages/")]) >= 10
    for name in names:
        escapes = env.autoescape(name) if callable(env.autoescape) else env.autoescape
        assert escapes is True, name


@pytest.mark.parametrize("name", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_no_template_turns_escaping_off(name: str) -> None:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    for way_around in ("|safe", "| safe", "autoescape false", "Markup(", "|tojson"):
        if way_around == "|tojson" and name == "base.html":
            continue  # the scripts' data: Jinja's tojson escapes <, >, & and ' for a <script> block
        assert way_around not in text, f"{name}: {way_around}"


@pytest.mark.parametrize("name", ["login.html", *sorted(f"pages/{p.name}" for p in (TEMPLATES / "pages").glob("*.html")
                                                        if p.name != "editor.html")])
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_every_page_template_renders_data_as_text(name: str, role: str) -> None:
    html = environment().get_template(name).render(page_context(role))
    assert_shown_as_text(html, HOSTILE)


def test_every_editor_renders_data_as_text() -> None:
    env = environment()
    module = env.get_template("editors.html").module
    when = {"any": [{"field": HOSTILE, "op": HOSTILE, "value": HOSTILE}, {"not": {"field": HOSTILE}}]}
    rule = {"name": HOSTILE, "strategy": HOSTILE, "pool": HOSTILE, "when": when, HOSTILE: HOSTILE}
    docs = {
        "source_mapping": {"name": HOSTILE, "source": HOSTILE, "fields": [{"from": HOSTILE, "to": HOSTILE}]},
        "crm_mapping": {"crm": HOSTILE, "object": HOSTILE, "fields": [{"from": HOSTILE, "to": HOSTILE}]},
        "scoring": {"fit": [rule], "grades": [{"grade": HOSTILE}], HOSTILE: HOSTILE},
        "tags": {"rules": [{**rule, "tags": [HOSTILE]}], "segments": [rule]},
        "routing": {"fallback_queue": HOSTILE, "rules": [rule]},
        "team": {"reps": [{"id": HOSTILE, "name": HOSTILE, "role": HOSTILE, "skills": [HOSTILE],
                           "out_of_office": [{"start": HOSTILE, "end": HOSTILE, "note": HOSTILE}]}],
                 "pools": {HOSTILE: {"members": [HOSTILE]}}},
        "territories": {"territories": {HOSTILE: {"countries": [HOSTILE], "pool": HOSTILE}}},
    }
    for view, doc in docs.items():
        for readonly in (False, True):
            html = str(getattr(module, view)(HOSTILE, doc, {"today": HOSTILE}, readonly))
            assert_shown_as_text(html, HOSTILE)
            assert ("disabled" in html) is readonly, view
