"""Admin work off the event loop, within a time and a size budget.

Previews, validation, backtests, decision search and the console's redrawn sections build configs and decide or
decode leads: CPU work. On the event loop a heavy one stops every webhook from being answered. Here each runs in
a small thread pool of its own (two threads: a few viewers cannot take every core, and the webhooks' own
``to_thread`` calls never queue behind them); the request waits at most ``LEADRELAY_ADMIN_WORK_S`` for it
(queueing included), and its answer is encoded to JSON in that thread and refused over
``LEADRELAY_ADMIN_ANSWER_BYTES``. Over either budget: 422 naming it. A thread cannot be stopped: work past its
time runs to its end, bounded by the caps on what it reads (file size, YAML depth and nodes, leads per run).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import msgspec

from leadrelay.api.problems import OverBudget

T = TypeVar("T")
THREADS = 2


def _pool(request: Any) -> ThreadPoolExecutor:
    state = request.app.state
    pool: ThreadPoolExecutor | None = state.get("admin_pool")
    if pool is None:
        pool = state.admin_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="admin-work")
    return pool


def shutdown(state: Any) -> None:
    """Let the pool's threads end (at the app's shutdown); work still running finishes on its own."""
    pool: ThreadPoolExecutor | None = state.get("admin_pool")
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


async def run(request: Any, what: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the admin pool; OverBudget (naming ``what`` and the setting) past the time budget."""
    seconds: float = request.app.state.settings.admin_work_s
    future = asyncio.get_running_loop().run_in_executor(_pool(request), functools.partial(fn, *args))
    try:
        return await asyncio.wait_for(future, seconds)
    except TimeoutError:
        raise OverBudget(f"{what} took longer than the admin work budget of {seconds:g} s "
                         "(LEADRELAY_ADMIN_WORK_S)", hint="narrow it (fewer leads or days, a smaller draft) or "
                         "raise LEADRELAY_ADMIN_WORK_S") from None


async def answer(request: Any, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` as an encoded JSON answer (``msgspec.Raw``: the handler returns it as it is), made in the admin
    pool within the time budget; OverBudget when it is over ``LEADRELAY_ADMIN_ANSWER_BYTES``."""
    limit: int = request.app.state.settings.admin_answer_bytes

    def work() -> msgspec.Raw:
        body = msgspec.json.encode(fn(*args))
        if len(body) > limit:
            raise OverBudget(f"{what} made a {len(body)}-byte answer, over the admin answer budget of {limit} bytes "
                             "(LEADRELAY_ADMIN_ANSWER_BYTES)", hint="narrow it or raise LEADRELAY_ADMIN_ANSWER_BYTES")
        return msgspec.Raw(body)

    return await run(request, what, work)
