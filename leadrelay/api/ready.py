"""``GET /ready``: Redis answers (asked on every call: it is ours and cheap) and the CRM answers (asked at most once
per ``LEADRELAY_READY_CHECK_INTERVAL_S`` by one API process, through the workers' shared rate limiter).

The CRM's API budget is for leads. A load balancer, a monitor or a stranger calling ``/ready`` in a loop must not
spend it: the first process to take ``ready:crm:check`` (SET NX, expiring after the interval) asks the CRM and
keeps the answer in ``ready:crm`` for every process; the others read that answer, or wait for it briefly while the
check is under way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from connector.ports import CrmClient
from worker.store.keys import Keys

REDIS_TIMEOUT_S = 2.0
CRM_TIMEOUT_S = 5.0
_WAIT_STEP_S = 0.1  # how often a process waiting for another's CRM check looks for its answer


async def redis_status(r: Any) -> str:
    try:
        await asyncio.wait_for(r.ping(), REDIS_TIMEOUT_S)
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


async def _ask(crm: CrmClient) -> str:
    try:
        ok = await asyncio.wait_for(asyncio.to_thread(crm.ping), CRM_TIMEOUT_S)
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok" if ok else "refused"


async def crm_status(r: Any, crm: CrmClient, prefix: str, interval_s: int) -> str:
    """The CRM's state as last checked: asked now only when no process has asked within the interval."""
    keys = Keys(prefix)
    interval_s = max(1, int(interval_s))
    if await r.set(keys.ready_crm_check, "1", nx=True, ex=interval_s):
        status = await _ask(crm)
        # kept past the interval, so that while the next check is under way the others answer with this one
        await r.set(keys.ready_crm, status, ex=interval_s * 2 + int(CRM_TIMEOUT_S))
        return status
    for _ in range(int((CRM_TIMEOUT_S + 1) / _WAIT_STEP_S)):
        last = await r.get(keys.ready_crm)
        if last is not None:
            return bytes(last).decode()
        await asyncio.sleep(_WAIT_STEP_S)  # the first check since start is under way in another request
    return "down: no answer from the check under way"


async def checks(st: Any) -> dict[str, str]:
    """Redis, and the configured CRM (not asked while Redis is down: without it the processes cannot agree who
    asks, and an outage of ours must not become a burst of calls on the CRM)."""
    out = {"redis": await redis_status(st.store.r)}
    crm: CrmClient | None = st.crm
    if crm is not None:
        if out["redis"] != "ok":
            out[crm.name] = "not checked (Redis is down)"
        else:
            try:
                out[crm.name] = await crm_status(st.store.r, crm, st.settings.key_prefix,
                                                 st.settings.ready_check_interval_s)
            except Exception as exc:  # Redis went away between the two
                out[crm.name] = f"not checked ({type(exc).__name__})"
    return out
