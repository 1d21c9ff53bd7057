"""Signing in to the console: without a session /admin redirects to the login form and /api/admin/* answers 401;
a token or a user's password signs in (an HttpOnly, SameSite=Strict cookie); a form post without the CSRF token is
refused; a viewer sees the editors but cannot publish (the button is disabled and the API refuses)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.helpers import Console, login, new_page, screenshot, start_console

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def console(redis_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    yield from start_console(redis_server_url, tmp_path_factory.mktemp("console-auth"), workers=0)


def test_without_a_session_admin_redirects_to_login_and_the_admin_api_answers_401(console: Console,
                                                                                   browser: Any) -> None:
    with httpx.Client(base_url=console.url) as http:
        for path in ("/admin", "/admin/rules", "/admin/decisions/ld_x"):
            r = http.get(path)
            assert r.status_code == 303, (path, r.status_code)
            assert r.headers["location"].startswith("/admin/login?next=" + path)
        r = http.get("/api/admin/config")
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert http.post("/api/admin/config/publish", json={"files": {}}).status_code == 401
        assert http.post("/admin/yaml", json={"files": {}}).status_code == 401  # a console helper, not a redirect
        assert http.get("/admin/static/console.css").status_code == 200  # the login form's own style
    page = new_page(browser)
    page.goto(f"{console.url}/admin/team")
    assert "/admin/login" in page.url
    assert page.locator("input[name=token]").is_visible()
    screenshot(page, "00-login")
    page.fill("input[name=token]", "not-a-token-at-all-0123456789")
    page.click("button[type=submit]")
    assert page.locator("p.error").inner_text() == "That token, user or password is not valid."
    screenshot(page, "00-login-refused")
    # and back to the page asked for once signed in
    page.fill("input[name=token]", "test-admin-token-0123456789abcdef")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/admin/team"), page.url
    assert page.js_errors == []
    page.context.close()


def test_a_token_signs_in_to_an_httponly_samesite_strict_session_that_the_admin_api_accepts(console: Console,
                                                                                             browser: Any) -> None:
    page = new_page(browser)
    login(page, console.url)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["leadrelay_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert time.time() < session["expires"] <= time.time() + console.settings.session_ttl_s + 5
    assert page.evaluate("document.cookie").find("leadrelay_session") == -1  # scripts cannot read it
    status = page.evaluate("fetch('/api/admin/config').then(r => r.status)")
    assert status == 200
    assert "token:admin" in page.locator("header.top .who").inner_text()
    page.context.close()


def test_a_user_signs_in_with_a_hashed_password(console: Console, browser: Any) -> None:
    page = new_page(browser)
    page.goto(f"{console.url}/admin/login")
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", "wrong-password-123")
    page.click("button[type=submit]")
    assert "not valid" in page.locator("p.error").inner_text()
    login(page, console.url, user="ana")
    assert page.locator("header.top .who").inner_text().startswith("ana · admin")
    page.context.close()


def test_a_post_without_the_csrf_token_is_refused(console: Console, browser: Any) -> None:
    page = new_page(browser)
    login(page, console.url)
    # a plain HTML form (as another page of the same browser could send it) without csrf_token
    with page.expect_navigation():
        page.evaluate("""() => { const f = document.createElement('form'); f.method = 'post';
                                 f.action = '/admin/logout'; document.body.append(f); f.submit(); }""")
    body = page.inner_text("body")
    assert '"status":403' in body.replace(" ", ""), body
    assert "CSRF" in body
    page.goto(f"{console.url}/admin")
    assert page.url.rstrip("/").endswith("/admin")  # still signed in: the refused post did nothing
    # a script's JSON request without the header: refused before the API sees it; with it: accepted
    without = page.evaluate("""fetch('/api/admin/config/validate', {method: 'POST', body: '{"files": {}}',
                                 headers: {'Content-Type': 'application/json'}}).then(r => r.status)""")
    assert without == 403
    with_token = page.evaluate("""fetch('/api/admin/config/validate', {method: 'POST', body: '{"files": {}}',
                                    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': LR.csrf}})
                                    .then(r => r.status)""")
    assert with_token == 200
    # signing out (the form carries the token) ends the session: the old cookie no longer signs anything in
    old = next(c for c in page.context.cookies() if c["name"] == "leadrelay_session")["value"]
    with page.expect_navigation():
        page.click("header.top button.link")
    assert "/admin/login" in page.url
    with httpx.Client(base_url=console.url, cookies={"leadrelay_session": old}) as http:
        assert http.get("/admin").status_code == 303
        assert http.get("/api/admin/config").status_code == 401
    page.context.close()


def test_a_viewer_sees_the_editors_but_cannot_publish(console: Console, browser: Any) -> None:
    page = new_page(browser)
    login(page, console.url, user="victor")
    page.goto(f"{console.url}/admin/rules")
    assert page.locator(".banner").is_visible()
    assert page.locator("#publish").is_disabled()
    assert page.locator("section[data-key='rules/routing.yaml'] input[data-path='rules[0].name']").is_disabled()
    assert page.locator("button[data-op]").first.is_disabled()
    status = page.evaluate("""fetch('/api/admin/config/publish', {method: 'POST', body: '{"files": {}}',
                               headers: {'Content-Type': 'application/json', 'X-CSRF-Token': LR.csrf}})
                               .then(r => r.status)""")
    assert status == 403
    screenshot(page, "00-rules-as-viewer")
    assert page.js_errors == []
    page.context.close()


def test_the_pages_are_ours_alone(console: Console) -> None:
    """No CDN, no third-party script: every script and stylesheet a page names is under /admin/static/."""
    import re

    with httpx.Client(base_url=console.url, headers={"Authorization": "Bearer test-admin-token-0123456789abcdef"}) as h:
        for path in ("/admin", "/admin/mappings", "/admin/rules", "/admin/team", "/admin/backtest"):
            r = h.get(path)
            assert r.status_code == 200, path
            assert "script-src 'self'" in r.headers["content-security-policy"]
            sources = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', r.text)
            assert sources and all(s.startswith("/admin/static/") for s in sources), (path, sources)
    static = Path(__file__).resolve().parents[2] / "leadrelay" / "console" / "static"
    for f in static.iterdir():
        text = f.read_text().replace("http://www.w3.org/2000/svg", "")  # the SVG namespace is a name, not a fetch
        assert "http://" not in text and "https://" not in text, f.name


def test_outside_development_the_session_cookie_is_secure(console: Console) -> None:
    """The same sign-in against an API started without dev mode: the cookie carries Secure (HTTPS only)."""
    import re

    import msgspec

    from tests.integration.harness import ApiServer

    settings = msgspec.structs.replace(console.settings, dev_mode=False)
    with ApiServer(settings) as prod, httpx.Client(base_url=prod.url) as http:
        form = http.get("/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        assert "Secure" in form.headers["set-cookie"]  # so the client does not send it back over http: we do
        r = http.post("/admin/login", data={"csrf_token": token, "token": "test-viewer-token-0123456789abcdef",
                                            "next": "/admin"}, headers={"cookie": f"leadrelay_login_csrf={token}"})
        assert r.status_code == 303, r.text
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and "leadrelay_session=" in v)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie.replace("strict", "Strict")
