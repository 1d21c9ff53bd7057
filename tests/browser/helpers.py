"""Helpers of the console's browser tests: Debian's Chromium driven by Playwright (sync API) against the real app.

One installation per test module (fixtures with ``scope="module"``): Redis (a private database flushed when the
module starts and ends), the HubSpot sandbox seeded with the roster, the API in a thread (``harness.ApiServer``)
and, where a module needs leads decided, a real `leadrelay worker` process. Screenshots go to
``tests/browser/screenshots/`` (git-ignored), one per console page, at 1280×800.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from connector.settings import Settings
from leadrelay.console.passwords import hash_password
from tests.integration.harness import (
    FORM_SECRET,
    TYPEFORM_SECRET,
    ApiServer,
    WorkerProcs,
    config_dir,
    sandbox_for,
    settings_for,
)
from tests.tokens import ADMIN_TOKEN, API_TOKENS, VIEWER_TOKEN

SCREENSHOTS = Path(__file__).parent / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# console users (LEADRELAY_ADMIN_USERS): hashed here the way `leadrelay admin hash-password` does it
USERS = {"ana": ("admin", "ana-password-123"), "victor": ("viewer", "victor-password-123")}


@dataclass
class Console:
    """A running installation: its URL, settings, sandbox and (maybe) workers."""

    url: str
    settings: Settings
    sandbox: Any
    workers: WorkerProcs | None
    cfg: Path


def _users() -> tuple[str, ...]:
    return tuple(f"{name}:{role}:{hash_password(pw)}" for name, (role, pw) in USERS.items())


def _flush(url: str) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def start_console(redis_server_url: str, tmp: Path, *, workers: int) -> Iterator[Console]:
    """Redis (flushed), sandbox, API (+ workers); everything stopped and Redis flushed afterwards."""
    _flush(redis_server_url)
    cfg = config_dir(tmp)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LEADRELAY_FORM_SECRET_WEBSITE", FORM_SECRET)
        env.setenv("LEADRELAY_TYPEFORM_SECRET", TYPEFORM_SECRET)
        with sandbox_for(cfg) as sandbox:
            settings = settings_for(sandbox, redis_server_url, cfg, api_tokens=API_TOKENS, admin_users=_users(),
                                    dev_mode=True, config_poll_s=0.2)
            with ApiServer(settings) as api:
                procs = WorkerProcs(settings, workers) if workers else None
                try:
                    yield Console(api.url, settings, sandbox, procs, cfg)
                finally:
                    if procs is not None:
                        procs.stop()
    _flush(redis_server_url)


def new_page(browser: Any) -> Any:
    """A page in its own context (its own cookies). Waits use ``expect`` on locators: the console's CSP (no eval)
    refuses ``wait_for_function`` strings, as it would any injected script."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # asserted empty by the tests: a script error is a bug
    return page


def login(page: Any, url: str, *, token: str | None = ADMIN_TOKEN, user: str | None = None) -> None:
    """Sign in through the form (a token, or a user's name and password)."""
    page.goto(f"{url}/admin/login")
    if user is not None:
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", USERS[user][1])
    else:
        page.fill("input[name=token]", token or "")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.rstrip("/").endswith("/admin"), page.url


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def api(console: Console, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(base_url=console.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


__all__ = ["ADMIN_TOKEN", "USERS", "VIEWER_TOKEN", "Console", "api", "login", "new_page", "screenshot",
           "start_console"]
