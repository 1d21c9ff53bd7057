"""Compiling a condition into its test: a closure over the lead view, built once when the file loads.

A missing value (None, or a key the view does not have) fails every operator except ``missing``, ``ne`` and
``not_in``. Text compares case-folded; on a list value (tags, flags, a multi-choice answer) ``eq``/``in`` test
membership and ``contains``/``contains_any`` test membership on lists and substrings on text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import re2

if TYPE_CHECKING:
    from connector.conditions.condition import Condition

Check = Callable[[Mapping[str, Any]], bool]


def is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


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


def compile_check(c: Condition) -> Check:
    """The test of a validated condition (its parts are compiled already: ``part.test``)."""
    if c.all is not None:
        parts = tuple(p.test for p in c.all)

        def all_of(v: Mapping[str, Any]) -> bool:
            for p in parts:  # noqa: SIM110 (a loop, not all() over a generator: no extra frame per call)
                if not p(v):
                    return False
            return True

        return all_of
    if c.any is not None:
        parts = tuple(p.test for p in c.any)

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


def _leaf(f: str, op: str, value: Any) -> Check:
    if op == "exists":
        return lambda v: v.get(f) not in (None, "", (), [])
    if op == "missing":
        return lambda v: v.get(f) in (None, "", (), [])
    if op in ("eq", "ne", "in", "not_in"):
        member = _member_test(f, value if op in ("in", "not_in") else [value])
        if op in ("eq", "in"):
            return lambda v: bool(member(v))
        return lambda v: not member(v)
    if op in ("gt", "gte", "lt", "lte", "between"):
        return _compare_test(f, op, value)
    if op in ("contains", "contains_any"):
        return _contains_test(f, value if op == "contains_any" else [value])
    if op in ("starts_with", "ends_with"):
        affixes = tuple(s.casefold() for s in (value if isinstance(value, list) else [value]))
        if op == "starts_with":
            return lambda v: type(x := v.get(f)) is str and x.casefold().startswith(affixes)
        return lambda v: type(x := v.get(f)) is str and x.casefold().endswith(affixes)
    if op == "matches":
        search = compile_pattern(value).search
        return lambda v: type(x := v.get(f)) is str and search(x) is not None
    raise ValueError(f"no such operator {op!r}")  # unreachable: validated at load


MAX_PATTERN = 1_000  # characters in one `matches` pattern
_MEMORY = 8 << 20  # bytes RE2 may spend compiling one: a {1000}-style repeat fails to compile instead of growing


def compile_pattern(pattern: str) -> Any:
    """An admin's ``matches`` pattern on RE2, case-insensitive: linear time in the text, whatever the pattern (no
    backtracking, so no backreferences or lookarounds). ValueError for one it cannot run, naming why."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"the regex is {len(pattern)} characters; at most {MAX_PATTERN}")
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the reason is in the ValueError; RE2 would also print it to stderr
    options.max_mem = _MEMORY
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"bad regex {pattern!r}: {reason} (patterns run on RE2: no backreferences or "
                         "lookarounds)") from None


def _member_test(f: str, values: list[Any]) -> Callable[[Mapping[str, Any]], bool | None]:
    """x == one of ``values`` (list values: any element); None when the field has no value."""
    texts = frozenset(x.casefold() for x in values if isinstance(x, str))
    nums = frozenset(float(x) for x in values if is_num(x))
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


def _compare_test(f: str, op: str, value: Any) -> Check:
    """A number (or a number written as text, "1,200") against a bound, or within [low, high] for ``between``."""
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


def _contains_test(f: str, needles: list[Any]) -> Check:
    texts = frozenset(n.casefold() for n in needles if isinstance(n, str))
    others = frozenset(n for n in needles if not isinstance(n, str))

    def contains(v: Mapping[str, Any]) -> bool:
        x: Any = v.get(f)
        t = type(x)
        if t is tuple or t is list:
            for i in x:
                if type(i) is str:
                    if i.casefold() in texts:
                        return True
                elif others and i in others:
                    return True
            return False
        if t is str:
            text = x.casefold()
            for n in texts:
                if n in text:
                    return True
        return False

    return contains
