"""The arq jobs of follow-through (thin: the work is ``worker.sla.clock``): a rung of a first-contact clock, and
the release of held leads. A CRM that does not answer now is retried with backoff, like the other jobs."""

from __future__ import annotations

from typing import Any

from arq import Retry

from connector.errors import RetryableError
from worker.sla import hold
from worker.sla.clock import SlaClock


def _clock(ctx: dict[str, Any]) -> SlaClock:
    clock: SlaClock = ctx["svc"].sla
    return clock


async def sla_step(ctx: dict[str, Any], lead_id: str, clock: int, step: str) -> str:
    """At a rung of a lead's first-contact clock: worked? else remind, escalate or reassign."""
    sla = _clock(ctx)
    try:
        return await sla.step(lead_id, clock, step)  # type: ignore[arg-type]
    except RetryableError as exc:
        if ctx["job_try"] >= sla.settings.max_tries:
            raise
        raise Retry(defer=min(60.0, max(exc.retry_after or 0.5, 0.5 * 2 ** ctx["job_try"]))) from exc


async def hold_release(ctx: dict[str, Any], at: float) -> str:
    """Release the leads held until ``at`` (and any other whose hold has ended)."""
    sla = _clock(ctx)
    try:
        return f"released {await hold.release_due(sla)}"
    except RetryableError as exc:
        if ctx["job_try"] >= sla.settings.max_tries:
            raise
        raise Retry(defer=min(60.0, max(exc.retry_after or 0.5, 0.5 * 2 ** ctx["job_try"]))) from exc
