"""One log line when Redis goes away and one when it answers again, however many calls fail in between (the metrics
flush, the config follower and every request would otherwise log each failure, several times a second)."""

from __future__ import annotations

import threading
import time

import structlog

log = structlog.get_logger("leadrelay.redis")


class Outage:
    """The state of one outage in this process: ``failed`` logs its first failure, ``answered`` its end."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._lock = threading.Lock()  # the CRM adapters' metrics flush from threads

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException, where: str) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        log.warning("redis_down", where=where, error=type(exc).__name__,
                    hint="calls are tried again; one line when it answers")

    def answered(self) -> None:
        if self._since is None:  # the common case: no lock, no work
            return
        with self._lock:
            since, self._since = self._since, None
        if since is not None:
            log.warning("redis_back", down_s=round(time.monotonic() - since, 1))


REDIS = Outage()  # one per process: every Redis client of a process talks to the same installation
