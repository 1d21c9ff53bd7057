"""Structured conditions for scoring, tags, segments and routing — data, never code.

A condition is a leaf ``{field, op, value}`` or a group ``{all: [...]}``, ``{any: [...]}``, ``{not: {...}}``.
Fields are dotted paths on :func:`lead_view` (``company.size``, ``tags``, ``answers.<key>``). Every condition
is checked and compiled when its file loads — an unknown field, an unknown operator, a value of the wrong
type or a bad regex is a ``ConfigError`` naming file:line and field — so evaluating one is a closure call.

String comparisons ignore case ("Healthcare" equals "healthcare"); ``matches`` regexes too. A missing value
(None, or a key the lead does not have) fails every operator except ``missing``, ``ne`` and ``not_in``.
On a list value (``tags``, ``flags``, ``intent.requests``, a multi-choice answer) ``eq``/``in`` test
membership; ``contains``/``contains_any`` test membership on lists and substrings on strings.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from connector.decision import MatchResult, ScoreResult, TagResult
from connector.model import Lead

Check = Callable[[Mapping[str, Any]], bool]

# field path -> kind: "str", "num", "bool", "list"; answers.* and extra.* are "any"
FIELDS: dict[str, str] = {
    **dict.fromkeys(
        ("identity.email", "identity.email_domain", "identity.phone", "identity.first_name", "identity.last_name"),
        "str",
    ),
    **dict.fromkeys(
        ("company.name", "company.normalized_name", "company.domain", "company.website", "company.industry",
         "company.country", "company.region", "company.postal_code", "company.city"),
        "str",
    ),
    "company.size": "num",
    "company.size_max": "num",
    "company.revenue": "num",
    "role.title": "str",
    "role.seniority": "str",
    "role.department": "str",
    **dict.fromkeys(
        ("origin.source", "origin.channel", "origin.form", "origin.utm_source", "origin.utm_medium",
         "origin.utm_campaign", "origin.utm_term", "origin.utm_content", "origin.referrer"),
        "str",
    ),
    "consent.basis": "str",
    "consent.email_opt_in": "bool",
    "intent.requests": "list",
    "intent.message": "str",
    "events.kinds": "list",
    "events.count": "num",
    "flags": "list",
    "score.total": "num",
    "score.fit": "num",
    "score.behaviour": "num",
    "score.intent": "num",
    "score.grade": "str",
    "score.stage": "str",
    "tags": "list",
    "segments": "list",
    **dict.fromkeys(
        ("match.rule", "match.kind", "match.crm", "match.record_id", "match.owner_id", "match.account_id",
         "match.account_owner_id"),
        "str",
    ),
    "match.confidence": "num",
}
FREE_PREFIXES = ("answers.", "extra.")
OPERATORS = frozenset(
    {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "contains_any", "starts_with",
     "ends_with", "matches", "exists", "missing", "between"}
)
_OPS_BY_KIND = {
    "str": OPERATORS - {"gt", "gte", "lt", "lte", "between"},
    "num": {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "missing"},
    "bool": {"eq", "ne", "exists", "missing"},
    "list": {"eq", "in", "contains", "contains_any", "exists", "missing"},
    "any": OPERATORS,
}


def field_kind(path: str) -> str:
    """Kind of a field path ("str", "num", "bool", "list", "any"); ValueError naming the path if unknown."""
    kind = FIELDS.get(path)
    if kind is not None:
        return kind
    if path.startswith(FREE_PREFIXES) and len(path.split(".", 1)[1]) > 0:
        return "any"
    close = difflib.get_close_matches(path, FIELDS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(sorted(FIELDS))}"
    raise ValueError(f"field: no such field {path!r}; {hint} (or answers.<key>, extra.<key>)")


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_scalar(kind: str, v: Any, what: str) -> None:
    if kind == "num" and not _is_num(v):
        raise ValueError(f"{what} must be a number, got {v!r}")
    if kind in ("str", "list") and not isinstance(v, str):
        raise ValueError(f"{what} must be text, got {v!r} (quote it in YAML)")
    if kind == "bool" and not isinstance(v, bool):
        raise ValueError(f"{what} must be true or false, got {v!r}")
    if kind == "any" and not isinstance(v, str | int | float | bool):
        raise ValueError(f"{what} must be text, a number or true/false, got {v!r}")


def _validate_leaf(field: str, op: str, value: Any) -> str:
    kind = field_kind(field)
    if op not in OPERATORS:
        raise ValueError(f"no such operator {op!r}; expected one of {', '.join(sorted(OPERATORS))}")
    if op not in _OPS_BY_KIND[kind]:
        raise ValueError(f"operator {op!r} does not apply to {field} ({kind}); use one of "
                         f"{', '.join(sorted(_OPS_BY_KIND[kind]))}")
    if op in ("exists", "missing"):
        if value not in (None, True):
            raise ValueError(f"`{op}` takes no value")
    elif op in ("eq", "ne"):
        _check_scalar(kind, value, "value")
    elif op in ("in", "not_in", "contains_any"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"`{op}` needs a non-empty list as value, got {value!r}")
        for i, v in enumerate(value):
            _check_scalar("str" if op == "contains_any" else kind, v, f"value[{i}]")
    elif op in ("gt", "gte", "lt", "lte"):
        _check_scalar("num", value, "value")
    elif op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(_is_num(v) for v in value)):
            raise ValueError(f"`between` needs [low, high] numbers, got {value!r}")
        if value[0] > value[1]:
            raise ValueError(f"`between` needs low <= high, got {value!r}")
    elif op == "contains":
        _check_scalar("str" if kind != "any" else "any", value, "value")
    elif op in ("starts_with", "ends_with"):
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValueError(f"`{op}` needs text or a list of text")
        for v in items:
            _check_scalar("str", v, "value")
    elif op == "matches":
        _check_scalar("str", value, "value")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regex {value!r}: {exc}") from None
    return kind


class Condition(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, dict=True, omit_defaults=True):
    """A leaf ``{field, op, value}`` or exactly one of ``all`` / ``any`` / ``not``.

    Not frozen: the compiled closure is cached on the instance (``test``) when the file loads.
    """

    field: str | None = None
    op: str | None = None
    value: Any = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = msgspec.field(default=None, name="not")

    def __post_init__(self) -> None:
        groups = [g for g in ("all", "any", "not_") if getattr(self, g) is not None]
        leaf = self.field is not None or self.op is not None
        if len(groups) + leaf != 1:
            raise ValueError("a condition is either {field, op, value} or exactly one of all / any / not")
        if leaf:
            if self.field is None or self.op is None:
                raise ValueError("a condition needs both `field` and `op`")
            _validate_leaf(self.field, self.op, self.value)
        elif self.value is not None:
            raise ValueError("`value` belongs in a {field, op, value} condition")
        elif (self.all is not None and not self.all) or (self.any is not None and not self.any):
            raise ValueError("`all` / `any` need at least one condition")
        self.test: Check = _compile(self)
        self.text: str = _describe(self)


def _fold(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


def _num(v: Any) -> float | None:
    t = type(v)
    if t is int or t is float:
        return float(v)
    if t is str:
        try:
            return float(v.replace(",", ""))
        except ValueError:
            return None
    return None


def _compile(c: Condition) -> Check:
    if c.all is not None:
        parts = tuple(p.test for p in c.all)
        if len(parts) == 2:
            a, b = parts
            return lambda v: a(v) and b(v)

        def all_of(v: Mapping[str, Any]) -> bool:
            for p in parts:  # noqa: SIM110 (a loop, not all() over a generator: no extra frame per call)
                if not p(v):
                    return False
            return True

        return all_of
    if c.any is not None:
        parts = tuple(p.test for p in c.any)
        if len(parts) == 2:
            a, b = parts
            return lambda v: a(v) or b(v)

        def any_of(v: Mapping[str, Any]) -> bool:
            for p in parts:  # noqa: SIM110 (no generator frame per call)
                if p(v):
                    return True
            return False

        return any_of
    if c.not_ is not None:
        inner = c.not_.test
        return lambda v: not inner(v)
    assert c.field is not None and c.op is not None
    return _leaf(c.field, c.op, c.value)


# The closures below are the hot path (every rule, every lead): type checks by `type(x) is str` first,
# numbers and other types second.


def _member_test(f: str, values: list[Any]) -> Callable[[Mapping[str, Any]], bool | None]:
    """x == one of ``values`` (list values: any element); None when the field has no value."""
    texts = frozenset(x.casefold() for x in values if isinstance(x, str))
    nums = frozenset(float(x) for x in values if _is_num(x))
    bools = frozenset(x for x in values if isinstance(x, bool))

    def one(x: Any) -> bool:
        t = type(x)
        if t is str:
            if x.casefold() in texts:
                return True
            if nums:
                n = _num(x)  # a number given as text ("50")
                return n is not None and n in nums
            return False
        if t is bool:
            return x in bools
        if t is int or t is float:
            return float(x) in nums
        return False

    def member(v: Mapping[str, Any]) -> bool | None:
        x = v.get(f)
        if x is None:
            return None
        if type(x) is tuple or type(x) is list:
            return any(one(i) for i in x)
        return one(x)

    return member


def _contains_test(f: str, needles: list[Any]) -> Check:
    texts = frozenset(n.casefold() for n in needles if isinstance(n, str))
    others = frozenset(n for n in needles if not isinstance(n, str))
    single = next(iter(texts)) if len(texts) == 1 and not others else None

    if not others:
        # text needles only (every rule file's case): no per-item type dispatch for non-text items
        def contains_text(v: Mapping[str, Any]) -> bool:
            x: Any = v.get(f)
            t = type(x)
            if t is tuple:
                return bool(x) and not texts.isdisjoint(_folded_texts(x))
            if t is list:
                for i in x:  # noqa: SIM110 (a loop, not any() over a generator: no extra frame per call)
                    if type(i) is str and i.casefold() in texts:
                        return True
                return False
            if t is str:
                text = x.casefold()
                if single is not None:
                    return single in text
                for n in texts:
                    if n in text:
                        return True
            return False

        return contains_text

    def contains(v: Mapping[str, Any]) -> bool:
        x: Any = v.get(f)
        t = type(x)
        if t is tuple or t is list:
            for i in x:
                if type(i) is str:
                    if i.casefold() in texts:
                        return True
                elif i in others:
                    return True
            return False
        if t is str:
            text = x.casefold()
            if single is not None:
                return single in text
            return any(n in text for n in texts)
        return False

    return contains


# tuple of values (tags, flags, requests: few distinct ones) -> its text items casefolded; cleared when it grows
_FOLDED: dict[tuple[Any, ...], frozenset[str]] = {}


def _folded_texts(items: tuple[Any, ...]) -> frozenset[str] | list[str]:
    """The casefolded text items of ``items`` (what a per-item ``casefold() in texts`` loop would look up)."""
    try:
        folded = _FOLDED.get(items)
    except TypeError:  # an unhashable item: fold without remembering
        return [i.casefold() for i in items if type(i) is str]
    if folded is None:
        if len(_FOLDED) >= 4096:
            _FOLDED.clear()
        folded = _FOLDED[items] = frozenset(i.casefold() for i in items if type(i) is str)
    return folded


def _leaf(field: str, op: str, value: Any) -> Check:
    f = field
    if op == "exists":
        return lambda v: v.get(f) not in (None, "", (), [])
    if op == "missing":
        return lambda v: v.get(f) in (None, "", (), [])
    kind = field_kind(f)
    if op in ("eq", "ne", "in", "not_in") and kind in ("str", "list"):
        # fast paths for the common cases: text fields and lists of text
        texts = frozenset(x.casefold() for x in (value if op in ("in", "not_in") else [value]))
        if kind == "str":
            hit: Check = lambda v: type(x := v.get(f)) is str and x.casefold() in texts  # noqa: E731
        else:

            def hit(v: Mapping[str, Any]) -> bool:
                for i in v.get(f) or ():  # noqa: SIM110 (no generator frame per call)
                    if type(i) is str and i.casefold() in texts:
                        return True
                return False

        if op in ("eq", "in"):
            return hit
        return lambda v: not hit(v)
    if op in ("gt", "gte", "lt", "lte") and kind == "num":
        limit = float(value)
        nums = (int, float)
        if op == "gt":
            return lambda v: isinstance(x := v.get(f), nums) and x > limit
        if op == "gte":
            return lambda v: isinstance(x := v.get(f), nums) and x >= limit
        if op == "lt":
            return lambda v: isinstance(x := v.get(f), nums) and x < limit
        return lambda v: isinstance(x := v.get(f), nums) and x <= limit
    if op == "between" and kind == "num":
        low, high = float(value[0]), float(value[1])
        return lambda v: isinstance(x := v.get(f), int | float) and low <= x <= high
    if op in ("eq", "ne", "in", "not_in"):
        member = _member_test(f, value if op in ("in", "not_in") else [value])
        if op in ("eq", "in"):
            return lambda v: bool(member(v))
        return lambda v: not member(v)
    if op in ("gt", "gte", "lt", "lte", "between"):
        lo, hi = (float(value[0]), float(value[1])) if op == "between" else (0.0, 0.0)
        bound = float(value) if op != "between" else 0.0

        def compare(v: Mapping[str, Any]) -> bool:
            n = _num(v.get(f))
            if n is None:
                return False
            if op == "gt":
                return n > bound
            if op == "gte":
                return n >= bound
            if op == "lt":
                return n < bound
            if op == "lte":
                return n <= bound
            return lo <= n <= hi

        return compare
    if op in ("contains", "contains_any"):
        return _contains_test(f, value if op == "contains_any" else [value])
    if op in ("starts_with", "ends_with"):
        affixes = tuple(s.casefold() for s in (value if isinstance(value, list) else [value]))
        if op == "starts_with":
            return lambda v: type(x := v.get(f)) is str and x.casefold().startswith(affixes)
        return lambda v: type(x := v.get(f)) is str and x.casefold().endswith(affixes)
    if op == "matches":
        search = re.compile(value, re.IGNORECASE).search
        return lambda v: type(x := v.get(f)) is str and search(x) is not None
    raise ValueError(f"no such operator {op!r}")  # unreachable: validated at load


def compile_condition(cond: Condition) -> Check:
    """The compiled test of a condition: ``check(lead_view(...)) -> bool`` (built once, at load)."""
    return cond.test


def describe(cond: Condition) -> str:
    """A short human reading of a condition, for reasons and traces (built once, at load)."""
    return cond.text


def _describe(cond: Condition) -> str:
    if cond.all is not None:
        return " and ".join(describe(c) if c.field else f"({describe(c)})" for c in cond.all)
    if cond.any is not None:
        return " or ".join(describe(c) if c.field else f"({describe(c)})" for c in cond.any)
    if cond.not_ is not None:
        return f"not ({describe(cond.not_)})"
    op = (cond.op or "").replace("_", " ")
    if cond.op in ("exists", "missing"):
        return f"{cond.field} {op}"
    if cond.op == "between":
        return f"{cond.field} between {cond.value[0]} and {cond.value[1]}"
    value = ", ".join(map(str, cond.value)) if isinstance(cond.value, list) else cond.value
    return f"{cond.field} {op} {value}"


def lead_view(
    lead: Lead,
    *,
    score: ScoreResult | None = None,
    tags: TagResult | None = None,
    match: MatchResult | None = None,
) -> dict[str, Any]:
    """The flat ``{field path: value}`` view conditions read: the lead plus the decision so far."""
    i, c, r, o = lead.identity, lead.company, lead.role, lead.origin
    email = i.email
    events = lead.events
    view: dict[str, Any] = {
        "identity.email": email,
        "identity.email_domain": email.rpartition("@")[2] if email else None,
        "identity.phone": i.phone,
        "identity.first_name": i.first_name,
        "identity.last_name": i.last_name,
        "company.name": c.name,
        "company.normalized_name": c.normalized_name,
        "company.domain": c.domain,
        "company.website": c.website,
        "company.size": c.size,
        "company.size_max": c.size_max,
        "company.industry": c.industry,
        "company.revenue": c.revenue,
        "company.country": c.country,
        "company.region": c.region,
        "company.postal_code": c.postal_code,
        "company.city": c.city,
        "role.title": r.title,
        "role.seniority": r.seniority,
        "role.department": r.department,
        "origin.source": o.source,
        "origin.channel": o.channel,
        "origin.form": o.form,
        "origin.utm_source": o.utm_source,
        "origin.utm_medium": o.utm_medium,
        "origin.utm_campaign": o.utm_campaign,
        "origin.utm_term": o.utm_term,
        "origin.utm_content": o.utm_content,
        "origin.referrer": o.referrer,
        "consent.basis": lead.consent.basis,
        "consent.email_opt_in": lead.consent.email_opt_in,
        "intent.requests": lead.intent.requests,
        "intent.message": lead.intent.message,
        "events.kinds": tuple({e.kind for e in events}) if events else (),
        "events.count": len(events),
        "flags": lead.flags,
    }
    for key, value in lead.answers.items():
        view["answers." + key] = value
    for key, value in lead.extra.items():
        view["extra." + key] = value
    return add_context(view, score=score, tags=tags, match=match) if score or tags or match else view


def add_context(
    view: dict[str, Any],
    *,
    score: ScoreResult | None = None,
    tags: TagResult | None = None,
    match: MatchResult | None = None,
) -> dict[str, Any]:
    """Fill the decision fields (score.*, tags, segments, match.*) into ``view`` in place and return it."""
    if score is not None:
        view["score.total"] = score.total
        view["score.fit"] = score.fit
        view["score.behaviour"] = score.behaviour
        view["score.intent"] = score.intent
        view["score.grade"] = score.grade
        view["score.stage"] = score.stage
    if tags is not None:
        view["tags"] = tags.tags
        view["segments"] = tags.segments
    if match is not None:
        view["match.rule"] = match.rule
        view["match.kind"] = match.kind
        view["match.crm"] = match.crm
        view["match.record_id"] = match.record_id
        view["match.owner_id"] = match.owner_id
        view["match.account_id"] = match.account_id
        view["match.account_owner_id"] = match.account_owner_id
        view["match.confidence"] = match.confidence
    return view
