"""A token bucket in Redis, shared by every worker process that talks to one CRM account.

One Lua script does the whole check-and-take atomically, and it reads the clock with Redis ``TIME`` so
workers on different machines (with different clocks) still share one bucket.

Lanes (live leads before bulk work): a ``"live"`` caller may *reserve* tokens that are not there yet — it
is told how long to wait for them and then goes, so live callers queue in arrival order. A ``"bulk"``
caller never takes the bucket below ``reserve`` tokens and never reserves ahead; it polls until tokens
above the reserve are free. So bulk work cannot starve a live lead of more than ``reserve`` tokens' worth
of waiting, and bulk always yields to a live lead that is queued.

A vendor limit stated as "N requests per rolling window of W seconds" (HubSpot's TEN_SECONDLY_ROLLING)
is not the same as a bucket of N refilled every W: that bucket lets up to 2N through in one window.
:func:`rolling_window_bucket` picks capacity and refill so that *any* window of W seconds sees at most
``safety × N`` acquisitions.
"""

from __future__ import annotations

import time
from typing import Any, cast

import redis

from connector.errors import RetryableError

# KEYS[1] bucket hash; ARGV: capacity, refill per second, cost, floor (tokens that must stay), may_borrow (0|1),
# max_wait_ms. Returns {granted (0|1), wait_ms}. A grant with wait_ms > 0 is a reservation: go after waiting.
_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local may_borrow = tonumber(ARGV[5])
local max_wait_ms = tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
  ts = now
end
local need = cost + floor - tokens
local wait_ms = 0
if need > 0 then wait_ms = math.ceil(need * 1000 / rate) end
local granted = 0
if wait_ms == 0 or (may_borrow == 1 and wait_ms <= max_wait_ms) then
  tokens = tokens - cost
  granted = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 60000)
return {granted, wait_ms}
"""


class RedisTokenBucket:
    """``capacity`` tokens, refilled at ``capacity / per_seconds`` tokens per second, shared through Redis.

    ``reserve`` tokens are kept for the live lane: bulk callers only take tokens above it.
    """

    def __init__(
        self, redis: redis.Redis, key: str, *, capacity: int, per_seconds: float, reserve: int = 0
    ) -> None:
        if capacity < 1 or per_seconds <= 0:
            raise ValueError("capacity must be >= 1 and per_seconds > 0")
        if not 0 <= reserve < capacity:
            raise ValueError("reserve must be >= 0 and smaller than capacity")
        self.redis = redis
        self.key = key
        self.capacity = capacity
        self.per_seconds = per_seconds
        self.reserve = reserve
        self.rate = capacity / per_seconds  # tokens per second
        self._script: Any = redis.register_script(_SCRIPT)

    def acquire(self, cost: int = 1, *, timeout: float, lane: str = "live") -> float:
        """Take ``cost`` tokens, blocking until they are there; return the seconds waited.

        Raises RetryableError (with ``retry_after``) instead of waiting past ``timeout``.
        """
        if cost > self.capacity:
            raise ValueError(f"cost {cost} is larger than the bucket ({self.capacity})")
        live = lane != "bulk"
        start = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - start)
            granted, wait_ms = self._script(
                keys=[self.key],
                args=[
                    self.capacity,
                    repr(self.rate),
                    cost,
                    0 if live else self.reserve,
                    1 if live else 0,
                    max(0, int(left * 1000)),
                ],
            )
            wait = int(wait_ms) / 1000
            if int(granted):
                if wait:
                    time.sleep(wait)
                return time.monotonic() - start
            if wait > left:
                raise RetryableError(
                    f"rate limit {self.key}: next token in {wait:.2f}s, over the {timeout:.2f}s budget",
                    retry_after=wait,
                    hint="the CRM budget is used up for now; the job will be retried",
                )
            time.sleep(wait)

    def set_tokens(self, tokens: float) -> None:
        """Overwrite the level (e.g. from a vendor's own "remaining" header, or 0 after a 429)."""
        now_ms = self._now_ms()
        self.redis.hset(self.key, mapping={"tokens": str(min(tokens, self.capacity)), "ts": str(now_ms)})

    def _now_ms(self) -> int:
        t_sec, t_usec = cast(tuple[int, int], self.redis.time())
        return int(t_sec) * 1000 + int(t_usec) // 1000

    def tokens(self) -> float:
        """Current level (refill applied), for metrics and tests."""
        state = cast(list[Any], self.redis.hmget(self.key, ["tokens", "ts"]))
        if state[0] is None:
            return float(self.capacity)
        now_ms = self._now_ms()
        level = float(state[0]) + max(0, now_ms - int(float(state[1] or now_ms))) * self.rate / 1000
        return min(float(self.capacity), level)


def rolling_window_bucket(
    redis: redis.Redis, key: str, *, limit: int, window_s: float, safety: float = 0.9, reserve_share: float = 0.2
) -> RedisTokenBucket:
    """A bucket that keeps any rolling window of ``window_s`` at or under ``safety × limit`` acquisitions.

    In one window a bucket lets through its capacity plus what refills during the window, so capacity
    ``c`` and refill ``r``/s must satisfy ``c + r × window_s <= safety × limit``. We take ``c`` as a tenth
    of the allowance (a small burst) and the rest as a steady refill. The margin absorbs the gap between
    the Redis clock and when the request reaches the vendor.
    """
    allowance = max(1.0, limit * safety)
    capacity = max(1, int(allowance / 10))
    rate = max(0.01, (allowance - capacity) / window_s)
    reserve = min(capacity - 1, round(capacity * reserve_share))
    return RedisTokenBucket(redis, key, capacity=capacity, per_seconds=capacity / rate, reserve=reserve)


__all__ = ["RedisTokenBucket", "rolling_window_bucket"]
