"""The team roster (``rules/team.yaml``): reps, pools and queues, and when each rep can take a lead.

Availability is computed in each rep's own time zone: working days and hours, public holidays of the
rep's country (``holidays``, cached per country/subdivision/date), and out-of-office ranges (inclusive,
in the rep's local dates). Cross-references (pool member, manager, weight) are checked at load and a
bad one is a ``ConfigError`` naming file:line and field.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import msgspec

from connector.yamlconf import Where, from_text, load_yaml

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock(text: str, what: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} must be a time like \"09:00\", got {text!r}") from None


class Hours(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    days: list[Day] = msgspec.field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    start: str = "09:00"  # local time
    end: str = "17:00"

    def __post_init__(self) -> None:
        if _clock(self.start, "start") >= _clock(self.end, "end"):
            raise ValueError(f"start {self.start} must be before end {self.end}")


class OutOfOffice(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    start: date  # first day away (rep's local date)
    end: date  # last day away, inclusive
    note: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")


class Rep(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, dict=True, omit_defaults=True):
    """One person leads can be assigned to. Not frozen: parsed time zone and hours are cached on it."""

    id: str
    name: str
    email: str
    role: Literal["ae", "sdr", "manager"]
    timezone: str  # IANA, e.g. America/New_York
    country: str  # ISO 3166-1 alpha-2: whose public holidays the rep has off
    subdivision: str | None = None  # e.g. "CA", "BY": state holidays
    manager: str | None = None
    hours: Hours = Hours()
    skills: list[str] = []
    languages: list[str] = msgspec.field(default_factory=lambda: ["en"])
    weight: int = 1  # share in weighted pools (a pool may override it)
    daily_cap: int | None = None  # most leads per local day; none = no cap
    out_of_office: list[OutOfOffice] = []
    active: bool = True
    owner_ids: dict[str, str] = {}  # CRM -> owner id, e.g. {hubspot: "81234567", salesforce: "005..."}

    def __post_init__(self) -> None:
        try:
            self.tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: {self.timezone!r} is not an IANA time zone (e.g. America/New_York)") from None
        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision)
        except NotImplementedError as exc:
            raise ValueError(f"country/subdivision: no public holidays known for {exc}") from None
        if self.weight < 1:
            raise ValueError("weight must be at least 1")
        if self.daily_cap is not None and self.daily_cap < 0:
            raise ValueError("daily_cap must not be negative")
        self.workdays = frozenset(_DAYS.index(d) for d in self.hours.days)
        self.start = _clock(self.hours.start, "hours.start")
        self.end = _clock(self.hours.end, "hours.end")
        self.skill_set = frozenset(s.casefold() for s in self.skills)
        self.language_set = frozenset(s.casefold() for s in self.languages)
        # the rep's local facts at the last `now` asked about (routing asks many times per lead, and every
        # lead of a batch has the same now): (now, local date, its ISO text, out of office) / (now, working)
        self.at_now: tuple[datetime, date, str, bool] | None = None
        self.working_now: tuple[datetime, bool] | None = None


class Pool(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    members: list[str]
    strategy: Literal["round_robin", "weighted"] = "round_robin"
    weights: dict[str, int] = {}  # rep id -> weight in this pool; default: the rep's own weight
    description: str = ""


class Queue(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    description: str = ""
    owner_ids: dict[str, str] = {}  # CRM -> queue/owner id leads in this queue get (e.g. a Salesforce queue)


class Team(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, dict=True, omit_defaults=True):
    reps: list[Rep]
    pools: dict[str, Pool] = {}
    queues: dict[str, Queue] = {}

    def __post_init__(self) -> None:
        self.by_id: dict[str, Rep] = {r.id: r for r in self.reps}
        # (crm, owner id) -> rep, and owner id alone for records whose CRM is not said
        self.by_owner: dict[tuple[str, str], Rep] = {}
        for r in self.reps:
            for crm, owner in r.owner_ids.items():
                self.by_owner[(crm, owner)] = r
                self.by_owner[("*", owner)] = r
        self.sequences: dict[str, tuple[str, ...]] = {
            name: weighted_sequence([(m, pool.weights.get(m, self.by_id[m].weight if m in self.by_id else 1))
                                     for m in pool.members])
            for name, pool in self.pools.items()
        }

    def rep_for_owner(self, owner_id: str | None, crm: str | None = None) -> Rep | None:
        """The rep whose CRM owner id this is (a record's owner), if on the roster."""
        if not owner_id:
            return None
        return self.by_owner.get((crm or "*", owner_id)) or self.by_owner.get(("*", owner_id))


def weighted_sequence(weights: list[tuple[str, int]]) -> tuple[str, ...]:
    """Smooth weighted round-robin order (nginx's): 2:1:1 -> a b a c, spread out, one cycle long."""
    current = dict.fromkeys((m for m, _ in weights), 0)
    total = sum(w for _, w in weights)
    order: list[str] = []
    for _ in range(total):
        for m, w in weights:
            current[m] += w
        best = max(weights, key=lambda mw: current[mw[0]])[0]  # first of equals: file order breaks ties
        current[best] -= total
        order.append(best)
    return tuple(order)


def _check_refs(team: Team, where: Where) -> None:
    fail = where.fail
    seen: set[str] = set()
    for i, r in enumerate(team.reps):
        if r.id in seen:
            fail(f"reps[{i}].id", f"rep id {r.id!r} appears twice")
        seen.add(r.id)
    for i, r in enumerate(team.reps):
        if r.manager is not None and r.manager not in seen:
            fail(f"reps[{i}].manager", f"manager {r.manager!r} is not a rep id in this roster")
    for name, pool in team.pools.items():
        if not pool.members:
            fail(f"pools.{name}.members", "a pool needs at least one member")
        for j, m in enumerate(pool.members):
            if m not in seen:
                fail(f"pools.{name}.members[{j}]", f"{m!r} is not a rep id in this roster")
        for m, w in pool.weights.items():
            if m not in pool.members:
                fail(f"pools.{name}.weights.{m}", f"{m!r} has a weight but is not a member of pool {name!r}")
            if w < 1:
                fail(f"pools.{name}.weights.{m}", "weights must be at least 1")


def team_from_text(text: str, *, file: str) -> Team:
    """Parse and validate a roster; ConfigError with file:line and field on any problem."""
    return from_text(text, Team, file=file, check=_check_refs)


def load_team(path: str | Path) -> Team:
    """Load ``rules/team.yaml``."""
    return load_yaml(path, Team, check=_check_refs)


# ---- availability ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def is_holiday(country: str, subdivision: str | None, day: date) -> bool:
    """Public holiday in that country (and subdivision) on that date."""
    return day in _holidays(country, subdivision, day.year)


@lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision, years=year)


def local_now(rep: Rep, now: datetime) -> datetime:
    return now.astimezone(rep.tz)


def local_day(rep: Rep, now: datetime) -> str:
    """The rep's local date at ``now`` (ISO), the key of its daily load count."""
    return now.astimezone(rep.tz).date().isoformat()


def local_state(rep: Rep, now: datetime) -> tuple[date, str, bool]:
    """(local date, its ISO text, out of office that day) of the rep at ``now``."""
    cached = rep.at_now
    if cached is not None and cached[0] == now and cached[0].tzinfo is now.tzinfo:
        return cached[1], cached[2], cached[3]
    day = now.astimezone(rep.tz).date()
    iso, away = day.isoformat(), is_out_of_office(rep, day)
    rep.at_now = (now, day, iso, away)
    return day, iso, away


def working_at(rep: Rep, now: datetime) -> bool:
    """``is_working(rep, now)``, remembered for the last ``now``."""
    cached = rep.working_now
    if cached is not None and cached[0] == now and cached[0].tzinfo is now.tzinfo:
        return cached[1]
    working = is_working(rep, now)
    rep.working_now = (now, working)
    return working


def is_out_of_office(rep: Rep, day: date) -> bool:
    return any(o.start <= day <= o.end for o in rep.out_of_office)


def is_business_day(rep: Rep, day: date) -> bool:
    return day.weekday() in rep.workdays and not is_holiday(rep.country, rep.subdivision, day)


def is_working(rep: Rep, now: datetime) -> bool:
    """Within the rep's working hours on a working day that is not a public holiday."""
    local = now.astimezone(rep.tz)
    return is_business_day(rep, local.date()) and rep.start <= local.time() < rep.end


def next_business_start(rep: Rep, now: datetime, *, horizon_days: int = 60) -> datetime | None:
    """When the rep next starts work (in the rep's zone) after ``now``, skipping holidays and time off.

    If the rep is working at ``now``, that is ``now`` itself.
    """
    local = now.astimezone(rep.tz)
    day = local.date()
    for _ in range(horizon_days):
        if is_business_day(rep, day) and not is_out_of_office(rep, day):
            start = datetime.combine(day, rep.start, tzinfo=rep.tz)
            end = datetime.combine(day, rep.end, tzinfo=rep.tz)
            if local < start:
                return start
            if local < end:
                return local
        day += timedelta(days=1)
    return None
