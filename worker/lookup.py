"""Coalesce concurrent CRM lookups into batched ``find`` calls.

Each job needs "is this person or company already in the CRM?". Asked one by one that is a CRM call per
lead, which HubSpot's 100-190 requests / 10 s would not allow at 100 leads/s. Here a lookup waits at most
``window_s`` for company, and while ``max_inflight`` calls are out every new lookup joins the next batch:
batches grow with the load and an idle worker answers in one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from connector.model import CrmRecord

Finder = Callable[[Sequence[str], Sequence[str]], list[CrmRecord]]
_Waiting = tuple[str | None, str | None, "asyncio.Future[list[CrmRecord]]"]


class LookupBatcher:
    def __init__(self, find: Finder, *, window_s: float = 0.005, max_batch: int = 100, max_inflight: int = 2) -> None:
        self.find_sync = find
        self.window_s = window_s
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self.calls = 0
        self._inflight = 0
        self._waiting: list[_Waiting] = []
        self._timer: asyncio.TimerHandle | None = None

    async def find(self, email: str | None, domain: str | None) -> list[CrmRecord]:
        """Existing records for this email/domain (all records of the shared call; ``match`` picks)."""
        if not email and not domain:
            return []
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[CrmRecord]] = loop.create_future()
        self._waiting.append((email, domain, fut))
        if len(self._waiting) >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._flush)
        return await fut

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._inflight >= self.max_inflight or not self._waiting:
            return  # the next call to finish takes whatever is waiting then
        batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch:]
        self._inflight += 1
        asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[_Waiting]) -> None:
        emails = list(dict.fromkeys(e for e, _, _ in batch if e))
        domains = list(dict.fromkeys(d for _, d, _ in batch if d))
        self.calls += 1
        try:
            records = await asyncio.to_thread(self.find_sync, emails, domains)
        except BaseException as exc:  # every waiting job sees the failure and classifies it itself
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
        else:
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_result(records)
        finally:
            self._inflight -= 1
            if self._waiting:
                self._flush()
