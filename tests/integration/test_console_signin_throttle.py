"""Console sign-in throttling (issue 17: 40 wrong passwords at 13/s, then the right one accepted). Failures are
counted in Redis per user name and per client address; past the limit a sign-in answers 429 with Retry-After and
problem details, and no scrypt work is done for it (counted: ``hashlib.scrypt`` is wrapped)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from connector.settings import load_settings
from leadrelay.api.app import create_app
from tests.tokens import API_TOKENS

ROOT = Path(__file__).resolve().parents[2]
# an old-format hash (N=2^14: quick to check) of PASSWORD, for every user here
HASH = "scrypt$c2l4dGVlbiBieXRlIHNsdA$Dr50LDbMWtF451Tuom7eg4rQMf0EM-CzNnxAOoZPXx8"
PASSWORD = "an old password 2025"
USERS = [f"user{i}" for i in range(10)]


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


@pytest.fixture
async def client(redis_url: str, signing_secrets: None) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = load_settings({}, redis_url=redis_url, key_prefix=f"throttle-{secrets.token_hex(4)}:",
                             config_dir=str(ROOT), api_tokens=API_TOKENS, session_secret="s" * 40, dev_mode=True,
                             admin_users=tuple(f"{u}:admin:{HASH}" for u in USERS))
    async with AsyncTestClient(create_app(settings, crm=False)) as c:
        yield c


async def _sign_in(client: AsyncTestClient, **form: str) -> Any:  # type: ignore[type-arg]
    client.cookies.clear()  # signed out: a fresh sign-in form each time
    await client.get("/admin/login")
    csrf = client.cookies.get("leadrelay_login_csrf")
    return await client.post("/admin/login", data={"csrf_token": csrf, "next": "/admin", **form},
                             follow_redirects=False)


async def test_forty_wrong_passwords_then_the_right_one_is_429_without_scrypt_work(client, scrypt_calls) -> None:  # type: ignore[no-untyped-def]
    statuses = []
    for _ in range(40):
        statuses.append((await _sign_in(client, username="user0", password="wrong password!")).status_code)
    assert statuses[0] == 401 and 429 in statuses, statuses
    first_429 = statuses.index(429)
    assert set(statuses[:first_429]) == {401} and set(statuses[first_429:]) == {429}, statuses
    assert len(scrypt_calls) == first_429  # nothing hashed once throttled
    right = await _sign_in(client, username="user0", password=PASSWORD)
    assert right.status_code == 429
    assert len(scrypt_calls) == first_429
    assert 1 <= int(right.headers["retry-after"]) <= 3600
    assert right.headers["content-type"].startswith("application/problem+json")
    body = right.json()
    assert body["status"] == 429 and "sign-in" in body["detail"]
    # a browser's form post gets the sign-in page with the same status and Retry-After
    page = await client.post("/admin/login", data={"csrf_token": client.cookies.get("leadrelay_login_csrf"),
                                                   "username": "user0", "password": PASSWORD},
                             headers={"accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert page.status_code == 429 and page.headers["retry-after"] and "<form" in page.text
    assert len(scrypt_calls) == first_429


async def test_failures_across_users_from_one_address_are_throttled_too(client, scrypt_calls) -> None:  # type: ignore[no-untyped-def]
    statuses = []
    for user in USERS:  # a few guesses per user: under each user's limit, not under the address's
        for _ in range(3):
            statuses.append((await _sign_in(client, username=user, password="wrong password!")).status_code)
    assert 429 in statuses, statuses
    assert len(scrypt_calls) == statuses.index(429)
    tokens = await _sign_in(client, token="not-a-token-0123456789abcdef")  # a token guess from there too
    assert tokens.status_code == 429


async def test_wrong_tokens_from_one_address_are_throttled(client) -> None:  # type: ignore[no-untyped-def]
    statuses = [(await _sign_in(client, token=f"guess-{i}-0123456789abcdef")).status_code for i in range(40)]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses


async def test_a_sign_in_clears_the_users_failures(client, scrypt_calls) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        assert (await _sign_in(client, username="user1", password="wrong password!")).status_code == 401
    assert (await _sign_in(client, username="user1", password=PASSWORD)).status_code == 303
    for _ in range(3):
        assert (await _sign_in(client, username="user1", password="wrong password!")).status_code == 401
    assert (await _sign_in(client, username="user1", password=PASSWORD)).status_code == 303
