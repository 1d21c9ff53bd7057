"""Console sign-in throttling: failures counted in Redis per user name and per client address, so every API
process shares the count. Past ``LEADRELAY_SIGNIN_FAILURES_PER_USER`` (or ``..._PER_ADDRESS``) failures within
``LEADRELAY_SIGNIN_WINDOW_S``, a sign-in is refused with 429 before any password is hashed.

The client address is the connection's, or the one uvicorn takes from ``X-Forwarded-For`` when the proxy is trusted
(``FORWARDED_ALLOW_IPS``; by default only 127.0.0.1), so one proxy's users are not all counted as one address.
"""

from __future__ import annotations

from typing import Any

from anyio import CapacityLimiter

from worker.store import scripts
from worker.store.keys import Keys

# a user name is the sender's text: a bounded piece of it names the counter
_NAME_CHARS = 128


class SignInThrottle:
    """One app's sign-in counters (made once per app, like ConsoleAuth)."""

    def __init__(self, settings: Any, redis: Any) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self._try = redis.register_script(scripts.SIGNIN_TRY)
        self._ok = redis.register_script(scripts.SIGNIN_OK)
        # each password check holds 128 MiB (scrypt N=2^17) for a few hundred ms: at most two at once per process
        self.hashing = CapacityLimiter(2)

    def _counters(self, address: str, user: str | None) -> list[str]:
        keys = [self.keys.signin_failures("address", address)]
        if user is not None:
            keys.append(self.keys.signin_failures("user", user[:_NAME_CHARS]))
        return keys

    async def attempt(self, address: str, user: str | None) -> int:
        """0 when this attempt may go ahead (counted as a failure until ``succeeded``), else the seconds to wait."""
        s = self.settings
        limits = [s.signin_failures_per_address] + ([s.signin_failures_per_user] if user is not None else [])
        return int(await self._try(keys=self._counters(address, user), args=[*limits, s.signin_window_s]))

    async def succeeded(self, address: str, user: str | None) -> None:
        """The attempt signed in: not a failure after all, and the user's earlier failures are forgotten."""
        await self._ok(keys=self._counters(address, user))


def throttle_of(app_state: Any) -> SignInThrottle:
    """The app's SignInThrottle, made on first use on its Redis."""
    throttle = app_state.get("signin_throttle")
    if throttle is None:
        throttle = SignInThrottle(app_state.settings, app_state.store.r)
        app_state.signin_throttle = throttle
    return throttle
