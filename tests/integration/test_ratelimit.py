"""The shared Redis token bucket, alone and as the limiter two worker processes share against the sandbox."""

from __future__ import annotations

import json

import pytest
import redis
from hubspot import HubSpot

from adapters.ratelimit import RedisTokenBucket, rolling_window_bucket
from bench.crm_writes import OWNERS, TOKEN, calls_by_status, two_workers
from connector.errors import RetryableError
from sandbox.server import SandboxServer


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_tokens_are_shared_by_every_client_of_the_key(r: redis.Redis, redis_url: str) -> None:
    a = RedisTokenBucket(r, "leadrelay:ratelimit:test:a", capacity=3, per_seconds=60)
    b = RedisTokenBucket(redis.Redis.from_url(redis_url), "leadrelay:ratelimit:test:a", capacity=3, per_seconds=60)
    a.acquire(timeout=0)
    b.acquire(timeout=0)
    a.acquire(timeout=0)
    with pytest.raises(RetryableError) as err:
        b.acquire(timeout=0.5)  # the next token is 20 s away: over the budget, so no wait at all
    assert 19 < err.value.retry_after <= 20
    assert b.tokens() < 1


def test_a_live_caller_reserves_a_token_that_is_not_there_yet(r: redis.Redis) -> None:
    bucket = RedisTokenBucket(r, "leadrelay:ratelimit:test:live", capacity=2, per_seconds=1)  # 2 tokens/s
    for _ in range(2):
        bucket.acquire(timeout=0)
    waited = bucket.acquire(timeout=2)
    assert waited > 0  # it had to wait for the refill (how long is the bench's business, not a test's)
    assert bucket.tokens() < 1


def test_bulk_work_leaves_the_reserve_to_live_leads(r: redis.Redis) -> None:
    bucket = RedisTokenBucket(r, "leadrelay:ratelimit:test:lanes", capacity=5, per_seconds=500, reserve=2)
    for _ in range(3):
        bucket.acquire(timeout=0, lane="bulk")
    with pytest.raises(RetryableError):
        bucket.acquire(timeout=0, lane="bulk")  # only the reserve is left
    bucket.acquire(timeout=0, lane="live")
    bucket.acquire(timeout=0, lane="live")


def test_rolling_window_bucket_fits_the_window() -> None:
    fake = redis.Redis()  # register_script does not talk to the server
    for limit, window in ((100, 10), (190, 10), (5, 1)):
        b = rolling_window_bucket(fake, "k", limit=limit, window_s=window)
        # what one window can let through: the full bucket plus what refills during the window
        assert b.capacity + b.rate * window <= limit * 0.9 + 1e-9
        assert b.rate * window >= limit * 0.7  # and still most of the allowance as steady throughput


def test_the_sandbox_answers_429_to_a_burst_without_a_limiter() -> None:
    """The control for the next test: the sandbox does enforce 100 / 10 s with HubSpot's 429."""
    with SandboxServer(hubspot={"token": TOKEN, "rate_limit_per_10s": 100}) as s:
        owners = HubSpot(access_token=TOKEN, host=s.url, ssl_ca_cert=str(s.ca_path)).crm.owners.owners_api
        statuses = []
        for _ in range(101):
            try:
                statuses.append(owners.get_page_with_http_info(limit=1)[1])
            except Exception as exc:  # the library raises for the 429
                statuses.append(exc.status)  # type: ignore[attr-defined]
                body, headers = exc.body, exc.headers  # type: ignore[attr-defined]
        assert statuses == [200] * 100 + [429]
        parsed = json.loads(body)
        assert parsed["status"] == "error" and parsed["errorType"] == "RATE_LIMIT"
        assert parsed["policyName"] == "TEN_SECONDLY_ROLLING" and parsed["correlationId"]
        assert headers["X-HubSpot-RateLimit-Remaining"] == "0" and headers["X-HubSpot-RateLimit-Max"] == "100"


def test_two_workers_sharing_the_limiter_never_get_a_429(redis_url: str) -> None:
    with SandboxServer(hubspot={"token": TOKEN, "owners": OWNERS, "rate_limit_per_10s": 100,
                                "leadrelay_fields": True}) as s:
        results = two_workers(s, redis_url, per_worker=400, batch_size=5)
        statuses = calls_by_status(s)
    print(f"\ntwo workers, 100/10 s portal: calls by status {statuses}; worker outcomes {results}")
    assert results == [{"written": 400}, {"written": 400}]
    assert sum(statuses.values()) == 160 > 100  # more calls than one window allows: the limiter had to pace them
    assert statuses == {200: 160}
