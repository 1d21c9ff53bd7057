"""A circuit breaker per CRM, its state in Redis so every worker shares it (the Lua steps: ``worker.store``).

closed --(``breaker_failures`` CRM failures in a row: ``counts``)--> open --(``breaker_cooldown_s``)--> half-open: the
sweep probes the CRM (``CrmClient.ping``); it answers -> closed, and the parked leads are queued again; it does
not -> open for another cool-down. Any CRM answer (a written row) closes it too.

While it is not closed, jobs do not call the CRM: a delivery is parked, a write batch goes back to the waiting
list. A lead received during an outage therefore waits in Redis, however long the outage, and is written when
the CRM answers; the dead-letter list stays for what the CRM refuses for good.
"""

from __future__ import annotations

import time

import structlog

from connector.errors import CrmUnavailable
from connector.settings import Settings
from worker.store import Store

log = structlog.get_logger("leadrelay.worker")


def counts(exc: BaseException) -> bool:
    """Whether a failure is the CRM's (``CrmUnavailable``, as the adapters classify its answers): only those open the
    breaker. Redis errors, contention on our own state, a try out of time on a busy machine and our bugs are
    retried or dead-lettered, but never park every lead as if the CRM were down."""
    return isinstance(exc, CrmUnavailable)


class Breaker:
    """The breaker of the settings' CRM. ``is_open`` is read from Redis at most every ``cache_s`` per process, so
    a lead costs no extra round trip while the CRM is well."""

    def __init__(self, store: Store, settings: Settings, *, cache_s: float = 0.2) -> None:
        self.store = store
        self.crm = settings.crm
        self.threshold = max(1, settings.breaker_failures)
        self.cooldown_s = settings.breaker_cooldown_s
        self.cache_s = cache_s
        self._state = "closed"
        self._read_at = -1.0

    async def is_open(self) -> bool:
        """True while the CRM is taken to be down (open or half-open): do not call it, park."""
        now = time.monotonic()
        if now - self._read_at > self.cache_s:
            self._state, _ = await self.store.breaker_state(self.crm)
            self._read_at = now
        return self._state != "closed"

    async def failed(self, reason: str) -> bool:
        """Count a retryable CRM failure; True when the breaker is open now (park rather than retry)."""
        state = await self.store.breaker_failed(self.crm, threshold=self.threshold, cooldown_s=self.cooldown_s,
                                                reason=reason)
        if state == "opened":
            log.warning("crm_breaker_opened", crm=self.crm, reason=reason, cooldown_s=self.cooldown_s)
        self._state, self._read_at = ("closed" if state == "closed" else "open"), time.monotonic()
        return state != "closed"

    async def answered(self) -> None:
        """The CRM answered (a row written, a probe answered): closed."""
        before = await self.store.breaker_answered(self.crm)
        if before != "closed":
            log.info("crm_breaker_closed", crm=self.crm)
        self._state, self._read_at = "closed", time.monotonic()

    async def probe_due(self, probe_s: float) -> bool:
        """True when the caller is to probe the CRM now (open past its cool-down); it then reports the result with
        ``answered`` or ``failed``."""
        return await self.store.breaker_probe(self.crm, probe_s=probe_s) == "probe"

    async def reason(self) -> str:
        """The last failure's words (for a parked lead and the logs)."""
        return (await self.store.breaker_state(self.crm))[1]
