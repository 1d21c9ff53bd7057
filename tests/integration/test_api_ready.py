"""``/ready`` and the CRM's API budget (issue 11, point 2): the CRM is asked at most once per check interval,
whatever the request rate and however many API processes share the Redis, through the workers' shared limiter."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from connector.settings import load_settings
from leadrelay.api.app import create_app
from tests.integration.harness import config_dir, sandbox_for
from tests.tokens import API_TOKENS, bearer

P = "ready-lr:"


def _settings(sandbox: Any, redis_url: str, cfg: Path, **extra: Any) -> Any:
    values = dict(redis_url=redis_url, key_prefix=P, config_dir=str(cfg), crm="hubspot",
                  hubspot_token="sandbox-hubspot-token", hubspot_base_url=sandbox.url, ca_bundle=str(sandbox.ca_path),
                  hubspot_rate_per_10s=190, api_tokens=API_TOKENS)
    return load_settings({}, **{**values, **extra})


async def _hammer(clients: list[AsyncTestClient], n: int) -> list[int]:  # type: ignore[type-arg]
    async def one(i: int) -> int:
        headers = bearer() if i % 2 else {}  # half without a token: nobody may spend the CRM's budget
        r = await clients[i % len(clients)].get("/ready", headers=headers)
        return r.status_code

    out: list[int] = []
    for start in range(0, n, 50):  # 50 at a time, all at once
        out += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 50))))
    return out


async def test_250_ready_calls_on_two_api_processes_cost_at_most_one_crm_call(redis_url: str,
                                                                              tmp_path: Path) -> None:
    cfg = config_dir(tmp_path)
    with sandbox_for(cfg) as sandbox:
        settings = _settings(sandbox, redis_url, cfg)
        # two API processes on one Redis, each with its own CRM client built from the settings (crm=None)
        async with AsyncTestClient(create_app(settings)) as a, AsyncTestClient(create_app(settings)) as b:
            sandbox.calls.reset()
            statuses = await _hammer([a, b], 250)
            checked = (await a.get("/ready", headers=bearer())).json()
        calls = sandbox.calls.count("hubspot")
    assert set(statuses) == {200}, sorted(set(statuses))
    assert checked["checks"] == {"redis": "ok", "hubspot": "ok"}
    assert calls <= 1, f"{calls} HubSpot calls for 251 /ready requests"
    r = Redis.from_url(redis_url)
    try:  # the check went through the limiter the workers share (its bucket lives under our prefix)
        assert [k async for k in r.scan_iter(match=P + "ratelimit:hubspot:*")]
    finally:
        await r.aclose()


async def test_the_crm_is_asked_again_once_the_interval_is_over(redis_url: str, tmp_path: Path) -> None:
    cfg = config_dir(tmp_path)
    with sandbox_for(cfg) as sandbox:
        settings = _settings(sandbox, redis_url, cfg, ready_check_interval_s=1)
        async with AsyncTestClient(create_app(settings)) as client:
            sandbox.calls.reset()
            assert set(await _hammer([client], 60)) == {200}
            first = sandbox.calls.count("hubspot")
            await asyncio.sleep(1.3)
            assert set(await _hammer([client], 60)) == {200}
            second = sandbox.calls.count("hubspot")
    assert first == 1 and second == 2, (first, second)


async def test_ready_without_a_crm_checks_redis_and_an_unreachable_crm_is_503(redis_url: str, tmp_path: Path) -> None:
    cfg = config_dir(tmp_path)
    with sandbox_for(cfg) as sandbox:
        settings = _settings(sandbox, redis_url, cfg, hubspot_token=None)  # no CRM configured: Redis only
        async with AsyncTestClient(create_app(settings)) as client:
            ok = await client.get("/ready", headers=bearer())
        assert ok.status_code == 200 and ok.json()["checks"] == {"redis": "ok"}
        settings = _settings(sandbox, redis_url, cfg, hubspot_base_url="https://127.0.0.1:1")  # CRM unreachable
        async with AsyncTestClient(create_app(settings)) as client:
            answers = [await client.get("/ready", headers=bearer()) for _ in range(5)]
    assert {a.status_code for a in answers} == {503}
    assert all("retry-after" in a.headers for a in answers)
    assert "hubspot" in answers[0].json()["detail"]
