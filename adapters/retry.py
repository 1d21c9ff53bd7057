"""Retries for CRM calls, shared by both CRM adapters: tenacity, exponential backoff with full jitter,
the vendor's own "wait this long" honoured, and never past the job's time budget.

Only :class:`connector.errors.RetryableError` is retried; the adapter classifies vendor answers first
(429/5xx/timeouts -> Retryable with ``retry_after``, 401 -> AuthError, other 4xx -> FatalError).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from connector.errors import RetryableError

T = TypeVar("T")


class Deadline:
    """A point in time a job must finish by; ``left()`` is what remains of its budget."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.until - time.monotonic())

    def expired(self) -> bool:
        return self.left() <= 0


def backoff_wait(base_s: float = 0.2, max_s: float = 10.0) -> Callable[[RetryCallState], float]:
    """Full-jitter exponential backoff, but never less than what the vendor asked (``retry_after``)."""

    def wait(state: RetryCallState) -> float:
        ceiling = min(max_s, base_s * 2 ** (state.attempt_number - 1))
        jittered = random.uniform(0, ceiling)
        exc = state.outcome.exception() if state.outcome else None
        asked = exc.retry_after if isinstance(exc, RetryableError) else 0.0
        return max(jittered, asked)

    return wait


def call_with_retry(
    fn: Callable[[], T],
    *,
    deadline: Deadline,
    base_s: float = 0.2,
    max_s: float = 10.0,
    on_retry: Callable[[RetryableError, float], None] | None = None,
) -> T:
    """Call ``fn`` until it returns, retrying RetryableError within ``deadline``; re-raise the last one."""
    jitter = backoff_wait(base_s, max_s)
    planned: dict[int, float] = {}

    def stop(state: RetryCallState) -> bool:
        # Stop when the next wait would already overrun the budget: the caller gets the RetryableError
        # (with its retry_after) in time to hand the job back to the queue instead of blowing the budget.
        planned[state.attempt_number] = jitter(state)
        return planned[state.attempt_number] >= deadline.left()

    def wait(state: RetryCallState) -> float:
        return planned.get(state.attempt_number) or jitter(state)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry and isinstance(exc, RetryableError):
            on_retry(exc, state.upcoming_sleep)

    retrying = Retrying(
        retry=retry_if_exception_type(RetryableError), wait=wait, stop=stop, before_sleep=before_sleep, reraise=True
    )
    return retrying(fn)


__all__ = ["Deadline", "backoff_wait", "call_with_retry"]
