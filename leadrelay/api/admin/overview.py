"""The overview page's numbers: leads today by source and by rule, speed-to-lead p50/p95 over the last hour and
day, unassigned and dead-lettered counts, and an hourly series for the charts.

Speed to lead over a window is read from the stored leads (received -> written in the CRM, for each lead first
decided in the window and not updated since: an update's write would count the time between two submissions);
the all-time figures come from the ``leadrelay_speed_to_lead_seconds`` histogram in Redis (``worker.metrics``),
which has no time axis.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import get
from litestar.params import Parameter

from leadrelay.api.admin import index
from leadrelay.api.admin.common import READ, TAGS, Req, iso
from leadrelay.api.auth import viewer
from worker.metrics import METRICS, SEP, metric_key

SPEED = "leadrelay_speed_to_lead_seconds"
HOUR_S = 3600
MAX_LEADS = 200_000


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile of a sorted list; None when empty."""
    if not values:
        return None
    return round(values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))], 3)


def speed_of(s: index.Stored) -> float | None:
    """Seconds from the delivery received to the lead written, for a lead whose first write is still its last."""
    f = s.fields
    received, decided, written = f.get("received_at"), f.get("decided_at"), f.get("written_at")
    if not (received and decided and written):
        return None
    if abs(float(decided) - s.at) > 5:  # updated by a later delivery: written_at is that update's
        return None
    seconds = float(written) - float(received)
    return seconds if seconds >= 0 else None


def histogram_quantiles(raw: Mapping[bytes | str, bytes | str], qs: Iterable[float]) -> list[float | None]:
    """Quantiles of the speed histogram (every CRM's series added up), interpolated within a bucket."""
    bounds = METRICS[SPEED].buckets
    counts = dict.fromkeys(bounds, 0.0)
    total = 0.0
    for key, value in raw.items():
        field = key.decode() if isinstance(key, bytes) else key
        part = field.rpartition(SEP)[2]
        if part == "__count":
            total += float(value)
        elif part.startswith("__bucket_"):
            le = float(part[len("__bucket_"):])
            if le in counts:
                counts[le] += float(value)
    out: list[float | None] = []
    for q in qs:
        out.append(_bucket_quantile(bounds, counts, total, q) if total else None)
    return out


def _bucket_quantile(bounds: Sequence[float], counts: Mapping[float, float], total: float, q: float) -> float:
    want, seen, lower = q * total, 0.0, 0.0
    for b in bounds:
        if counts[b] and seen + counts[b] >= want:
            return round(lower + (b - lower) * (want - seen) / counts[b], 3)
        seen += counts[b]
        lower = b
    return bounds[-1]  # above the last bucket: all we know is "more than this"


def _series(stored: Sequence[index.Stored], now: float, hours: int) -> list[dict[str, Any]]:
    start = (int(now) // HOUR_S - hours + 1) * HOUR_S
    slots: list[dict[str, Any]] = [{"at": iso(start + i * HOUR_S), "leads": 0, "unassigned": 0, "speeds": []}
                                   for i in range(hours)]
    for s in stored:
        i = int(s.at - start) // HOUR_S
        if 0 <= i < hours:
            slots[i]["leads"] += 1
            slots[i]["unassigned"] += s.decision.route.assignment.owner is None
            speed = speed_of(s)
            if speed is not None:
                slots[i]["speeds"].append(speed)
    for slot in slots:
        speeds = sorted(slot.pop("speeds"))
        slot["speed_p50"], slot["speed_p95"] = quantile(speeds, 0.5), quantile(speeds, 0.95)
    return slots


def _speeds(stored: Iterable[index.Stored], since: float) -> list[float]:
    return sorted(v for s in stored if s.at >= since and (v := speed_of(s)) is not None)


@get("/overview", summary="Leads today by source and rule, speed to lead, unassigned and dead letters, a series",
     guards=[viewer], tags=TAGS, responses=READ)
async def overview(request: Req, hours: Annotated[int, Parameter(ge=1, le=168)] = 24) -> dict[str, Any]:
    st = request.app.state
    now = time.time()
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    since = min(midnight, now - 24 * HOUR_S, now - hours * HOUR_S)
    stored = await index.decisions_between(st.store, since, now + 1, MAX_LEADS)
    today = [s for s in stored if s.at >= midnight]
    hour, day = _speeds(stored, now - HOUR_S), _speeds(stored, now - 24 * HOUR_S)
    p50_all, p95_all = histogram_quantiles(await st.store.r.hgetall(metric_key(st.settings.key_prefix, SPEED)),
                                           (0.5, 0.95))
    return {
        "day_start": iso(midnight),
        "leads_today": len(today),
        "today_by_source": dict(Counter(s.decision.lead.origin.form or s.decision.lead.origin.source
                                        for s in today).most_common()),
        "today_by_rule": dict(Counter(s.decision.route.assignment.rule for s in today).most_common()),
        "today_by_owner": dict(Counter(s.decision.route.assignment.owner or f"queue:{s.decision.route.assignment.queue}"
                                       for s in today).most_common()),
        "speed_p50_hour": quantile(hour, 0.5), "speed_p95_hour": quantile(hour, 0.95),
        "speed_p50_day": quantile(day, 0.5), "speed_p95_day": quantile(day, 0.95),
        "speed_leads_hour": len(hour), "speed_leads_day": len(day),
        "speed_p50_all": p50_all, "speed_p95_all": p95_all,
        "unassigned": sum(1 for s in today if s.decision.route.assignment.owner is None),
        "dead_letters": await st.store.dead_letter_count(),
        "series": _series(stored, now, hours),
    }


HANDLERS = [overview]
