"""The decisions index and the rule hit counts: what the admin API searches, and the count beside each rule.

Both are written by the commit (``scripts.COMMIT``) with the decision itself, in the same round trip, for a new
assignment only (a duplicate's field update decides nothing): the lead id goes into the ``decisions`` sorted set
scored by its decided_at, and every rule that took part in the decision counts one in that UTC day's ``hits``
hash. The index is trimmed to the lead retention by the sweep; a day's hash expires after the lead retention.
"""

from __future__ import annotations

import time
from typing import Any

from connector.decision import Decision
from connector.tags import rule_of
from worker.store.keys import Keys
from worker.store.records import DAY_S, Retention

# the hit fields' kinds: "<kind>:<rule name>" ("tags" counts the lookup or tag rule that applied a tag)
HIT_KINDS = ("routing", "scoring", "tags", "segments")


def hit_fields(decision: Decision) -> list[str]:
    """The rules that took part in a decision, each once: "routing:<rule>", "scoring:<rule>", "tags:<rule>",
    "segments:<segment>"."""
    fields: list[str] = []
    if decision.route.assignment.rule:
        fields.append(f"routing:{decision.route.assignment.rule}")
    fields += [f"scoring:{h.rule}" for h in decision.score.hits]
    reasons = decision.tags.reasons
    fields += [f"tags:{rule_of(reasons[t])}" for t in decision.tags.tags if t in reasons]
    fields += [f"segments:{s}" for s in decision.tags.segments]
    return list(dict.fromkeys(fields))


def day_of(at: float) -> str:
    """The UTC day (YYYY-MM-DD) a unix time falls on: the hits hash it counts in."""
    return time.strftime("%Y-%m-%d", time.gmtime(at))


class DecisionIndex:
    """The ``Store`` methods reading the index and the counts (a mixin: ``Store`` holds ``r``, ``keys``,
    ``retention``)."""

    r: Any
    keys: Keys
    retention: Retention

    async def decisions_between(self, since: float | None = None, until: float | None = None,
                                limit: int = 100) -> list[tuple[str, float]]:
        """(lead id, decided_at) of the leads decided between ``since`` and ``until`` (unix times, both included;
        None: open), newest first, at most ``limit``."""
        raw = await self.r.zrevrangebyscore(self.keys.decisions, "+inf" if until is None else until,
                                            "-inf" if since is None else since, start=0, num=limit,
                                            withscores=True)
        return [(m.decode() if isinstance(m, bytes) else str(m), float(score)) for m, score in raw]

    async def rule_hits(self, days: int = 7, *, now: float | None = None) -> dict[str, int]:
        """Per rule ("routing:<rule>", "scoring:<rule>", "tags:<rule>", "segments:<name>"), how many decisions it
        took part in over the last ``days`` UTC days, today included."""
        now = time.time() if now is None else now
        pipe = self.r.pipeline(transaction=False)
        for d in range(max(0, days)):
            pipe.hgetall(self.keys.rule_hits(day_of(now - d * DAY_S)))
        out: dict[str, int] = {}
        for counts in await pipe.execute():
            for field, n in counts.items():
                name = field.decode() if isinstance(field, bytes) else str(field)
                out[name] = out.get(name, 0) + int(n)
        return out

    async def trim_decisions(self, now: float | None = None) -> int:
        """Drop index entries older than the lead retention (their leads have expired); returns how many."""
        now = time.time() if now is None else now
        return int(await self.r.zremrangebyscore(self.keys.decisions, "-inf", now - self.retention.lead_s))
