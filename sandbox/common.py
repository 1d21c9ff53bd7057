"""What both CRM sandboxes share: injected faults, the call log, webhook targets.

Each vendor module renders a fault in its own vendor's error shape; this module
only decides *whether* a request is faulted and counts every call.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from typing import Any

import msgspec


class FaultPlan(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Faults for one vendor. Shares are 0..1 of requests; latency is added to every call."""

    latency_ms: float = 0.0
    rate_limit_share: float = 0.0  # answered as the vendor's 429 / REQUEST_LIMIT_EXCEEDED
    server_error_share: float = 0.0  # answered 500/503
    timeout_share: float = 0.0  # held for timeout_s, then 504
    lock_error_share: float = 0.0  # Salesforce UNABLE_TO_LOCK_ROW per row
    outage_seconds: float = 0.0  # every call answered 503 for this long from when the plan is set
    timeout_s: float = 30.0
    seed: int | None = None


class Faults:
    """The live fault plan of one vendor."""

    def __init__(self) -> None:
        self.plan = FaultPlan()
        self._outage_until = 0.0
        self._rng = random.Random()

    def set(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._outage_until = time.monotonic() + plan.outage_seconds if plan.outage_seconds else 0.0
        self._rng = random.Random(plan.seed)

    def clear(self) -> None:
        self.set(FaultPlan())

    async def before(self) -> str | None:
        """Sleep the added latency; return the fault to render ("outage", "rate_limit",
        "server_error", "timeout") or None to serve normally."""
        p = self.plan
        if p.latency_ms:
            await asyncio.sleep(p.latency_ms / 1000)
        if self._outage_until and time.monotonic() < self._outage_until:
            return "outage"
        r = self._rng.random()
        for kind, share in (
            ("rate_limit", p.rate_limit_share),
            ("server_error", p.server_error_share),
            ("timeout", p.timeout_share),
        ):
            if r < share:
                if kind == "timeout":
                    await asyncio.sleep(p.timeout_s)
                return kind
            r -= share
        return None

    def row_lock_error(self) -> bool:
        """For per-row faults (Salesforce UNABLE_TO_LOCK_ROW)."""
        return self.plan.lock_error_share > 0 and self._rng.random() < self.plan.lock_error_share


class CallLog:
    """Counts every API call by vendor, method + path template, and status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()

    def record(self, vendor: str, endpoint: str, status: int) -> None:
        with self._lock:
            self._counts[(vendor, endpoint, status)] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"vendor": v, "endpoint": e, "status": s, "count": n} for (v, e, s), n in sorted(self._counts.items())
            ]

    def count(self, vendor: str | None = None, endpoint: str | None = None, status: int | None = None) -> int:
        """Total calls matching the filters (endpoint is e.g. "POST /crm/v3/objects/contacts/batch/update")."""
        with self._lock:
            return sum(
                n
                for (v, e, s), n in self._counts.items()
                if (vendor is None or v == vendor)
                and (endpoint is None or e == endpoint)
                and (status is None or s == status)
            )
